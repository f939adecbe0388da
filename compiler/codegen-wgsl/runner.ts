// Runs an emitted WGSL program (emit.ts) on a WebGPU device: the host side of the backend.
//
//   load     one GPUBuffer holds the whole arena (STORAGE | COPY_SRC | COPY_DST), bound once at
//            group 0 through one bind group shared by every pipeline; every pass's pipeline is
//            created once here (identical shaders share one), under a validation error scope so
//            a shader that does not compile names its pass
//   write    inputs and params go in with queue.writeBuffer at their slots (byte tensors padded
//            to whole words: the padding bytes lie inside the value's own 16-aligned slot)
//   run      one command encoder and one compute pass per call, every dispatch of the entry in
//            schedule order (WebGPU orders dispatches and makes each one's writes visible to the
//            next), one submit
//   read     only when asked: the value's words are copied to a MAP_READ staging buffer and
//            mapped (asynchronous, hence read() returns a promise)

import type { Tensor } from "../ir/op-def.ts";
import { numel } from "../ir/types.ts";
import type { BufferLayout } from "../ir/arena-layout.ts";
import { DTYPE_INFO } from "../ir/dtypes.ts";
import { requestWgslDevice, type WgslDevice } from "./device.ts";
import type { WgslProgram } from "./emit.ts";
import type { WgslTarget } from "./kernel.ts";
import { PACKED_DOT_FEATURE } from "./kernels/gemm-int8.ts";

// WebGPU's flag values (the spec fixes them; Node has no GPUBufferUsage global).
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80 } as const;
const MAP_READ = 0x1;
const SHADER_STAGE_COMPUTE = 0x4;

export class WgslRunError extends Error {
  override name = "WgslRunError";
}


/**
 * The device limits a program's kernels may be sized by (`software`: SwiftShader, see WgslTarget),
 * and the WGSL language features it may use (`languageFeatures`: the GPU's wgslLanguageFeatures;
 * none when not given).
 */
export function targetOf(device: GPUDevice, features: ReadonlySet<string>, software = false, languageFeatures: ReadonlySet<string> = new Set()): WgslTarget {
  return {
    packedIntegerDot: languageFeatures.has(PACKED_DOT_FEATURE),
    maxWorkgroupSize: device.limits.maxComputeInvocationsPerWorkgroup,
    workgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize,
    maxWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
    subgroups: features.has("subgroups"),
    workgroupTiles: !software,
  };
}

/** A program loaded on a device: its arena buffer and its pipelines. */
export class WgslRunner {
  private constructor(
    readonly program: WgslProgram,
    readonly device: GPUDevice,
    private readonly arena: GPUBuffer,
    private readonly bindGroup: GPUBindGroup,
    private readonly pipelines: Readonly<Record<string, readonly GPUComputePipeline[]>>,
  ) {}

  /** Creates the arena and every pipeline on `gpu` (default: a fresh device sized for the arena). */
  static async load(program: WgslProgram, gpu?: WgslDevice): Promise<WgslRunner> {
    const { device } = gpu ?? (await requestWgslDevice({ arenaBytes: program.layout.bufferBytes }));
    const bytes = program.layout.bufferBytes;
    if (bytes > device.limits.maxStorageBufferBindingSize || bytes > device.limits.maxBufferSize) {
      throw new WgslRunError(
        `the arena needs ${bytes} bytes but this device binds at most ${Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)} ` +
          `(request it with requestWgslDevice({ arenaBytes: ${bytes} }))`,
      );
    }
    device.pushErrorScope("validation");
    const arena = device.createBuffer({ label: "arena", size: bytes, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    const layout = device.createBindGroupLayout({
      entries: [{ binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: "storage" } }],
    });
    const bindGroup = device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: arena } }] });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    // Pipelines are created asynchronously and all at once, so a driver that compiles on worker
    // threads (Dawn does) overlaps the compiles; identical shaders share one pipeline.
    const cache = new Map<string, Promise<GPUComputePipeline>>();
    const pending: Record<string, Promise<GPUComputePipeline>[]> = {};
    for (const [entry, passes] of Object.entries(program.passes)) {
      pending[entry] = passes.map((p) => {
        let pipeline = cache.get(p.code);
        if (!pipeline) {
          const module = device.createShaderModule({ label: p.label, code: p.code });
          pipeline = device.createComputePipelineAsync({ label: p.label, layout: pipelineLayout, compute: { module, entryPoint: "main" } });
          cache.set(p.code, pipeline);
        }
        return pipeline;
      });
    }
    const pipelines: Record<string, GPUComputePipeline[]> = {};
    let failure: Error | undefined;
    for (const [entry, list] of Object.entries(pending)) {
      pipelines[entry] = await Promise.all(list).catch((e: Error) => {
        failure ??= e;
        return [];
      });
    }
    const error = await device.popErrorScope();
    if (error || failure) throw new WgslRunError(`webgpu rejected the program: ${error?.message ?? failure!.message}`);
    return new WgslRunner(program, device, arena, bindGroup, pipelines);
  }

  private entryBuffer(name: string, entry: string | undefined, kinds: readonly ("inputs" | "outputs")[]): BufferLayout {
    const key = entry ?? Object.keys(this.program.layout.entries)[0];
    const e = this.program.layout.entries[key];
    if (!e) throw new WgslRunError(`no entry '${key}'`);
    for (const kind of kinds) {
      const b = e[kind].find((x) => x.name === name);
      if (b) return b;
    }
    throw new WgslRunError(`entry '${key}' has no ${kinds.join(" or ")} named '${name}'`);
  }

  private param(name: string): BufferLayout {
    const p = this.program.layout.params.find((x) => x.name === name);
    if (!p) throw new WgslRunError(`no param or state '${name}'`);
    return p;
  }

  private writeBuffer(b: BufferLayout, data: ArrayLike<number>): void {
    const n = numel(b.shape);
    if (data.length !== n) throw new WgslRunError(`'${b.name}' holds ${n} elements, got ${data.length}`);
    const { array: View, toStored } = DTYPE_INFO[b.dtype];
    const padded = new ArrayBuffer(Math.ceil(b.bytes / 4) * 4);
    const view = new View(padded, 0, n);
    for (let i = 0; i < n; i++) view[i] = toStored(data[i]);
    if (padded.byteLength > 0) this.device.queue.writeBuffer(this.arena, b.offset, padded);
  }

  private async readBuffer(b: BufferLayout): Promise<Tensor> {
    const n = numel(b.shape);
    const size = Math.ceil(b.bytes / 4) * 4;
    const type = { dtype: b.dtype, shape: b.shape };
    if (size === 0) return { type, data: new Float64Array(0) };
    const staging = this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.arena, b.offset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(MAP_READ);
    const { array: View, fromStored } = DTYPE_INFO[b.dtype];
    const data = Float64Array.from(new View(staging.getMappedRange().slice(0), 0, n), fromStored);
    staging.unmap();
    staging.destroy();
    return { type, data };
  }

  /** Writes an input of `entry` (default: the first entry). */
  write(name: string, data: ArrayLike<number>, entry?: string): void {
    this.writeBuffer(this.entryBuffer(name, entry, ["inputs"]), data);
  }

  writeParam(name: string, data: ArrayLike<number>): void {
    this.writeBuffer(this.param(name), data);
  }

  /** Reads a named output (or else an input) of `entry`. */
  read(name: string, entry?: string): Promise<Tensor> {
    return this.readBuffer(this.entryBuffer(name, entry, ["outputs", "inputs"]));
  }

  readParam(name: string): Promise<Tensor> {
    return this.readBuffer(this.param(name));
  }

  /** Sets every word of the arena to `word` (tests poison it so unwritten memory shows). */
  fillArena(word: number): void {
    this.device.queue.writeBuffer(this.arena, 0, new Uint32Array(this.program.layout.bufferBytes / 4).fill(word));
  }

  /** Records every dispatch of `entry` into one command encoder and submits it. */
  run(entry?: string): void {
    const key = entry ?? Object.keys(this.program.passes)[0];
    const pipelines = this.pipelines[key];
    if (!pipelines) throw new WgslRunError(`no entry '${key}'`);
    const passes = this.program.passes[key];
    const encoder = this.device.createCommandEncoder({ label: key });
    const compute = encoder.beginComputePass({ label: key });
    compute.setBindGroup(0, this.bindGroup);
    pipelines.forEach((pipeline, k) => {
      compute.setPipeline(pipeline);
      const [x, y, z] = passes[k].workgroups;
      compute.dispatchWorkgroups(x, y, z);
    });
    compute.end();
    this.device.queue.submit([encoder.finish()]);
  }

  /** Waits until the device has finished every submitted call. */
  finished(): Promise<void> {
    return this.device.queue.onSubmittedWorkDone();
  }

  /** Frees the arena (the device stays with its owner). */
  destroy(): void {
    this.arena.destroy();
  }
}
