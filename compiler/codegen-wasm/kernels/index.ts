// Every WASM kernel, by op name and dtype signature: the group tables gathered into one table (the
// op table's counterpart for this backend), and `kernelFor`, the one lookup the emitter, the
// workspace sizing and the naive plan use. Adding a kernel touches its group file only; two
// groups registering one (op, signature) is an error at load time.

import { kernelLookups, signedTable } from "../../ir/dtypes.ts";
import { UnsupportedKernelError, type KernelTable } from "../kernel.ts";
import { CODEBOOK_KERNELS } from "./codebook.ts";
import { CONTRACTION_KERNELS } from "./contraction.ts";
import { DROPOUT_KERNELS } from "./dropout.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { FUSED_KERNELS } from "./fused.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { PRUNE_KERNELS } from "./prune.ts";
import { QUANT_KERNELS } from "./quant.ts";
import { REDUCTION_KERNELS } from "./reduction.ts";
import { SOURCE_KERNELS } from "./source.ts";
import { SPARSE_KERNELS } from "./block-sparse.ts";
import { SPARSE24_KERNELS } from "./sparse24.ts";

export const WASM_KERNELS: KernelTable = signedTable("wasm-simd kernels", {
  elementwise: ELEMENTWISE_KERNELS,
  layout: LAYOUT_KERNELS,
  source: SOURCE_KERNELS,
  dropout: DROPOUT_KERNELS,
  reduction: REDUCTION_KERNELS,
  contraction: CONTRACTION_KERNELS,
  fused: FUSED_KERNELS,
  quant: QUANT_KERNELS,
  codebook: CODEBOOK_KERNELS,
  prune: PRUNE_KERNELS,
  sparse: SPARSE_KERNELS,
  sparse24: SPARSE24_KERNELS,
});

/**
 * The lookups by (op, operand dtypes, result dtype): `findKernel` (undefined on a miss),
 * `kernelFor` (an UnsupportedKernelError naming the node, the op and the dtypes, e.g. "wasm-simd has
 * no kernel for matmul(f16, f16) -> f16 (node %3 ...)", and what the op does have) and
 * `missingKernel` (that message, or undefined when there is a kernel).
 */
export const { findKernel, kernelFor, missingKernel } = kernelLookups("wasm-simd", WASM_KERNELS, (message) => new UnsupportedKernelError(message));
