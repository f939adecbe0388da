// Contractions (matmul, conv2d) and 2-D pooling. Images are NHWC and conv weights are
// [kh, kw, C/groups, O], so the innermost loops of the kernels below run over contiguous memory.
// Window geometry (padding, output sizes) comes from window.ts, shared with the backends.
//
// The attribute schemas, operand checks and window walks are exported: the backward ops of
// conv-grad.ts and pool-grad.ts take the same attributes and must see the very same windows.

import type { Attrs } from "../graph.ts";
import { attr, type AttrSpec, type OpDef, type VjpContext } from "../op-def.ts";
import { broadcastShapes, formatType, numel, ShapeError, stridesOf, type Shape, type TensorType } from "../types.ts";
import { bilinearVjp, linearVjp, unbroadcast } from "../vjp-kit.ts";
import { requireFloat, requireNumeric, requireRank, requireSameDtype } from "./operand-checks.ts";
import { PADDING_MODES, window2d, type PaddingMode, type Window2d } from "./window.ts";

// ---------------------------------------------------------------------------------------------
// matmul

/** (rows, cols) of the matrix an operand contributes, after its optional transpose. */
function matrixDims(t: TensorType, transposed: boolean): [number, number] {
  const r = t.shape[t.shape.length - 2];
  const c = t.shape[t.shape.length - 1];
  return transposed ? [c, r] : [r, c];
}

/**
 * For each flat index into the broadcast `outBatch` shape, the flat index of the matrix in an
 * operand whose batch shape is `batch` (right-aligned, size-1 dims repeat).
 */
function batchOffsets(outBatch: Shape, batch: Shape): Int32Array {
  const count = numel(outBatch);
  const offsets = new Int32Array(count);
  const strides = stridesOf(batch);
  const lead = outBatch.length - batch.length;
  for (let flat = 0; flat < count; flat++) {
    let rest = flat;
    let offset = 0;
    for (let d = outBatch.length - 1; d >= 0; d--) {
      const index = rest % outBatch[d];
      rest = Math.floor(rest / outBatch[d]);
      const bd = d - lead;
      if (bd >= 0 && batch[bd] !== 1) offset += index * strides[bd];
    }
    offsets[flat] = offset;
  }
  return offsets;
}

/**
 * With C = op(A) op(B) (op = optional transpose), dop(A) = dC op(B)^T and dop(B) = op(A)^T dC.
 * Each cotangent is one matmul whose transpose flags absorb every op(), so no transpose node is
 * ever materialized; batch dimensions that broadcasting stretched are then summed away.
 */
function matmulGradA({ b, node, dy }: VjpContext): string {
  const [a, bm] = node.inputs;
  const tb = attr.bool(node.attrs, "transposeB");
  const g = attr.bool(node.attrs, "transposeA")
    ? b.op("matmul", [bm, dy], { transposeA: tb, transposeB: true }) // dA = (dC op(B)^T)^T = op(B) dC^T
    : b.op("matmul", [dy, bm], { transposeA: false, transposeB: !tb });
  return unbroadcast(b, g, b.typeOf(a).shape);
}

function matmulGradB({ b, node, dy }: VjpContext): string {
  const [a, bm] = node.inputs;
  const ta = attr.bool(node.attrs, "transposeA");
  const g = attr.bool(node.attrs, "transposeB")
    ? b.op("matmul", [dy, a], { transposeA: true, transposeB: ta }) // dB = (op(A)^T dC)^T = dC^T op(A)
    : b.op("matmul", [a, dy], { transposeA: !ta, transposeB: false });
  return unbroadcast(b, g, b.typeOf(bm).shape);
}

const matmul: OpDef = {
  name: "matmul",
  summary: "batched matrix product a[..., M, K] x b[..., K, N]; batch dims broadcast",
  kind: "contraction",
  operands: ["a", "b"],
  attrs: {
    transposeA: { kind: "bool", default: false, doc: "use the transpose of a's last two axes" },
    transposeB: { kind: "bool", default: false, doc: "use the transpose of b's last two axes" },
  },
  tolerance: 1e-4,
  infer([a, b], attrs) {
    if (a.shape.length < 2 || b.shape.length < 2) {
      throw new ShapeError(`matmul: operands must have rank >= 2: a is ${formatType(a)}, b is ${formatType(b)}`);
    }
    requireFloat("matmul", "a", a);
    requireSameDtype("matmul", ["a", "b"], [a, b]);
    const [m, k] = matrixDims(a, attr.bool(attrs, "transposeA"));
    const [kb, n] = matrixDims(b, attr.bool(attrs, "transposeB"));
    if (k !== kb) {
      const transposed = [attrs.transposeA && "transposeA", attrs.transposeB && "transposeB"].filter(Boolean);
      const how = transposed.length ? ` with ${transposed.join(" and ")}` : "";
      throw new ShapeError(`matmul: inner dimensions differ: a is ${formatType(a)}, b is ${formatType(b)}${how} (K ${k} vs ${kb})`);
    }
    let batch: number[];
    try {
      batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    } catch {
      throw new ShapeError(`matmul: batch dimensions do not broadcast: a is ${formatType(a)}, b is ${formatType(b)}`);
    }
    return { dtype: a.dtype, shape: [...batch, m, n] };
  },
  interpret([a, b], attrs, out) {
    const ta = attr.bool(attrs, "transposeA");
    const tb = attr.bool(attrs, "transposeB");
    const [m, k] = matrixDims(a.type, ta);
    const n = matrixDims(b.type, tb)[1];
    const outBatch = out.shape.slice(0, -2);
    const aOffsets = batchOffsets(outBatch, a.type.shape.slice(0, -2));
    const bOffsets = batchOffsets(outBatch, b.type.shape.slice(0, -2));
    // Element (i, p) of op(a) and (p, j) of op(b), as strides into the stored matrices.
    const [aRow, aCol] = ta ? [1, m] : [k, 1];
    const [bRow, bCol] = tb ? [1, k] : [n, 1];
    const result = new Float64Array(numel(out.shape));
    for (let batch = 0; batch < aOffsets.length; batch++) {
      const aBase = aOffsets[batch] * m * k;
      const bBase = bOffsets[batch] * k * n;
      const oBase = batch * m * n;
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < k; p++) {
          const aip = a.data[aBase + i * aRow + p * aCol];
          const bp = bBase + p * bRow;
          const oi = oBase + i * n;
          for (let j = 0; j < n; j++) result[oi + j] += aip * b.data[bp + j * bCol];
        }
      }
    }
    return result;
  },
  vjp: bilinearVjp(matmulGradA, matmulGradB),
  // 2 per multiply-add: K of them per result element.
  flops(node, [a]) {
    const k = attr.bool(node.attrs, "transposeA") ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    return 2 * numel(node.type.shape) * k;
  },
  fusion: { epilogueOp: "fusedMatmul" },
};

// ---------------------------------------------------------------------------------------------
// conv2d

const PADDING_ATTR: AttrSpec = {
  kind: "string", oneOf: PADDING_MODES, default: "valid",
  doc: '"valid", "same" (TensorFlow: ceil(in/stride) outputs, extra padding at the end) or "explicit"',
};
const PADS_ATTR: AttrSpec = {
  kind: "ints", default: [0, 0, 0, 0], doc: "top, bottom, left, right; used when padding is explicit",
};

/** conv2d's attributes, shared with its backward ops. */
export const CONV_ATTRS = {
  stride: { kind: "ints", default: [1, 1], doc: "vertical, horizontal" },
  padding: PADDING_ATTR,
  pads: PADS_ATTR,
  dilation: { kind: "ints", default: [1, 1], doc: "vertical, horizontal" },
  groups: { kind: "int", default: 1, doc: "C and O split into this many independent groups; C for depthwise" },
} as const satisfies Record<string, AttrSpec>;

/**
 * A rank-4 shape held in attribute `key` (the backward ops record the shape of the forward
 * operand they produce the cotangent of), checked to be four sizes >= 0.
 */
export function rank4ShapeAttr(op: string, attrs: Attrs, key: string, layout: string): number[] {
  const shape = attr.ints(attrs, key);
  if (shape.length !== 4 || shape.some((d) => d < 0)) {
    throw new ShapeError(`${op}: ${key} must be four sizes >= 0 (${layout}), got [${shape.join(",")}]`);
  }
  return [...shape];
}

/**
 * Checks that an NHWC input `x` and a [kh, kw, C/groups, O] filter `w` fit together under the
 * conv attributes and resolves the window. Backward ops pass the type they reconstruct from a
 * shape attribute for the operand they do not have.
 */
export function convGeometry(op: string, x: TensorType, w: TensorType, attrs: Attrs): { win: Window2d; out: TensorType } {
  requireRank(op, "x", x, 4, "N, H, W, C");
  requireRank(op, "w", w, 4, "kh, kw, C/groups, O");
  requireFloat(op, "x", x);
  requireSameDtype(op, ["x", "w"], [x, w]);
  const groups = attr.num(attrs, "groups");
  const [, inH, inW, channels] = x.shape;
  const [kernelH, kernelW, groupChannels, outChannels] = w.shape;
  const shapes = `x is ${formatType(x)}, w is ${formatType(w)}`;
  if (groups < 1) throw new ShapeError(`${op}: groups must be >= 1, got ${groups}`);
  if (channels % groups !== 0 || outChannels % groups !== 0) {
    throw new ShapeError(`${op}: groups ${groups} must divide both C ${channels} and O ${outChannels}: ${shapes}`);
  }
  if (groupChannels !== channels / groups) {
    throw new ShapeError(`${op}: w's third axis must be C/groups = ${channels / groups}, got ${groupChannels}: ${shapes}`);
  }
  const win = window2d(op, inH, inW, {
    kernel: [kernelH, kernelW],
    stride: attr.ints(attrs, "stride"),
    dilation: attr.ints(attrs, "dilation"),
    padding: attr.str(attrs, "padding") as PaddingMode,
    pads: attr.ints(attrs, "pads"),
  });
  return { win, out: { dtype: x.dtype, shape: [x.shape[0], win.outH, win.outW, outChannels] } };
}

/**
 * Calls `visit(xBase, wBase, oBase)` for every (image, output pixel, kernel tap) whose input
 * pixel is inside the image: the flat offsets of that input pixel's channel vector, of the tap's
 * [C/groups, O] weight matrix and of the output pixel's channel vector. conv2d and both of its
 * backward kernels are this walk with a different inner channel loop.
 */
export function forEachConvTap(
  x: Shape,
  w: Shape,
  win: Window2d,
  visit: (xBase: number, wBase: number, oBase: number) => void,
): void {
  const [batch, inH, inW, channels] = x;
  const [kernelH, kernelW, groupChannels, outChannels] = w;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < win.outH; oy++) {
      for (let ox = 0; ox < win.outW; ox++) {
        const oBase = ((b * win.outH + oy) * win.outW + ox) * outChannels;
        for (let ky = 0; ky < kernelH; ky++) {
          const iy = oy * win.strideH - win.padTop + ky * win.dilationH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernelW; kx++) {
            const ix = ox * win.strideW - win.padLeft + kx * win.dilationW;
            if (ix < 0 || ix >= inW) continue;
            visit(((b * inH + iy) * inW + ix) * channels, (ky * kernelW + kx) * groupChannels * outChannels, oBase);
          }
        }
      }
    }
  }
}

const conv2d: OpDef = {
  name: "conv2d",
  summary: "2-D convolution (cross-correlation), x NHWC, w [kh, kw, C/groups, O]",
  kind: "contraction",
  operands: ["x", "w"],
  attrs: CONV_ATTRS,
  tolerance: 1e-4,
  infer([x, w], attrs) {
    return convGeometry("conv2d", x, w, attrs).out;
  },
  interpret([x, w], attrs, out) {
    const { win } = convGeometry("conv2d", x.type, w.type, attrs);
    const [, , groupChannels, outChannels] = w.type.shape;
    const groups = attr.num(attrs, "groups");
    const groupOut = outChannels / groups;
    const xs = x.data;
    const ws = w.data;
    const result = new Float64Array(numel(out.shape));
    forEachConvTap(x.type.shape, w.type.shape, win, (xBase, wBase, oBase) => {
      for (let g = 0; g < groups; g++) {
        for (let ci = 0; ci < groupChannels; ci++) {
          const xv = xs[xBase + g * groupChannels + ci];
          const wRow = wBase + ci * outChannels + g * groupOut;
          const oRow = oBase + g * groupOut;
          for (let o = 0; o < groupOut; o++) result[oRow + o] += xv * ws[wRow + o];
        }
      }
    });
    return result;
  },
  // conv2d is bilinear: each cotangent is the transposed convolution with respect to one operand.
  vjp: bilinearVjp(
    ({ b, node, dy }) => b.op("conv2dBackpropInput", [dy, node.inputs[1]], { ...node.attrs, inputShape: [...b.typeOf(node.inputs[0]).shape] }),
    ({ b, node, dy }) => b.op("conv2dBackpropFilter", [node.inputs[0], dy], { ...node.attrs, filterShape: [...b.typeOf(node.inputs[1]).shape] }),
  ),
  flops: (node, [, w]) => 2 * numel(node.type.shape) * filterTaps(w.shape),
  fusion: { epilogueOp: "fusedConv2d" },
};

/**
 * Multiply-adds per output element of a convolution with filter shape [kh, kw, C/groups, O]
 * (kh*kw*C/groups); conv2d and both its transposes cost 2 FLOPs per multiply-add.
 */
export function filterTaps(w: Shape): number {
  return w[0] * w[1] * w[2];
}

// ---------------------------------------------------------------------------------------------
// pooling

/** The pools' attributes, shared with their backward ops. */
export const POOL_ATTRS = {
  size: { kind: "ints", doc: "window height, width" },
  stride: { kind: "ints", doc: "vertical, horizontal" },
  padding: PADDING_ATTR,
  pads: PADS_ATTR,
} as const satisfies Record<string, AttrSpec>;

/** The window of a pool over an NHWC input of `shape` (rank already checked). */
export function poolWindow(op: string, shape: Shape, attrs: Attrs): Window2d {
  const size = attr.ints(attrs, "size");
  if (size.length !== 2) throw new ShapeError(`${op}: size must be two integers >= 1, got [${size.join(",")}]`);
  const win = window2d(op, shape[1], shape[2], {
    kernel: [size[0], size[1]],
    stride: attr.ints(attrs, "stride"),
    dilation: [1, 1],
    padding: attr.str(attrs, "padding") as PaddingMode,
    pads: attr.ints(attrs, "pads"),
  });
  // A pad as wide as the window would create windows made only of padding, which have no max
  // and no average. "same" never does this; explicit pads must not either.
  if (Math.max(win.padTop, win.padBottom) >= win.kernelH || Math.max(win.padLeft, win.padRight) >= win.kernelW) {
    throw new ShapeError(`${op}: pads [${attr.ints(attrs, "pads").join(",")}] must be smaller than the window ${size[0]}x${size[1]}`);
  }
  return win;
}

/**
 * Runs `visit(outIndex, inIndex)` for every (output element, in-bounds input element of its
 * window) pair of a pool over an NHWC input of `shape`, in window order (rows, then columns),
 * channel by channel, and `finish(outIndex, count)` once per output element after its visits,
 * with the number of in-bounds window positions. Padding positions are never visited.
 */
export function forEachWindow(
  shape: Shape,
  win: Window2d,
  visit: (outIndex: number, inIndex: number) => void,
  finish: (outIndex: number, count: number) => void,
): void {
  const [batch, inH, inW, channels] = shape;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < win.outH; oy++) {
      for (let ox = 0; ox < win.outW; ox++) {
        const oBase = ((b * win.outH + oy) * win.outW + ox) * channels;
        let count = 0;
        for (let ky = 0; ky < win.kernelH; ky++) {
          const iy = oy * win.strideH - win.padTop + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < win.kernelW; kx++) {
            const ix = ox * win.strideW - win.padLeft + kx;
            if (ix < 0 || ix >= inW) continue;
            const iBase = ((b * inH + iy) * inW + ix) * channels;
            for (let c = 0; c < channels; c++) visit(oBase + c, iBase + c);
            count++;
          }
        }
        for (let c = 0; c < channels; c++) finish(oBase + c, count);
      }
    }
  }
}

/** True when `v` replaces the running max `m`: larger, or the first NaN (NaN then sticks). */
export function beatsMax(v: number, m: number): boolean {
  return v > m || (v !== v && m === m);
}

function poolRecord(name: "maxPool2d" | "avgPool2d", summary: string, tolerance: number): OpDef {
  return {
    name,
    summary,
    kind: "reduction",
    operands: ["x"],
    attrs: POOL_ATTRS,
    tolerance,
    infer([x], attrs) {
      requireRank(name, "x", x, 4, "N, H, W, C");
      if (name === "avgPool2d") requireFloat(name, "x", x);
      else requireNumeric(name, "x", x);
      const win = poolWindow(name, x.shape, attrs);
      return { dtype: x.dtype, shape: [x.shape[0], win.outH, win.outW, x.shape[3]] };
    },
    interpret([x], attrs, out) {
      const win = poolWindow(name, x.type.shape, attrs);
      const xs = x.data;
      const result = new Float64Array(numel(out.shape));
      if (name === "maxPool2d") {
        result.fill(-Infinity);
        forEachWindow(x.type.shape, win, (o, i) => {
          if (beatsMax(xs[i], result[o])) result[o] = xs[i]; // NaN propagates, as in max
        }, () => {});
      } else {
        forEachWindow(x.type.shape, win, (o, i) => {
          result[o] += xs[i];
        }, (o, count) => {
          result[o] /= count;
        });
      }
      return result;
    },
    // The max pool routes each output's cotangent to the input that won its window; the average
    // pool is linear, so its backward spreads each cotangent evenly over the window.
    vjp: name === "maxPool2d"
      ? ({ b, node, dy, needs }) => [needs[0] ? b.op("maxPool2dGrad", [node.inputs[0], dy], node.attrs) : null]
      : linearVjp(({ b, node, dy }) => b.op("avgPool2dGrad", [dy], { ...node.attrs, inputShape: [...b.typeOf(node.inputs[0]).shape] })),
  };
}

const maxPool2d = poolRecord("maxPool2d", "max over 2-D windows of an NHWC tensor; padding never wins", 1e-6);
const avgPool2d = poolRecord("avgPool2d", "mean over 2-D windows of an NHWC tensor; padding is not counted", 1e-5);

export const NN_OPS: readonly OpDef[] = [matmul, conv2d, maxPool2d, avgPool2d];
