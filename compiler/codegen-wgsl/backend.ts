// The webgpu backend as the driver sees it (compiler/bundle/backend.ts). Its kernels need no
// scratch in the arena (GEMM and convolution tiles live in workgroup memory) except an f32 copy
// of a 16-bit result some of them stage (kernels/stage.ts), which the planner reserves as the
// node's workspace; shaders are specialised to `target` (kernel.ts WgslTarget).

import type { Backend } from "../bundle/backend.ts";
import { writeWgslBundle } from "./bundle.ts";
import type { WgslLayout } from "./emit.ts";
import { DEFAULT_TARGET, type WgslTarget } from "./kernel.ts";
import { missingKernel, wgslWorkspaceBytes } from "./kernels/index.ts";

/**
 * The arena is one storage buffer binding, whose range no WebGPU implementation lets past 4 GiB
 * (Vulkan's maxStorageBufferRange and D3D12's views are 32-bit); smaller adapter limits are
 * checked when the bundle requests its device (device.ts arenaLimits).
 */
export const MAX_WGSL_ARENA_BYTES = 2 ** 32 - 4;

export function wgslBackend(target: WgslTarget = DEFAULT_TARGET): Backend<WgslLayout> {
  return {
    name: "webgpu",
    scratchBytes: wgslWorkspaceBytes,
    maxArenaBytes: MAX_WGSL_ARENA_BYTES,
    missingKernel: (node, operandTypes) => missingKernel(node, operandTypes),
    writeBundle: (entries, meta) => writeWgslBundle(entries, meta, target),
  };
}
