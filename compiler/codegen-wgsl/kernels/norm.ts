// Kernels of layerNorm, batchNorm, batchNormRunningStat and the losses (softmaxCrossEntropy,
// mse), each one workgroup per row with cooperate.ts's tree folds. Statistics follow the
// interpreter's two passes: the mean first, then the sum of squared deviations from it.
//
//   layerNorm             a row per (outer, inner) position along the axis: (x - mean) * rstd *
//                         gamma[j] + beta[j]
//   batchNorm             a row per channel (stride C over the n = numel / C positions):
//                         (x - mean) * (gamma / sqrt(var + eps)) + beta
//   batchNormRunningStat  the same rows; (1 - momentum) running + momentum stat, var unbiased
//   softmaxCrossEntropy   one workgroup; each invocation takes whole rows (max, sum of exp, loss),
//                         the tree sums the losses, the mean is stored
//   mse                   one workgroup: the mean of squared differences

import { attr } from "../../ir/op-def.ts";
import { normalizeAxis, numel } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelTable } from "../kernel.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { f32, load, u32 } from "../wgsl.ts";
import { GROUP, MAX_F32, rowPass } from "./cooperate.ts";
import { mathLibrary } from "./math.ts";
import { rowsAlong } from "./reduction.ts";
import { staged } from "./stage.ts";

const loop = (body: string, len: number) => `for (var j = lid; j < ${u32(len)}; j += ${u32(GROUP)}) { ${body} }`;

/** WGSL for a row's mean and sum of squared deviations (`mean`, `sq`), elements read by `read(j)`. */
function rowStats(read: (j: string) => string, len: number): string {
  return `  var acc = 0.0;
  ${loop(`acc += ${read("j")};`, len)}
  let mean = wg_sum(acc, lid) / ${f32(len)};
  var dev = 0.0;
  ${loop(`let d = ${read("j")} - mean; dev += d * d;`, len)}
  let sq = wg_sum(dev, lid);`;
}

const layerNorm: WgslKernel = (a) => {
  const [x, gamma, beta] = a.inputs;
  const axis = normalizeAxis(attr.num(a.node.attrs, "axis"), x.type.shape.length);
  const { rows, len, stride, rowBase } = rowsAlong(x.type.shape, axis);
  const at = (j: string) => `base + ${j} * ${u32(stride)}`;
  const read = (j: string) => load(x.offset, x.type.dtype, at(j));
  const body = `  let base = ${rowBase};
${rowStats(read, len)}
  let scale = 1.0 / sqrt(sq / ${f32(len)} + ${f32(attr.num(a.node.attrs, "eps"))});
  ${loop(`st_f32(${u32(a.output.offset / 4)} + ${at("j")}, (${read("j")} - mean) * scale * ${load(gamma.offset, gamma.type.dtype, "j")} + ${load(beta.offset, beta.type.dtype, "j")});`, len)}`;
  return [rowPass(`layerNorm %${a.node.id}`, rows, body, "", a.target)];
};

/** Channels-last rows: channel o's elements at o + j * C, j < n. */
function channelRows(shape: readonly number[]) {
  const channels = shape[shape.length - 1];
  const n = channels === 0 ? 0 : numel(shape) / channels;
  return { channels, n, at: (j: string) => `o + ${j} * ${u32(channels)}` };
}

const batchNorm: WgslKernel = (a) => {
  const [x, gamma, beta] = a.inputs;
  const { channels, n, at } = channelRows(x.type.shape);
  const read = (j: string) => load(x.offset, x.type.dtype, at(j));
  const body = `${rowStats(read, n)}
  let scale = ${load(gamma.offset, gamma.type.dtype, "o")} / sqrt(sq / ${f32(n)} + ${f32(attr.num(a.node.attrs, "eps"))});
  let shift = ${load(beta.offset, beta.type.dtype, "o")};
  ${loop(`st_f32(${u32(a.output.offset / 4)} + ${at("j")}, (${read("j")} - mean) * scale + shift);`, n)}`;
  return [rowPass(`batchNorm %${a.node.id}`, channels, body, "", a.target)];
};

const batchNormRunningStat: WgslKernel = (a) => {
  const [x, running] = a.inputs;
  const { channels, n, at } = channelRows(x.type.shape);
  const m = attr.num(a.node.attrs, "momentum");
  const stat = attr.str(a.node.attrs, "stat") === "mean" ? "mean" : `sq / ${f32(n - 1)}`;
  const body = `${rowStats((j) => load(x.offset, x.type.dtype, at(j)), n)}
  if (lid == 0u) { st_f32(${u32(a.output.offset / 4)} + o, ${f32(1 - m)} * ${load(running.offset, running.type.dtype, "o")} + ${f32(m)} * ${stat}); }`;
  return [rowPass(`batchNormRunningStat %${a.node.id}`, channels, body, "", a.target)];
};

const softmaxCrossEntropy: WgslKernel = (a) => {
  const [logits, labels] = a.inputs;
  const shape = logits.type.shape;
  const classes = shape[shape.length - 1];
  const rows = numel(labels.type.shape);
  const x = (k: string) => load(logits.offset, logits.type.dtype, `r * ${u32(classes)} + ${k}`);
  // An out-of-range label (the interpreter throws) makes the loss NaN rather than reading elsewhere.
  const body = `  var total = 0.0;
  for (var r = lid; r < ${u32(rows)}; r += ${u32(GROUP)}) {
    var m = ${f32(-Infinity)};
    for (var c = 0u; c < ${u32(classes)}; c++) { m = ${MAX_F32("m", x("c"))}; }
    var s = 0.0;
    for (var c = 0u; c < ${u32(classes)}; c++) { s += m_exp(${x("c")} - m); }
    let label = ${load(labels.offset, "i32", "r")};
    let valid = label >= 0i && label < ${classes}i;
    total += select(${f32(NaN)}, m + m_log(s) - ${x("u32(clamp(label, 0i, " + (classes - 1) + "i))")}, valid);
  }
  let loss = wg_sum(total, lid);
  if (lid == 0u) { st_f32(${u32(a.output.offset / 4)}, loss / ${f32(rows)}); }`;
  return [rowPass(`softmaxCrossEntropy %${a.node.id}`, 1, body, mathLibrary(["exp", "log"]), a.target)];
};

const mse: WgslKernel = (a) => {
  const [p, q] = a.inputs;
  const n = numel(p.type.shape);
  const body = `  var acc = 0.0;
  ${loop(`let d = ${load(p.offset, p.type.dtype, "j")} - ${load(q.offset, q.type.dtype, "j")}; acc += d * d;`, n)}
  let total = wg_sum(acc, lid);
  if (lid == 0u) { st_f32(${u32(a.output.offset / 4)}, total / ${f32(n)}); }`;
  return [rowPass(`mse %${a.node.id}`, 1, body, "", a.target)];
};

export const NORM_KERNELS: WgslKernelTable = signedTable("wgsl normalization kernels", {
  normalization: [
    { op: "layerNorm", dtypes: FLOATS, kernel: staged(layerNorm) },
    { op: "batchNorm", dtypes: FLOATS, kernel: staged(batchNorm) },
    { op: "batchNormRunningStat", dtypes: FLOATS, kernel: staged(batchNormRunningStat) },
  ],
  // Operands of every float dtype; softmaxCrossEntropy's result is f32 (the op record's rule).
  loss: [
    { op: "softmaxCrossEntropy", dtypes: FLOATS.map((t) => signature([t, "i32"], "f32")), kernel: softmaxCrossEntropy },
    { op: "mse", dtypes: FLOATS.map((t) => signature([t, t], t)), kernel: staged(mse) },
  ],
});
