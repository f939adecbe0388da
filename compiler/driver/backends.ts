// The code generators `--target` names, loaded on demand: the WASM backend pulls in binaryen and
// the WGSL one its kernel tables, which commands that never emit (ir, run, passes) should not pay
// for at start-up.

import type { Backend } from "../bundle/backend.ts";

export const TARGETS = ["wasm-simd", "webgpu"] as const;
export type Target = (typeof TARGETS)[number];

export async function loadBackend(target: Target): Promise<Backend> {
  switch (target) {
    case "wasm-simd":
      return (await import("../codegen-wasm/backend.ts")).wasmBackend;
    case "webgpu":
      return (await import("../codegen-wgsl/backend.ts")).wgslBackend();
  }
}
