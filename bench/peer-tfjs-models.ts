// TF.js twins of three mlc examples (examples/mnist-mlp, examples/cnn, examples/transformer), so
// bench/forward.ts can time the same forward pass and training step in TF.js (WASM backend, one
// thread) and in an mlc bundle. Each twin starts from mlc's weights (tf.variable of each param,
// mlc's layouts: NHWC images, conv filters [kh,kw,cin,cout], dense weights [in,out], as TF's) and
// is written the way a TF.js user would write it: fused matMul/conv2d with bias and ReLU, the
// training step as tf.variableGrads of tf.losses.softmaxCrossEntropy (the mean over every
// position, as mlc's softmaxCrossEntropy) followed by the model's optimizer.
//
// Where TF.js's WASM backend lacks a kernel or an optimizer, the substitute is stated here and in
// the benchmark's notes:
// - Gradients: tfjs-core registers its gradient functions only through
//   dist/register_all_gradients.js (the @tensorflow/tfjs union package imports it); we load that
//   file once. Its copy of the ops shares tfjs-core's global engine and registries.
// - Conv2D's filter gradient (kernel Conv2DBackpropFilter) has no WASM kernel, so the conv layer
//   is a tf.customGrad: forward tf.fused.conv2d (bias + ReLU), input gradient tf.conv2dTranspose
//   (the WASM Conv2DBackpropInput kernel, as TF.js's own gradient), filter gradient as one more
//   conv2d (the input and the output gradient with batch and channels swapped; see filterGradSame).
// - Gather's gradient (UnsortedSegmentSum) has no WASM kernel either: the embedding lookup is a
//   tf.customGrad whose table gradient is oneHot(tokens)ᵀ · dy, one matMul (transposed explicitly:
//   the WASM matMul with a transpose flag is ~10x slower than tf.transpose + a plain matMul).
// - AdamW: TF.js has none; the decoupled decay is applied as mlc and torch.optim do, p ← p·(1 −
//   lr·wd) on every trainable param, then tf.train.adam's update (which does not read p), so the
//   step is the same arithmetic as AdamW.
// - The transformer's causal mask is added (−1e9 above the diagonal, built once) rather than
//   selected with `where`: after the softmax both give exactly 0 there. Dropout is not built (the
//   bench compiles the transformer with dropout 0).
// - One-hot labels are an int32 tf.oneHot cast to float32: the WASM OneHot kernel ignores a float32
//   dtype (see oneHotF32).

import { createRequire } from "node:module";
import type { Optimizer, Rank, Tensor, Variable } from "@tensorflow/tfjs-core";
import type { OptimizerOptions } from "../compiler/passes/optimizer.ts";
import { loadTfjsWasm, type Tfjs } from "./peers.ts";

export type PeerModelName = "mnist-mlp" | "cnn" | "transformer";
export type PeerInputs = Record<string, Float32Array | Int32Array>;

export interface TfjsTwin {
  /** One forward pass: uploads the inputs, computes, reads the logits back (row-major, mlc's shape). */
  forward(inputs: PeerInputs): Float32Array;
  /** One training step on the batch (gradients + optimizer update in place); returns the loss, read back. */
  trainStep(inputs: PeerInputs): number;
  /** Frees the variables and the optimizer state. */
  dispose(): void;
}

let gradientsLoaded = false;
let twinCount = 0;

/** TF.js on its WASM backend with gradient functions registered (see the header). */
export async function loadTfjsWithGradients(): Promise<Tfjs> {
  const tf = await loadTfjsWasm();
  if (!gradientsLoaded) {
    // An ES module file of tfjs-core's source tree; tsx loads it through require (Node's ESM
    // resolver rejects its extensionless directory-like imports such as './gradients').
    createRequire(import.meta.url)("@tensorflow/tfjs-core/dist/register_all_gradients.js");
    gradientsLoaded = true;
  }
  return tf;
}

/** A model's params (name → shape), inputs (name → shape, dtype) and its logits as TF.js ops. */
interface TwinSpec {
  readonly params: Readonly<Record<string, readonly number[]>>;
  /** The model's data input(s) and the label input, with shapes; labels are i32 class ids. */
  readonly inputs: Readonly<Record<string, { shape: readonly number[]; dtype: "f32" | "i32" }>>;
  readonly labels: string;
  readonly classes: number;
  /** Logits from the (already uploaded) data inputs; `training` selects the gradient-capable ops. */
  logits(tf: Tfjs, p: Record<string, Tensor>, x: Record<string, Tensor>, training: boolean): Tensor;
  /** Frees tensors the spec keeps (constants built once). */
  dispose?(): void;
}

export async function tfjsTwin(model: PeerModelName, weights: Record<string, Float32Array>, config: Record<string, number>, optimizer: OptimizerOptions): Promise<TfjsTwin> {
  const tf = await loadTfjsWithGradients();
  twinCount++; // variable names are global in TF.js: each twin gets its own prefix
  const spec = model === "mnist-mlp" ? mlpSpec(config) : model === "cnn" ? cnnSpec(tf, config) : transformerSpec(tf, config);
  const vars: Record<string, Variable> = {};
  for (const [name, shape] of Object.entries(spec.params)) {
    const w = weights[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (!w) throw new Error(`tfjsTwin(${model}): no weights for param '${name}'`);
    if (w.length !== size) throw new Error(`tfjsTwin(${model}): '${name}' has ${w.length} values, the twin expects [${shape.join(",")}]`);
    vars[name] = tf.tidy(() => tf.variable(tf.tensor(w, [...shape]), true, `${model}#${twinCount}/${name}`)); // tidy: frees the initial tensor
  }
  const varList = Object.values(vars);
  const update = optimizerStep(tf, optimizer, varList);

  const upload = (inputs: PeerInputs, names: readonly string[]) => {
    const out: Record<string, Tensor> = {};
    for (const name of names) {
      const { shape, dtype } = spec.inputs[name];
      const data = inputs[name];
      if (!data) throw new Error(`tfjsTwin(${model}): missing input '${name}'`);
      out[name] = tf.tensor(data, [...shape], dtype === "i32" ? "int32" : "float32");
    }
    return out;
  };
  const dataInputs = Object.keys(spec.inputs).filter((n) => n !== spec.labels);

  return {
    forward(inputs) {
      const logits = tf.tidy(() => spec.logits(tf, vars, upload(inputs, dataInputs), false));
      const data = logits.dataSync() as Float32Array;
      logits.dispose();
      return data;
    },
    trainStep(inputs) {
      const loss = tf.tidy(() => {
        const x = upload(inputs, [...dataInputs, spec.labels]);
        const onehot = oneHotF32(tf, x[spec.labels] as Tensor<Rank.R1>, spec.classes);
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(onehot, spec.logits(tf, vars, x, true)) as Tensor<Rank.R0>, varList);
        update(grads);
        return value;
      });
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    },
    dispose() {
      tf.dispose(varList);
      update.dispose();
      spec.dispose?.();
    },
  };
}

/** The model's optimizer on TF.js: gradients in, params updated in place (see the header for AdamW). */
function optimizerStep(tf: Tfjs, o: OptimizerOptions, varList: readonly Variable[]): ((grads: Record<string, Tensor>) => void) & { dispose(): void } {
  const weightDecay = o.weightDecay ?? (o.kind === "adamw" ? 0.01 : 0);
  const opt: Optimizer =
    o.kind === "sgd"
      ? o.momentum !== 0 ? tf.train.momentum(o.lr, o.momentum, o.nesterov) : tf.train.sgd(o.lr)
      : tf.train.adam(o.lr, o.beta1, o.beta2, o.eps);
  const step = (grads: Record<string, Tensor>) => {
    if (weightDecay !== 0 && o.kind === "adamw") {
      for (const v of varList) v.assign(tf.mul(v, 1 - o.lr * weightDecay));
    } else if (weightDecay !== 0) {
      for (const v of varList) grads[v.name] = tf.add(grads[v.name], tf.mul(v, weightDecay));
    }
    opt.applyGradients(grads);
  };
  return Object.assign(step, { dispose: () => opt.dispose() });
}

/**
 * oneHot as float32. Not tf.oneHot(..., "float32"): the WASM OneHot kernel (4.22) writes int32 bits
 * whatever the dtype, so a float32 result reads as denormals; an int32 oneHot and a cast are right.
 */
function oneHotF32(tf: Tfjs, ids: Tensor<Rank.R1>, depth: number): Tensor<Rank.R2> {
  return tf.cast(tf.oneHot(ids, depth), "float32") as Tensor<Rank.R2>;
}

// ---- the three models ---------------------------------------------------------------------------

const need = (config: Record<string, number>, key: string): number => {
  const v = config[key];
  if (typeof v !== "number") throw new Error(`tfjs twin: config.${key} is missing`);
  return v;
};

/** examples/mnist-mlp: 784 → 256 → 128 → 10, ReLU between. */
function mlpSpec(config: Record<string, number>): TwinSpec {
  const batch = need(config, "batch");
  const layers = [["fc256", 784, 256], ["fc128", 256, 128], ["out", 128, 10]] as const;
  const params: Record<string, number[]> = {};
  for (const [name, i, o] of layers) Object.assign(params, { [`${name}.w`]: [i, o], [`${name}.b`]: [o] });
  return {
    params,
    inputs: { x: { shape: [batch, 784], dtype: "f32" }, y: { shape: [batch], dtype: "i32" } },
    labels: "y",
    classes: 10,
    logits(tf, p, x) {
      let h = x.x as Tensor<Rank.R2>;
      for (const [name] of layers) {
        h = tf.fused.matMul({ a: h, b: p[`${name}.w`] as Tensor<Rank.R2>, bias: p[`${name}.b`], activation: name === "out" ? "linear" : "relu" }) as Tensor<Rank.R2>;
      }
      return h;
    },
  };
}

/** examples/cnn: two (3x3 same conv + bias + ReLU + 2x2 max pool) stages, then a dense classifier. */
function cnnSpec(tf: Tfjs, config: Record<string, number>): TwinSpec {
  const batch = need(config, "batch");
  const width = need(config, "width");
  const classes = need(config, "classes");
  const flat = 7 * 7 * 2 * width;
  return {
    params: {
      "conv1.w": [3, 3, 1, width], "conv1.b": [width],
      "conv2.w": [3, 3, width, 2 * width], "conv2.b": [2 * width],
      "fc.w": [flat, classes], "fc.b": [classes],
    },
    inputs: { images: { shape: [batch, 28, 28, 1], dtype: "f32" }, labels: { shape: [batch], dtype: "i32" } },
    labels: "labels",
    classes,
    logits(_tf, p, x, training) {
      const block = (input: Tensor, name: string, inputGrad: boolean) => {
        const w = p[`${name}.w`] as Tensor<Rank.R4>;
        const b = p[`${name}.b`];
        const y = training
          ? convReluTrainable(tf, input as Tensor<Rank.R4>, w, b, inputGrad)
          : tf.fused.conv2d({ x: input as Tensor<Rank.R4>, filter: w, bias: b, strides: 1, pad: "same", activation: "relu" });
        return tf.maxPool(y, 2, 2, "valid");
      };
      const c2 = block(block(x.images, "conv1", false), "conv2", true);
      return tf.fused.matMul({ a: tf.reshape(c2, [batch, flat]), b: p["fc.w"] as Tensor<Rank.R2>, bias: p["fc.b"] });
    },
  };
}

/**
 * relu(conv2d(x, w, stride 1, "same") + b) with a hand-written gradient, because the WASM backend
 * has no Conv2DBackpropFilter kernel. With `inputGrad` false, x is a constant of the step (the
 * images) and its gradient is not computed, as TF's tape would skip it.
 */
function convReluTrainable(tf: Tfjs, x: Tensor<Rank.R4>, w: Tensor<Rank.R4>, b: Tensor, inputGrad: boolean): Tensor<Rank.R4> {
  const forward = (xx: Tensor<Rank.R4>, ww: Tensor<Rank.R4>, bb: Tensor) => tf.fused.conv2d({ x: xx, filter: ww, bias: bb, strides: 1, pad: "same", activation: "relu" });
  // Tensors made inside the step's forward pass are freed before backprop unless saved.
  const backward = (dy: Tensor, xx: Tensor<Rank.R4>, y: Tensor, ww: Tensor<Rank.R4>) => {
    const dz = tf.mul(dy, tf.step(y)) as Tensor<Rank.R4>; // ReLU's derivative, from its output
    return { dz, dw: filterGradSame(tf, xx, dz, ww.shape), db: tf.sum(dz, [0, 1, 2]) };
  };
  if (inputGrad) {
    const f = tf.customGrad(((xx: Tensor<Rank.R4>, ww: Tensor<Rank.R4>, bb: Tensor, save: (t: Tensor[]) => void) => {
      const y = forward(xx, ww, bb);
      save([xx, ww, y]);
      return {
        value: y,
        gradFunc: (dy: Tensor, [sx, sw, sy]: Tensor[]) => {
          const { dz, dw, db } = backward(dy, sx as Tensor<Rank.R4>, sy, sw as Tensor<Rank.R4>);
          return [tf.conv2dTranspose(dz, sw as Tensor<Rank.R4>, sx.shape as [number, number, number, number], 1, "same"), dw, db];
        },
      };
    }) as never) as unknown as (a: Tensor, b: Tensor, c: Tensor) => Tensor<Rank.R4>;
    return f(x, w, b);
  }
  const f = tf.customGrad(((ww: Tensor<Rank.R4>, bb: Tensor, save: (t: Tensor[]) => void) => {
    const y = forward(x, ww, bb);
    save([x, ww, y]);
    return {
      value: y,
      gradFunc: (dy: Tensor, [sx, sw, sy]: Tensor[]) => {
        const { dw, db } = backward(dy, sx as Tensor<Rank.R4>, sy, sw as Tensor<Rank.R4>);
        return [dw, db];
      },
    };
  }) as never) as unknown as (a: Tensor, b: Tensor) => Tensor<Rank.R4>;
  return f(w, b);
}

/**
 * The filter gradient of a stride-1 "same" conv2d (TF padding: the odd pixel at the end), itself a
 * valid conv2d with batch and channels swapped: dW[ky,kx,c,o] = Σ_{n,y,x} xpad[n,y+ky,x+kx,c]·dz[n,y,x,o]
 * is conv2d(xpad as [C,Hp,Wp,N], dz as the filter [H,W,N,O]) → [C,kh,kw,O], then transposed. One
 * stock conv kernel: measured ~5x faster on the WASM backend than im2col (slices + concat) + matMul.
 */
function filterGradSame(tf: Tfjs, x: Tensor<Rank.R4>, dz: Tensor<Rank.R4>, filterShape: readonly number[]): Tensor {
  const [kh, kw] = filterShape;
  const top = Math.floor((kh - 1) / 2);
  const left = Math.floor((kw - 1) / 2);
  const padded = tf.pad(x, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]]);
  const dw = tf.conv2d(tf.transpose(padded, [3, 1, 2, 0]) as Tensor<Rank.R4>, tf.transpose(dz, [1, 2, 0, 3]) as Tensor<Rank.R4>, 1, "valid");
  return tf.transpose(dw, [1, 2, 0, 3]);
}

/** examples/transformer: embeddings, `layers` pre-norm causal blocks (attention + GELU MLP), head. */
function transformerSpec(tf: Tfjs, config: Record<string, number>): TwinSpec {
  const B = need(config, "batch"), T = need(config, "seq"), V = need(config, "vocab"), D = need(config, "dim");
  const NH = need(config, "heads"), L = need(config, "layers");
  if ((config.dropout ?? 0) !== 0) throw new Error("tfjs twin: the transformer twin has no dropout; compile the model with dropout 0");
  const hd = D / NH;
  const params: Record<string, number[]> = { embed: [V, D], pos: [T, D] };
  const norm = (name: string) => Object.assign(params, { [`${name}.gamma`]: [D], [`${name}.beta`]: [D] });
  for (let l = 0; l < L; l++) {
    const b = `block${l}`;
    norm(`${b}.ln1`);
    for (const k of ["q", "k", "v"]) params[`${b}.attn.${k}.w`] = [D, D];
    Object.assign(params, { [`${b}.attn.proj.w`]: [D, D], [`${b}.attn.proj.b`]: [D] });
    norm(`${b}.ln2`);
    Object.assign(params, { [`${b}.fc1.w`]: [D, 4 * D], [`${b}.fc1.b`]: [4 * D], [`${b}.fc2.w`]: [4 * D, D], [`${b}.fc2.b`]: [D] });
  }
  norm("ln_f");
  Object.assign(params, { "head.w": [D, V], "head.b": [V] });

  // −1e9 where the key comes after the query; kept for the twin's lifetime (tf.keep: outside tidy).
  const maskValues = new Float32Array(T * T);
  for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) maskValues[q * T + k] = -1e9;
  const mask = tf.keep(tf.tensor(maskValues, [T, T]));

  return {
    params,
    inputs: { tokens: { shape: [B, T], dtype: "i32" }, targets: { shape: [B, T], dtype: "i32" } },
    labels: "targets",
    classes: V,
    logits(_tf, p, x, training) {
      const m2 = (t: Tensor) => tf.reshape(t, [B * T, -1]) as Tensor<Rank.R2>;
      const linear = (name: string, t: Tensor<Rank.R2>, bias = true) =>
        tf.fused.matMul({ a: t, b: p[`${name}.w`] as Tensor<Rank.R2>, ...(bias ? { bias: p[`${name}.b`] } : {}) });
      const layerNorm = (name: string, t: Tensor<Rank.R2>) => {
        const { mean, variance } = tf.moments(t, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, 1e-5))), p[`${name}.gamma`]), p[`${name}.beta`]) as Tensor<Rank.R2>;
      };
      const heads = (t: Tensor) => tf.transpose(tf.reshape(t, [B, T, NH, hd]), [0, 2, 1, 3]);
      const gelu = (t: Tensor) => tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1));

      const ids = tf.reshape(x.tokens, [B * T]) as Tensor<Rank.R1>;
      let h = m2(tf.add(tf.reshape(embedding(tf, p.embed as Tensor<Rank.R2>, ids, V, training), [B, T, D]), p.pos));
      for (let l = 0; l < L; l++) {
        const b = `block${l}`;
        const a = layerNorm(`${b}.ln1`, h);
        const q = heads(linear(`${b}.attn.q`, a, false));
        const k = heads(linear(`${b}.attn.k`, a, false));
        const v = heads(linear(`${b}.attn.v`, a, false));
        const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), mask);
        const mixed = m2(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]));
        h = tf.add(h, linear(`${b}.attn.proj`, mixed));
        h = tf.add(h, linear(`${b}.fc2`, gelu(linear(`${b}.fc1`, layerNorm(`${b}.ln2`, h))) as Tensor<Rank.R2>));
      }
      return tf.reshape(linear("head", layerNorm("ln_f", h)), [B, T, V]);
    },
    dispose: () => mask.dispose(),
  };
}

/** gather(table, ids) → [ids, D]; for training, with the table gradient oneHot(ids)ᵀ · dy (see the header). */
function embedding(tf: Tfjs, table: Tensor<Rank.R2>, ids: Tensor<Rank.R1>, rows: number, training: boolean): Tensor {
  if (!training) return tf.gather(table, ids);
  const f = tf.customGrad(((t: Tensor<Rank.R2>, save: (s: Tensor[]) => void) => {
    save([ids]); // made in the forward pass, so freed before backprop unless saved
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy: Tensor, [savedIds]: Tensor[]) => tf.matMul(tf.transpose(oneHotF32(tf, savedIds as Tensor<Rank.R1>, rows)), dy as Tensor<Rank.R2>),
    };
  }) as never) as unknown as (t: Tensor) => Tensor;
  return f(table);
}

