// Bundles built from names that break naive code generation: a model (function or file) named
// `_1`, `_9lives` or `9lives.ts`, a reserved word, a global the .d.ts uses (`promise`), a unicode
// name and a 300-character name; and params, inputs and outputs named `__proto__`,
// `constructor`, `toString`. Every bundle's .d.ts type-checks under a strict user program, its
// script passes `node --check`, and it loads from a temp folder and runs. A param named
// `__proto__` keeps its values through the initial weights file, load, saveWeights and
// loadWeights, and mlc's own safetensors reader reads it back; an inputs file without the input
// `constructor` is "missing input", not a crash. The WebGPU bundle of the same hostile model
// type-checks, passes `node --check` and keeps `__proto__` through its weights on the tests'
// device (Dawn over SwiftShader on a machine without a GPU). `mlc train` reads inputs named so from
// a data file and keeps the param `__proto__` in its weights and checkpoint.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { targetOf } from "../../compiler/codegen-wgsl/runner.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { readSafetensorsFile, takeTensors } from "../../compiler/bundle/tensor-io.ts";
import { manifestOfScript } from "../../compiler/bundle/script.ts";
import { MAX_STEM_BYTES } from "../../compiler/bundle/file-names.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { wgslDevice } from "../support/wgsl-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-hostile-names-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repo = process.cwd();

/** A two-layer model: input `x`, params `w`, `b`; `name` is the function's (empty: anonymous). */
const plainModel = (name: string) => `import { input, param, matmul, add, relu } from "mlc";
export default function ${name}() {
  const x = input("x", [2, 3]);
  const w = param("w", [3, 4], { init: "glorot_uniform" });
  const b = param("b", [4], { init: "zeros" });
  return relu(add(matmul(x, w), b));
}
`;

/** Params named like Object.prototype's members, and outputs too; trains with SGD. */
const HOSTILE_PARAMS = `import { input, param, matmul, add, mul, softmaxCrossEntropy } from "mlc";
export default function hostile_params() {
  const x = input("x", [2, 3]);
  const labels = input("labels", [2], "i32");
  const w = param("__proto__", [3, 4], { init: "glorot_uniform" });
  const b = param("constructor", [4], { init: "glorot_uniform" });
  const s = param("toString", [4], { init: "ones" });
  const logits = mul(add(matmul(x, w), b), s);
  return { __proto__: logits, constructor: softmaxCrossEntropy(logits, labels), toString: add(logits, b) };
}
export const train = { loss: "constructor", optimizer: { kind: "sgd", lr: 0.1 } };
`;

/** Inputs named like Object.prototype's members. */
const HOSTILE_INPUTS = `import { input, param, matmul, add, softmaxCrossEntropy } from "mlc";
export default function hostile_inputs() {
  const a = input("__proto__", [2, 3]);
  const c = input("constructor", [2, 3]);
  const labels = input("toString", [2], "i32");
  const w = param("w", [3, 4], { init: "glorot_uniform" });
  const logits = matmul(add(a, c), w);
  return { logits, loss: softmaxCrossEntropy(logits, labels) };
}
`;

const LONG = "m" + "x".repeat(299);

interface Built {
  dir: string;
  stem: string;
  modelName: string;
  /** Names the consumer program reads by index. */
  use: { input: string; output: string; param: string };
}

/** Builds `file` in-process through the driver and writes its files into their own folder. */
function buildWasm(file: string, trains = false): Built {
  const model = compileModelFile(file);
  const bundle = build(model.graph, { backend: wasmBackend, ...(trains ? { training: trainingSpec(model.train) } : {}) });
  const dir = join(root, `wasm-${bundle.name}`);
  mkdirSync(dir, { recursive: true });
  for (const [f, contents] of Object.entries(bundle.files)) writeFileSync(join(dir, f), contents);
  const g = model.graph;
  return { dir, stem: bundle.name, modelName: g.name, use: { input: g.inputs[0].name, output: g.outputs[0].name, param: g.params[0].name } };
}

/** Runs `mlc build` in a child process (what a user runs), into a fresh folder. */
function buildWithCli(file: string, out: string): { status: number | null; stderr: string; files: string[] } {
  const r = spawnSync(process.execPath, ["bin/mlc.js", "build", file, "--out", out], { encoding: "utf8" });
  return { status: r.status, stderr: r.stderr, files: existsSync(out) ? readdirSync(out).sort() : [] };
}

function writeModel(file: string, source: string): string {
  const path = join(root, "models", file);
  mkdirSync(join(root, "models"), { recursive: true });
  writeFileSync(path, source);
  return path;
}

/** A strict user program of the bundle's API: the names as keys, their types as declared. */
function wasmConsumer(b: Built, extra = ""): void {
  writeFileSync(join(b.dir, "use.mts"), `import { load } from "./${b.stem}.js";
const m = await load();
m.forward();
const input: Float32Array | Int32Array = m.inputs[${JSON.stringify(b.use.input)}];
const output: Float32Array = m.outputs[${JSON.stringify(b.use.output)}];
const param: Float32Array = m.params[${JSON.stringify(b.use.param)}];
const name: string = m.name;
// @ts-expect-error: the outputs are exactly the model's
m.outputs["no_such_output"];
${extra}
console.log(input.length, output.length, param.length, name);
`);
}

/** `tsc --noEmit --strict` over every consumer at once (one compiler start); "" when clean. */
function typecheck(files: string[]): string {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext", "--target", "es2022", "--types", "node", "--typeRoots", join(repo, "node_modules", "@types"), ...files], { cwd: root, encoding: "utf8" });
  return r.status === 0 ? "" : r.stdout + r.stderr;
}

function nodeCheck(file: string): string {
  const r = spawnSync(process.execPath, ["--check", file], { encoding: "utf8" });
  return r.status === 0 ? "" : r.stderr;
}

interface Model {
  name: string;
  inputs: Record<string, Float32Array | Int32Array>;
  outputs: Record<string, Float32Array>;
  params: Record<string, Float32Array>;
  forward(): void;
  trainStep(): number;
  saveWeights(): Uint8Array;
  loadWeights(bytes: Uint8Array): void;
}

async function importBundle(b: Built): Promise<Model> {
  const { load } = (await import(pathToFileURL(join(b.dir, `${b.stem}.js`)).href)) as { load(): Promise<Model> };
  return load();
}

describe("wasm-simd bundles of hostile model names", () => {
  const built: Built[] = [];

  it("builds `_1`, `_9lives`, a reserved word, a global the .d.ts uses and a unicode name", () => {
    built.push(buildWasm(writeModel("one.ts", plainModel("_1"))));
    built.push(buildWasm(writeModel("lives.ts", plainModel("_9lives"))));
    built.push(buildWasm(writeModel("delete.ts", plainModel(""))));
    built.push(buildWasm(writeModel("class.ts", plainModel(""))));
    built.push(buildWasm(writeModel("promise.ts", plainModel(""))));
    built.push(buildWasm(writeModel("unicode.ts", plainModel("ñandú_模型"))));
    expect(built.map((b) => b.modelName)).toEqual(["_1", "_9lives", "delete", "class", "promise", "ñandú_模型"]);
  }, 60_000);

  it("builds from the file `9lives.ts` and a 300-character name with `mlc build`", () => {
    const lives = buildWithCli(writeModel("9lives.ts", plainModel("")), join(root, "cli-9lives"));
    expect(lives.stderr).toBe("");
    expect(lives.status).toBe(0);
    expect(lives.files).toEqual(["9lives.d.ts", "9lives.js", "9lives.plan.json", "9lives.safetensors", "9lives.wasm"]);
    built.push({ dir: join(root, "cli-9lives"), stem: "9lives", modelName: "9lives", use: { input: "x", output: "out", param: "w" } });

    const long = buildWithCli(writeModel("long.ts", plainModel(LONG)), join(root, "cli-long"));
    expect(long.stderr).toBe("");
    expect(long.status).toBe(0);
    const stem = long.files[0].slice(0, -".d.ts".length);
    expect(stem).toMatch(/^mx+-[0-9a-f]{16}$/);
    expect(stem.length).toBeLessThanOrEqual(MAX_STEM_BYTES);
    expect(long.files).toEqual([".d.ts", ".js", ".plan.json", ".safetensors", ".wasm"].map((ext) => stem + ext));
    // The manifest keeps the model's name and records the files it reads.
    const manifest = manifestOfScript(readFileSync(join(root, "cli-long", `${stem}.js`), "utf8")) as { name: string; files: Record<string, string> };
    expect(manifest.name).toBe(LONG);
    expect(manifest.files).toEqual({ wasm: `${stem}.wasm`, weights: `${stem}.safetensors` });
    built.push({ dir: join(root, "cli-long"), stem, modelName: LONG, use: { input: "x", output: "out", param: "w" } });
  }, 60_000);

  it("builds params, inputs and outputs named __proto__, constructor, toString", () => {
    built.push(buildWasm(writeModel("hostile_params.ts", HOSTILE_PARAMS), true));
    built.push(buildWasm(writeModel("hostile_inputs.ts", HOSTILE_INPUTS)));
    expect(built.at(-2)!.use).toEqual({ input: "x", output: "__proto__", param: "__proto__" });
    expect(built.at(-1)!.use).toEqual({ input: "__proto__", output: "logits", param: "w" });
  }, 60_000);

  it("writes a .d.ts that a strict user program type-checks against, and scripts node --check accepts", () => {
    for (const b of built) {
      const extra = b.stem === "hostile_params"
        ? `const proto: Float32Array = m.params.__proto__;\nconst ctor: Float32Array = m.params.constructor;\nconst str: Float32Array = m.outputs.toString;\nconsole.log(proto, ctor, str);`
        : b.stem === "hostile_inputs"
          ? `const ctor: Float32Array = m.inputs.constructor;\nconst labels: Int32Array = m.inputs.toString;\nconsole.log(ctor, labels);`
          : "";
      wasmConsumer(b, extra);
      expect(nodeCheck(join(b.dir, `${b.stem}.js`)), b.stem).toBe("");
    }
    expect(typecheck(built.map((b) => join(b.dir, "use.mts")))).toBe("");
  }, 120_000);

  it("loads from a temp folder and runs forward, under any name", async () => {
    for (const b of built) {
      const m = await importBundle(b);
      expect(m.name).toBe(b.modelName.replace(/[^A-Za-z0-9_-]/g, "_"));
      for (const [name, view] of Object.entries(m.inputs)) view.set(Array.from({ length: view.length }, (_, i) => (name === "toString" || name === "labels" ? i % 2 : (i % 5) / 5 - 0.4)));
      m.forward();
      const out = m.outputs[b.use.output];
      expect(out.length, b.stem).toBeGreaterThan(0);
      expect(out.every(Number.isFinite), b.stem).toBe(true);
    }
  }, 60_000);

  it("exposes tensors in objects with no inherited names", async () => {
    const m = await importBundle(built.find((b) => b.stem === "hostile_inputs")!);
    expect(Object.keys(m.inputs)).toEqual(["__proto__", "constructor", "toString"]);
    expect(Object.getPrototypeOf(m.params)).toBeNull();
    expect("constructor" in m.params).toBe(false);
    expect(m.inputs.constructor).toBeInstanceOf(Float32Array);
  });

  it("keeps a param named __proto__ through the weights file, load, saveWeights and loadWeights", async () => {
    const b = built.find((x) => x.stem === "hostile_params")!;
    const file = readFileSync(join(b.dir, `${b.stem}.safetensors`));
    const initial = decodeSafetensors(file).tensors;
    // The params, then the training state (opt/lr, the non-finite guard's opt/skipped_steps).
    expect(Object.keys(initial).filter((k) => !k.startsWith("opt/"))).toEqual(["__proto__", "constructor", "toString"]);
    const proto = [...(initial["__proto__"].data as Float32Array)];
    expect(proto).toHaveLength(12);
    expect(proto.some((v) => v !== 0)).toBe(true);

    const m = await importBundle(b);
    expect([...m.params["__proto__"]]).toEqual(proto);
    expect([...m.params["constructor"]]).toEqual([...(initial["constructor"].data as Float32Array)]);
    m.inputs["x"].set([1, -2, 0.5, 0.25, 3, -1]);
    m.inputs["labels"].set([1, 3]);
    for (let i = 0; i < 3; i++) expect(Number.isFinite(m.trainStep())).toBe(true);
    const trained = [...m.params["__proto__"]];
    expect(trained).not.toEqual(proto);

    const saved = m.saveWeights();
    const header = new TextDecoder().decode(saved.subarray(8, 8 + Number(new DataView(saved.buffer, saved.byteOffset).getBigUint64(0, true))));
    expect(header).toContain('"__proto__":{"dtype":"F32","shape":[3,4]');
    // mlc's own reader (runtime/safetensors.ts) reads the bundle's file back.
    const read = decodeSafetensors(saved).tensors;
    expect(Object.keys(read)).toEqual(Object.keys(initial));
    expect([...(read["__proto__"].data as Float32Array)]).toEqual(trained);

    m.params["__proto__"].fill(0);
    m.loadWeights(saved);
    expect([...m.params["__proto__"]]).toEqual(trained);
    // mlc's encoder writes it too, and the bundle loads that.
    m.loadWeights(encodeSafetensors({ ["__proto__"]: { dtype: "F32", shape: [3, 4], data: Float32Array.from(proto) } }));
    expect([...m.params["__proto__"]]).toEqual(proto);
  });

  it("says 'missing input' for an inputs file without the input `constructor`", () => {
    const g = compileModelFile(join(root, "models", "hostile_inputs.ts")).graph;
    const file = join(root, "no-constructor.safetensors");
    writeFileSync(file, encodeSafetensors({
      // Computed: in an object literal, a plain `"__proto__":` key sets the prototype.
      ["__proto__"]: { dtype: "F32" as const, shape: [2, 3], data: new Float32Array(6) },
      toString: { dtype: "I32" as const, shape: [2], data: new Int32Array(2) },
    }));
    const tensors = readSafetensorsFile(file);
    expect(Object.keys(tensors)).toEqual(["__proto__", "toString"]);
    expect(() => takeTensors(file, tensors, g.inputs, "input", { requireAll: true })).toThrow(`${file}: missing input 'constructor' (f32[2,3])`);
  });
});

describe("the WebGPU bundle of hostile tensor names", () => {
  interface GpuModel {
    inputs: Record<string, Float32Array | Int32Array>;
    params: Record<string, () => Promise<Float32Array>>;
    outputs: Record<string, () => Promise<Float32Array>>;
    forward(): void;
    saveWeights(): Promise<Uint8Array>;
    loadWeights(bytes: Uint8Array): void;
  }
  const dir = join(root, "wgsl");
  let stem = "";

  it("writes a .d.ts a strict program type-checks against and a script node --check accepts", async () => {
    const model = compileModelFile(writeModel("hostile_params.ts", HOSTILE_PARAMS));
    const gpu = await wgslDevice();
    const bundle = build(model.graph, { backend: wgslBackend(targetOf(gpu.device, gpu.features, gpu.software)), training: trainingSpec(model.train) });
    stem = bundle.name;
    mkdirSync(dir, { recursive: true });
    for (const [f, contents] of Object.entries(bundle.files)) writeFileSync(join(dir, f), contents);
    expect(nodeCheck(join(dir, `${stem}.wgsl.js`))).toBe("");
    // GPUDevice and friends come from TypeScript's DOM library, which tsc includes by default.
    writeFileSync(join(dir, "use.mts"), `import { load } from "./${stem}.wgsl.js";
const m = await load({});
m.forward();
const proto: Promise<Float32Array> = m.params.__proto__();
const ctor: Promise<Float32Array> = m.outputs.constructor();
const x: Float32Array = m.inputs["x"];
// @ts-expect-error: the params are exactly the model's
m.params["no_such_param"];
console.log(await proto, await ctor, x);
`);
    expect(typecheck([join(dir, "use.mts")])).toBe("");
  }, 60_000);

  it("keeps a param named __proto__ through its weights on the device", async () => {
    const gpu = await wgslDevice();
    const initial = decodeSafetensors(readFileSync(join(dir, `${stem}.safetensors`))).tensors;
    const proto = [...(initial["__proto__"].data as Float32Array)];
    const { load } = (await import(pathToFileURL(join(dir, `${stem}.wgsl.js`)).href)) as { load(o: object): Promise<GpuModel> };
    const m = await load({ device: gpu.device });
    expect(Object.getPrototypeOf(m.params)).toBeNull();
    expect(Object.keys(m.outputs)).toEqual(["__proto__", "constructor", "toString"]);
    expect([...(await m.params["__proto__"]())]).toEqual(proto);
    const saved = decodeSafetensors(await m.saveWeights()).tensors;
    expect([...(saved["__proto__"].data as Float32Array)]).toEqual(proto);
    m.loadWeights(encodeSafetensors({ ["__proto__"]: { dtype: "F32", shape: [3, 4], data: new Float32Array(12).fill(0.5) } }));
    expect([...(await m.params["__proto__"]())]).toEqual(new Array(12).fill(0.5));
  }, 60_000);
});

describe("mlc train on hostile tensor names", () => {
  const MODEL = `import { input, param, matmul, add, softmaxCrossEntropy } from "mlc";
export const config = { batch: 2 };
export default function hostile_train() {
  const a = input("hasOwnProperty", [config.batch, 3]);
  const c = input("constructor", [config.batch, 3]);
  const labels = input("toString", [config.batch], "i32");
  const w = param("__proto__", [3, 4], { init: "glorot_uniform" });
  const logits = matmul(add(a, c), w);
  return { logits, loss: softmaxCrossEntropy(logits, labels) };
}
export const train = { loss: "loss", optimizer: { kind: "adam", lr: 0.01 } };
`;
  const data = (without?: string): string => {
    const tensors: Record<string, SafeTensor> = Object.create(null);
    tensors["hasOwnProperty"] = { dtype: "F32", shape: [8, 3], data: Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)) };
    tensors["constructor"] = { dtype: "F32", shape: [8, 3], data: Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)) };
    tensors["toString"] = { dtype: "I32", shape: [8], data: Int32Array.from({ length: 8 }, (_, i) => i % 4) };
    if (without) delete tensors[without];
    const file = join(root, `train-data-${without ?? "all"}.safetensors`);
    writeFileSync(file, encodeSafetensors(tensors));
    return file;
  };
  const train = (file: string, out: string) =>
    spawnSync(process.execPath, ["bin/mlc.js", "train", join(root, "models", "hostile_train.ts"), "--data", file, "--epochs", "1", "--out", out], { encoding: "utf8" });

  it("trains, and its checkpoint keeps the param __proto__", () => {
    writeModel("hostile_train.ts", MODEL);
    const out = join(root, "train-run");
    const r = train(data(), out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const weights = decodeSafetensors(readFileSync(join(out, "weights.safetensors"))).tensors;
    expect(Object.keys(weights)).toEqual(["__proto__"]);
    expect((weights["__proto__"].data as Float32Array).some((v) => v !== 0)).toBe(true);
    expect(Object.keys(decodeSafetensors(readFileSync(join(out, "checkpoint.safetensors"))).tensors)).toContain("__proto__");
  }, 120_000);

  it("says which input a data file lacks when it is `constructor`", () => {
    const file = data("constructor");
    const r = train(file, join(root, "train-missing"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: ${file}: missing tensor 'constructor' (the file has hasOwnProperty, toString)\n`);
  }, 120_000);
});
