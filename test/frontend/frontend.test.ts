// The frontend end to end: the DESIGN.md example, config and --set, outputs and graph names,
// source locations, how "mlc" names resolve (aliases, namespaces, shadowing), and the DSL module
// itself (declarations, runtime entry, op table agree).

import * as fs from "node:fs";
import * as path from "node:path";
import { Project } from "ts-morph";
import { afterAll, describe, expect, it } from "vitest";
import { BUILTINS, TENSOR_METHODS } from "../../compiler/frontend/builtins.ts";
import { compileModelFile, DSL_PATH } from "../../compiler/frontend/index.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import { compileSource, irText, nodeLines, removeTempDirs, writeFiles, writeModel } from "../support/frontend-harness.ts";

afterAll(removeTempDirs);

const EXAMPLE = "test/fixtures/frontend/mnist-mlp.ts";

describe("the DESIGN.md example (verbatim)", () => {
  const model = compileModelFile(EXAMPLE);

  it("declares the inputs and params with their shapes and initializers", () => {
    const g = model.graph;
    expect(g.name).toBe("mnistMlp");
    expect(g.inputs.map((i) => [i.name, i.type.dtype, i.type.shape])).toEqual([
      ["x", "f32", [64, 784]],
      ["y", "i32", [64]],
    ]);
    expect(g.params.map((p) => [p.name, p.type.shape, p.init, p.trainable])).toEqual([
      ["fc256.w", [784, 256], "he_normal", true],
      ["fc256.b", [256], "zeros", true],
      ["fc128.w", [256, 128], "he_normal", true],
      ["fc128.b", [128], "zeros", true],
      ["out.w", [128, 10], "he_normal", true],
      ["out.b", [10], "zeros", true],
    ]);
  });

  it("builds the nodes and outputs in program order", () => {
    expect(nodeLines(model)).toEqual([
      "%0:f32[64,256] = matmul %x, %fc256.w {transposeA=false, transposeB=false}",
      "%1:f32[64,256] = add %0, %fc256.b",
      "%2:f32[64,256] = relu %1",
      "%3:f32[64,128] = matmul %2, %fc128.w {transposeA=false, transposeB=false}",
      "%4:f32[64,128] = add %3, %fc128.b",
      "%5:f32[64,128] = relu %4",
      "%6:f32[64,10] = matmul %5, %out.w {transposeA=false, transposeB=false}",
      "%7:f32[64,10] = add %6, %out.b",
      "%8:f32[] = softmaxCrossEntropy %7, %y",
    ]);
    expect(model.graph.outputs).toEqual([
      { name: "logits", value: "7" },
      { name: "loss", value: "8" },
    ]);
    expect(model.graph.updates).toEqual([]);
  });

  it("returns config and train as plain data", () => {
    expect(model.config).toEqual({ batch: 64 });
    expect(model.train).toEqual({ loss: "loss", optimizer: { kind: "adam", lr: 1e-3 } });
    expect(Object.getPrototypeOf(model.train)).toBe(Object.prototype);
    expect(model.file).toBe(path.resolve(EXAMPLE));
  });

  it("locates decls and nodes (relative to the working directory) at their calls", () => {
    const g = model.graph;
    const at = (loc: { file: string; line: number; col: number } | undefined) => loc && `${loc.file}:${loc.line}:${loc.col}`;
    expect(at(g.inputs[0].loc)).toBe(`${EXAMPLE}:12:13`);
    expect(at(g.params[0].loc)).toBe(`${EXAMPLE}:6:13`);
    expect(at(g.nodes[0].loc)).toBe(`${EXAMPLE}:8:14`); // matmul(x, w)
    expect(at(g.nodes[1].loc)).toBe(`${EXAMPLE}:8:10`); // add(...)
    expect(at(g.nodes[2].loc)).toBe(`${EXAMPLE}:15:39`); // relu(...)
    expect(printGraph(g)).toContain(`%8:f32[] = softmaxCrossEntropy %7, %y                   # ${EXAMPLE}:17:26`);
  });

  it("is a valid graph that prints, parses back and runs", () => {
    verifyGraph(model.graph);
    const text = printGraph(model.graph);
    expect(printGraph(parseGraph(text))).toBe(text);
    const small = compileModelFile(EXAMPLE, { set: { batch: "2" } });
    const x = Array.from({ length: 2 * 784 }, (_, i) => (i % 7) / 7);
    const { outputs } = interpret(small.graph, { x, y: [3, 9] });
    expect(outputs.logits.type.shape).toEqual([2, 10]);
    expect(Number.isFinite(outputs.loss.data[0])).toBe(true);
  });

  it("compiles fast enough to run on every build", () => {
    const start = performance.now();
    compileModelFile(EXAMPLE);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe("config and --set", () => {
  const source = `import { input } from "mlc";
export const config = { batch: 64, width: 8, act: "relu", bias: true, dims: [1, 2], opt: { lr: 0.1 }, note: null as string | null };
export default function model() {
  return input(\`x_\${config.act}_\${config.bias}_\${config.dims.join("x")}_\${config.opt.lr}_\${config.note}\`, [config.batch, config.width]);
}`;

  it("overrides top-level keys, parsing JSON values and keeping other strings as strings", () => {
    const m = compileSource(source, { set: { batch: "128", act: "gelu", bias: "false", dims: "[3,4]", opt: '{"lr":0.5}', note: "hi" } });
    expect(m.graph.inputs[0].name).toBe("x_gelu_false_3x4_0.5_hi");
    expect(m.graph.inputs[0].type.shape).toEqual([128, 8]);
    expect(m.config).toEqual({ batch: 128, width: 8, act: "gelu", bias: false, dims: [3, 4], opt: { lr: 0.5 }, note: "hi" });
  });

  it("applies overrides before any other top-level code reads the config", () => {
    const m = compileSource(
      `import { input } from "mlc";
export const config = { units: 4 };
const doubled = config.units * 2;
export default function model() { return input("x", [doubled]); }`,
      { set: { units: "5" } },
    );
    expect(m.graph.inputs[0].type.shape).toEqual([10]);
  });

  it("has an empty config and no train when the model exports none", () => {
    const m = compileSource(`import { input } from "mlc";\nexport default function model() { return input("x", [1]); }`);
    expect(m.config).toEqual({});
    expect(m.train).toBeUndefined();
  });

  it("evaluates train with config values and helper functions", () => {
    const m = compileSource(`import { input } from "mlc";
export const config = { lr: 0.01 };
const schedule = (steps: number) => [0, steps / 2, steps].map((s) => ({ step: s, lr: config.lr / (1 + s) }));
export default function model() { return input("x", [1]); }
export const train = { loss: "out", optimizer: { kind: "sgd", lr: config.lr }, schedule: schedule(10) };`);
    expect(m.train).toEqual({
      loss: "out",
      optimizer: { kind: "sgd", lr: 0.01 },
      schedule: [
        { step: 0, lr: 0.01 },
        { step: 5, lr: 0.01 / 6 },
        { step: 10, lr: 0.01 / 11 },
      ],
    });
  });
});

describe("outputs and the graph name", () => {
  it("names a single returned tensor 'out'", () => {
    const m = compileSource(`import { input } from "mlc";\nexport default function net() { return input("x", [2]).relu(); }`);
    expect(m.graph.outputs).toEqual([{ name: "out", value: "0" }]);
    expect(m.graph.name).toBe("net");
  });

  it("keeps the returned object's order and allows one value under two names", () => {
    const m = compileSource(`import { input } from "mlc";
export default function net() { const x = input("x", [2]); const y = x.exp(); return { z: y, a: x, y }; }`);
    expect(m.graph.outputs).toEqual([
      { name: "z", value: "0" },
      { name: "a", value: "x" },
      { name: "y", value: "0" },
    ]);
  });

  it("names anonymous models after the file, and arrow models after their const", () => {
    const anon = compileModelFile(writeModel(`import { input } from "mlc";\nexport default function () { return input("x", [1]); }`, "tiny-net.ts"));
    expect(anon.graph.name).toBe("tiny-net");
    const arrow = compileSource(`import { input } from "mlc";\nconst classifier = () => input("x", [1]);\nexport default classifier;`);
    expect(arrow.graph.name).toBe("classifier");
  });

  it("finds the model through export lists and re-exports", () => {
    const listed = compileSource(`import { input } from "mlc";
function net() { return input("x", [1]); }
export { net as default };`);
    expect(listed.graph.name).toBe("net");
    const dir = writeFiles({
      "net.ts": `import { input } from "mlc";
export default function inner() { return input("x", [4]).abs(); }`,
      "model.ts": `export { default } from "./net.ts";`,
    });
    const reexported = compileModelFile(path.join(dir, "model.ts"));
    expect(reexported.graph.name).toBe("inner");
    expect(nodeLines(reexported)).toEqual(["%0:f32[4] = abs %x"]);
  });

  it("calls the model with no arguments, so its parameter defaults apply", () => {
    const m = compileSource(`import { input } from "mlc";
export default function model(width = 3, { depth } = { depth: 2 }) { return input("x", [width, depth]); }`);
    expect(m.graph.inputs[0].type.shape).toEqual([3, 2]);
  });
});

describe("resolving mlc names through the type checker", () => {
  it("maps aliased imports to the op", () => {
    const m = compileSource(`import { input, relu as r, matmul as mm } from "mlc";
export default function model() { const x = input("x", [2, 2]); return r(mm(x, x)); }`);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["matmul", "relu"]);
  });

  it("maps namespace imports to the op", () => {
    const m = compileSource(`import * as m from "mlc";
export default function model() { const x = m.input("x", [2]); const f = m.tanh; return m.add(f(x), m.sigmoid(x)); }`);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["tanh", "sigmoid", "add"]);
  });

  it("inlines a model's own function named like an op instead of emitting the op", () => {
    const m = compileSource(`import { input, mul, type Tensor } from "mlc";
function relu(x: Tensor): Tensor { return mul(x, x); }
export default function model() {
  const add = (a: number, b: number) => a * b;
  return relu(input("x", [add(2, 3)]));
}`);
    expect(nodeLines(m)).toEqual(["%0:f32[6] = mul %x, %x"]);
  });

  it("treats a user object's method named like a Tensor method as the user's", () => {
    const m = compileSource(`import { input, type Tensor } from "mlc";
const layer = { matmul: (x: Tensor) => x.exp() };
export default function model() { return layer.matmul(input("x", [2])); }`);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["exp"]);
  });

  it("resolves 'mlc' to our DSL even when the model's folder has its own node_modules/mlc", () => {
    const dir = writeFiles({
      "node_modules/mlc/package.json": JSON.stringify({ name: "mlc", types: "index.d.ts" }),
      "node_modules/mlc/index.d.ts": "export declare function relu(x: number): string;\nexport declare function input(n: string): number;",
      "model.ts": `import { input, relu } from "mlc";\nexport default function model() { return relu(input("x", [2])); }`,
    });
    const m = compileModelFile(path.join(dir, "model.ts"));
    expect(irText(m)).toContain("relu %x");
  });
});

describe("the DSL module", () => {
  const project = new Project({ skipAddingFilesFromTsConfig: true });
  const dsl = project.addSourceFileAtPath(DSL_PATH);
  const declared = dsl.getFunctions().map((f) => f.getName()!);

  it("declares exactly the functions the op table implements", () => {
    expect([...declared].sort()).toEqual([...BUILTINS.keys()].sort());
  });

  it("declares a Tensor method for every op whose first operand is a tensor", () => {
    const methods = dsl.getInterfaceOrThrow("Tensor").getMethods().map((m) => m.getName());
    expect([...methods].sort()).toEqual([...TENSOR_METHODS].sort());
    const firstParamIsTensor = dsl.getFunctions().filter((f) => f.getParameters()[0]?.getType().getText().includes("Tensor"));
    for (const f of firstParamIsTensor) {
      const name = f.getName()!;
      if (name !== "concat") expect(TENSOR_METHODS.has(name), name).toBe(true);
    }
  });

  it("type-checks cleanly on its own", () => {
    const diagnostics = project.getPreEmitDiagnostics().filter((d) => d.getSourceFile()?.getFilePath() === dsl.getFilePath());
    expect(diagnostics.map((d) => d.getMessageText())).toEqual([]);
  });

  it("has a runtime entry that exports the same functions, each refusing to run", async () => {
    // Imported by URL: the runtime entry is plain JavaScript with no declarations of its own.
    const url = new URL("../../compiler/frontend/dsl-runtime.js", import.meta.url).href;
    const runtime = (await import(url)) as Record<string, (...args: unknown[]) => unknown>;
    expect(Object.keys(runtime).sort()).toEqual([...declared].sort());
    expect(() => runtime.relu(1)).toThrow("mlc models are compiled, not executed: run `mlc ir model.ts`");
    const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
    expect(pkg.exports["."]).toEqual({ types: "./compiler/frontend/dsl.ts", default: "./compiler/frontend/dsl-runtime.js" });
  });
});
