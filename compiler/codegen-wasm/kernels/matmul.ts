// matmul: batched C = op(A) op(B) through the packed GEMM (gemm-core.ts), or the unpacked
// small-m GEMM (gemm-small.ts) when there are too few rows for packing to pay (gemm.ts).
//
// Batches: when B has a single matrix and A is neither broadcast nor transposed, the batch is
// folded into M (x[B, T, K] @ w[K, N] is one [B*T, K] @ [K, N] product, so B is packed once).
// Otherwise one GEMM per output matrix, in a loop whose operand offsets follow the broadcast
// (a size-1 batch dimension of an operand repeats its matrix).
//
// 16-bit storage: A and B may be f16/bf16 (the GEMM's packing widens them); a 16-bit C is computed
// in f32 chunks of rows and rounded once as each chunk is stored (gemm-half.ts), after the
// epilogue of a fusedMatmul (emitMatmul's `epilogue`), which then reads the f32 product.

import { attr } from "../../ir/op-def.ts";
import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import type { Node } from "../../ir/graph.ts";
import { DTYPE_BYTES, numel, stridesOf, type Shape, type TensorType } from "../../ir/types.ts";
import { withWorkspace, type BufferRef, type KernelArgs, type KernelEmitter } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { isHalf } from "../../ir/dtypes.ts";
import { emitGemm, gemmScratchBytes, type GemmCall, type GemmDTypes, type GemmKind } from "./gemm.ts";
import { chunkBytes, emitChunkedGemm } from "./gemm-half.ts";
import type { V } from "./lanes.ts";
import { emitMapAxes, type ElementFn } from "./map.ts";

/** One output batch axis of size > 1: its index and each operand's byte stride along it (0 where broadcast). */
interface BatchAxis {
  readonly axis: number;
  readonly size: number;
  readonly aStride: number;
  readonly bStride: number;
  readonly cStride: number;
}

/** Where one GEMM reads and writes, in bytes, for the matrices of batch element 0. */
interface MatmulGeometry {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly aRowStride: number; readonly aColStride: number;
  readonly bRowStride: number; readonly bColStride: number;
  /** The output batch axes of size > 1 (none when the batch is folded into m). */
  readonly batch: readonly BatchAxis[];
  /** Whether the batch was folded into m. */
  readonly folded: boolean;
}

function geometry(node: Node, a: TensorType, b: TensorType, out: TensorType, foldable = true): MatmulGeometry {
  const ta = attr.bool(node.attrs, "transposeA");
  const tb = attr.bool(node.attrs, "transposeB");
  const ae = DTYPE_BYTES[a.dtype];
  const be = DTYPE_BYTES[b.dtype];
  const rank = out.shape.length;
  let m = out.shape[rank - 2];
  const n = out.shape[rank - 1];
  const k = ta ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  const outBatch = out.shape.slice(0, -2);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  let batch = batchAxes(outBatch, aBatch, bBatch, m * k * ae, k * n * be, m * n * DTYPE_BYTES[out.dtype]);
  let folded = false;
  if (foldable && numel(bBatch) === 1 && numel(aBatch) === numel(outBatch) && !ta) {
    m *= numel(outBatch);
    batch = [];
    folded = true;
  }
  return {
    m, n, k,
    aRowStride: ta ? ae : ae * k, aColStride: ta ? ae * m : ae,
    bRowStride: tb ? be : be * n, bColStride: tb ? be * k : be,
    batch, folded,
  };
}

/** The output batch axes (size > 1) with each operand's matrix stride along them, in bytes. */
function batchAxes(outBatch: Shape, aBatch: Shape, bBatch: Shape, aMatrix: number, bMatrix: number, cMatrix: number): BatchAxis[] {
  const axisStride = (shape: Shape, matrixBytes: number, axis: number) => {
    const d = axis - (outBatch.length - shape.length);
    return d < 0 || shape[d] === 1 ? 0 : stridesOf(shape)[d] * matrixBytes;
  };
  const cStrides = stridesOf(outBatch);
  return outBatch
    .map((size, axis) => ({
      axis,
      size,
      aStride: axisStride(aBatch, aMatrix, axis),
      bStride: axisStride(bBatch, bMatrix, axis),
      cStride: cStrides[axis] * cMatrix,
    }))
    .filter((axis) => axis.size > 1);
}

function gemmKind(g: MatmulGeometry): GemmKind {
  return { maxRows: g.m, bRowsContiguous: g.bColStride === DTYPE_BYTES.f32 };
}

const dtypesOf = (a: TensorType, b: TensorType): GemmDTypes => ({ a: a.dtype, b: b.dtype });

/**
 * An epilogue over the product: `fn`'s operand 0 is the product (f32), 1.. the `extras`
 * (broadcast to the output's shape).
 */
export interface Epilogue {
  readonly fn: ElementFn;
  readonly vector: boolean;
  readonly extras: readonly BufferRef[];
}

/**
 * Whether the folded rows (the output's leading axes merged into m) step through every extra
 * operand with one stride, so a chunk of folded rows can read it (else the batch is not folded).
 */
function extrasFoldable(out: TensorType, extras: readonly BufferRef[]): boolean {
  const rank = out.shape.length;
  return extras.every((e) => {
    const s = broadcastStrides(e.type.shape, out.shape);
    for (let d = 0; d < rank - 2; d++) if (out.shape[d + 1] !== 1 && s[d] !== s[d + 1] * out.shape[d + 1]) return false;
    return true;
  });
}

function workspaceBytes(node: Node, inputs: readonly TensorType[], out: TensorType): number {
  if (numel(out.shape) === 0) return 0;
  const g = geometry(node, inputs[0], inputs[1], out);
  const gemm = gemmScratchBytes(gemmKind(g), g.n, g.k, dtypesOf(inputs[0], inputs[1]));
  return isHalf(out.dtype) ? Math.ceil(gemm / 16) * 16 + chunkBytes(g.m, g.n) : gemm;
}

/**
 * The matmul of `a.node`'s first two operands into `a.output`, then `epilogue` when given: for an
 * f32 result it runs over the output in place afterwards (the caller emits it), for a 16-bit one
 * inside each chunk's store (so it reads the f32 product).
 */
export function emitMatmul(args: KernelArgs, epilogue?: Epilogue): Expr[] {
  const { f, node, inputs, output, helper, workspace } = args;
  const [a, b] = inputs;
  const half = isHalf(output.type.dtype);
  const g = geometry(node, a.type, b.type, output.type, !half || !epilogue || extrasFoldable(output.type, epilogue.extras));
  const dtypes = dtypesOf(a.type, b.type);
  const needs = workspaceBytes(node, [a.type, b.type], output.type);
  if (needs > 0 && workspace === undefined) {
    throw new Error(`matmul %${node.id} needs a ${needs}-byte workspace and the plan gave none`);
  }
  const c = (v: number) => f.i32.const(v);
  const flat = f.local("i32");
  // Byte offset of batch element `flat` along each axis: (flat / inner) % size * stride.
  const offset = (base: number, pick: (axis: BatchAxis) => number): Expr => {
    let expr: Expr = c(base);
    let inner = 1;
    for (let axis = g.batch.length - 1; axis >= 0; axis--) {
      const { size } = g.batch[axis];
      const stride = pick(g.batch[axis]);
      if (stride !== 0) {
        const index = f.i32.rem_u(inner === 1 ? f.get(flat) : f.i32.div_u(f.get(flat), c(inner)), c(size));
        expr = f.i32.add(expr, f.i32.mul(index, c(stride)));
      }
      inner *= size;
    }
    return expr;
  };
  const count = g.batch.reduce((p, x) => p * x.size, 1);
  const perBatch = (body: Expr[]): Expr[] => (count === 1 ? body : [f.forRange(flat, 0, count, 1, body)]);

  if (!half) {
    const call: GemmCall = {
      a: offset(a.offset, (x) => x.aStride), aRowStride: c(g.aRowStride), aColStride: c(g.aColStride),
      b: offset(b.offset, (x) => x.bStride), bRowStride: c(g.bRowStride), bColStride: c(g.bColStride),
      c: offset(output.offset, (x) => x.cStride), cRowStride: c(4 * g.n),
      m: c(g.m), n: c(g.n), k: c(g.k),
      accumulate: c(0),
      workspace: c(workspace ?? 0),
    };
    return perBatch([emitGemm(f, helper, call, gemmKind(g), dtypes)]);
  }

  // 16-bit C: chunks of rows in f32, each rounded into the output by its flush.
  const gemmBytes = Math.ceil(gemmScratchBytes(gemmKind(g), g.n, g.k, dtypes) / 16) * 16;
  const ob = DTYPE_BYTES[output.type.dtype];
  const rank = output.type.shape.length;
  const extras = (epilogue?.extras ?? []).map((e) => {
    const s = broadcastStrides(e.type.shape, output.type.shape);
    const eb = DTYPE_BYTES[e.type.dtype];
    return { ref: e, eb, row: s[rank - 2], col: s[rank - 1], batchStride: (x: BatchAxis) => s[x.axis] * eb };
  });
  const base = f.local("i32");
  const extraBases = extras.map(() => f.local("i32"));
  const fn: ElementFn = epilogue?.fn ?? ((_L, [x]) => x());
  const flush = (row0: () => Expr, rows: number): Expr[] => {
    const at = (start: V, rowBytes: number): V => () => f.i32.add(start(), f.i32.mul(row0(), c(rowBytes)));
    const axes = [
      { size: rows, strides: [g.n, ...extras.map((e) => e.row), g.n] },
      { size: g.n, strides: [1, ...extras.map((e) => e.col), 1] },
    ];
    const bases: V[] = [() => c(workspace! + gemmBytes), ...extras.map((e, i) => at(() => f.get(extraBases[i]), e.row * e.eb)), at(() => f.get(base), g.n * ob)];
    return emitMapAxes(f, axes, ["f32", ...extras.map((e) => e.ref.type.dtype), output.type.dtype], bases, fn, { vector: epilogue?.vector ?? true });
  };
  const aStart = f.local("i32");
  const bStart = f.local("i32");
  return perBatch([
    f.set(aStart, offset(a.offset, (x) => x.aStride)),
    f.set(bStart, offset(b.offset, (x) => x.bStride)),
    f.set(base, offset(output.offset, (x) => x.cStride)),
    ...extras.map((e, i) => f.set(extraBases[i], offset(e.ref.offset, e.batchStride))),
    ...emitChunkedGemm(f, helper, {
      m: g.m, n: g.n, k: g.k,
      a: () => f.get(aStart), aRowStride: g.aRowStride, aColStride: g.aColStride,
      b: () => f.get(bStart), bRowStride: g.bRowStride, bColStride: g.bColStride,
      dtypes, kind: gemmKind(g), workspace: workspace!, chunk: workspace! + gemmBytes, flush,
    }),
  ]);
}

export const matmulKernel: KernelEmitter = withWorkspace((args) => emitMatmul(args), workspaceBytes);
