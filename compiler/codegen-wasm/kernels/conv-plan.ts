// How the WASM backend computes a convolution (conv2d and both backward ops), decided from the
// node's static shapes:
//
//   depthwise  groups = C and one output channel per input channel: a direct kernel, SIMD over
//              channels (conv-depthwise.ts); a GEMM per channel would have n = 1.
//   pointwise  a 1x1 window, stride 1, no padding: the image already is the [pixels, C] matrix,
//              so each group is one GEMM with no copy.
//   im2col     everything else: a block of output pixels at a time, each pixel's window is
//              copied into a row of a column buffer [rows, kh*kw*C/groups] (padding as zeros),
//              and each group is one GEMM against the filter viewed as [kh*kw*C/groups, O]
//              (its natural layout). Blocks keep the buffer near COLUMN_BUDGET_BYTES.
//
// Rows of the column matrix are output pixels in NHWC order, so the GEMM's C rows are output
// pixels and its columns the group's output channels: results land in place in the output.

import type { Attrs } from "../../ir/graph.ts";
import { attr } from "../../ir/op-def.ts";
import { window2d, type PaddingMode, type Window2d } from "../../ir/ops/window.ts";
import type { Shape } from "../../ir/types.ts";

/**
 * The column buffer of one block stays near this size. Workspaces are live only while their node
 * runs, but in a training step the backward convolutions run where memory peaks, so their
 * scratch adds to the arena directly; 32 KiB blocks (at least MIN_BLOCK_ROWS rows) cost no
 * measurable time against 256 KiB ones on the bench machine (ResNet block convolutions at batch
 * 8 and 64, the CNN's second layer at batch 128: within 1-3%, inside the noise) and cut a
 * [8,16,16,16] 3x3 filter gradient's workspace from 342 KB to 78 KB.
 */
export const COLUMN_BUDGET_BYTES = 32 * 1024;
/** Blocks hold at least this many rows, so the GEMM's packing of the filter is amortised. */
const MIN_BLOCK_ROWS = 64;

export type ConvStrategy = "depthwise" | "pointwise" | "im2col";

export interface ConvPlan {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  readonly channels: number;
  readonly outChannels: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly win: Window2d;
  readonly groups: number;
  /** Input and output channels per group. */
  readonly groupChannels: number;
  readonly groupOut: number;
  /** Output pixels N*OH*OW: the rows of the column matrix. */
  readonly pixels: number;
  /** kh*kw*C/groups: the columns of the column matrix, the GEMM's depth for conv2d. */
  readonly depth: number;
  readonly strategy: ConvStrategy;
  /** im2col: output pixels per block. */
  readonly blockRows: number;
}

/**
 * The plan of a convolution over input shape `x` with filter shape `w` (as conv2d's). With
 * `half` (16-bit storage) depthwise convolutions take the im2col path too: its GEMMs widen the
 * operands in their packing and round each result once.
 */
export function convPlan(x: Shape, w: Shape, attrs: Attrs, half = false): ConvPlan {
  const [batch, inH, inW, channels] = x;
  const [kernelH, kernelW, groupChannels, outChannels] = w;
  const groups = attr.num(attrs, "groups");
  const win = window2d("conv2d", inH, inW, {
    kernel: [kernelH, kernelW],
    stride: attr.ints(attrs, "stride"),
    dilation: attr.ints(attrs, "dilation"),
    padding: attr.str(attrs, "padding") as PaddingMode,
    pads: attr.ints(attrs, "pads"),
  });
  const groupOut = outChannels / groups;
  const pixels = batch * win.outH * win.outW;
  const depth = kernelH * kernelW * groupChannels;
  const unpadded = win.padTop === 0 && win.padBottom === 0 && win.padLeft === 0 && win.padRight === 0;
  const strategy: ConvStrategy =
    !half && groups === channels && groupChannels === 1 && groupOut === 1 ? "depthwise"
    : kernelH === 1 && kernelW === 1 && win.strideH === 1 && win.strideW === 1 && unpadded ? "pointwise"
    : "im2col";
  const byBudget = Math.floor(COLUMN_BUDGET_BYTES / Math.max(1, depth * 4));
  const blockRows = Math.max(1, Math.min(pixels, Math.max(MIN_BLOCK_ROWS, Math.floor(byBudget / 4) * 4)));
  return {
    batch, inH, inW, channels, outChannels, kernelH, kernelW, win, groups, groupChannels, groupOut,
    pixels, depth, strategy, blockRows,
  };
}

/** Bytes of one block's column buffer, rounded to the 16-byte alignment of what follows it. */
export function columnBytes(p: ConvPlan): number {
  return Math.ceil((p.blockRows * p.depth * 4) / 16) * 16;
}
