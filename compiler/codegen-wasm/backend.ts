// The wasm-simd backend as the driver sees it (compiler/bundle/backend.ts): what the planning
// passes ask (planning.ts) and the bundle writer (bundle.ts, binaryen), which also writes debug
// bundles (debug.ts).

import type { Backend } from "../bundle/backend.ts";
import { writeWasmBundle } from "./bundle.ts";
import type { WasmLayout } from "./emit.ts";
import { wasmPlanning } from "./planning.ts";

export const wasmBackend: Backend<WasmLayout> = {
  ...wasmPlanning,
  debugBuild: true,
  writeBundle: writeWasmBundle,
};
