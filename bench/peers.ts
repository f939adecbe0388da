// The runtimes we measure against, loaded single-threaded from node_modules with no network:
// TF.js on its WASM backend (SIMD build) and ONNX Runtime Web (WASM execution provider), plus a
// minimal ONNX protobuf writer so models for ONNX Runtime are built in memory, never downloaded.
// A helper module for the benchmarks (it exports no `run`, so bench/run.ts skips it).

import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
/** The folder of a package's entry file: both packages keep their .wasm files next to it, in dist/. */
const distDir = (name: string) => dirname(require.resolve(name));

export type Tfjs = typeof import("@tensorflow/tfjs-core");
export type Ort = typeof import("onnxruntime-web");

let tfjs: Promise<Tfjs> | undefined;
let ort: Promise<Ort> | undefined;

/** TF.js with the WASM backend active: SIMD build, one thread (no SharedArrayBuffer workers). */
export function loadTfjsWasm(): Promise<Tfjs> {
  tfjs ??= (async () => {
    const tf = await import("@tensorflow/tfjs-core");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const dist = distDir("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths({
      "tfjs-backend-wasm.wasm": join(dist, "tfjs-backend-wasm.wasm"),
      "tfjs-backend-wasm-simd.wasm": join(dist, "tfjs-backend-wasm-simd.wasm"),
      "tfjs-backend-wasm-threaded-simd.wasm": join(dist, "tfjs-backend-wasm-threaded-simd.wasm"),
    });
    wasm.setThreadsCount(1);
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    tf.env().set("WASM_HAS_SIMD_SUPPORT", true);
    if (!(await tf.setBackend("wasm"))) throw new Error("TF.js: the wasm backend failed to initialise");
    await tf.ready();
    return tf;
  })();
  return tfjs;
}

/** ONNX Runtime Web with the WASM execution provider on one thread. */
export function loadOrtWasm(): Promise<Ort> {
  ort ??= (async () => {
    const o = await import("onnxruntime-web");
    o.env.wasm.numThreads = 1;
    o.env.wasm.proxy = false;
    o.env.wasm.wasmPaths = distDir("onnxruntime-web") + "/";
    o.env.logLevel = "error";
    return o;
  })();
  return ort;
}

// ---- a minimal ONNX writer ---------------------------------------------------------------------
// Protobuf wire format: each field is a varint key (field number << 3 | wire type) followed by a
// varint (type 0) or a length-prefixed byte string (type 2). The field numbers are those of
// onnx.proto (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto, TensorProto).

export function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n; // negative int64s are ten-byte two's complement
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}
export const bytesField = (field: number, bytes: ArrayLike<number>) => [...varint((field << 3) | 2), ...varint(bytes.length), ...Array.from(bytes)];
export const intField = (field: number, value: number) => [...varint(field << 3), ...varint(value)];
export const stringField = (field: number, s: string) => bytesField(field, new TextEncoder().encode(s));

const ONNX_FLOAT = 1;
/** TensorProto.DataType codes of the element types the benchmarks use (float when absent). */
export const ONNX_TYPES = { float32: 1, uint8: 2, int8: 3, int32: 6 } as const;

export interface OnnxTensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  /** Element type (float32 when absent): the int8 GEMM benchmark's MatMulInteger model has u8/i8 inputs and an i32 output. */
  readonly elemType?: keyof typeof ONNX_TYPES;
}

export interface OnnxInitializer extends OnnxTensorInfo {
  readonly data: Float32Array | Int8Array | Uint8Array | Int32Array;
}

export interface OnnxNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integer, integer-list and float attributes. */
  readonly attrs?: Readonly<Record<string, number | readonly number[] | { float: number }>>;
}

export interface OnnxGraph {
  readonly inputs: readonly OnnxTensorInfo[];
  readonly outputs: readonly OnnxTensorInfo[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers?: readonly OnnxInitializer[];
  readonly opset?: number;
}

function valueInfo({ name, shape, elemType }: OnnxTensorInfo): number[] {
  const dims = shape.flatMap((d) => bytesField(1, intField(1, d))); // TensorShapeProto.dim { dim_value }
  const tensorType = [...intField(1, elemType ? ONNX_TYPES[elemType] : ONNX_FLOAT), ...bytesField(2, dims)]; // elem_type, shape
  return [...stringField(1, name), ...bytesField(2, bytesField(1, tensorType))]; // name, type { tensor_type }
}

function attribute(name: string, value: number | readonly number[] | { float: number }): number[] {
  const named = stringField(1, name);
  if (typeof value === "number") return [...named, ...intField(20, 2), ...intField(3, value)]; // INT
  if ("float" in value) {
    const f = new Uint8Array(new Float32Array([value.float]).buffer);
    return [...named, ...intField(20, 1), ...varint((2 << 3) | 5), ...f]; // FLOAT (fixed32)
  }
  return [...named, ...intField(20, 7), ...value.flatMap((v) => intField(8, v))]; // INTS
}

function node(n: OnnxNode, index: number): number[] {
  return [
    ...n.inputs.flatMap((i) => stringField(1, i)),
    ...n.outputs.flatMap((o) => stringField(2, o)),
    ...stringField(3, `${n.op.toLowerCase()}${index}`),
    ...stringField(4, n.op),
    ...Object.entries(n.attrs ?? {}).flatMap(([k, v]) => bytesField(5, attribute(k, v))),
  ];
}

function initializer(t: OnnxInitializer): number[] {
  return [
    ...t.shape.flatMap((d) => intField(1, d)),
    ...intField(2, t.elemType ? ONNX_TYPES[t.elemType] : ONNX_FLOAT),
    ...stringField(8, t.name),
    ...bytesField(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)), // raw_data, little-endian
  ];
}

/** The serialized ModelProto (IR version 8) of a graph (float32 unless its tensors say otherwise). */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const graph = [
    ...g.nodes.flatMap((n, i) => bytesField(1, node(n, i))),
    ...stringField(2, "bench"),
    ...(g.initializers ?? []).flatMap((t) => bytesField(5, initializer(t))),
    ...g.inputs.flatMap((i) => bytesField(11, valueInfo(i))),
    ...g.outputs.flatMap((o) => bytesField(12, valueInfo(o))),
  ];
  const opset = bytesField(8, intField(2, g.opset ?? 13)); // OperatorSetIdProto { version }, default domain
  return Uint8Array.from([...intField(1, 8), ...opset, ...bytesField(7, graph)]);
}
