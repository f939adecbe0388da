// The ONNX Runtime Web twin of an mlc int8 inference graph (what `--quantize int8` builds for a
// dense network: quantize, matmulInteger, add of the i32 bias, requantize, dequantize), so
// bench/quant.ts can time the same quantized computation in ORT-web beside the mlc bundle. The
// twin is translated node by node from the compiled graph, with the bundle's own int8 weights,
// i32 biases and f32 scales as initializers:
//   quantize      QuantizeLinear (u8 or i8 zero point: it fixes the result type)
//   matmulInteger MatMulInteger (the i8 weights a constant initializer, so ORT packs them once,
//                 when the session is created)
//   add           Add (i32)
//   requantize    Cast to float, Mul by the per-channel scale, QuantizeLinear with scale 1 and
//                 the zero point (round half to even and saturation, as mlc's requantize)
//   dequantize    Cast to float, Sub the zero point (when not all 0), Mul by the scale
// Any other op is an error naming it. Opset 13 (per-axis QuantizeLinear), wasm EP, one thread.

import type { Graph, Node } from "../compiler/ir/graph.ts";
import type { TensorType } from "../compiler/ir/types.ts";
import { loadOrtWasm, onnxModel, type OnnxInitializer, type OnnxNode, type ONNX_TYPES } from "./peers.ts";

type Elem = keyof typeof ONNX_TYPES;
type Data = Float32Array | Int8Array | Uint8Array | Int32Array;

const ELEM: Readonly<Record<string, Elem>> = { f32: "float32", i8: "int8", u8: "uint8", i32: "int32" };
const ARRAY = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array } as const;

/** The ONNX name of an mlc value (mlc ids may hold characters ONNX tools dislike; ORT accepts any string). */
const onnxName = (v: string) => `v_${v}`;

/**
 * An ORT-web session running `graph` (an mlc int8 inference graph, one f32 input, one f32
 * output) with `values` for its params (by mlc name, in their dtypes). run() takes the input and
 * resolves to the output.
 */
export async function ortInt8Forward(graph: Graph, values: Readonly<Record<string, ArrayLike<number>>>): Promise<{ run(x: Float32Array): Promise<Float32Array> }> {
  const model = onnxModel(int8Twin(graph, values));
  const ort = await loadOrtWasm();
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const [input] = graph.inputs;
  const output = onnxName(graph.outputs[0].value);
  return {
    async run(x) {
      const result = await session.run({ [onnxName(input.name)]: new ort.Tensor("float32", x, [...input.type.shape]) });
      return result[output].data as Float32Array;
    },
  };
}

/** The ONNX graph of `graph` (exported for its test). */
export function int8Twin(graph: Graph, values: Readonly<Record<string, ArrayLike<number>>>) {
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) throw new Error("int8Twin: one input and one output expected");
  const types = new Map<string, TensorType>([...graph.inputs, ...graph.params].map((d) => [d.name, d.type]));
  const consts = new Map<string, Node>();
  const initializers: OnnxInitializer[] = [];
  const nodes: OnnxNode[] = [];
  let fresh = 0;
  const temp = (what: string) => `t${fresh++}_${what}`;
  const init = (name: string, elemType: Elem, shape: readonly number[], data: ArrayLike<number>): string => {
    initializers.push({ name, shape, elemType, data: data instanceof ARRAY[elemType] ? (data as Data) : ARRAY[elemType].from(data) });
    return name;
  };
  const constValues = (id: string, elem: Elem): Data => {
    const c = consts.get(id);
    if (!c) throw new Error(`int8Twin: operand ${id} must be a constant`);
    const count = c.type.shape.reduce((a, b) => a * b, 1);
    return new ARRAY[elem](count).fill(c.attrs.value as number);
  };
  /** A zero point as an initializer of the result's dtype (scalar when every channel's is the same). */
  const zeroPoint = (id: string, dtype: string, shape: readonly number[]): string => {
    const elem = ELEM[dtype];
    const z = constValues(id, elem);
    const uniform = z.every((v) => v === z[0]);
    return init(temp("zero_point"), elem, uniform ? [] : shape, uniform ? z.subarray(0, 1) : z);
  };
  const op = (type: string, inputs: string[], output: string, attrs?: OnnxNode["attrs"]) => nodes.push({ op: type, inputs, outputs: [output], ...(attrs ? { attrs } : {}) });
  for (const p of graph.params) {
    const data = values[p.name];
    if (!data) throw new Error(`int8Twin: no value for param ${p.name}`);
    init(onnxName(p.name), ELEM[p.type.dtype], p.type.shape, data);
  }
  for (const n of graph.nodes) {
    types.set(n.id, n.type);
    const [a, b] = n.inputs.map(onnxName);
    const out = onnxName(n.id);
    const axis = typeof n.attrs.axis === "number" ? { axis: n.attrs.axis } : undefined;
    if (n.op === "const") {
      consts.set(n.id, n);
      if (n.type.dtype === "f32") init(out, "float32", n.type.shape, constValues(n.id, "float32"));
    } else if (n.op === "quantize") {
      op("QuantizeLinear", [a, b, zeroPoint(n.inputs[2], n.type.dtype, types.get(n.inputs[1])!.shape)], out, axis);
    } else if (n.op === "matmulInteger") {
      op("MatMulInteger", [a, b], out);
    } else if (n.op === "add") {
      op("Add", [a, b], out);
    } else if (n.op === "requantize") {
      const [float, real] = [temp("float"), temp("real")];
      op("Cast", [a], float, { to: 1 });
      op("Mul", [float, b], real);
      const one = init(temp("one"), "float32", [], new Float32Array([1]));
      op("QuantizeLinear", [real, one, zeroPoint(n.inputs[2], n.type.dtype, [])], out);
    } else if (n.op === "dequantize") {
      const float = temp("float");
      op("Cast", [a], float, { to: 1 });
      const z = constValues(n.inputs[2], "float32");
      let centred = float;
      if (z.some((v) => v !== 0)) {
        centred = temp("centred");
        op("Sub", [float, init(temp("zero"), "float32", types.get(n.inputs[2])!.shape, z)], centred);
      }
      op("Mul", [centred, b], out);
    } else {
      throw new Error(`int8Twin: no ONNX twin for op '${n.op}' (node %${n.id})`);
    }
  }
  const [input] = graph.inputs;
  const output = graph.outputs[0];
  return {
    inputs: [{ name: onnxName(input.name), shape: input.type.shape, elemType: ELEM[input.type.dtype] }],
    outputs: [{ name: onnxName(output.value), shape: types.get(output.value)!.shape, elemType: ELEM[types.get(output.value)!.dtype] }],
    nodes,
    initializers,
    opset: 13,
  };
}
