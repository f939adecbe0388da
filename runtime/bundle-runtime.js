// The runtime of a generated bundle (`mlc build`), inlined verbatim into `name.js` after the line
// `const MANIFEST = JSON.parse("...");` that compiler/codegen-wasm/bundle.ts writes. Plain JavaScript with no
// imports, so the bundle runs in Node and browsers without mlc or a bundler.
//
// MANIFEST: { name, files: { wasm, weights }, memoryBytes, inputs, outputs, params, loss, accumulate, debug? }
//   inputs/outputs/params: [{ name, dtype, shape, offset }] (params also `trainable`; inputs a
//     kernel reads as indices also `indexRange: { lo, hi, entries, what }`, checked before a call);
//   loss: the train step's loss slot { dtype, offset }, or null without --train;
//   accumulate: micro-batches per update (> 1: the module exports apply_update);
//   debug: true in a debug build, whose name.js also holds MLC_DEBUG and runtime/bundle-debug.js.
//
// The module owns one memory that never grows, so typed views made once stay valid. Weights are
// safetensors, written and checked here; each dtype's typed array and safetensors code come from
// bundle-io.js's DTYPE_TABLE (typedArrayOf, SAFE_OF).

const SAFE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * Instantiates the module and fills its params: from `opts.weights`, else from the file next to
 * this one (loadInitialWeights in bundle-io.js says how a partial `opts.weights` is completed).
 */
export async function load(opts = {}) {
  const wasm = opts.wasm ?? (await readNextToBundle(MANIFEST.files.wasm));
  // A debug build (`mlc build --debug`) imports the checks of runtime/bundle-debug.js.
  const debug = MANIFEST.debug ? debugProbe(MLC_DEBUG, MANIFEST.name) : null;
  const { instance } = await WebAssembly.instantiate(wasm, debug ? debug.imports : {});
  const exports = instance.exports;
  const memory = exports.memory;
  debug?.attach(memory);
  const view = (t) => new (typedArrayOf(t.dtype))(memory.buffer, t.offset, t.shape.reduce((a, b) => a * b, 1));
  const inputs = byName(MANIFEST.inputs, view);
  const outputs = byName(MANIFEST.outputs, view);
  const params = byName(MANIFEST.params, view);
  const loss = MANIFEST.loss && view({ ...MANIFEST.loss, shape: [] });
  // The non-finite guard's count of skipped steps (state `opt/skipped_steps`; absent when built
  // with --no-nonfinite-guard). A step skipped itself when the count moved during it.
  const skipped = MANIFEST.params.some((p) => p.name === "opt/skipped_steps") ? params["opt/skipped_steps"] : null;
  let lastStepSkipped = false;

  const model = {
    name: MANIFEST.name,
    memory,
    inputs,
    outputs,
    params,
    /** Runs the forward pass on `inputs`; results are in `outputs` until the next call. */
    forward() {
      checkIndexInputs("forward", "forward", (t) => inputs[t.name]);
      exports.forward();
    },
    /**
     * One training step on `inputs` (forward, backward, optimizer, in place); returns the loss.
     * Built with accumulation: one micro-batch, its gradients added into the accumulators.
     * When the loss or a gradient is NaN/Inf the update is skipped (params and optimizer state
     * as they were), `lastStepSkipped` is true and `skippedSteps` counts it.
     */
    trainStep() {
      if (!loss) throw new Error(`${MANIFEST.name} was built without --train: it has no trainStep`);
      checkIndexInputs("train_step", "trainStep", (t) => inputs[t.name]);
      const before = skipped ? skipped[0] : 0;
      exports.train_step();
      lastStepSkipped = skipped !== null && skipped[0] !== before;
      return loss[0];
    },
    /** Whether the last trainStep() was skipped for a NaN/Inf loss or gradient. */
    get lastStepSkipped() {
      return lastStepSkipped;
    },
    /** Steps skipped for a NaN/Inf loss or gradient, over the training so far (saved with the weights). */
    get skippedSteps() {
      return skipped ? skipped[0] : 0;
    },
    /** Built with accumulation: the optimizer step on the mean accumulated gradient, accumulators zeroed. */
    applyUpdate() {
      if (MANIFEST.accumulate <= 1) throw new Error(`${MANIFEST.name} was built without --accumulate: trainStep updates the params itself`);
      checkIndexInputs("apply_update", "applyUpdate", (t) => inputs[t.name]);
      exports.apply_update();
    },
    /**
     * Sets the learning rate the next trainStep (or applyUpdate) reads: the state `opt/lr`, which
     * starts at the model's lr (built with --train).
     */
    setLearningRate(lr) {
      if (!params["opt/lr"]) throw new Error(`${MANIFEST.name} has no learning rate to set: it was built without --train`);
      params["opt/lr"][0] = lr;
    },
    /**
     * Every param and state tensor as safetensors bytes (a training checkpoint); with
     * `{ only: "params" }` without the training-only state (opt/*, acc/*, prune/*, qat/*), what a forward bundle loads.
     */
    saveWeights(opts = {}) {
      const kept = MANIFEST.params.filter((p) => opts.only !== "params" || !isTrainingState(p.name));
      return encodeSafetensors(kept.map((p) => ({ name: p.name, dtype: SAFE_OF[p.dtype], shape: p.shape, data: params[p.name] })));
    },
    /**
     * Copies the tensors of a safetensors file into the params; each must be a param of this
     * model with its exact dtype and shape and finite (NaN/±Inf rejected unless
     * `{ allowNonFinite: true }`), all checked before any is written; a file that fills no param
     * is an error. Params the file does not name keep their values; training-only state this
     * bundle lacks (a training checkpoint's opt/*, acc/*, prune/*, qat/* in a forward bundle) is skipped, with one
     * warning. Returns { loaded, missing, skipped }: the param names written, those left as they
     * were, and the skipped tensors.
     */
    loadWeights(bytes, loadOpts = {}) {
      const checked = checkedWeights(bytes, loadOpts);
      for (const { param, bytes: data } of checked.writes) new Uint8Array(memory.buffer, param.offset, data.length).set(data);
      return { loaded: checked.loaded, missing: checked.missing, skipped: checked.skipped };
    },
  };
  await loadInitialWeights(model, opts);
  return Object.freeze(model);
}
