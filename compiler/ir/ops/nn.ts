// Contractions (matmul, conv2d) and 2-D pooling. Images are NHWC and conv weights are
// [kh, kw, C/groups, O], so the innermost loops of the kernels below run over contiguous memory.
// Window geometry (padding, output sizes) comes from window.ts, shared with the backends.

import type { Attrs } from "../graph.ts";
import { attr, type AttrSpec, type OpDef, type Tensor } from "../op-def.ts";
import { broadcastShapes, formatType, numel, ShapeError, stridesOf, type Shape, type TensorType } from "../types.ts";
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

function convWindow(op: string, x: TensorType, kernelH: number, kernelW: number, attrs: Attrs, dilation: readonly number[]): Window2d {
  return window2d(op, x.shape[1], x.shape[2], {
    kernel: [kernelH, kernelW],
    stride: attr.ints(attrs, "stride"),
    dilation,
    padding: attr.str(attrs, "padding") as PaddingMode,
    pads: attr.ints(attrs, "pads"),
  });
}

const conv2d: OpDef = {
  name: "conv2d",
  summary: "2-D convolution (cross-correlation), x NHWC, w [kh, kw, C/groups, O]",
  kind: "contraction",
  operands: ["x", "w"],
  attrs: {
    stride: { kind: "ints", default: [1, 1], doc: "vertical, horizontal" },
    padding: PADDING_ATTR,
    pads: PADS_ATTR,
    dilation: { kind: "ints", default: [1, 1], doc: "vertical, horizontal" },
    groups: { kind: "int", default: 1, doc: "C and O split into this many independent groups; C for depthwise" },
  },
  tolerance: 1e-4,
  infer([x, w], attrs) {
    requireRank("conv2d", "x", x, 4, "N, H, W, C");
    requireRank("conv2d", "w", w, 4, "kh, kw, C/groups, O");
    requireFloat("conv2d", "x", x);
    requireSameDtype("conv2d", ["x", "w"], [x, w]);
    const groups = attr.num(attrs, "groups");
    const [, , , channels] = x.shape;
    const [kernelH, kernelW, groupChannels, outChannels] = w.shape;
    const shapes = `x is ${formatType(x)}, w is ${formatType(w)}`;
    if (groups < 1) throw new ShapeError(`conv2d: groups must be >= 1, got ${groups}`);
    if (channels % groups !== 0 || outChannels % groups !== 0) {
      throw new ShapeError(`conv2d: groups ${groups} must divide both C ${channels} and O ${outChannels}: ${shapes}`);
    }
    if (groupChannels !== channels / groups) {
      throw new ShapeError(`conv2d: w's third axis must be C/groups = ${channels / groups}, got ${groupChannels}: ${shapes}`);
    }
    const win = convWindow("conv2d", x, kernelH, kernelW, attrs, attr.ints(attrs, "dilation"));
    return { dtype: x.dtype, shape: [x.shape[0], win.outH, win.outW, outChannels] };
  },
  interpret([x, w], attrs, out) {
    const [batch, inH, inW, channels] = x.type.shape;
    const [kernelH, kernelW, groupChannels, outChannels] = w.type.shape;
    const win = convWindow("conv2d", x.type, kernelH, kernelW, attrs, attr.ints(attrs, "dilation"));
    const groups = attr.num(attrs, "groups");
    const groupOut = outChannels / groups;
    const xs = x.data;
    const ws = w.data;
    const result = new Float64Array(numel(out.shape));
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
              const xBase = ((b * inH + iy) * inW + ix) * channels;
              const wBase = (ky * kernelW + kx) * groupChannels * outChannels;
              for (let g = 0; g < groups; g++) {
                for (let ci = 0; ci < groupChannels; ci++) {
                  const xv = xs[xBase + g * groupChannels + ci];
                  const wRow = wBase + ci * outChannels + g * groupOut;
                  const oRow = oBase + g * groupOut;
                  for (let o = 0; o < groupOut; o++) result[oRow + o] += xv * ws[wRow + o];
                }
              }
            }
          }
        }
      }
    }
    return result;
  },
};

// ---------------------------------------------------------------------------------------------
// pooling

function poolWindow(op: string, x: TensorType, attrs: Attrs): Window2d {
  const size = attr.ints(attrs, "size");
  if (size.length !== 2) throw new ShapeError(`${op}: size must be two integers >= 1, got [${size.join(",")}]`);
  const win = window2d(op, x.shape[1], x.shape[2], {
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
 * window) pair, channel by channel, and `finish(outIndex, count)` once per output element with
 * the number of in-bounds window positions. Padding positions are never visited.
 */
function forEachWindow(
  x: Tensor,
  win: Window2d,
  visit: (outIndex: number, inIndex: number) => void,
  finish: (outIndex: number, count: number) => void,
): void {
  const [batch, inH, inW, channels] = x.type.shape;
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

function poolRecord(name: "maxPool2d" | "avgPool2d", summary: string, tolerance: number): OpDef {
  return {
    name,
    summary,
    kind: "reduction",
    operands: ["x"],
    attrs: {
      size: { kind: "ints", doc: "window height, width" },
      stride: { kind: "ints", doc: "vertical, horizontal" },
      padding: PADDING_ATTR,
      pads: PADS_ATTR,
    },
    tolerance,
    infer([x], attrs) {
      requireRank(name, "x", x, 4, "N, H, W, C");
      if (name === "avgPool2d") requireFloat(name, "x", x);
      else requireNumeric(name, "x", x);
      const win = poolWindow(name, x, attrs);
      return { dtype: x.dtype, shape: [x.shape[0], win.outH, win.outW, x.shape[3]] };
    },
    interpret([x], attrs, out) {
      const win = poolWindow(name, x.type, attrs);
      const xs = x.data;
      const result = new Float64Array(numel(out.shape));
      if (name === "maxPool2d") {
        result.fill(-Infinity);
        forEachWindow(x, win, (o, i) => {
          const v = xs[i];
          const m = result[o];
          if (v > m || (v !== v && m === m)) result[o] = v; // NaN propagates, as in max
        }, () => {});
      } else {
        forEachWindow(x, win, (o, i) => {
          result[o] += xs[i];
        }, (o, count) => {
          result[o] /= count;
        });
      }
      return result;
    },
  };
}

const maxPool2d = poolRecord("maxPool2d", "max over 2-D windows of an NHWC tensor; padding never wins", 1e-6);
const avgPool2d = poolRecord("avgPool2d", "mean over 2-D windows of an NHWC tensor; padding is not counted", 1e-5);

export const NN_OPS: readonly OpDef[] = [matmul, conv2d, maxPool2d, avgPool2d];
