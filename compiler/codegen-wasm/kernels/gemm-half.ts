// GEMMs whose result is stored in 16 bits (f16/bf16). The GEMM accumulates in f32 (gemm-core.ts:
// C is f32, and a long k is summed across k blocks in C), so a 16-bit C cannot be its output
// directly: the product is computed a chunk of rows at a time into an f32 scratch block (at most
// CHUNK_BYTES), and each chunk is then rounded to nearest even into the result as it is stored
// (`flush`), after an epilogue when a fused contraction has one, so every element is rounded
// once. A and B may be 16-bit too: the packing widens them.
//
// Chunk sizes are static (m, n and k are compile-time constants), so the chunks are one loop of
// full chunks and, when m is not a multiple, one shorter chunk.

import type { Expr, FunctionBuilder, WasmModule } from "../module.ts";
import { emitGemm, type GemmDTypes, type GemmKind } from "./gemm.ts";

/** The f32 scratch block of one chunk stays within this many bytes (at least one row). */
export const CHUNK_BYTES = 32 * 1024;

/** Rows of C per chunk for an m x n result. */
export function chunkRows(m: number, n: number): number {
  return Math.max(1, Math.min(m, Math.floor(CHUNK_BYTES / (4 * Math.max(1, n)))));
}

/** Bytes of the chunk scratch of an m x n result (16-byte aligned). */
export function chunkBytes(m: number, n: number): number {
  return Math.ceil((chunkRows(m, n) * n * 4) / 16) * 16;
}

export interface ChunkedGemm {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** Address of op(A)'s row 0 and its byte strides (row, column). */
  readonly a: () => Expr;
  readonly aRowStride: number;
  readonly aColStride: number;
  readonly b: () => Expr;
  readonly bRowStride: number;
  readonly bColStride: number;
  readonly dtypes: GemmDTypes;
  readonly kind: GemmKind;
  /** Byte offsets of the GEMM's own scratch and of the f32 chunk block. */
  readonly workspace: number;
  readonly chunk: number;
  /** Stores rows [row0, row0 + rows) of C from the chunk block (f32, rows x n, rows n * 4 bytes apart). */
  readonly flush: (row0: () => Expr, rows: number) => Expr[];
}

type Helper = (name: string, define: (w: WasmModule) => void) => string;

/** The statements computing C = op(A) op(B) chunk by chunk through `g.flush`. */
export function emitChunkedGemm(f: FunctionBuilder, helper: Helper, g: ChunkedGemm): Expr[] {
  if (g.m === 0 || g.n === 0) return [];
  const rows = chunkRows(g.m, g.n);
  const full = Math.floor(g.m / rows);
  const rest = g.m - full * rows;
  const c = (v: number) => f.i32.const(v);
  const chunkAt = (row0: () => Expr, count: number): Expr[] => [
    emitGemm(f, helper, {
      a: f.i32.add(g.a(), f.i32.mul(row0(), c(g.aRowStride))), aRowStride: c(g.aRowStride), aColStride: c(g.aColStride),
      b: g.b(), bRowStride: c(g.bRowStride), bColStride: c(g.bColStride),
      c: c(g.chunk), cRowStride: c(4 * g.n),
      m: c(count), n: c(g.n), k: c(g.k), accumulate: c(0), workspace: c(g.workspace),
    }, g.kind, g.dtypes),
    ...g.flush(row0, count),
  ];
  const out: Expr[] = [];
  if (full === 1) out.push(...chunkAt(() => c(0), rows));
  else if (full > 1) {
    const index = f.local("i32");
    const row0 = f.local("i32");
    out.push(f.forRange(index, 0, full, 1, [f.set(row0, f.i32.mul(f.get(index), c(rows))), ...chunkAt(() => f.get(row0), rows)]));
  }
  if (rest > 0) out.push(...chunkAt(() => c(full * rows), rest));
  return out;
}
