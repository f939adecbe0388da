// The code generators `--target` names, loaded on demand: the WASM backend pulls in binaryen and
// the WGSL one its kernel tables, which commands that never emit (ir, run, passes) should not pay
// for at start-up.

import type { Backend } from "../bundle/backend.ts";

export const TARGETS = ["wasm-simd", "webgpu"] as const;
export type Target = (typeof TARGETS)[number];

/**
 * The backend for `target`. `emit: false` is for commands that plan for the target without
 * writing a bundle (mem, ir's dumps): the WASM backend then skips binaryen, whose loading is a
 * large part of their start-up, and its writeBundle refuses.
 */
export async function loadBackend(target: Target, opts: { emit?: boolean } = {}): Promise<Backend> {
  switch (target) {
    case "wasm-simd":
      return opts.emit === false ? (await import("../codegen-wasm/planning.ts")).wasmPlanning : (await import("../codegen-wasm/backend.ts")).wasmBackend;
    case "webgpu":
      return (await import("../codegen-wgsl/backend.ts")).wgslBackend();
  }
}
