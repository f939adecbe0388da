// The wasm-simd backend as the planning passes see it: its kernels' scratch bytes (GEMM panel
// packs, conv column blocks), which nodes it has kernels for, and the largest arena it can
// address. None of it needs binaryen, which only the bundle writer (backend.ts) loads: `mlc mem`
// and `mlc ir --print-ir-*` plan for the target without paying for binaryen's start-up.

import type { Backend } from "../bundle/backend.ts";
import type { WasmLayout } from "./emit.ts";
import { missingKernel } from "./kernels/index.ts";
import { wasmWorkspaceBytes } from "./workspace.ts";

/** wasm32 linear memory holds at most 65536 pages of 64 KiB (4 GiB): the largest arena a module can have. */
export const MAX_MEMORY_BYTES = 65536 * 65536;

/** The target for planning only: writeBundle refuses (load it with `emit`, driver/backends.ts). */
export const wasmPlanning: Backend<WasmLayout> = {
  name: "wasm-simd",
  scratchBytes: wasmWorkspaceBytes,
  maxArenaBytes: MAX_MEMORY_BYTES,
  missingKernel: (node, operandTypes) => missingKernel(node, operandTypes),
  writeBundle: () => {
    throw new Error("the wasm-simd backend was loaded for planning only (driver/backends.ts loadBackend with emit)");
  },
};
