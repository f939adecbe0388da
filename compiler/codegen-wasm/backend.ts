// The wasm-simd backend as the driver sees it (compiler/bundle/backend.ts): its kernels' scratch
// bytes (GEMM panel packs, conv column blocks), which nodes it has kernels for, and the bundle
// writer (bundle.ts), which also writes debug bundles (debug.ts).

import type { Backend } from "../bundle/backend.ts";
import { writeWasmBundle } from "./bundle.ts";
import type { WasmLayout } from "./emit.ts";
import { missingKernel } from "./kernels/index.ts";
import { MAX_MEMORY_BYTES } from "./module.ts";
import { wasmWorkspaceBytes } from "./workspace.ts";

export const wasmBackend: Backend<WasmLayout> = {
  name: "wasm-simd",
  scratchBytes: wasmWorkspaceBytes,
  maxArenaBytes: MAX_MEMORY_BYTES,
  missingKernel: (node, operandTypes) => missingKernel(node, operandTypes),
  debugBuild: true,
  writeBundle: writeWasmBundle,
};
