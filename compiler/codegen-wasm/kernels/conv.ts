// conv2d, conv2dBackpropInput and conv2dBackpropFilter. The strategy (conv-plan.ts) is shared:
// depthwise convolutions run direct (conv-depthwise.ts), and so does a forward conv2d with few
// input channels (conv-direct.ts); the others are GEMMs, one per channel
// group and block of output pixels, over the column matrix (conv-im2col.ts) or, for pointwise
// convolutions, over the image itself. With P output pixels, depth K = kh*kw*C/groups, and per
// group a filter Wg [K, O/groups] (rows of w, a column offset) and dy/out columns:
//
//   conv2d                out_g[P, Og]  = col_g[P, K] Wg
//   conv2dBackpropInput   dcol_g[P, K]  = dy_g[P, Og] Wg^T, then col2im adds dcol into dx
//   conv2dBackpropFilter  dWg[K, Og]   += col_g[rows, K]^T dy_g[rows, Og], summed over blocks
//
// Every operand is addressed with byte strides, so transposes and column offsets cost nothing.

import type { Node } from "../../ir/graph.ts";
import type { Shape, TensorType } from "../../ir/types.ts";
import { withWorkspace, type KernelArgs, type KernelEmitter, type KernelRegistration } from "../kernel.ts";
import type { Expr, FunctionBuilder } from "../module.ts";
import { emitDepthwise } from "./conv-depthwise.ts";
import { FLOATS } from "./dtype-sets.ts";
import { emitDirectConv, usesDirectConv } from "./conv-direct.ts";
import { emitCol2imAdd, emitIm2col, type BlockLocals } from "./conv-im2col.ts";
import { columnBytes, convPlan, type ConvPlan } from "./conv-plan.ts";
import { emitGemm, gemmScratchBytes, type GemmCall, type GemmKind } from "./gemm.ts";

type ConvOp = "conv2d" | "conv2dBackpropInput" | "conv2dBackpropFilter";

/** The forward conv's input and filter shapes, whichever of them the op has as operand or result. */
function forwardShapes(op: ConvOp, inputs: readonly TensorType[], output: TensorType): { x: Shape; w: Shape } {
  if (op === "conv2d") return { x: inputs[0].shape, w: inputs[1].shape };
  if (op === "conv2dBackpropInput") return { x: output.shape, w: inputs[1].shape };
  return { x: inputs[0].shape, w: output.shape };
}

/** The GEMM of one (block, group) with at most `rows` pixels: its kind, n and k. */
function gemmShape(op: ConvOp, p: ConvPlan, rows: number): [GemmKind, number, number] {
  const depth = p.strategy === "pointwise" ? p.groupChannels : p.depth;
  // conv2d and the filter gradient read B (w, dy) by rows; the input gradient reads w transposed.
  if (op === "conv2d") return [{ maxRows: rows, bRowsContiguous: true }, p.groupOut, depth];
  if (op === "conv2dBackpropInput") return [{ maxRows: rows, bRowsContiguous: false }, depth, p.groupOut];
  return [{ maxRows: depth, bRowsContiguous: true }, p.groupOut, rows];
}

function workspaceBytes(op: ConvOp) {
  return (node: Node, inputs: readonly TensorType[], output: TensorType): number => {
    const { x, w } = forwardShapes(op, inputs, output);
    const p = convPlan(x, w, node.attrs);
    if (p.strategy === "depthwise" || p.pixels === 0 || (op === "conv2d" && usesDirectConv(p))) return 0;
    if (p.strategy === "pointwise") return gemmScratchBytes(...gemmShape(op, p, p.pixels));
    return columnBytes(p) + gemmScratchBytes(...gemmShape(op, p, p.blockRows));
  };
}

function emitConv(op: ConvOp) {
  return (args: KernelArgs): Expr[] => {
    const { f, node, inputs, output, helper, workspace } = args;
    const { x, w } = forwardShapes(op, inputs.map((i) => i.type), output.type);
    const p = convPlan(x, w, node.attrs);
    if (p.strategy === "depthwise") return emitDepthwise(op === "conv2d" ? "forward" : op === "conv2dBackpropInput" ? "input" : "filter", args, p);
    if (op === "conv2d" && usesDirectConv(p)) return emitDirectConv(args, p);
    if (p.pixels === 0) return [f.fill(output.offset, 0, 4 * output.type.shape.reduce((n, d) => n * d, 1))];
    const needs = workspaceBytes(op)(node, inputs.map((i) => i.type), output.type);
    if (needs > 0 && workspace === undefined) throw new Error(`${op} %${node.id} needs a ${needs}-byte workspace and the plan gave none`);
    const ws = workspace ?? 0;
    const c = (v: number) => f.i32.const(v);
    const group = f.local("i32");
    const byGroup = (body: Expr[]): Expr => (p.groups === 1 ? f.block([f.set(group, c(0)), ...body]) : f.forRange(group, 0, p.groups, 1, body));
    /** base + group * bytesPerGroup: the group's first column of a matrix at `base`. */
    const at = (base: number, bytesPerGroup: number): Expr => f.i32.add(c(base), f.i32.mul(f.get(group), c(bytesPerGroup)));
    const O = p.outChannels;
    const [dataIn, second] = inputs; // x or dy, then w or dy

    if (p.strategy === "pointwise") {
      const call = pointwiseCall(op, f, p, at, dataIn.offset, second.offset, output.offset, ws);
      return [byGroup([emitGemm(f, helper, call, gemmShape(op, p, p.pixels)[0])])];
    }

    // im2col: blocks of output pixels, each group's GEMM reading or writing the column buffer.
    const b: BlockLocals = { p0: f.local("i32"), rows: f.local("i32"), group };
    const block = f.local("i32");
    const col = () => c(ws);
    const gemmWs = ws + columnBytes(p);
    /** The group's columns of the block's first row in a [pixels, O] matrix (out or dy) at `base`. */
    const blockAt = (base: number) => f.i32.add(at(base, 4 * p.groupOut), f.i32.mul(f.get(b.p0), c(4 * O)));
    const blocks = Math.ceil(p.pixels / p.blockRows);
    const kind = gemmShape(op, p, p.blockRows)[0];
    let perGroup: Expr[];
    if (op === "conv2d") {
      perGroup = [
        emitIm2col(f, p, dataIn.offset, col, b),
        emitGemm(f, helper, {
          a: col(), aRowStride: c(4 * p.depth), aColStride: c(4),
          b: at(second.offset, 4 * p.groupOut), bRowStride: c(4 * O), bColStride: c(4),
          c: blockAt(output.offset), cRowStride: c(4 * O),
          m: f.get(b.rows), n: c(p.groupOut), k: c(p.depth), accumulate: c(0), workspace: c(gemmWs),
        }, kind),
      ];
    } else if (op === "conv2dBackpropInput") {
      perGroup = [
        emitGemm(f, helper, {
          a: blockAt(dataIn.offset), aRowStride: c(4 * O), aColStride: c(4),
          b: at(second.offset, 4 * p.groupOut), bRowStride: c(4), bColStride: c(4 * O),
          c: col(), cRowStride: c(4 * p.depth),
          m: f.get(b.rows), n: c(p.depth), k: c(p.groupOut), accumulate: c(0), workspace: c(gemmWs),
        }, kind),
        emitCol2imAdd(f, p, output.offset, col, b),
      ];
    } else {
      perGroup = [
        emitIm2col(f, p, dataIn.offset, col, b),
        emitGemm(f, helper, {
          a: col(), aRowStride: c(4), aColStride: c(4 * p.depth),
          b: blockAt(second.offset), bRowStride: c(4 * O), bColStride: c(4),
          c: at(output.offset, 4 * p.groupOut), cRowStride: c(4 * O),
          m: c(p.depth), n: c(p.groupOut), k: f.get(b.rows), accumulate: f.get(block), workspace: c(gemmWs),
        }, kind),
      ];
    }
    return [
      ...(op === "conv2dBackpropInput" ? [f.fill(output.offset, 0, 4 * output.type.shape.reduce((n, d) => n * d, 1))] : []),
      f.forRange(block, 0, blocks, 1, [
        f.set(b.p0, f.i32.mul(f.get(block), c(p.blockRows))),
        f.set(b.rows, f.i32.sub(c(p.pixels), f.get(b.p0))),
        f.set(b.rows, f.select(f.i32.lt_s(f.get(b.rows), c(p.blockRows)), f.get(b.rows), c(p.blockRows))),
        byGroup(perGroup),
      ]),
    ];
  };
}

/** The single GEMM per group of a pointwise (1x1, stride 1, unpadded) convolution. */
function pointwiseCall(
  op: ConvOp, f: FunctionBuilder, p: ConvPlan,
  at: (base: number, bytesPerGroup: number) => Expr,
  first: number, second: number, out: number, ws: number,
): GemmCall {
  const c = (v: number) => f.i32.const(v);
  const C = p.channels;
  const O = p.outChannels;
  const Cg = p.groupChannels;
  const Og = p.groupOut;
  const P = p.pixels;
  const common = { accumulate: c(0), workspace: c(ws) };
  if (op === "conv2d") {
    // out_g[P, Og] = x_g[P, Cg] w_g[Cg, Og]
    return { ...common, a: at(first, 4 * Cg), aRowStride: c(4 * C), aColStride: c(4), b: at(second, 4 * Og), bRowStride: c(4 * O), bColStride: c(4), c: at(out, 4 * Og), cRowStride: c(4 * O), m: c(P), n: c(Og), k: c(Cg) };
  }
  if (op === "conv2dBackpropInput") {
    // dx_g[P, Cg] = dy_g[P, Og] w_g^T
    return { ...common, a: at(first, 4 * Og), aRowStride: c(4 * O), aColStride: c(4), b: at(second, 4 * Og), bRowStride: c(4), bColStride: c(4 * O), c: at(out, 4 * Cg), cRowStride: c(4 * C), m: c(P), n: c(Cg), k: c(Og) };
  }
  // dw_g[Cg, Og] = x_g^T[Cg, P] dy_g[P, Og]
  return { ...common, a: at(first, 4 * Cg), aRowStride: c(4), aColStride: c(4 * C), b: at(second, 4 * Og), bRowStride: c(4 * O), bColStride: c(4), c: at(out, 4 * Og), cRowStride: c(4 * O), m: c(Cg), n: c(Og), k: c(P) };
}

/** The three convolutions' f32 kernels (f32 GEMMs and column buffers throughout). */
export const convKernel: Readonly<Record<ConvOp, KernelEmitter>> = {
  conv2d: withWorkspace(emitConv("conv2d"), workspaceBytes("conv2d")),
  conv2dBackpropInput: withWorkspace(emitConv("conv2dBackpropInput"), workspaceBytes("conv2dBackpropInput")),
  conv2dBackpropFilter: withWorkspace(emitConv("conv2dBackpropFilter"), workspaceBytes("conv2dBackpropFilter")),
};

export const CONV_KERNELS: readonly KernelRegistration[] = Object.entries(convKernel).map(([op, kernel]) => ({ op, dtypes: FLOATS, kernel }));
