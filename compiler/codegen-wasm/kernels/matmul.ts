// matmul: batched C = op(A) op(B) through the packed GEMM (gemm-core.ts), or the unpacked
// small-m GEMM (gemm-small.ts) when there are too few rows for packing to pay (gemm.ts).
//
// Batches: when B has a single matrix and A is neither broadcast nor transposed, the batch is
// folded into M (x[B, T, K] @ w[K, N] is one [B*T, K] @ [K, N] product, so B is packed once).
// Otherwise one GEMM per output matrix, in a loop whose operand offsets follow the broadcast
// (a size-1 batch dimension of an operand repeats its matrix).

import { attr } from "../../ir/op-def.ts";
import type { Node } from "../../ir/graph.ts";
import { numel, stridesOf, type Shape, type TensorType } from "../../ir/types.ts";
import { withWorkspace, type KernelArgs, type KernelEmitter } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { emitGemm, gemmScratchBytes, type GemmCall, type GemmKind } from "./gemm.ts";

/** Where one GEMM reads and writes, in bytes, for the matrices of batch element 0. */
interface MatmulGeometry {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly aRowStride: number; readonly aColStride: number;
  readonly bRowStride: number; readonly bColStride: number;
  /** The output batch axes of size > 1, each with the operands' byte strides along it (0 where broadcast). */
  readonly batch: readonly { size: number; aStride: number; bStride: number; cStride: number }[];
}

function geometry(node: Node, a: TensorType, b: TensorType, out: TensorType): MatmulGeometry {
  const ta = attr.bool(node.attrs, "transposeA");
  const tb = attr.bool(node.attrs, "transposeB");
  const rank = out.shape.length;
  let m = out.shape[rank - 2];
  const n = out.shape[rank - 1];
  const k = ta ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  const outBatch = out.shape.slice(0, -2);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  let batch = batchAxes(outBatch, aBatch, bBatch, m * k * 4, k * n * 4, m * n * 4);
  if (numel(bBatch) === 1 && numel(aBatch) === numel(outBatch) && !ta) {
    m *= numel(outBatch);
    batch = [];
  }
  return {
    m, n, k,
    aRowStride: ta ? 4 : 4 * k, aColStride: ta ? 4 * m : 4,
    bRowStride: tb ? 4 : 4 * n, bColStride: tb ? 4 * k : 4,
    batch,
  };
}

/** The output batch axes (size > 1) with each operand's matrix stride along them, in bytes. */
function batchAxes(outBatch: Shape, aBatch: Shape, bBatch: Shape, aMatrix: number, bMatrix: number, cMatrix: number) {
  const axisStride = (shape: Shape, matrixBytes: number, axis: number) => {
    const d = axis - (outBatch.length - shape.length);
    return d < 0 || shape[d] === 1 ? 0 : stridesOf(shape)[d] * matrixBytes;
  };
  const cStrides = stridesOf(outBatch);
  return outBatch
    .map((size, axis) => ({
      size,
      aStride: axisStride(aBatch, aMatrix, axis),
      bStride: axisStride(bBatch, bMatrix, axis),
      cStride: cStrides[axis] * cMatrix,
    }))
    .filter((axis) => axis.size > 1);
}

function gemmKind(g: MatmulGeometry): GemmKind {
  return { maxRows: g.m, bRowsContiguous: g.bColStride === 4 };
}

function workspaceBytes(node: Node, inputs: readonly TensorType[], out: TensorType): number {
  const g = geometry(node, inputs[0], inputs[1], out);
  return numel(out.shape) === 0 ? 0 : gemmScratchBytes(gemmKind(g), g.n, g.k);
}

function emitMatmul({ f, node, inputs, output, helper, workspace }: KernelArgs): Expr[] {
  const [a, b] = inputs;
  const g = geometry(node, a.type, b.type, output.type);
  const needs = workspaceBytes(node, [a.type, b.type], output.type);
  if (needs > 0 && workspace === undefined) {
    throw new Error(`matmul %${node.id} needs a ${needs}-byte workspace and the plan gave none`);
  }
  const c = (v: number) => f.i32.const(v);
  const flat = f.local("i32");
  // Byte offset of batch element `flat` along each axis: (flat / inner) % size * stride.
  const offset = (base: number, pick: (axis: MatmulGeometry["batch"][number]) => number): Expr => {
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
  const call: GemmCall = {
    a: offset(a.offset, (x) => x.aStride), aRowStride: c(g.aRowStride), aColStride: c(g.aColStride),
    b: offset(b.offset, (x) => x.bStride), bRowStride: c(g.bRowStride), bColStride: c(g.bColStride),
    c: offset(output.offset, (x) => x.cStride), cRowStride: c(4 * g.n),
    m: c(g.m), n: c(g.n), k: c(g.k),
    accumulate: c(0),
    workspace: c(workspace ?? 0),
  };
  const gemm = emitGemm(f, helper, call, gemmKind(g));
  const count = g.batch.reduce((p, x) => p * x.size, 1);
  return [count === 1 ? gemm : f.forRange(flat, 0, count, 1, [gemm])];
}

export const matmulKernel: KernelEmitter = withWorkspace(emitMatmul, workspaceBytes);
