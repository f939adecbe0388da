// The runtime of a generated WebGPU bundle (`buildWgslBundle`), inlined into `name.wgsl.js` after
// the lines `const MANIFEST = JSON.parse("..."); const SHADERS = ...;` that compiler/codegen-wgsl/bundle.ts
// writes, followed by the safetensors helpers of runtime/bundle-runtime.js. Plain JavaScript with
// no imports: it runs in browsers (navigator.gpu) and in Node with a GPU object from Dawn for Node
// (`import { create } from "webgpu"; load({ gpu: create([]) })`).
//
// MANIFEST (inputs[].indexRange as in runtime/bundle-runtime.js):
//           { name, files: { weights }, arenaBytes, features, inputs, outputs, params, loss,
//             accumulate, entries: { forward: [[shader, x, y, z], ...], train_step: [...], ... } }
//   features: device features the shaders need ("subgroups" when built for a target with them).
//   packedDot: { feature, entries } where the int8 kernels have a packed-dot variant: the entries'
//             dispatches with those shaders, run instead when the GPU's wgslLanguageFeatures has
//             `feature` (only the shaders of the dispatches run get pipelines).
//
// The same API as the WASM bundle, except where the GPU makes a read asynchronous:
//   m.inputs.x.set(data)       host arrays; every call uploads them with queue.writeBuffer
//   m.forward()                one command encoder, every dispatch of the entry, one submit
//   await m.outputs.logits()   reads an output back (a fresh typed array)
//   await m.trainStep()        one training step; resolves to the loss (read back)
//   m.lastStepSkipped          after it: whether the non-finite guard skipped it; m.skippedSteps
//                              the count so far (read back with the loss)
//   await m.params.w()         reads a param back
//   await m.saveWeights()      safetensors bytes of every param and state
//   m.loadWeights(bytes)       writes params (checked first, like the WASM bundle)
//   inputs read as indices     range-checked before a call, as in the WASM bundle

const VIEW_OF = { f32: Float32Array, i32: Int32Array, i8: Int8Array, u8: Uint8Array, bool: Uint8Array };
const SAFE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
// WebGPU's flag values (fixed by the spec; Node has no GPUBufferUsage global).
const STORAGE = 0x80, COPY_SRC = 0x4, COPY_DST = 0x8, MAP_READ = 0x1, COMPUTE = 0x4;
const MIB = 2 ** 20;

/** The device: `opts.device`, else one from `opts.gpu` (or navigator.gpu) with room for the arena. */
async function deviceFor(opts) {
  const features = MANIFEST.features;
  if (opts.device) {
    const missing = features.filter((f) => !opts.device.features.has(f));
    if (missing.length) throw new Error(`${MANIFEST.name}: the shaders need the device feature(s) ${missing.join(", ")}`);
    return opts.device;
  }
  const gpu = opts.gpu ?? globalThis.navigator?.gpu;
  if (!gpu) throw new Error(`${MANIFEST.name}: no WebGPU (pass load({ gpu }) or load({ device }); in Node: import { create } from "webgpu")`);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(`${MANIFEST.name}: no WebGPU adapter`);
  const bytes = MANIFEST.arenaBytes;
  const most = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
  if (bytes > most) {
    throw new Error(`${MANIFEST.name}: the arena needs ${bytes} bytes (${(bytes / MIB).toFixed(1)} MiB) but this adapter binds at most ${most} bytes in one storage buffer`);
  }
  const requiredLimits = bytes > 128 * MIB ? { maxStorageBufferBindingSize: most, maxBufferSize: most } : {};
  const missing = features.filter((f) => !adapter.features.has(f));
  if (missing.length) throw new Error(`${MANIFEST.name}: this adapter lacks the feature(s) ${missing.join(", ")} the shaders were built for (build for another target)`);
  return adapter.requestDevice({ requiredLimits, requiredFeatures: features });
}

/** Creates the arena and every pipeline, and fills the params from `opts.weights` or the file next to this one. */
export async function load(opts = {}) {
  const gpu = opts.gpu; // kept reachable: Dawn for Node crashes when its instance is collected
  const device = await deviceFor(opts);
  const arena = device.createBuffer({ label: `${MANIFEST.name} arena`, size: MANIFEST.arenaBytes, usage: STORAGE | COPY_SRC | COPY_DST });
  const layout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: COMPUTE, buffer: { type: "storage" } }] });
  const bindGroup = device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: arena } }] });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  // The int8 kernels' packed-dot shaders where the GPU's WGSL has them (unknown with only a device: not used).
  const languageFeatures = (opts.gpu ?? globalThis.navigator?.gpu)?.wgslLanguageFeatures;
  const packedIntegerDot = MANIFEST.packedDot !== undefined && languageFeatures?.has(MANIFEST.packedDot.feature) === true;
  const dispatches = packedIntegerDot ? MANIFEST.packedDot.entries : MANIFEST.entries;
  const used = new Set(Object.values(dispatches).flatMap((list) => list.map(([shader]) => shader)));
  device.pushErrorScope("validation");
  const pipelines = await Promise.all(SHADERS.map((code, k) => !used.has(k) ? null :
    device.createComputePipelineAsync({ label: `${MANIFEST.name} shader ${k}`, layout: pipelineLayout, compute: { module: device.createShaderModule({ code }), entryPoint: "main" } })));
  const error = await device.popErrorScope();
  if (error) throw new Error(`${MANIFEST.name}: WebGPU rejected a shader: ${error.message}`);

  const count = (t) => t.shape.reduce((a, b) => a * b, 1);
  const write = (t, bytes) => {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    if (padded.byteLength > 0) device.queue.writeBuffer(arena, t.offset, padded);
  };
  const read = async (t) => {
    const n = count(t);
    const bytes = n * VIEW_OF[t.dtype].BYTES_PER_ELEMENT;
    const size = Math.ceil(bytes / 4) * 4;
    if (size === 0) return new VIEW_OF[t.dtype](0);
    const staging = device.createBuffer({ size, usage: MAP_READ | COPY_DST });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(arena, t.offset, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(MAP_READ);
    const out = new VIEW_OF[t.dtype](staging.getMappedRange().slice(0, bytes));
    staging.unmap();
    staging.destroy();
    return out;
  };
  // The non-finite guard's count of skipped steps (state `opt/skipped_steps`; absent when built
  // with --no-nonfinite-guard), as of the last read-back; a step skipped itself when it moved.
  const skippedTensor = MANIFEST.params.find((p) => p.name === "opt/skipped_steps") ?? null;
  let skippedSteps = 0;
  let lastStepSkipped = false;
  const inputs = byName(MANIFEST.inputs, (t) => new VIEW_OF[t.dtype](count(t)));
  const readers = (list) => byName(list, (t) => () => read(t));
  // `call`: the API method, for the index check's message (bundle-io.js checkIndexInputs).
  const run = (entry, call) => {
    checkIndexInputs(entry, call, (t) => inputs[t.name]);
    for (const t of MANIFEST.inputs) write(t, new Uint8Array(inputs[t.name].buffer));
    const encoder = device.createCommandEncoder({ label: entry });
    const pass = encoder.beginComputePass({ label: entry });
    pass.setBindGroup(0, bindGroup);
    for (const [shader, x, y, z] of dispatches[entry]) {
      pass.setPipeline(pipelines[shader]);
      pass.dispatchWorkgroups(x, y, z);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  };

  const model = {
    name: MANIFEST.name,
    gpu,
    device,
    arena,
    packedIntegerDot,
    inputs,
    /** Each output as an async read-back of the last call's result. */
    outputs: readers(MANIFEST.outputs),
    /** Each param and state tensor as an async read-back. */
    params: readers(MANIFEST.params),
    /** Runs the forward pass on `inputs` (submitted; read outputs with `await m.outputs.name()`). */
    forward() {
      run("forward", "forward");
    },
    /**
     * One training step on `inputs`; resolves to the loss. Built with accumulation: one micro-batch.
     * A NaN/Inf loss or gradient skips the update; then `lastStepSkipped` is true.
     */
    async trainStep() {
      if (!MANIFEST.loss) throw new Error(`${MANIFEST.name} was built without --train: it has no trainStep`);
      run("train_step", "trainStep");
      const [lossValue, count] = await Promise.all([read({ ...MANIFEST.loss, shape: [] }), skippedTensor ? read(skippedTensor) : null]);
      lastStepSkipped = count !== null && count[0] !== skippedSteps;
      if (count !== null) skippedSteps = count[0];
      return lossValue[0];
    },
    /** Whether the last trainStep() was skipped for a NaN/Inf loss or gradient. */
    get lastStepSkipped() {
      return lastStepSkipped;
    },
    /** Steps skipped for a NaN/Inf loss or gradient so far (as of the last trainStep or loadWeights). */
    get skippedSteps() {
      return skippedSteps;
    },
    /** Built with accumulation: the optimizer step on the mean accumulated gradient. */
    applyUpdate() {
      if (MANIFEST.accumulate <= 1) throw new Error(`${MANIFEST.name} was built without --accumulate: trainStep updates the params itself`);
      run("apply_update", "applyUpdate");
    },
    /** Every param and state tensor as safetensors bytes (read back from the device). */
    async saveWeights() {
      const data = await Promise.all(MANIFEST.params.map((p) => read(p)));
      return encodeSafetensors(MANIFEST.params.map((p, k) => ({ name: p.name, dtype: SAFE_OF[p.dtype], shape: p.shape, data: data[k] })));
    },
    /**
     * Writes the tensors of a safetensors file into the params after checking them all (as the
     * WASM bundle: exact dtype and shape, finite unless { allowNonFinite: true }, not empty);
     * returns { loaded, missing, skipped }.
     */
    loadWeights(bytes, loadOpts = {}) {
      const checked = checkedWeights(bytes, loadOpts);
      for (const { param, bytes: data } of checked.writes) {
        write(param, data);
        if (param.name === "opt/skipped_steps") skippedSteps = new Float32Array(data.slice().buffer, 0, 1)[0];
      }
      return { loaded: checked.loaded, missing: checked.missing, skipped: checked.skipped };
    },
    /** Waits until the device has finished every submitted call. */
    finished() {
      return device.queue.onSubmittedWorkDone();
    },
  };
  await loadInitialWeights(model, opts);
  return Object.freeze(model);
}
