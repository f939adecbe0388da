// A WebGPU device for the WGSL backend when it runs under Node: Dawn for Node (npm `webgpu`).
//
// On a machine without a GPU the Vulkan driver is SwiftShader, a CPU implementation that
// Debian's `chromium` package ships with its own Vulkan loader:
//   /usr/lib/chromium/vk_swiftshader_icd.json   the driver manifest (VK_ICD_FILENAMES)
//   /usr/lib/chromium/libvulkan.so.1             the loader, absent from the system's paths
// When VK_ICD_FILENAMES is unset and that manifest exists, it is pointed at SwiftShader before
// Dawn starts Vulkan, and chromium's loader is loaded into the process first (dlopen with
// RTLD_GLOBAL | RTLD_NODELETE) so that Dawn's own dlopen("libvulkan.so.1") finds it by its soname.
// With VK_ICD_FILENAMES set (a real GPU driver; docs/WGSL.md), nothing is changed.
// Setting process.env reaches the Vulkan loader only from a process's main thread (a worker
// thread's process.env is a copy), which is where vitest's forked test processes run.
//
// Limits: WebGPU's defaults bind 128 MiB of storage and allocate 256 MiB buffers. A device is
// requested with maxStorageBufferBindingSize / maxBufferSize raised to what the arena needs
// (rounded up to a power of two, capped at the adapter's limits); an arena the adapter cannot
// bind is an error naming both sizes.

import { existsSync } from "node:fs";

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const CHROMIUM_VULKAN_LOADER = "/usr/lib/chromium/libvulkan.so.1";

/** glibc's dlopen flags (os.constants.dlopen lacks RTLD_NODELETE). */
const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;
const RTLD_NODELETE = 0x1000;

export class WgslDeviceError extends Error {
  override name = "WgslDeviceError";
}

export interface DeviceOptions {
  /** Bytes the one arena buffer needs (default: WebGPU's default limits suffice). */
  readonly arenaBytes?: number;
  /** Features to enable where the adapter has them (e.g. "subgroups"). */
  readonly features?: readonly GPUFeatureName[];
}

export interface WgslDevice {
  /**
   * Dawn's instance. It must stay reachable as long as the device is used: once the garbage
   * collector frees it, Dawn for Node's event processing dereferences the freed instance and the
   * process crashes (seen as a segfault or "The futex facility returned an unexpected error code").
   */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** Whether the adapter is a CPU implementation (SwiftShader, or any fallback adapter). */
  readonly software: boolean;
  readonly features: ReadonlySet<string>;
  /** The WGSL language features the shaders may use (the GPU's wgslLanguageFeatures). */
  readonly languageFeatures: ReadonlySet<string>;
}

/**
 * Points Vulkan at SwiftShader when no driver was chosen and chromium's copy is installed;
 * returns whether Vulkan will load SwiftShader's manifest (then chromium's loader is preloaded).
 */
function prepareVulkan(): boolean {
  if (process.env.VK_ICD_FILENAMES) return process.env.VK_ICD_FILENAMES === SWIFTSHADER_ICD;
  if (!existsSync(SWIFTSHADER_ICD)) return false;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return true;
}

function preloadChromiumLoader(): void {
  if (!existsSync(CHROMIUM_VULKAN_LOADER)) return;
  try {
    process.dlopen({ exports: {} }, CHROMIUM_VULKAN_LOADER, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  } catch {
    // Not a Node addon, so Node reports "did not self-register"; RTLD_NODELETE keeps it loaded.
  }
}

const MIB = 2 ** 20;

/**
 * A GPUDevice from Dawn for Node, on SwiftShader when no Vulkan driver was chosen. Throws a
 * WgslDeviceError saying what is missing when no adapter is found or the arena does not fit.
 */
export async function requestWgslDevice(opts: DeviceOptions = {}): Promise<WgslDevice> {
  if (prepareVulkan()) preloadChromiumLoader();
  let create: (options: string[]) => GPU;
  try {
    ({ create } = await import("webgpu"));
  } catch (e) {
    throw new WgslDeviceError(`cannot load Dawn for Node (npm 'webgpu'): ${(e as Error).message}`);
  }
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new WgslDeviceError(
      `no WebGPU adapter: Dawn found no Vulkan driver (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? "unset"}). ` +
        `On a machine without a GPU install Debian's chromium (apt-get install -y chromium) for ${SWIFTSHADER_ICD}.`,
    );
  }
  const requiredLimits = arenaLimits(adapter.limits, opts.arenaBytes ?? 0);
  const requiredFeatures = (opts.features ?? []).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const software = info.isFallbackAdapter === true || info.architecture === "swiftshader";
  const languageFeatures = new Set<string>((gpu as GPU & { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures ?? []);
  return { gpu, device, adapter, software, features: new Set(requiredFeatures), languageFeatures };
}

/** The storage limits a device needs for an arena of `bytes`, or an error naming the adapter's. */
export function arenaLimits(limits: GPUSupportedLimits, bytes: number): Record<string, number> {
  const binding = limits.maxStorageBufferBindingSize;
  const buffer = limits.maxBufferSize;
  if (bytes > binding || bytes > buffer) {
    throw new WgslDeviceError(
      `the arena needs ${bytes} bytes (${(bytes / MIB).toFixed(1)} MiB) but this adapter binds at most ` +
        `${Math.min(binding, buffer)} bytes (${(Math.min(binding, buffer) / MIB).toFixed(1)} MiB) in one storage buffer ` +
        `(maxStorageBufferBindingSize ${binding}, maxBufferSize ${buffer})`,
    );
  }
  const DEFAULT_BINDING = 128 * MIB;
  const DEFAULT_BUFFER = 256 * MIB;
  if (bytes <= DEFAULT_BINDING) return {};
  const want = 2 ** Math.ceil(Math.log2(bytes));
  return {
    maxStorageBufferBindingSize: Math.min(binding, Math.max(want, DEFAULT_BINDING)),
    maxBufferSize: Math.min(buffer, Math.max(want, DEFAULT_BUFFER)),
  };
}
