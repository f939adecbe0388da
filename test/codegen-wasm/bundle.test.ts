// The embeddable bundle end to end: `mlc build --train` writes it into a temp folder outside the
// repo, and a plain `node` child process (no mlc, no tsx, nothing on its module path) imports it.
// Its forward pass matches the interpreter on the bundle's own initial weights, training lowers
// the loss on fixed data, weights round-trip through saveWeights/loadWeights, a wrong-shaped
// weight is refused with an error naming it, the .d.ts types the API, and the memory is the arena
// rounded to 64 KiB pages.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { PAGE_BYTES } from "../../compiler/codegen-wasm/module.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";
import { compareTensors, graphTolerance } from "../support/wasm-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-bundle-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What the child process reports (see DRIVER). */
interface DriverReport {
  memoryBytes: number;
  outputs: Record<string, number[]>;
  losses: number[];
  roundTrip: boolean;
  wrongShapeError: string;
  unknownNameError: string;
  notSafetensorsError: string;
}

// Runs in the bundle's folder with plain node: fills the inputs from inputs.json, runs forward,
// trains 20 steps on the same batch, and exercises the weight API.
const DRIVER = `
import { readFileSync } from "node:fs";
const [bundle, wrongShapeFile] = process.argv.slice(2);
const { load } = await import("./" + bundle + ".js");
const m = await load();
const given = JSON.parse(readFileSync("inputs.json", "utf8"));
for (const [name, values] of Object.entries(given)) m.inputs[name].set(values);
m.forward();
const outputs = Object.fromEntries(Object.entries(m.outputs).map(([k, v]) => [k, [...v]]));
const losses = [];
for (let i = 0; i < 20; i++) losses.push(m.trainStep());
const saved = m.saveWeights();
const before = Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, [...v]]));
for (const v of Object.values(m.params)) v.fill(0);
m.loadWeights(saved);
const roundTrip = Object.entries(m.params).every(([k, v]) => v.every((x, i) => Object.is(x, before[k][i])));
const message = (f) => { try { f(); return ""; } catch (e) { return e.message; } };
const wrongShapeError = message(() => m.loadWeights(readFileSync(wrongShapeFile)));
const unknownNameError = message(() => m.loadWeights(readFileSync("unknown-name.safetensors")));
const notSafetensorsError = message(() => m.loadWeights(new Uint8Array([1, 2, 3])));
const stillLoaded = Object.entries(m.params).every(([k, v]) => v.every((x, i) => Object.is(x, before[k][i])));
console.log(JSON.stringify({ memoryBytes: m.memory.buffer.byteLength, outputs, losses, roundTrip: roundTrip && stillLoaded, wrongShapeError, unknownNameError, notSafetensorsError }));
`;

function buildAndRun(example: string, wrongParam: string) {
  const dir = join(root, example);
  const build = spawnSync(process.execPath, ["bin/mlc.js", "build", `examples/${example}/model.ts`, "--target", "wasm-simd", "--train", "--out", dir], { encoding: "utf8" });
  expect(build.stderr).toBe("");
  expect(build.status).toBe(0);

  const model = compileModelFile(`examples/${example}/model.ts`);
  const name = model.graph.name;
  const inputs = randomInputs(model.graph, 7);
  writeFileSync(join(dir, "inputs.json"), JSON.stringify(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, [...v]]))));
  writeFileSync(join(dir, "wrong-shape.safetensors"), encodeSafetensors({ [wrongParam]: { dtype: "F32", shape: [2, 3], data: new Float32Array(6) } }));
  writeFileSync(join(dir, "unknown-name.safetensors"), encodeSafetensors({ "no.such.param": { dtype: "F32", shape: [1], data: new Float32Array(1) } }));
  writeFileSync(join(dir, "driver.mjs"), DRIVER);

  // A clean environment: no loader flags or module paths that could lend the child mlc's tools.
  const run = spawnSync(process.execPath, ["driver.mjs", name, "wrong-shape.safetensors"], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  const report = JSON.parse(run.stdout) as DriverReport;

  const weights = decodeSafetensors(readFileSync(join(dir, `${name}.safetensors`))).tensors;
  const params = Object.fromEntries(model.graph.params.map((p) => [p.name, Float64Array.from(weights[p.name].data as Float32Array)]));
  const reference = interpret(model.graph, inputs, { params });
  const plan = JSON.parse(readFileSync(join(dir, `${name}.plan.json`), "utf8")) as { arena: number; memoryBytes: number };
  return { model, report, reference, plan, dir, name };
}

/** Type-checks a small user program against the bundle's .d.ts with the repo's tsc, strict. */
function typecheckUse(dir: string, name: string, output: string): { status: number | null; stdout: string } {
  writeFileSync(join(dir, "use.mts"), `import { load } from "./${name}.js";
const m = await load();
const loss: number = m.trainStep();
m.forward();
const out: Float32Array = m.outputs[${JSON.stringify(output)}];
const bytes: Uint8Array = m.saveWeights();
m.loadWeights(bytes);
// @ts-expect-error: the outputs are exactly the model's
m.outputs["no_such_output"];
console.log(loss, out.length);
`);
  const tsc = join(process.cwd(), "node_modules", ".bin", "tsc");
  const r = spawnSync(tsc, ["--noEmit", "--strict", "--module", "nodenext", "--target", "es2022", "--types", "node", "--typeRoots", join(process.cwd(), "node_modules", "@types"), "use.mts"], { cwd: dir, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout };
}

describe.each([
  // Adam on a 784-256-128-10 MLP memorises one batch fast; plain SGD on random ratings (the
  // recommender) lowers its mean squared error slowly but steadily (about 6% in 20 steps).
  { example: "mnist-mlp", wrongParam: "fc256.w", lossRatio: 0.8 },
  { example: "recsys", wrongParam: "user.embed", lossRatio: 0.97 },
])("the $example bundle, imported by plain node", ({ example, wrongParam, lossRatio }) => {
  let run: ReturnType<typeof buildAndRun>;
  it("builds with mlc build --train and loads without mlc", () => {
    run = buildAndRun(example, wrongParam);
    expect(Object.keys(run.report.outputs)).toEqual(run.model.graph.outputs.map((o) => o.name));
  }, 120_000);

  it("computes the forward pass the interpreter computes", () => {
    for (const [name, expectedTensor] of Object.entries(run.reference.outputs) as [string, Tensor][]) {
      const actual: Tensor = { type: expectedTensor.type, data: Float64Array.from(run.report.outputs[name]) };
      // f32 accumulation over up to 784 products: absolute error ~1e-6 on values of order 1.
      expect(compareTensors(actual, expectedTensor, { tolerance: graphTolerance(run.model.graph), floor: 0.05 }), name).toBeNull();
    }
  });

  it("lowers the loss over 20 training steps on one batch", () => {
    const { losses } = run.report;
    expect(losses).toHaveLength(20);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[0]).toBeCloseTo(run.reference.outputs["loss"].data[0], 4);
    expect(losses[19]).toBeLessThan(losses[0] * lossRatio);
  });

  it("round-trips its weights and refuses wrong ones with errors that name them", () => {
    expect(run.report.roundTrip).toBe(true);
    const shape = `f32[${run.model.graph.params.find((p) => p.name === wrongParam)!.type.shape.join(",")}]`;
    expect(run.report.wrongShapeError).toBe(`weights: '${wrongParam}' must be ${shape} (safetensors F32), got F32[2,3]`);
    expect(run.report.unknownNameError).toMatch(/^weights: 'no\.such\.param' is not a param of /);
    expect(run.report.notSafetensorsError).toBe("weights: not a valid safetensors file: 3 bytes is too short");
  });

  it("types its API in the .d.ts (a strict user program type-checks)", () => {
    const r = typecheckUse(run.dir, run.name, run.model.graph.outputs[0].name);
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);

  it("owns one memory: the arena rounded up to 64 KiB pages", () => {
    const pages = Math.ceil(run.plan.arena / PAGE_BYTES);
    expect(run.plan.memoryBytes).toBe(pages * PAGE_BYTES);
    expect(run.report.memoryBytes).toBe(pages * PAGE_BYTES);
  });
});

describe("mlc build options", () => {
  const dir = join(root, "options");
  const model = () => compileModelFile("examples/recsys/model.ts");
  const build = (...args: string[]) =>
    spawnSync(process.execPath, ["bin/mlc.js", "build", "examples/recsys/model.ts", "--out", dir, ...args], { encoding: "utf8" });

  it("--weights sets the initial params; without --train there is no trainStep", () => {
    const g = model().graph;
    const given = g.params.find((p) => p.name === "item.embed")!;
    const values = Float32Array.from({ length: given.type.shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 7) / 8);
    const file = join(root, "given.safetensors");
    writeFileSync(file, encodeSafetensors({ "item.embed": { dtype: "F32", shape: [...given.type.shape], data: values } }));
    const r = build("--weights", file);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const written = decodeSafetensors(readFileSync(join(dir, `${g.name}.safetensors`))).tensors;
    expect([...(written["item.embed"].data as Float32Array)]).toEqual([...values]);
    expect(Object.keys(written).sort()).toEqual(g.params.map((p) => p.name).sort());

    writeFileSync(join(dir, "driver.mjs"), `const { load } = await import("./${g.name}.js");
const m = await load();
try { m.trainStep(); console.log("trained"); } catch (e) { console.log(e.message); }`);
    const run = spawnSync(process.execPath, ["driver.mjs"], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(run.stdout.trim()).toBe(`${g.name} was built without --train: it has no trainStep`);
  }, 60_000);

  it("refuses a --weights tensor of the wrong shape, naming it", () => {
    const file = join(root, "wrong.safetensors");
    writeFileSync(file, encodeSafetensors({ "item.embed": { dtype: "F32", shape: [3], data: new Float32Array(3) } }));
    const r = build("--weights", file);
    expect(r.status).toBe(1);
    const shape = model().graph.params.find((p) => p.name === "item.embed")!.type.shape;
    expect(r.stderr).toBe(`error: ${file}: param 'item.embed' must be f32[${shape.join(",")}] (safetensors F32), got F32[3]\n`);
  }, 60_000);
});
