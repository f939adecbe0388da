// The GEMM entry point for kernels: picks the packed, blocked GEMM (gemm-core.ts) or the unpacked
// small-m GEMM (gemm-small.ts) from a static bound on the number of rows and the layout of B, and
// sizes the scratch the choice needs. matmul and the convolutions call GEMMs only through here.

import type { Expr, FunctionBuilder, WasmModule } from "../module.ts";
import { callGemm, DEFAULT_TILING, F32_GEMM, gemmWorkspaceBytes, type GemmCall, type GemmDTypes } from "./gemm-core.ts";
import { callSmallGemm } from "./gemm-small.ts";

export type { GemmCall, GemmDTypes } from "./gemm-core.ts";
export { F32_GEMM } from "./gemm-core.ts";

/**
 * Row counts up to which the unpacked GEMM beats packing, by B's layout (bench machine, n and k
 * from 64 to 1024): with B's rows contiguous the small GEMM streams them at ~25-33 GFLOP/s, while
 * packing B costs as much as a few rows of the product (packed: 7 GFLOP/s at m = 1, 20 at m = 3,
 * 28-38 from m = 4 on); with B transposed the small GEMM takes dot products at 11-17 GFLOP/s,
 * which only beats packing for a single row.
 */
export const SMALL_GEMM_MAX_ROWS = { bRowsContiguous: 3, bTransposed: 1 } as const;

/** The static facts that choose the GEMM: at most `maxRows` rows; B's column stride is 4 bytes. */
export interface GemmKind {
  readonly maxRows: number;
  readonly bRowsContiguous: boolean;
}

/** Whether the unpacked GEMM runs a product: few rows, and f32 operands (16-bit ones are widened by packing). */
export function usesSmallGemm(kind: GemmKind, dtypes: GemmDTypes = F32_GEMM): boolean {
  if (dtypes.a !== "f32" || dtypes.b !== "f32") return false;
  return kind.maxRows <= (kind.bRowsContiguous ? SMALL_GEMM_MAX_ROWS.bRowsContiguous : SMALL_GEMM_MAX_ROWS.bTransposed);
}

/** Scratch bytes of an n x k product of the given kind (0 when the small-m GEMM runs it). */
export function gemmScratchBytes(kind: GemmKind, n: number, k: number, dtypes: GemmDTypes = F32_GEMM): number {
  return usesSmallGemm(kind, dtypes) || kind.maxRows === 0 || n === 0 || k === 0 ? 0 : gemmWorkspaceBytes(kind.maxRows, n, k);
}

/** The call of the GEMM suited to `kind`. */
export function emitGemm(
  f: FunctionBuilder,
  helper: (name: string, define: (w: WasmModule) => void) => string,
  call: GemmCall,
  kind: GemmKind,
  dtypes: GemmDTypes = F32_GEMM,
): Expr {
  return usesSmallGemm(kind, dtypes) ? callSmallGemm(f, helper, call) : callGemm(f, helper, call, DEFAULT_TILING, dtypes);
}
