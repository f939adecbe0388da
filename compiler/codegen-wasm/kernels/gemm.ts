// The GEMM entry point for kernels: picks the packed, blocked GEMM (gemm-core.ts) or the unpacked
// small-m GEMM (gemm-small.ts) from a static bound on the number of rows, and sizes the scratch
// the choice needs. matmul and the convolutions call GEMMs only through here.

import type { Expr, FunctionBuilder, WasmModule } from "../module.ts";
import { callGemm, gemmWorkspaceBytes, type GemmCall } from "./gemm-core.ts";
import { callSmallGemm } from "./gemm-small.ts";

export type { GemmCall } from "./gemm-core.ts";

/**
 * Products with at most this many rows skip packing: packing B costs as much as a row of the
 * product, and with so few rows most of the 4-row register tile would be padding.
 */
export const SMALL_GEMM_MAX_ROWS = 2;

/** Scratch bytes of a product with at most `m` rows (0 when the small-m GEMM runs it). */
export function gemmScratchBytes(m: number, n: number, k: number): number {
  return m <= SMALL_GEMM_MAX_ROWS || m === 0 || n === 0 || k === 0 ? 0 : gemmWorkspaceBytes(m, n, k);
}

/** The call of the GEMM suited to products of at most `maxRows` rows. */
export function emitGemm(
  f: FunctionBuilder,
  helper: (name: string, define: (w: WasmModule) => void) => string,
  call: GemmCall,
  maxRows: number,
): Expr {
  return maxRows <= SMALL_GEMM_MAX_ROWS ? callSmallGemm(f, helper, call) : callGemm(f, helper, call);
}
