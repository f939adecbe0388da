// What a WASM bundle checks before it lets a value in (runtime/bundle-io.js): integer inputs read
// as indices are range-checked before forward()/trainStep() (a kernel would trap half way,
// `RuntimeError: unreachable`) with an error naming the input, the position, the value and the
// range, and the failed call leaves every byte of the model's memory as it was; loadWeights()
// refuses NaN/±Inf (unless allowNonFinite), empty files, and reports what a file leaves unset;
// load({ weights }) completes a partial file from the bundle's own initial weights.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-bundle-checks-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Report {
  loaded: string[];
  missing: string[];
  skipped: string[];
}
interface Bundle {
  memory: { buffer: ArrayBuffer };
  inputs: Record<string, Int32Array | Float32Array>;
  params: Record<string, Float32Array>;
  forward(): void;
  trainStep(): number;
  loadWeights(bytes: Uint8Array, opts?: { allowNonFinite?: boolean }): Report;
}
type Load = (opts?: { weights?: Uint8Array; allowNonFinite?: boolean }) => Promise<Bundle>;

/** Builds an example with --train into its own folder and imports the bundle from there. */
async function bundleOf(example: string): Promise<{ load: Load; weights: Uint8Array; declarations: string }> {
  const model = compileModelFile(`examples/${example}/model.ts`);
  const built = build(model.graph, { backend: wasmBackend, training: trainingSpec(model.train) });
  const dir = join(root, example);
  mkdirSync(dir, { recursive: true });
  for (const [file, contents] of Object.entries(built.files)) writeFileSync(join(dir, file), contents);
  const { load } = (await import(pathToFileURL(join(dir, `${built.name}.js`)).href)) as { load: Load };
  return { load, weights: readFileSync(join(dir, `${built.name}.safetensors`)), declarations: String(built.files[`${built.name}.d.ts`]) };
}

/** Every byte of the module's memory: params, optimizer state, inputs, outputs. */
const snapshot = (m: Bundle) => Buffer.from(new Uint8Array(m.memory.buffer).slice());
const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
};

describe("index inputs of the MNIST MLP bundle (labels for 10 classes)", () => {
  let m: Bundle;
  let declarations: string;
  beforeAll(async () => {
    const b = await bundleOf("mnist-mlp");
    m = await b.load();
    declarations = b.declarations;
    (m.inputs.x as Float32Array).fill(0.5);
  }, 60_000);

  for (const bad of [10, -1, 2 ** 31 - 1]) {
    it(`trainStep() and forward() refuse label ${bad}, leaving the state bitwise unchanged; the next call works`, () => {
      m.inputs.y.fill(3);
      m.trainStep(); // the optimizer has moved: its step counter and moments are non-trivial
      m.inputs.y[37] = bad;
      const before = snapshot(m);
      for (const [call, run] of [["trainStep", () => m.trainStep()], ["forward", () => m.forward()]] as const) {
        const e = errorOf(run);
        expect(e).toBeInstanceOf(RangeError);
        expect(e.message).toBe(
          `mnistMlp.${call}(): input 'y' holds ${bad} at element 37 (index [37] of i32[64]), outside its valid range [0, 10) ` +
            `(class labels of softmaxCrossEntropy over 10 classes); nothing ran and the model's state is unchanged`,
        );
        expect(snapshot(m).equals(before), call).toBe(true);
      }
      m.inputs.y[37] = 9;
      const step = m.params["opt/step"][0];
      expect(Number.isFinite(m.trainStep())).toBe(true);
      expect(m.params["opt/step"][0]).toBe(step + 1);
    });
  }

  it("says the range in the .d.ts", () => {
    expect(declarations).toContain("/** input: i32[64], each in [0, 10) (class labels of softmaxCrossEntropy over 10 classes) */");
  });
});

describe("index inputs of gathers (recsys embeddings, transformer tokens [B, T])", () => {
  it("names the embedding input and its table's rows", async () => {
    const m = await (await bundleOf("recsys")).load();
    m.inputs.user.fill(999);
    m.inputs.item.fill(499);
    m.inputs.item[5] = 500;
    const before = snapshot(m);
    expect(errorOf(() => m.trainStep()).message).toMatch(/^recsys\.trainStep\(\): input 'item' holds 500 at element 5 \(index \[5\] of i32\[128\]\), outside its valid range \[0, 500\) \(indices of gather along axis 0 of f32\[500,16\]\)/);
    expect(snapshot(m).equals(before)).toBe(true);
    m.inputs.item[5] = 0;
    expect(Number.isFinite(m.trainStep())).toBe(true);
  }, 60_000);

  it("gives the multi-dimensional index of a bad token", async () => {
    const m = await (await bundleOf("transformer")).load();
    const [B, T] = [m.inputs.tokens.length / 16, 16];
    expect(B * T).toBe(m.inputs.tokens.length);
    m.inputs.tokens.fill(1);
    m.inputs.targets.fill(2);
    m.inputs.tokens[T + 3] = -7;
    expect(errorOf(() => m.forward()).message).toMatch(new RegExp(`input 'tokens' holds -7 at element ${T + 3} \\(index \\[1, 3\\] of i32\\[${B},${T}\\]\\), outside its valid range \\[0, `));
    m.inputs.tokens[T + 3] = 1;
    m.inputs.targets[2 * T - 1] = 1 << 20;
    expect(errorOf(() => m.trainStep()).message).toMatch(new RegExp(`input 'targets' holds 1048576 at element ${2 * T - 1} \\(index \\[1, ${T - 1}\\] of i32\\[${B},${T}\\]\\), outside its valid range \\[0, \\d+\\) \\(class labels of softmaxCrossEntropy`));
  }, 120_000);
});

describe("loading weights into the MNIST MLP bundle", () => {
  let load: Load;
  let weights: Uint8Array;
  let m: Bundle;
  beforeAll(async () => {
    ({ load, weights } = await bundleOf("mnist-mlp"));
    m = await load();
  }, 60_000);

  /** The bundle's weights file with `value` at element `k` of fc128.w ([256, 128]). */
  const poisoned = (value: number, k: number) => {
    const tensors = decodeSafetensors(weights).tensors as Record<string, SafeTensor>;
    const data = Float32Array.from(tensors["fc128.w"].data as Float32Array);
    data[k] = value;
    return encodeSafetensors({ ...tensors, "fc128.w": { ...tensors["fc128.w"], data } });
  };

  for (const [value, word] of [[NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"]] as const) {
    it(`refuses ${word}, naming the tensor and element, unless allowNonFinite`, () => {
      const before = snapshot(m);
      const bad = poisoned(value, 129);
      expect(() => m.loadWeights(bad)).toThrow(
        `weights: 'fc128.w' holds ${word} at element 129 (index [1, 1] of f32[256,128]); non-finite weights are rejected unless loaded with { allowNonFinite: true }`,
      );
      expect(snapshot(m).equals(before)).toBe(true);
      m.loadWeights(bad, { allowNonFinite: true });
      expect(m.params["fc128.w"][129]).toBe(value);
      m.loadWeights(weights);
    });
  }

  it("load() refuses non-finite weights unless allowNonFinite", async () => {
    await expect(load({ weights: poisoned(NaN, 0) })).rejects.toThrow("weights: 'fc128.w' holds NaN at element 0 (index [0, 0] of f32[256,128])");
    const lenient = await load({ weights: poisoned(NaN, 0), allowNonFinite: true });
    expect(lenient.params["fc128.w"][0]).toBeNaN();
  });

  it("refuses a file with no tensors", async () => {
    const empty = encodeSafetensors({});
    expect(() => m.loadWeights(empty)).toThrow("weights: the file has no tensors: it would leave every param of mnistMlp unset");
    await expect(load({ weights: empty })).rejects.toThrow("weights: the file has no tensors");
  });

  it("reports the params a partial file leaves as they were", () => {
    const tensors = decodeSafetensors(weights).tensors as Record<string, SafeTensor>;
    const report = m.loadWeights(encodeSafetensors({ "out.b": tensors["out.b"], "out.w": tensors["out.w"] }));
    expect(report.loaded).toEqual(["out.b", "out.w"]);
    expect(report.missing).toContain("fc256.w");
    expect(report.missing).toContain("opt/step");
    expect(report.missing).not.toContain("out.w");
    expect(report.skipped).toEqual([]);
  });

  it("load() gives params a partial file lacks their initial values, with a warning naming them", async () => {
    const tensors = decodeSafetensors(weights).tensors as Record<string, SafeTensor>;
    const outW = Float32Array.from(tensors["out.w"].data as Float32Array, (v) => v * 2);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const partial = await load({ weights: encodeSafetensors({ "out.w": { ...tensors["out.w"], data: outW } }) });
      expect(warn).toHaveBeenCalledWith("mnistMlp: weights: 5 params are not in the given file and keep their initial values: fc256.w, fc256.b, fc128.w, fc128.b, out.b");
      expect(Array.from(partial.params["out.w"])).toEqual(Array.from(outW));
      expect(Array.from(partial.params["fc256.w"])).toEqual(Array.from(tensors["fc256.w"].data as Float32Array));
      expect(partial.params["opt/lr"][0]).toBe((tensors["opt/lr"].data as Float32Array)[0]);
    } finally {
      warn.mockRestore();
    }
  });
});
