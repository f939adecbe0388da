// What an app downloads for the MNIST MLP: the bundle's code, name.wasm + name.js (the weights
// are data, not counted), gzipped at level 9 as a server would send them, must stay under 100 KB
// with the training step in it. The forward-only bundle is measured too: it has a subset of the
// training bundle's kernels, so it must be smaller still.

import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import type { WrittenBundle } from "../../compiler/bundle/backend.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

const LIMIT_BYTES = 100 * 1024;

interface CodeSize { wasm: number; js: number; wasmGzip: number; jsGzip: number; gzip: number }

/** Raw and gzip -9 sizes of the bundle's .wasm and .js, each gzipped as its own file. */
function codeSize(bundle: WrittenBundle): CodeSize {
  const bytes = (file: string) => {
    const c = bundle.files[file];
    return typeof c === "string" ? Buffer.from(c) : c;
  };
  const wasm = bytes(`${bundle.name}.wasm`);
  const js = bytes(`${bundle.name}.js`);
  const wasmGzip = gzipSync(wasm, { level: 9 }).byteLength;
  const jsGzip = gzipSync(js, { level: 9 }).byteLength;
  return { wasm: wasm.byteLength, js: js.byteLength, wasmGzip, jsGzip, gzip: wasmGzip + jsGzip };
}

describe("MNIST MLP bundle size", () => {
  const model = compileModelFile("examples/mnist-mlp/model.ts");

  it("with training, its .wasm + .js gzip (level 9) to under 100 KB; forward-only is smaller", () => {
    const training = codeSize(build(model.graph, { backend: wasmBackend, training: trainingSpec(model.train, {}), seed: 0 }));
    const forward = codeSize(build(model.graph, { backend: wasmBackend, seed: 0 }));
    console.log(`mnist-mlp bundle code: training ${JSON.stringify(training)}, forward-only ${JSON.stringify(forward)}`);
    expect(training.gzip).toBeLessThan(LIMIT_BYTES);
    expect(forward.wasm).toBeLessThan(training.wasm);
    expect(forward.gzip).toBeLessThan(training.gzip);
    // Sanity: gzip at level 9 never grows real code much and the wasm does contain the kernels.
    expect(training.wasmGzip).toBeLessThan(training.wasm);
    expect(training.wasm).toBeGreaterThan(1024);
  }, 120_000);
});
