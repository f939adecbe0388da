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
//
// 16-bit storage (f16/bf16 operands or result): the image is widened into the f32 column buffer
// as it is built and the GEMMs widen in their packing, so every product accumulates in f32; a
// 16-bit result is rounded once: conv2d's (and a fusedConv2d's, after its epilogue) block by
// block from an f32 chunk as the block is stored, the gradients' at the end from an f32 sum of
// the result in the workspace (dx sums overlapping windows, dw sums over blocks). Depthwise and
// direct convolutions, f32-only kernels, give way to im2col then.

import type { Node } from "../../ir/graph.ts";
import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import { DTYPE_BYTES, formatType, numel, type Shape, type TensorType } from "../../ir/types.ts";
import { UnsupportedKernelError, withWorkspace, type BufferRef, type KernelArgs, type KernelEmitter, type KernelRegistration } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { emitDepthwise } from "./conv-depthwise.ts";
import { FLOATS, isHalf } from "../../ir/dtypes.ts";
import { emitDirectConv, usesDirectConv } from "./conv-direct.ts";
import { emitPaddedConv, paddedWorkspaceBytes, registerEpilogue, usesPaddedConv } from "./conv-padded.ts";
import { emitWinogradConv, usesWinogradConv, winogradWorkspaceBytes } from "./conv-winograd.ts";
import { emitWinogradFilterGradient, usesWinogradFilterGradient, winogradFilterWorkspaceBytes } from "./conv-winograd-filter.ts";
import { emitCol2imAdd, emitIm2col, type BlockLocals } from "./conv-im2col.ts";
import { columnBytes, convPlan, type ConvPlan } from "./conv-plan.ts";
import { emitGemm, gemmScratchBytes, type GemmCall, type GemmDTypes, type GemmKind } from "./gemm.ts";
import { chunkBytes, emitChunkedGemm } from "./gemm-half.ts";
import { emitMap, emitMapAxes, type ElementFn } from "./map.ts";
import type { Epilogue } from "./matmul.ts";

type ConvOp = "conv2d" | "conv2dBackpropInput" | "conv2dBackpropFilter";

/** The forward conv's input and filter shapes, whichever of them the op has as operand or result. */
function forwardShapes(op: ConvOp, inputs: readonly TensorType[], output: TensorType): { x: Shape; w: Shape } {
  if (op === "conv2d") return { x: inputs[0].shape, w: inputs[1].shape };
  if (op === "conv2dBackpropInput") return { x: output.shape, w: inputs[1].shape };
  return { x: inputs[0].shape, w: output.shape };
}

/** Whether any operand or the result is stored in 16 bits (the plan then avoids the f32-only kernels). */
function anyHalf(inputs: readonly TensorType[], output: TensorType): boolean {
  return [...inputs, output].some((t) => isHalf(t.dtype));
}

function planOf(op: ConvOp, node: Node, inputs: readonly TensorType[], output: TensorType): ConvPlan {
  const { x, w } = forwardShapes(op, inputs, output);
  return convPlan(x, w, node.attrs, anyHalf(inputs, output));
}

/** The GEMM of one (block, group) with at most `rows` pixels: its kind, n and k. */
function gemmShape(op: ConvOp, p: ConvPlan, rows: number): [GemmKind, number, number] {
  const depth = p.strategy === "pointwise" ? p.groupChannels : p.depth;
  // conv2d and the filter gradient read B (w, dy) by rows; the input gradient reads w transposed.
  if (op === "conv2d") return [{ maxRows: rows, bRowsContiguous: true }, p.groupOut, depth];
  if (op === "conv2dBackpropInput") return [{ maxRows: rows, bRowsContiguous: false }, depth, p.groupOut];
  return [{ maxRows: depth, bRowsContiguous: true }, p.groupOut, rows];
}

/** The GEMM's A and B storage dtypes for this op. */
function gemmDTypes(op: ConvOp, inputs: readonly TensorType[], p: ConvPlan): GemmDTypes {
  const [first, second] = inputs.map((t) => t.dtype);
  if (p.strategy === "pointwise") return { a: first, b: second };
  // im2col's column buffer is f32 (widened while it is built); dcol is f32 (the GEMM's C).
  if (op === "conv2d") return { a: "f32", b: second };
  if (op === "conv2dBackpropInput") return { a: first, b: second };
  return { a: "f32", b: second };
}

const align = (n: number) => Math.ceil(n / 16) * 16;

/** An f32 kernel that computes a whole convolution op itself (no column buffer, no shared GEMM). */
interface WholeConvKernel {
  workspaceBytes(): number;
  /** For conv2d, `epilogue` (one registerEpilogue accepts) runs on the values before each store. */
  emit(args: KernelArgs, epilogue?: Epilogue): Expr[];
}

/**
 * The f32 kernel that takes `op` of this convolution whole, the first that applies: Winograd
 * (3x3 with 4-32 channels and even outputs: conv-winograd.ts, conv-winograd-filter.ts), then the
 * padded direct kernel (stride 1, few channels: conv-padded.ts). The workspace, the emitter and
 * the fused epilogue all ask here, so they agree.
 */
function wholeKernelOf(op: ConvOp, p: ConvPlan): WholeConvKernel | undefined {
  if (usesWinogradConv(op, p)) return { workspaceBytes: () => winogradWorkspaceBytes(op, p), emit: (a, e) => emitWinogradConv(op, a, p, e) };
  if (op === "conv2dBackpropFilter" && usesWinogradFilterGradient(p)) return { workspaceBytes: () => winogradFilterWorkspaceBytes(p), emit: (a) => emitWinogradFilterGradient(a, p) };
  if (usesPaddedConv(op, p)) return { workspaceBytes: () => paddedWorkspaceBytes(op, p), emit: (a, e) => emitPaddedConv(op, a, p, e) };
  return undefined;
}

/**
 * The workspace layout: [columns][GEMM scratch][f32 chunk or accumulator]. A 16-bit result needs
 * the last part: conv2d's chunk of rows (rounded into the output per block), or the f32 sum of
 * the gradient ops (dx summed over overlapping windows, dw over blocks), rounded at the end.
 */
function layoutOf(op: ConvOp, node: Node, inputs: readonly TensorType[], output: TensorType) {
  const p = planOf(op, node, inputs, output);
  const none = { p, columns: 0, gemm: 0, extra: 0, total: 0 };
  const whole = anyHalf(inputs, output) ? undefined : wholeKernelOf(op, p);
  if (whole) return { ...none, total: whole.workspaceBytes() };
  if (p.strategy === "depthwise" || p.pixels === 0) return none;
  if (op === "conv2d" && usesDirectConv(p)) {
    // 16-bit storage: an f32 copy of w, and one pixel's output channels in f32 (directHalf).
    if (!anyHalf(inputs, output)) return none;
    const extra = align(numel(inputs[1].shape) * 4);
    return { p, columns: 0, gemm: 0, extra, total: extra + align(p.outChannels * 4) };
  }
  const dtypes = gemmDTypes(op, inputs, p);
  const half = isHalf(output.dtype);
  if (p.strategy === "pointwise") {
    const [kind, n, k] = gemmShape(op, p, p.pixels);
    const gemm = align(gemmScratchBytes(kind, n, k, dtypes));
    const m = op === "conv2dBackpropFilter" ? p.groupChannels : p.pixels;
    const extra = half ? chunkBytes(m, n) : 0;
    return { p, columns: 0, gemm, extra, total: gemm + extra };
  }
  const columns = columnBytes(p);
  const gemm = align(gemmScratchBytes(...gemmShape(op, p, p.blockRows), dtypes));
  const extra = !half ? 0 : op === "conv2d" ? align(p.blockRows * p.groupOut * 4) : align(numel(output.shape) * 4);
  return { p, columns, gemm, extra, total: columns + gemm + extra };
}

function workspaceBytes(op: ConvOp) {
  return (node: Node, inputs: readonly TensorType[], output: TensorType): number => layoutOf(op, node, inputs, output).total;
}

/**
 * The kernel of a convolution op; for conv2d `epilogue` (a fusedConv2d's) runs inside each
 * block's store when the result is 16-bit (the caller runs it in place afterwards otherwise).
 */
export function emitConv(op: ConvOp, args: KernelArgs, epilogue?: Epilogue): Expr[] {
  const { f, node, inputs, output, helper, workspace } = args;
  const types = inputs.map((i) => i.type);
  const layout = layoutOf(op, node, types, output.type);
  const { p } = layout;
  const whole = anyHalf(types, output.type) ? undefined : wholeKernelOf(op, p);
  if (whole) return whole.emit(args);
  if (p.strategy === "depthwise") return emitDepthwise(op === "conv2d" ? "forward" : op === "conv2dBackpropInput" ? "input" : "filter", args, p);
  if (op === "conv2d" && usesDirectConv(p)) {
    if (!anyHalf(types, output.type)) return emitDirectConv(args, p);
    return directHalf(args, p, layout.extra, epilogue);
  }
  const outBytes = DTYPE_BYTES[output.type.dtype];
  if (p.pixels === 0) return [f.fill(output.offset, 0, outBytes * numel(output.type.shape))];
  if (layout.total > 0 && workspace === undefined) throw new Error(`${op} %${node.id} needs a ${layout.total}-byte workspace and the plan gave none`);
  const ws = workspace ?? 0;
  const half = isHalf(output.type.dtype);
  const dtypes = gemmDTypes(op, types, p);
  const c = (v: number) => f.i32.const(v);
  const group = f.local("i32");
  const byGroup = (body: Expr[]): Expr => (p.groups === 1 ? f.block([f.set(group, c(0)), ...body]) : f.forRange(group, 0, p.groups, 1, body));
  /** base + group * bytesPerGroup: the group's first column of a matrix at `base`. */
  const at = (base: number, bytesPerGroup: number): Expr => f.i32.add(c(base), f.i32.mul(f.get(group), c(bytesPerGroup)));
  const O = p.outChannels;
  const [dataIn, second] = inputs; // x or dy, then w or dy
  const eb = (b: BufferRef) => DTYPE_BYTES[b.type.dtype];
  const gemmWs = ws + layout.columns;
  const extraWs = gemmWs + layout.gemm;
  // The f32 sum of a 16-bit gradient result, rounded into the output at the end.
  const sum: BufferRef = { offset: extraWs, type: { dtype: "f32", shape: output.type.shape } };
  const roundSum = (): Expr[] => emitMap(f, [sum], output, (_L, [v]) => v());
  /** Rows [row0, row0 + rows) of a chunk (f32, `cols` wide) into the group's columns of `out` (pixels x `width`), after the epilogue. */
  const flushRows = (chunk: number, cols: number, width: number, rowBase: () => Expr, rows: number): Expr[] => {
    const extras = (epilogue?.extras ?? []).map((e) => extraView(e, output.type));
    const axes = [
      { size: rows, strides: [cols, ...extras.map((e) => e.row), width] },
      { size: cols, strides: [1, ...extras.map((e) => e.col), 1] },
    ];
    const start = (b: BufferRef, rowStride: number, colStride: number): (() => Expr) => () =>
      f.i32.add(at(b.offset, cols * colStride * eb(b)), f.i32.mul(rowBase(), c(rowStride * eb(b))));
    const bases = [() => c(chunk), ...extras.map((e) => start(e.ref, e.row, e.col)), start(output, width, 1)];
    const fn: ElementFn = epilogue?.fn ?? ((_L, [v]) => v());
    return emitMapAxes(f, axes, ["f32", ...extras.map((e) => e.ref.type.dtype), output.type.dtype], bases, fn, { vector: epilogue?.vector ?? true });
  };

  if (p.strategy === "pointwise") {
    const kind = gemmShape(op, p, p.pixels)[0];
    if (!half) {
      const call = pointwiseCall(op, f, p, at, dataIn, second, output, gemmWs);
      return [byGroup([emitGemm(f, helper, call, kind, dtypes)])];
    }
    return [byGroup(pointwiseHalf(op, f, helper, p, at, dataIn, second, output, kind, dtypes, gemmWs, extraWs, (cols, width, rowBase, rows) => flushRows(extraWs, cols, width, rowBase, rows)))];
  }

  // im2col: blocks of output pixels, each group's GEMM reading or writing the column buffer.
  const b: BlockLocals = { p0: f.local("i32"), rows: f.local("i32"), group };
  const block = f.local("i32");
  const col = () => c(ws);
  /** The group's columns of the block's first row in a [pixels, O] matrix (out or dy) at `base`. */
  const blockAt = (m: BufferRef) => f.i32.add(at(m.offset, eb(m) * p.groupOut), f.i32.mul(f.get(b.p0), c(eb(m) * O)));
  const blocks = Math.ceil(p.pixels / p.blockRows);
  const kind = gemmShape(op, p, p.blockRows)[0];
  let perGroup: Expr[];
  if (op === "conv2d") {
    const gemmTo = half
      ? { c: c(extraWs), cRowStride: c(4 * p.groupOut) }
      : { c: blockAt(output), cRowStride: c(4 * O) };
    perGroup = [
      emitIm2col(f, p, dataIn.offset, col, b, dataIn.type.dtype),
      emitGemm(f, helper, {
        a: col(), aRowStride: c(4 * p.depth), aColStride: c(4),
        b: at(second.offset, eb(second) * p.groupOut), bRowStride: c(eb(second) * O), bColStride: c(eb(second)),
        ...gemmTo,
        m: f.get(b.rows), n: c(p.groupOut), k: c(p.depth), accumulate: c(0), workspace: c(gemmWs),
      }, kind, dtypes),
      // A 16-bit result: the block's chunk rounded into its rows (a partial last block in a branch of its own).
      ...(half ? blockFlush(f, p, blocks, b.rows, (rows) => flushRows(extraWs, p.groupOut, O, () => f.get(b.p0), rows)) : []),
    ];
  } else if (op === "conv2dBackpropInput") {
    perGroup = [
      emitGemm(f, helper, {
        a: blockAt(dataIn), aRowStride: c(eb(dataIn) * O), aColStride: c(eb(dataIn)),
        b: at(second.offset, eb(second) * p.groupOut), bRowStride: c(eb(second)), bColStride: c(eb(second) * O),
        c: col(), cRowStride: c(4 * p.depth),
        m: f.get(b.rows), n: c(p.depth), k: c(p.groupOut), accumulate: c(0), workspace: c(gemmWs),
      }, kind, dtypes),
      emitCol2imAdd(f, p, half ? sum.offset : output.offset, col, b),
    ];
  } else {
    const dw = half ? sum : output;
    perGroup = [
      emitIm2col(f, p, dataIn.offset, col, b, dataIn.type.dtype),
      emitGemm(f, helper, {
        a: col(), aRowStride: c(4), aColStride: c(4 * p.depth),
        b: blockAt(second), bRowStride: c(eb(second) * O), bColStride: c(eb(second)),
        c: at(dw.offset, 4 * p.groupOut), cRowStride: c(4 * O),
        m: c(p.depth), n: c(p.groupOut), k: f.get(b.rows), accumulate: f.get(block), workspace: c(gemmWs),
      }, kind, dtypes),
    ];
  }
  const zeroed = op === "conv2dBackpropInput" ? [f.fill(half ? sum.offset : output.offset, 0, 4 * numel(output.type.shape))] : [];
  return [
    ...zeroed,
    f.forRange(block, 0, blocks, 1, [
      f.set(b.p0, f.i32.mul(f.get(block), c(p.blockRows))),
      f.set(b.rows, f.i32.sub(c(p.pixels), f.get(b.p0))),
      f.set(b.rows, f.select(f.i32.lt_s(f.get(b.rows), c(p.blockRows)), f.get(b.rows), c(p.blockRows))),
      byGroup(perGroup),
    ]),
    ...(half && op !== "conv2d" ? roundSum() : []),
  ];
}

/**
 * The direct convolution with 16-bit storage: w widened once into f32 scratch, then per pixel
 * the output channels (f32 registers) written to an f32 row of scratch and rounded into the
 * output by a map over the row, after the epilogue of a fusedConv2d.
 */
function directHalf(args: KernelArgs, p: ConvPlan, wBytes: number, epilogue?: Epilogue): Expr[] {
  const { f, inputs, output, workspace } = args;
  if (workspace === undefined) throw new Error(`conv2d %${args.node.id} needs a workspace and the plan gave none`);
  const w = inputs[1];
  const wOffset = workspace;
  const row = workspace + wBytes;
  const O = p.outChannels;
  const c = (v: number) => f.i32.const(v);
  const widenW = emitMap(f, [w], { offset: wOffset, type: { dtype: "f32", shape: w.type.shape } }, (_L, [v]) => v());
  const extras = (epilogue?.extras ?? []).map((e) => extraView(e, output.type));
  const eb = (b: BufferRef) => DTYPE_BYTES[b.type.dtype];
  const storePixel = (pixel: () => Expr, acc: readonly Local[]): Expr[] => {
    const at = (b: BufferRef, rowStride: number): (() => Expr) => () => f.i32.add(c(b.offset), f.i32.mul(pixel(), c(rowStride * eb(b))));
    return [
      ...acc.map((r, q) => f.v128.store(16 * q, 4, c(row), f.get(r))),
      ...emitMapAxes(
        f,
        [{ size: 1, strides: [0, ...extras.map(() => 0), 0] }, { size: O, strides: [1, ...extras.map((e) => e.col), 1] }],
        ["f32", ...extras.map((e) => e.ref.type.dtype), output.type.dtype],
        [() => c(row), ...extras.map((e) => at(e.ref, e.row)), at(output, O)],
        epilogue?.fn ?? ((_L, [v]) => v()),
        { vector: epilogue?.vector ?? true },
      ),
    ];
  };
  return [...widenW, ...emitDirectConv(args, p, { wOffset, storePixel })];
}

/**
 * The flush of one im2col block's chunk: `blockRows` rows, or, for the last block when the
 * pixels are not a multiple of it, that block's rows (static sizes either way, picked by `rows`).
 */
function blockFlush(f: FunctionBuilder, p: ConvPlan, blocks: number, rows: Local, flush: (rows: number) => Expr[]): Expr[] {
  const last = p.pixels - (blocks - 1) * p.blockRows;
  if (last === p.blockRows) return flush(p.blockRows);
  return [f.if(f.i32.eq(f.get(rows), f.i32.const(p.blockRows)), flush(p.blockRows), flush(last))];
}

/** An extra operand of an epilogue as a [pixels, channels] matrix: its element strides by row and column. */
function extraView(e: BufferRef, out: TensorType): { ref: BufferRef; row: number; col: number } {
  const rank = out.shape.length;
  const s = broadcastStrides(e.type.shape, out.shape);
  for (let d = 0; d < rank - 2; d++) {
    if (out.shape[d + 1] !== 1 && s[d] !== s[d + 1] * out.shape[d + 1]) {
      throw new UnsupportedKernelError(`wasm-simd: a 16-bit fusedConv2d epilogue operand ${formatType(e.type)} does not step through the output's pixels with one stride`);
    }
  }
  return { ref: e, row: s[rank - 2], col: s[rank - 1] };
}

/** One operand of a pointwise GEMM: where group 0's matrix starts, bytes per group, byte strides. */
interface PointwiseOperand {
  readonly base: number;
  readonly perGroup: number;
  readonly row: number;
  readonly col: number;
}

/**
 * The single GEMM per group of a pointwise (1x1, stride 1, unpadded) convolution, C = A B with
 * A [m, k], B [k, n] and C [m, n] (rows `width` elements apart in the output).
 */
function pointwiseGeometry(op: ConvOp, p: ConvPlan, first: BufferRef, second: BufferRef, out: BufferRef) {
  const C = p.channels;
  const O = p.outChannels;
  const Cg = p.groupChannels;
  const Og = p.groupOut;
  const P = p.pixels;
  const e1 = DTYPE_BYTES[first.type.dtype];
  const e2 = DTYPE_BYTES[second.type.dtype];
  const eo = DTYPE_BYTES[out.type.dtype];
  const m = (base: BufferRef, e: number, perGroup: number, row: number, col: number): PointwiseOperand => ({ base: base.offset, perGroup: e * perGroup, row: e * row, col: e * col });
  if (op === "conv2d") {
    // out_g[P, Og] = x_g[P, Cg] w_g[Cg, Og]
    return { a: m(first, e1, Cg, C, 1), b: m(second, e2, Og, O, 1), c: m(out, eo, Og, O, 1), m: P, n: Og, k: Cg, width: O };
  }
  if (op === "conv2dBackpropInput") {
    // dx_g[P, Cg] = dy_g[P, Og] w_g^T
    return { a: m(first, e1, Og, O, 1), b: m(second, e2, Og, 1, O), c: m(out, eo, Cg, C, 1), m: P, n: Cg, k: Og, width: C };
  }
  // dw_g[Cg, Og] = x_g^T[Cg, P] dy_g[P, Og]
  return { a: m(first, e1, Cg, 1, C), b: m(second, e2, Og, O, 1), c: m(out, eo, Og, O, 1), m: Cg, n: Og, k: P, width: O };
}

function pointwiseCall(
  op: ConvOp, f: FunctionBuilder, p: ConvPlan,
  at: (base: number, bytesPerGroup: number) => Expr,
  first: BufferRef, second: BufferRef, out: BufferRef, ws: number,
): GemmCall {
  const c = (v: number) => f.i32.const(v);
  const g = pointwiseGeometry(op, p, first, second, out);
  return {
    a: at(g.a.base, g.a.perGroup), aRowStride: c(g.a.row), aColStride: c(g.a.col),
    b: at(g.b.base, g.b.perGroup), bRowStride: c(g.b.row), bColStride: c(g.b.col),
    c: at(g.c.base, g.c.perGroup), cRowStride: c(g.c.row),
    m: c(g.m), n: c(g.n), k: c(g.k), accumulate: c(0), workspace: c(ws),
  };
}

/** The pointwise GEMM of a group into a 16-bit result: f32 chunks of rows, each flushed (rounded) into the output. */
function pointwiseHalf(
  op: ConvOp, f: FunctionBuilder, helper: KernelArgs["helper"], p: ConvPlan,
  at: (base: number, bytesPerGroup: number) => Expr,
  first: BufferRef, second: BufferRef, out: BufferRef, kind: GemmKind, dtypes: GemmDTypes, ws: number, chunk: number,
  flush: (cols: number, width: number, rowBase: () => Expr, rows: number) => Expr[],
): Expr[] {
  const g = pointwiseGeometry(op, p, first, second, out);
  return emitChunkedGemm(f, helper, {
    m: g.m, n: g.n, k: g.k,
    a: () => at(g.a.base, g.a.perGroup), aRowStride: g.a.row, aColStride: g.a.col,
    b: () => at(g.b.base, g.b.perGroup), bRowStride: g.b.row, bColStride: g.b.col,
    dtypes, kind, workspace: ws, chunk,
    flush: (row0, rows) => flush(g.n, g.width, row0, rows),
  });
}

/**
 * A fusedConv2d with an f32 result computed with its epilogue in registers, when the padded direct
 * or the Winograd kernel runs it and can read the epilogue's operands (conv-padded.ts,
 * conv-winograd.ts); undefined otherwise.
 */
export function emitConvWithEpilogueInRegisters(args: KernelArgs, epilogue: Epilogue): Expr[] | undefined {
  const types = args.inputs.map((i) => i.type);
  if (anyHalf(types, args.output.type)) return undefined;
  const p = planOf("conv2d", args.node, types, args.output.type);
  const whole = wholeKernelOf("conv2d", p);
  if (!whole || !registerEpilogue(epilogue, args.output.type)) return undefined;
  return whole.emit(args, epilogue);
}

/** The three convolutions' kernels (f32 GEMMs and column buffers throughout; 16-bit operands widened, results rounded once). */
export const convKernel: Readonly<Record<ConvOp, KernelEmitter>> = {
  conv2d: withWorkspace((a) => emitConv("conv2d", a), workspaceBytes("conv2d")),
  conv2dBackpropInput: withWorkspace((a) => emitConv("conv2dBackpropInput", a), workspaceBytes("conv2dBackpropInput")),
  conv2dBackpropFilter: withWorkspace((a) => emitConv("conv2dBackpropFilter", a), workspaceBytes("conv2dBackpropFilter")),
};

/** Every float dtype, one for all operands and the result (the op records' rule). */
export const CONV_KERNELS: readonly KernelRegistration[] = Object.entries(convKernel).map(([op, kernel]) => ({ op, dtypes: FLOATS, kernel }));
