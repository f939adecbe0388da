// Every example through the real command line: `mlc ir` prints IR the parser reads back (and that
// re-prints identically), `mlc run` produces finite outputs, `mlc init-weights` + `mlc run
// --weights --inputs --out` round-trip through safetensors; malformed models give one diagnostic
// and exit code 1.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { toSafeTensor, writeSafetensorsFile } from "../../compiler/bundle/tensor-io.ts";
import { EXAMPLES } from "../support/example-graphs.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("examples", () => {
  it("are the models the README lists", () => {
    expect(EXAMPLES).toEqual(["cnn", "lenet-300-100", "lstm", "mnist-mlp", "recsys", "resnet", "transformer"]);
  });

  it.each(EXAMPLES)("%s: mlc ir prints IR that parses back and re-prints identically", (name) => {
    const { code, stdout, stderr } = mlc("ir", `examples/${name}/model.ts`);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const parsed = parseGraph(stdout);
    expect(printGraph(parsed)).toBe(stdout);
    // The same holds for the training graph, which has every backward and optimizer node.
    const train = mlc("ir", `examples/${name}/model.ts`, "--train");
    expect(train.code).toBe(0);
    expect(printGraph(parseGraph(train.stdout))).toBe(train.stdout);
  });

  it.each(EXAMPLES)("%s: mlc run gives finite outputs, and weights/inputs/outputs round-trip as safetensors", (name) => {
    const model = `examples/${name}/model.ts`;
    const weights = join(tmp, `${name}.w.safetensors`);
    const inputs = join(tmp, `${name}.in.safetensors`);
    const out = join(tmp, `${name}.out.safetensors`);
    expect(mlc("init-weights", model, "--out", weights, "--seed", "4").code).toBe(0);
    const { graph } = compileModelFile(model);
    const values = randomInputs(graph, 9);
    writeSafetensorsFile(inputs, Object.fromEntries(graph.inputs.map((i) => [i.name, toSafeTensor(i.type, values[i.name])])));
    const run = mlc("run", model, "--inputs", inputs, "--weights", weights, "--out", out);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain("NOT FINITE");
    const written = decodeSafetensors(execFileSync("cat", [out])).tensors;
    for (const o of graph.outputs) {
      expect(written[o.name], o.name).toBeDefined();
      expect(Array.from(written[o.name].data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    // Random inputs straight from the CLI agree with the file we wrote from the same seed.
    const direct = mlc("run", model, "--random-inputs", "--seed", "9", "--weights", weights);
    expect(direct.stdout.split("\n").filter((l) => !l.startsWith("wrote"))).toEqual(run.stdout.split("\n").filter((l) => !l.startsWith("wrote")));
  });

  it("mlc run --train writes the loss, every grad/<param> and every updated param", () => {
    const out = join(tmp, "train.out.safetensors");
    const r = mlc("run", "examples/recsys/model.ts", "--train", "--random-inputs", "--out", out);
    expect(r.code).toBe(0);
    const names = Object.keys(decodeSafetensors(execFileSync("cat", [out])).tensors);
    const { graph } = compileModelFile("examples/recsys/model.ts");
    expect(names).toContain("loss");
    for (const p of graph.params) {
      expect(names).toContain(`grad/${p.name}`);
      expect(names).toContain(`param/${p.name}`);
    }
  });
});

describe("bad input through the CLI", () => {
  const model = (name: string, text: string) => {
    const file = join(tmp, name);
    writeFileSync(file, text);
    return file;
  };
  const header = `import { input, param, matmul, relu } from "mlc";\n`;

  it.each([
    ["a syntax error", `${header}export default function m() {\n  const x = input("x", [2, 3];\n  return { x };\n}\n`, /error\[MLC001\]/, ":3:"],
    ["an unsupported statement", `${header}class Foo {}\nexport default function m() {\n  return { x: input("x", [2, 3]) };\n}\n`, /error\[MLC\d+\]: class declarations are not supported/, ":2:1"],
    ["a shape mismatch", `${header}export default function m() {\n  const x = input("x", [2, 3]);\n  const w = param("w", [4, 5]);\n  return { y: matmul(x, w) };\n}\n`, /matmul.*: inner dimensions differ: a is f32\[2,3\], b is f32\[4,5\]/, ":5:"],
  ])("%s gives one diagnostic with file:line:col and a caret, exit code 1", (_what, text, message, at) => {
    const file = model(`bad-${Math.random().toString(36).slice(2)}.ts`, text);
    const r = mlc("ir", file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(at);
    expect(r.stderr).toMatch(/\n\s*\|\s*\^/); // the caret line
    expect(r.stderr.match(/error\[/g)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at .*\(/); // no stack trace
  });

  it("a wrong-shaped weight names the tensor and the expected shape", () => {
    const weights = join(tmp, "bad-weights.safetensors");
    writeSafetensorsFile(weights, { "fc256.w": { dtype: "F32", shape: [10, 10], data: new Float32Array(100) } });
    const r = mlc("run", "examples/mnist-mlp/model.ts", "--random-inputs", "--weights", weights);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("param 'fc256.w' must be f32[784,256]");
  });

  it("a missing input file or input tensor is a one-line error", () => {
    expect(mlc("run", "examples/mnist-mlp/model.ts", "--inputs", join(tmp, "nope.safetensors")).stderr).toMatch(/^error: cannot read .*nope\.safetensors: ENOENT\n$/);
    const partial = join(tmp, "partial.safetensors");
    writeSafetensorsFile(partial, { x: { dtype: "F32", shape: [64, 784], data: new Float32Array(64 * 784) } });
    const r = mlc("run", "examples/mnist-mlp/model.ts", "--inputs", partial);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("missing input 'y' (i32[64])");
  });
});
