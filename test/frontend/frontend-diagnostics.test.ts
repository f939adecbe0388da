// Every diagnostic code of the frontend: the problem, its exact file:line:col, and the rendered
// code frame with its caret line. Sources are written line by line so positions are easy to read.

import * as path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { BUILTINS } from "../../compiler/frontend/builtins.ts";
import { CODES, compileModelFile, CompileError, formatDiagnostic } from "../../compiler/frontend/index.ts";
import { compileError, expectDiagnostic, freshDir, removeTempDirs, writeFiles } from "../support/frontend-harness.ts";

afterAll(removeTempDirs);

const src = (...lines: string[]) => lines.join("\n") + "\n";
const HEADER = `import { input, param, matmul, relu, batchNorm, type Tensor } from "mlc";`;

describe("reading the file", () => {
  it("MLC001: syntax errors, from TypeScript's parser", () => {
    const err = compileError(src(HEADER, "const x = ;", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC001", line: 2, col: 11, message: "Expression expected", caret: "   |           ^" });
  });

  it("MLC002: type errors, from TypeScript's checker, after the model evaluates", () => {
    const err = compileError(src(HEADER, "const n: number = 'four' as string;", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC002", line: 2, col: 7, message: "Type 'string' is not assignable to type 'number'. (TS2322)", caret: "   |       ^" });
  });

  it("MLC002 reports every type error of the file", () => {
    const err = compileError(src(HEADER, "const a: number = 'x' as string;", "const b: string = 1 as number;", "export default function m() { return input('x', [1]); }"));
    expect(err.diagnostics.map((d) => [d.code, d.line, d.col])).toEqual([
      ["MLC002", 2, 7],
      ["MLC002", 3, 7],
    ]);
  });

  it("reports problems in imported helper files at their own location", () => {
    const dir = writeFiles({
      "layers.ts": src("import { relu, type Tensor } from 'mlc';", "export function act(x: Tensor): Tensor {", "  return relu(x, 2 as any);", "}"),
      "model.ts": src("import { input } from 'mlc';", "import { act } from './layers.ts';", "export default function m() { return act(input('x', [1])); }"),
    });
    try {
      compileModelFile(path.join(dir, "model.ts"));
      throw new Error("expected a CompileError");
    } catch (e) {
      const err = e as CompileError;
      expect(err.diagnostics[0]).toMatchObject({ code: "MLC106", file: path.join(dir, "layers.ts"), line: 3, col: 18 });
      expect(err.message).toContain(" 3 |   return relu(x, 2 as any);\n   |                  ^^^^^^^^");
    }
  });

  it("MLC003: a model file that cannot be read", () => {
    const missing = path.join(freshDir(), "nope.ts");
    try {
      compileModelFile(missing);
      throw new Error("expected a CompileError");
    } catch (e) {
      expect(e).toBeInstanceOf(CompileError);
      const d = (e as CompileError).diagnostics[0];
      expect(d).toMatchObject({ code: "MLC003", file: missing, line: 1, col: 1 });
      expect((e as CompileError).message).toBe(`error[MLC003]: cannot read model file ${missing}\n  --> ${missing}:1:1`);
    }
  });
});

describe("unsupported TypeScript", () => {
  it("MLC101: statements, naming the construct", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  class Layer {}", "  return input('x', [1]);", "}"));
    expectDiagnostic(err, { code: "MLC101", line: 3, col: 3, message: "class declarations are not supported in models", caret: "   |   ^^^^^^^^^^^^^^" });
  });

  it("MLC101: var, try and enum are named too", () => {
    const varErr = compileError(src(HEADER, "var k = 1;", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(varErr, { code: "MLC101", line: 2, col: 1, message: "var declarations are not supported in models; use let or const" });
    const tryErr = compileError(src(HEADER, "try { } finally { }", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(tryErr, { code: "MLC101", line: 2, col: 1, message: "try statements are not supported" });
    const enumErr = compileError(src(HEADER, "enum Act { Relu }", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(enumErr, { code: "MLC101", line: 2, col: 1, message: "enum declarations are not supported" });
  });

  it("MLC102: expressions, naming the construct", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const pattern = /ab+/;", "  return input('x', [1]);", "}"));
    expectDiagnostic(err, { code: "MLC102", line: 3, col: 19, message: "regular expressions are not supported in models", caret: "   |                   ^^^^^" });
  });

  it("MLC102: new of anything but Error", () => {
    const err = compileError(src(HEADER, "function Layer() {}", "const l = new (Layer as any)();", "export default function f() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC102", line: 3, col: 11, message: "new expressions are not supported" });
  });
});

describe("names and calls", () => {
  it("MLC103: an unknown identifier", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  return input('x', [widht]);", "}"));
    expectDiagnostic(err, { code: "MLC103", line: 3, col: 22, message: "unknown identifier 'widht'", caret: "   |                      ^^^^^" });
  });

  it("MLC103: host globals that have no compile-time value", () => {
    const err = compileError(src(HEADER, "const t = Date.now();", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC103", line: 2, col: 11, message: "'Date' is not available at compile time in models" });
  });

  it("MLC104: a tensor as an if condition", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [1]);", "  if (x) return x;", "  return relu(x);", "}"));
    expectDiagnostic(err, { code: "MLC104", line: 4, col: 7, message: "the condition of 'if' must be known at compile time, but it is a tensor f32[1]", caret: "   |       ^" });
  });

  it("MLC104: a tensor as a loop bound", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [1]);", "  for (let i = 0; i < (x as any); i++) {}", "  return x;", "}"));
    expectDiagnostic(err, { code: "MLC104", line: 4, col: 19, message: "the operator '<' computes at compile time" });
    const forOf = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [3]);", "  for (const v of x as any) relu(v);", "  return x;", "}"));
    expectDiagnostic(forOf, { code: "MLC104", line: 4, col: 3, message: "for-of needs a compile-time array, got a tensor f32[3]" });
  });

  it("MLC104: a tensor where a shape entry or an axis is needed", () => {
    const shapeErr = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [2]);", "  return input('y', [x as any]);", "}"));
    expectDiagnostic(shapeErr, { code: "MLC104", line: 4, col: 21, message: "input: shape entry 0 must be known at compile time, but it is a tensor f32[2]" });
    const axisErr = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [2]);", "  return x.softmax(x as any);", "}"));
    expectDiagnostic(axisErr, { code: "MLC104", line: 4, col: 20, message: "softmax: axis must be known at compile time (an integer), but it is a tensor f32[2]" });
  });

  it("MLC104: JavaScript operators on tensors suggest the op", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const x: any = input('x', [2]);", "  return x * 2;", "}"));
    expectDiagnostic(err, { code: "MLC104", line: 4, col: 10, message: "use mul(a, b) or a.mul(b)", caret: "   |          ^^^^^" });
  });

  it("MLC105: calling something that is not an mlc op or a model function", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const n: any = 3;", "  return n(2);", "}"));
    expectDiagnostic(err, { code: "MLC105", line: 4, col: 10, message: "'n' is the number 3, not a function", caret: "   |          ^" });
  });

  it("MLC105: library functions that are not deterministic at compile time", () => {
    const err = compileError(src(HEADER, "const r = Math.random();", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC105", line: 2, col: 16, message: "'Math.random' is not available at compile time", caret: "   |                ^^^^^^" });
  });

  it("MLC106: a wrong kind of argument, an unknown option, a wrong arity", () => {
    const kind = compileError(src(HEADER, "export default function m() {", "  return input('x', [2, 'three' as any]);", "}"));
    expectDiagnostic(kind, { code: "MLC106", line: 3, col: 21, message: "input: shape must be an array of non-negative integers, but entry 1 is the string \"three\"" });
    const option = compileError(src(HEADER, "export default function m() {", "  param('w', [2], { inti: 'zeros' } as any);", "  return input('x', [1]);", "}"));
    expectDiagnostic(option, { code: "MLC106", line: 3, col: 21, message: "param: unknown option 'inti' (known: init, dtype, trainable)", caret: "   |                     ^^^^^^^^^^^^^" });
    const arity = compileError(src(HEADER, "export default function m() {", "  const f: any = relu;", "  return f(input('x', [1]), 2);", "}"));
    expectDiagnostic(arity, { code: "MLC106", line: 4, col: 29, message: "relu: takes 1 argument, got 2" });
    const numbers = compileError(src("import { add } from 'mlc';", "export default function m() {", "  return add(1, 2);", "}"));
    expectDiagnostic(numbers, { code: "MLC106", line: 3, col: 14, message: "add: needs at least one tensor operand" });
  });

  it("MLC107: a loop without a compile-time bound", () => {
    const err = compileError(src(HEADER, "let i = 0;", "while (i >= 0) i++;", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC107", line: 3, col: 1, message: "loop runs more than 100000 iterations", caret: "   | ^^^^^^^^^^^^^^^^^^^" });
  });

  it("MLC107: the limit is an option", () => {
    const err = compileError(src(HEADER, "for (let i = 0; i < 11; i++) {}", "export default function m() { return input('x', [1]); }"), {
      limits: { maxLoopIterations: 10, maxCallDepth: 200 },
    });
    expectDiagnostic(err, { code: "MLC107", line: 2, col: 1, message: "more than 10 iterations" });
  });

  it("MLC108: recursion without a compile-time base case", () => {
    const err = compileError(src(HEADER, "function deep(n: number): number {", "  return deep(n + 1);", "}", "export default function m() { return input('x', [deep(0)]); }"));
    expectDiagnostic(err, { code: "MLC108", line: 3, col: 10, message: "calls nest deeper than 200 levels (calling deep)", caret: "   |          ^^^^^^^^^^^" });
  });

  it("MLC109: reading a property of undefined, assigning a constant, bad library arguments", () => {
    const read = compileError(src(HEADER, "const cfg: any = {};", "const units = cfg.layer.units;", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(read, { code: "MLC109", line: 3, col: 25, message: "cannot read 'units' of undefined", caret: "   |                         ^^^^^" });
    const assign = compileError(src(HEADER, "const k = 1;", "(k as any) = 2;", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(assign, { code: "MLC109", line: 3, col: 2, message: "cannot assign to 'k' because it is a constant" });
    const lib = compileError(src(HEADER, "const s = 'ab'.repeat(-1);", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(lib, { code: "MLC109", line: 2, col: 16, message: "repeat: Invalid count value: -1" });
  });

  it("MLC110: an error thrown by the model's own code", () => {
    const err = compileError(src(HEADER, "export const config = { heads: 3 };", "if (config.heads % 2) throw new Error(`heads must be even, got ${config.heads}`);", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(err, { code: "MLC110", line: 3, col: 23, message: "the model threw: heads must be even, got 3" });
  });
});

describe("graph construction", () => {
  it("MLC201: shape errors name the op and the operand types, at the call", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [2, 3]);", "  return x.matmul(param('w', [4, 5]));", "}"));
    // A method call is located at the op's name, not at its receiver.
    const d = expectDiagnostic(err, { code: "MLC201", line: 4, col: 12, caret: "   |            ^^^^^^^^^^^^^^^^^^^^^^^^^^" });
    expect(d.message).toMatch(/^matmul\(f32\[2,3\], f32\[4,5\]\): /);
    const plain = compileError(src(HEADER, "export default function m() {", "  const x = input('x', [2, 3]);", "  return matmul(x, input('y', [2, 3]));", "}"));
    expectDiagnostic(plain, { code: "MLC201", line: 4, col: 10, caret: "   |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^" });
  });

  it("MLC202: duplicate input or param names, pointing at the first declaration", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  const a = param('w', [2]);", "  const b = param('w', [3]);", "  return input('x', [1]);", "}"));
    const d = expectDiagnostic(err, { code: "MLC202", line: 4, col: 19, caret: "   |                   ^^^" });
    expect(d.message).toBe(`param: the name 'w' is already declared at ${err.file}:3:13`);
    const clash = compileError(src(HEADER, "export default function m() {", "  param('x', [2]);", "  return input('x', [1]);", "}"));
    expectDiagnostic(clash, { code: "MLC202", line: 4, col: 16, message: "input: the name 'x' is already declared" });
    const reserved = compileError(src(HEADER, "export default function m() {", "  param('rng.step', [], { trainable: false });", "  return input('x', [2]).dropout(0.5);", "}"));
    expectDiagnostic(reserved, { code: "MLC202", line: 4, col: 10, message: "dropout: 'rng.step' is reserved for dropout's step counter" });
  });

  it("MLC203: bad initializer spellings", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  param('w', [2], { init: 'gaussian' as any });", "  return input('x', [1]);", "}"));
    expectDiagnostic(err, { code: "MLC203", line: 3, col: 21, message: "unknown initializer 'gaussian'", caret: "   |                     ^^^^^^^^^^^^^^^^^^^^^^^" });
    const negative = compileError(src(HEADER, "export default function m() {", "  param('w', [2], { init: 'normal(-1)' });", "  return input('x', [1]);", "}"));
    expectDiagnostic(negative, { code: "MLC203", line: 3, col: 21, message: "STD must be a finite number >= 0" });
    const intParam = compileError(src(HEADER, "export default function m() {", "  param('k', [2], { dtype: 'i32', init: 'he_normal' });", "  return input('x', [1]);", "}"));
    expectDiagnostic(intParam, { code: "MLC203", line: 3, col: 35, message: "i32 params take only \"zeros\" or \"ones\"" });
  });

  it("MLC204: invalid value names", () => {
    const err = compileError(src(HEADER, "export default function m() {", "  return input('my input', [1]);", "}"));
    expectDiagnostic(err, { code: "MLC204", line: 3, col: 16, message: "'my input' is not a valid value name" });
  });

  it("MLC205: batchNorm running statistics must be state, updated once per step", () => {
    const lines = [
      HEADER,
      "export default function m() {",
      "  const x = input('x', [4, 2]);",
      "  const g = param('g', [2]), b = param('b', [2]);",
      "  const rm = param('rm', [2]), rv = param('rv', [2], { trainable: false });",
      "  return batchNorm(x, g, b, rm, rv);",
      "}",
    ];
    const err = compileError(src(...lines));
    expectDiagnostic(err, { code: "MLC205", line: 6, col: 29, message: "batchNorm: runningMean must be a param declared with { trainable: false }, got rm", caret: "   |                             ^^" });
    lines[4] = "  const rm = param('rm', [2], { trainable: false }), rv = param('rv', [2], { trainable: false });";
    lines[5] = "  return batchNorm(batchNorm(x, g, b, rm, rv), g, b, rm, rv);";
    const twice = compileError(src(...lines));
    expectDiagnostic(twice, { code: "MLC205", line: 6, col: 54, message: "state 'rm' is updated twice in one step" });
  });
});

describe("the module's exports", () => {
  it("MLC301: no default export, or one that is not a function", () => {
    const none = compileError(src(HEADER, "export const config = {};"));
    expectDiagnostic(none, { code: "MLC301", line: 1, col: 1, message: "the model file has no default export" });
    const notFn = compileError(src(HEADER, "const layers = 3;", "export default layers;"));
    expectDiagnostic(notFn, { code: "MLC301", line: 3, col: 1, message: "the default export must be the function that builds the model, got the number 3", caret: "   | ^^^^^^^^^^^^^^^^^^^^^^" });
  });

  it("MLC302: the model returns something that is not a tensor or an object of tensors", () => {
    const num = compileError(src(HEADER, "export default function model() {", "  return 3;", "}"));
    expectDiagnostic(num, { code: "MLC302", line: 2, col: 25, message: "the model must return a tensor or an object of tensors, got the number 3" });
    const entry = compileError(src(HEADER, "export default function model() {", "  const x = input('x', [1]);", "  return { x, shape: x.shape };", "}"));
    expectDiagnostic(entry, { code: "MLC302", line: 4, col: 15, message: "output 'shape' must be a tensor, got an array", caret: "   |               ^^^^^^^^^^^^^^" });
    const empty = compileError(src(HEADER, "export default function model() {", "  return {};", "}"));
    expectDiagnostic(empty, { code: "MLC302", line: 2, col: 25, message: "the model returns no outputs" });
  });

  it("MLC303: --set of an unknown key, of a wrong kind, or without a config", () => {
    const lines = [HEADER, "export const config = {", "  batch: 64,", "  act: 'relu',", "};", "export default function m() { return input('x', [config.batch]); }"];
    const unknown = compileError(src(...lines), { set: { bacth: "32" } });
    expectDiagnostic(unknown, { code: "MLC303", line: 2, col: 14, message: "--set bacth=32: unknown config key 'bacth' (config keys: batch, act)" });
    const kind = compileError(src(...lines), { set: { batch: "many" } });
    expectDiagnostic(kind, { code: "MLC303", line: 3, col: 3, message: "--set batch=many: config.batch is a number, got the string \"many\"", caret: "   |   ^^^^^^^^^" });
    const noConfig = compileError(src(HEADER, "export default function m() { return input('x', [1]); }"), { set: { batch: "1" } });
    expectDiagnostic(noConfig, { code: "MLC303", line: 1, col: 1, message: "the model exports no config object" });
  });

  it("MLC304: config and train must be plain data", () => {
    const train = compileError(src(HEADER, "export default function m() { return input('x', [1]); }", "export const train = { schedule: (step: number) => 0.1 };"));
    expectDiagnostic(train, { code: "MLC304", line: 3, col: 14, message: "train must be plain data" });
    const config = compileError(src(HEADER, "export const config = { act: relu };", "export default function m() { return input('x', [1]); }"));
    expectDiagnostic(config, { code: "MLC304", line: 2, col: 14, message: "config must be an object of compile-time constants" });
  });
});

describe("compiler bugs", () => {
  it("MLC900: an internal error still comes with a location, not a stack trace", () => {
    const relu = BUILTINS.get("relu")!;
    const spy = vi.spyOn(relu, "impl").mockImplementation(() => {
      throw new TypeError("simulated bug");
    });
    try {
      const err = compileError(src(HEADER, "export default function m() {", "  return relu(input('x', [1]));", "}"));
      expectDiagnostic(err, { code: "MLC900", line: 3, col: 3, message: "internal compiler error: simulated bug" });
    } finally {
      spy.mockRestore();
    }
  });
});

describe("formatDiagnostic", () => {
  const d = { code: "MLC105", message: "boom", file: "model.ts", line: 9, col: 5, length: 3 };

  it("renders a rustc-style frame with the caret under the span", () => {
    const text = "a\n".repeat(8) + "    foo(1);\n";
    expect(formatDiagnostic(d, text)).toBe(["error[MLC105]: boom", "  --> model.ts:9:5", "   |", " 9 |     foo(1);", "   |     ^^^"].join("\n"));
  });

  it("widens the gutter for long line numbers and keeps tabs in the caret's indent", () => {
    const text = "\n".repeat(119) + "\tx = 1;\n";
    const out = formatDiagnostic({ ...d, line: 120, col: 2, length: 1 }, text);
    expect(out).toBe(["error[MLC105]: boom", "    --> model.ts:120:2", "     |", " 120 | \tx = 1;", "     | \t^"].join("\n"));
  });

  it("leaves the frame out without source text, and clips the caret at the line's end", () => {
    expect(formatDiagnostic(d)).toBe("error[MLC105]: boom\n  --> model.ts:9:5");
    const clipped = formatDiagnostic({ ...d, line: 1, col: 3, length: 50 }, "abcd\n");
    expect(clipped.split("\n").at(-1)).toBe("   |   ^^");
  });

  it("lists every code once, with distinct values", () => {
    const values = Object.values(CODES);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toMatch(/^MLC\d{3}$/);
  });
});
