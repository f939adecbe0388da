// Gradient accumulation in a bundle (`mlc build --train --accumulate N`): the module exports
// `apply_update`, the runtime's applyUpdate() runs it, and N trainStep() calls on micro-batches
// followed by applyUpdate() leave the params where the reference interpreter's session of the
// same train_step and apply_update graphs does. A bundle built without accumulation refuses
// applyUpdate() with a message saying why.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { Session } from "../../compiler/ir/session.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { compareTensors } from "../support/wasm-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-accumulate-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Loaded {
  inputs: Record<string, Float32Array | Int32Array>;
  params: Record<string, Float32Array>;
  trainStep(): number;
  applyUpdate(): void;
}

async function loadBuilt(files: Record<string, Uint8Array | string>, name: string, folder: string): Promise<Loaded> {
  const dir = join(root, folder);
  mkdirSync(dir);
  for (const [file, contents] of Object.entries(files)) writeFileSync(join(dir, file), contents);
  const { load } = (await import(pathToFileURL(join(dir, `${name}.js`)).href)) as { load(): Promise<Loaded> };
  return load();
}

describe("a bundle built with --accumulate 3", () => {
  const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "8" } });
  const spec = { ...trainingSpec(model.train), accumulate: 3 };

  it("matches the interpreter after 3 micro-batches and one applyUpdate (Adam)", async () => {
    const bundle = build(model.graph, { backend: wasmBackend, training: spec, seed: 4, timeLimitMs: 100 });
    expect(Object.keys(bundle.layout.entries)).toEqual(["forward", "train_step", "apply_update"]);
    expect(bundle.files[`${bundle.name}.d.ts`]).toContain("Call applyUpdate() after every 3.");
    const m = await loadBuilt(bundle.files, bundle.name, "acc");

    const program = buildTrainingProgram(model.graph, spec);
    const { tensors } = decodeSafetensors(bundle.files[`${bundle.name}.safetensors`] as Uint8Array);
    const initial = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.data as Float32Array]));
    const session = new Session([program.trainStep, program.applyUpdate!], { params: initial });
    for (let micro = 0; micro < 3; micro++) {
      const batch = randomInputs(program.trainStep, 10 + micro);
      for (const [k, v] of Object.entries(batch)) m.inputs[k].set(v);
      const loss = m.trainStep();
      const expected = session.run(program.trainStep, batch).loss.data[0];
      expect(Math.abs(loss - expected)).toBeLessThan(1e-4 * Math.abs(expected));
    }
    const before = Float32Array.from(m.params["fc256.w"]);
    m.applyUpdate();
    session.run(program.applyUpdate!, {});
    expect(m.params["fc256.w"].some((v, i) => v !== before[i])).toBe(true);
    for (const p of program.applyUpdate!.params) {
      const expected = { type: p.type, data: session.state.get(p.name)! };
      const actual = { type: p.type, data: Float64Array.from(m.params[p.name]) };
      // Adam's first step moves a param by ~lr * sign(g): near-zero gradient elements whose
      // rounding differs move differently, so the budget is relative to the tensor's largest value.
      expect(compareTensors(actual, expected, { tolerance: 1e-2, relativeToMax: true }), p.name).toBeNull();
    }
    // The accumulators are zero again.
    expect(m.params["acc/fc256.w"].every((v) => v === 0)).toBe(true);
  }, 60_000);

  it("a bundle without accumulation refuses applyUpdate()", async () => {
    const bundle = build(model.graph, { backend: wasmBackend, training: trainingSpec(model.train), timeLimitMs: 100 });
    const m = await loadBuilt(bundle.files, bundle.name, "plain");
    expect(() => m.applyUpdate()).toThrow(/built without --accumulate: trainStep updates the params itself/);
  }, 60_000);
});
