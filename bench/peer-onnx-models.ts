// ONNX Runtime Web twins of the forward passes of three mlc examples (examples/mnist-mlp,
// examples/cnn, examples/transformer), so bench/forward.ts can time the same computation in ORT
// (WASM execution provider, one thread) and in an mlc bundle. Each twin is an ONNX graph built in
// memory from mlc's weights: standard ops at opset 17, ORT's default optimizations ('all').
//
// Layout choices (the twin takes mlc's inputs and weights and returns mlc's logits, bit layouts
// included):
// - CNN: ORT's Conv is NCHW, so the graph starts with a Transpose of the NHWC images (measured,
//   like any op of the graph; for one input channel the element order is unchanged). Conv
//   weights [kh,kw,cin,cout] become [cout,cin,kh,kw] at build time, and the classifier's rows are
//   permuted from mlc's NHWC flatten order (h,w,c) to NCHW's (c,h,w), so the graph flattens the
//   NCHW activations directly, as a model exported from PyTorch would.
// - Transformer: built without dropout (the bench compiles it with dropout 0); the causal mask is
//   a constant bool initializer; GELU is the exact erf form, composed as 0.5·x·(1+erf(x/√2)),
//   as PyTorch exports it (the pattern ORT's Gelu fusion looks for).
//
// bench/peers.ts's onnxModel() writes float32 tensors only; the int64 shapes of Reshape, the bool
// mask and the int32 token input are spliced into its graph here (see `withExtraGraphFields`).

import { bytesField, intField, loadOrtWasm, onnxModel, stringField, varint, type OnnxGraph, type OnnxInitializer, type OnnxNode } from "./peers.ts";

export type PeerModelName = "mnist-mlp" | "cnn" | "transformer";

/** An ONNX model plus the tensors onnxModel() cannot write (non-float initializers and inputs). */
interface TwinGraph {
  readonly graph: OnnxGraph;
  readonly intInitializers: readonly IntInitializer[];
  readonly intInputs: readonly IntInput[];
}

interface IntInitializer {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: "int64" | "bool";
  readonly values: readonly number[];
}

interface IntInput {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * Builds an ONNX Runtime Web session (WASM execution provider, one thread) of the example's
 * forward pass with the given weights (mlc param names, row-major f32 in mlc's layouts) and
 * config (the example's compile-time config; sizes the weights fix are read from them and checked
 * against the config when it names them). run() feeds mlc's inputs (mlc shapes) and resolves to
 * the logits (row-major f32, mlc shape).
 */
export async function ortForward(
  model: PeerModelName,
  weights: Record<string, Float32Array>,
  config: Record<string, number>,
): Promise<{ run(inputs: Record<string, Float32Array | Int32Array>): Promise<Float32Array> }> {
  const twin = model === "mnist-mlp" ? mlpTwin(weights, config) : model === "cnn" ? cnnTwin(weights, config) : transformerTwin(weights, config);
  const bytes = serialize(twin);
  const ort = await loadOrtWasm();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const floatInputs = twin.graph.inputs;
  const intInputs = twin.intInputs;
  const output = twin.graph.outputs[0].name;
  return {
    async run(inputs) {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const { name, shape } of floatInputs) {
        const data = inputs[name];
        if (!data) throw new Error(`ortForward(${model}): missing input '${name}'`);
        feeds[name] = new ort.Tensor("float32", data instanceof Float32Array ? data : Float32Array.from(data), shape as number[]);
      }
      for (const { name, shape } of intInputs) {
        const data = inputs[name];
        if (!data) throw new Error(`ortForward(${model}): missing input '${name}'`);
        feeds[name] = new ort.Tensor("int32", data instanceof Int32Array ? data : Int32Array.from(data), shape as number[]);
      }
      const result = await session.run(feeds);
      return result[output].data as Float32Array;
    },
  };
}

// ---- the three twins -----------------------------------------------------------------------

/** examples/mnist-mlp: x[B,784] → dense 256, relu → dense 128, relu → dense 10. */
function mlpTwin(w: Record<string, Float32Array>, config: Record<string, number>): TwinGraph {
  const B = required(config, "batch");
  const g = new GraphBuilder(w);
  let h = "x";
  let width = 784;
  for (const units of [256, 128]) {
    h = g.op("Relu", [g.dense(`fc${units}`, h, [width, units])]);
    width = units;
  }
  const logits = g.dense("out", h, [width, 10], "logits");
  return g.finish([{ name: "x", shape: [B, 784] }], [], { name: logits, shape: [B, 10] });
}

/** examples/cnn: two (3x3 same conv + bias, relu, 2x2 max pool) stages, flatten, dense. */
function cnnTwin(w: Record<string, Float32Array>, config: Record<string, number>): TwinGraph {
  const B = required(config, "batch");
  const width = consistent(config, "width", len(w, "conv1.b"));
  const classes = consistent(config, "classes", len(w, "fc.b"));
  const g = new GraphBuilder(w);
  let h = g.op("Transpose", ["images"], { perm: [0, 3, 1, 2] }); // NHWC → NCHW
  let cin = 1;
  let size = 28;
  for (const [name, cout] of [["conv1", width], ["conv2", 2 * width]] as const) {
    const weight = g.init(`${name}.w`, [cout, cin, 3, 3], hwioToOihw(weights(w, `${name}.w`, 9 * cin * cout), 3, 3, cin, cout));
    const bias = g.init(`${name}.b`, [cout], weights(w, `${name}.b`, cout));
    // Stride 1, kernel 3, padding "same": one pixel on each side (TF's rule, symmetric here).
    const conv = g.op("Conv", [h, weight, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
    h = g.op("MaxPool", [g.op("Relu", [conv])], { kernel_shape: [2, 2], strides: [2, 2] });
    cin = cout;
    size /= 2;
  }
  const features = size * size * cin;
  const flat = g.op("Flatten", [h], { axis: 1 });
  const fcW = g.init("fc.w", [features, classes], nhwcRowsToNchw(weights(w, "fc.w", features * classes), size, size, cin, classes));
  const fcB = g.init("fc.b", [classes], weights(w, "fc.b", classes));
  const logits = g.op("Add", [g.op("MatMul", [flat, fcW]), fcB], {}, "logits");
  return g.finish([{ name: "images", shape: [B, 28, 28, 1] }], [], { name: logits, shape: [B, classes] });
}

/** examples/transformer with dropout 0: embeddings, `layers` pre-norm causal blocks, head. */
function transformerTwin(w: Record<string, Float32Array>, config: Record<string, number>): TwinGraph {
  const B = required(config, "batch");
  const NH = required(config, "heads");
  const D = consistent(config, "dim", len(w, "ln_f.gamma"));
  const V = consistent(config, "vocab", len(w, "head.b"));
  const T = consistent(config, "seq", len(w, "pos") / D);
  let layers = 0;
  while (`block${layers}.ln1.gamma` in w) layers++;
  layers = consistent(config, "layers", layers);
  if ((config.dropout ?? 0) !== 0) throw new Error("ortForward(transformer): the twin has no dropout; compile with dropout 0");
  if (D % NH) throw new Error(`ortForward(transformer): dim ${D} is not a multiple of heads ${NH}`);
  const hd = D / NH;

  const g = new GraphBuilder(w);
  const shape = (name: string, dims: number[]) => g.intInit(name, [dims.length], "int64", dims);
  const headsShape = shape("shape.heads", [B, T, NH, hd]);
  const modelShape = shape("shape.model", [B, T, D]);
  const scale = g.scalar("scale", 1 / Math.sqrt(hd));
  const masked = g.scalar("masked", -1e9);
  const future = Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? 1 : 0)); // key after query
  const mask = g.intInit("causal", [T, T], "bool", future);
  const sqrt2 = g.scalar("sqrt2", Math.SQRT2);
  const one = g.scalar("one", 1);
  const half = g.scalar("half", 0.5);

  const linear = (name: string, x: string, dims: [number, number], bias = true) =>
    bias ? g.dense(name, x, dims) : g.op("MatMul", [x, g.init(`${name}.w`, dims, weights(w, `${name}.w`, dims[0] * dims[1]))]);
  const norm = (name: string, x: string) =>
    g.op("LayerNormalization", [x, g.init(`${name}.gamma`, [D], weights(w, `${name}.gamma`, D)), g.init(`${name}.beta`, [D], weights(w, `${name}.beta`, D))], {
      axis: -1,
      epsilon: { float: 1e-5 },
    });
  const attention = (name: string, x: string) => {
    // [B,T,D] → [B,T,NH,hd] → [B,NH,T,hd] (keys straight to [B,NH,hd,T] for q·kᵀ)
    const split = (t: string, perm: number[]) => g.op("Transpose", [g.op("Reshape", [t, headsShape])], { perm });
    const q = split(linear(`${name}.q`, x, [D, D], false), [0, 2, 1, 3]);
    const kT = split(linear(`${name}.k`, x, [D, D], false), [0, 2, 3, 1]);
    const v = split(linear(`${name}.v`, x, [D, D], false), [0, 2, 1, 3]);
    const scores = g.op("Mul", [g.op("MatMul", [q, kT]), scale]);
    const probs = g.op("Softmax", [g.op("Where", [mask, masked, scores])], { axis: -1 });
    const mixed = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }), modelShape]);
    return linear(`${name}.proj`, mixed, [D, D]);
  };
  const gelu = (x: string) => g.op("Mul", [g.op("Mul", [x, g.op("Add", [g.op("Erf", [g.op("Div", [x, sqrt2])]), one])]), half]);

  const embed = g.init("embed", [V, D], weights(w, "embed", V * D));
  const pos = g.init("pos", [T, D], weights(w, "pos", T * D));
  let h = g.op("Add", [g.op("Gather", [embed, "tokens"], { axis: 0 }), pos]);
  for (let l = 0; l < layers; l++) {
    const b = `block${l}`;
    h = g.op("Add", [h, attention(`${b}.attn`, norm(`${b}.ln1`, h))]);
    const m = linear(`${b}.fc2`, gelu(linear(`${b}.fc1`, norm(`${b}.ln2`, h), [D, 4 * D])), [4 * D, D]);
    h = g.op("Add", [h, m]);
  }
  const logits = g.dense("head", norm("ln_f", h), [D, V], "logits");
  return g.finish([], [{ name: "tokens", shape: [B, T] }], { name: logits, shape: [B, T, V] });
}

// ---- graph building ----------------------------------------------------------------------------

/** Collects nodes and initializers; value names are fresh integers unless a name is given. */
class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly inits: OnnxInitializer[] = [];
  private readonly intInits: IntInitializer[] = [];
  private next = 0;
  constructor(private readonly w: Record<string, Float32Array>) {}

  op(op: string, inputs: string[], attrs: OnnxNode["attrs"] = {}, out = `t${this.next++}`): string {
    this.nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  }
  init(name: string, shape: number[], data: Float32Array): string {
    this.inits.push({ name, shape, data });
    return name;
  }
  scalar(name: string, value: number): string {
    return this.init(name, [], new Float32Array([value]));
  }
  intInit(name: string, shape: number[], dtype: IntInitializer["dtype"], values: number[]): string {
    this.intInits.push({ name, shape, dtype, values });
    return name;
  }
  /** x·W + b with mlc's `${name}.w` [in,out] and `${name}.b` [out]. */
  dense(name: string, x: string, [din, dout]: [number, number], out?: string): string {
    const wt = this.init(`${name}.w`, [din, dout], weights(this.w, `${name}.w`, din * dout));
    const b = this.init(`${name}.b`, [dout], weights(this.w, `${name}.b`, dout));
    return this.op("Add", [this.op("MatMul", [x, wt]), b], {}, out);
  }
  finish(inputs: OnnxGraph["inputs"], intInputs: IntInput[], output: { name: string; shape: number[] }): TwinGraph {
    return {
      graph: { inputs, outputs: [output], nodes: this.nodes, initializers: this.inits, opset: 17 },
      intInitializers: this.intInits,
      intInputs,
    };
  }
}

function weights(w: Record<string, Float32Array>, name: string, numel: number): Float32Array {
  const data = w[name];
  if (!data) throw new Error(`ortForward: missing weight '${name}'`);
  if (data.length !== numel) throw new Error(`ortForward: weight '${name}' has ${data.length} elements, expected ${numel}`);
  return data;
}

const len = (w: Record<string, Float32Array>, name: string) => {
  if (!w[name]) throw new Error(`ortForward: missing weight '${name}'`);
  return w[name].length;
};

function required(config: Record<string, number>, key: string): number {
  const v = config[key];
  if (!Number.isInteger(v) || v <= 0) throw new Error(`ortForward: config.${key} must be a positive integer, got ${v}`);
  return v;
}

/** A size the weights fix; the config, when it names it, must agree. */
function consistent(config: Record<string, number>, key: string, fromWeights: number): number {
  if (config[key] !== undefined && config[key] !== fromWeights) {
    throw new Error(`ortForward: config.${key} = ${config[key]} but the weights say ${fromWeights}`);
  }
  return fromWeights;
}

/** Conv weights [kh,kw,cin,cout] (mlc, TF) → [cout,cin,kh,kw] (ONNX). */
function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) dst[((o * cin + i) * kh + y) * kw + x] = src[((y * kw + x) * cin + i) * cout + o];
  return dst;
}

/** Rows of a [h*w*c, n] matrix indexed by an NHWC flatten, reordered for an NCHW flatten. */
function nhwcRowsToNchw(src: Float32Array, h: number, w: number, c: number, n: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        const from = ((y * w + x) * c + ch) * n;
        dst.set(src.subarray(from, from + n), ((ch * h + y) * w + x) * n);
      }
  return dst;
}

// ---- serialization: onnxModel() plus the non-float tensors ---------------------------------------
// Protobuf wire format as in bench/peers.ts; field numbers from onnx.proto.

const TENSOR_INT32 = 6;
const TENSOR_INT64 = 7;
const TENSOR_BOOL = 9;

// Protobuf field encoders: bench/peers.ts's (varint, bytesField, intField, stringField).


/** TensorProto { dims, data_type, name, raw_data } of an int64 or bool initializer. */
function intTensor(t: IntInitializer): number[] {
  const raw =
    t.dtype === "int64"
      ? new Uint8Array(BigInt64Array.from(t.values, (v) => BigInt(v)).buffer)
      : Uint8Array.from(t.values, (v) => (v ? 1 : 0));
  return [
    ...t.shape.flatMap((d) => intField(1, d)),
    ...intField(2, t.dtype === "int64" ? TENSOR_INT64 : TENSOR_BOOL),
    ...stringField(8, t.name),
    ...bytesField(9, raw),
  ];
}

/** ValueInfoProto of an int32 graph input. */
function int32Input({ name, shape }: IntInput): number[] {
  const dims = shape.flatMap((d) => bytesField(1, intField(1, d)));
  const tensorType = [...intField(1, TENSOR_INT32), ...bytesField(2, dims)];
  return [...stringField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

function serialize(twin: TwinGraph): Uint8Array {
  const extras = [
    ...twin.intInitializers.flatMap((t) => bytesField(5, intTensor(t))), // GraphProto.initializer
    ...twin.intInputs.flatMap((i) => bytesField(11, int32Input(i))), // GraphProto.input
  ];
  return withExtraGraphFields(onnxModel(twin.graph), extras);
}

/**
 * Appends encoded fields to the GraphProto (ModelProto field 7) of a serialized model. Protobuf
 * repeated fields may arrive in any order, so appended initializers and inputs join the others.
 */
function withExtraGraphFields(model: Uint8Array, extras: number[]): Uint8Array {
  if (!extras.length) return model;
  const chunks: Uint8Array[] = [];
  let pos = 0;
  const readVarint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const byte = model[pos++];
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
      shift += 7n;
    }
  };
  while (pos < model.length) {
    const start = pos;
    const key = Number(readVarint());
    if ((key & 7) === 0) {
      readVarint();
    } else if ((key & 7) === 2) {
      const length = Number(readVarint());
      pos += length;
      if (key >> 3 === 7) {
        // The graph again, its length grown by the extras (no argument spreads: weights are large).
        const body = model.subarray(pos - length, pos);
        chunks.push(Uint8Array.from([...varint((7 << 3) | 2), ...varint(length + extras.length)]), body, Uint8Array.from(extras));
        continue;
      }
    } else {
      throw new Error(`withExtraGraphFields: unexpected wire type ${key & 7} in the model`);
    }
    chunks.push(model.subarray(start, pos));
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
