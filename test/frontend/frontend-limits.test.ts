// The compile-time evaluation limits (docs/DSL.md "Limits"): every reproducer of issue 20's hangs,
// crashes, huge shapes and runaway evaluation ends with its limit's diagnostic, located, naming the
// limit and the flag that raises it; the limits are options; the examples stay far inside them.

import { afterAll, describe, expect, it } from "vitest";
import { compileModelFile, DEFAULT_LIMITS, parseLimitSpec, setDefaultLimits } from "../../compiler/frontend/index.ts";
import { compileError, compileSource, expectDiagnostic, removeTempDirs } from "../support/frontend-harness.ts";

afterAll(removeTempDirs);

const src = (...lines: string[]) => lines.join("\n") + "\n";
/** A model whose body runs `line` (line 4 of the file) before returning its input. */
const model = (line: string) =>
  src(`import { input, param, full, matmul } from "mlc";`, "export default function m() {", `  const x = input("x", [2]);`, `  ${line}`, "  return x;", "}");

describe("hangs: the step budget (MLC111)", () => {
  it("a loop nest of 10^7 iterations, no loop past its own limit, ends at the step budget", () => {
    const err = compileError(model("let s = 0; for (let i = 0; i < 1000; i++) for (let j = 0; j < 1000; j++) for (let k = 0; k < 10; k++) s++;"));
    // Located where the budget ran out: the innermost statement, `s++`.
    expectDiagnostic(err, { code: "MLC111", line: 4, col: 96, message: "more than 1,000,000 steps" });
    expect(err.message).toContain("raise it with --limit steps=N");
  });

  it("10^6 chained h = h.add(1) ends at the step budget (ops cost more than expressions)", () => {
    const err = compileError(model("let h = x; for (let i = 0; i < 1000; i++) for (let j = 0; j < 1000; j++) h = h.add(1);"));
    // Located at the op call that ran the budget out, `h.add(1)`.
    expectDiagnostic(err, { code: "MLC111", line: 4, col: 80, message: "steps" });
  });

  it("array elements count: Array.from({ length: 1e7 }) with the value limit raised is refused before it is made", () => {
    const err = compileError(model("const a = Array.from({ length: 1e7 });"), { limits: { maxValueSize: 2e7 } });
    expectDiagnostic(err, { code: "MLC111", line: 4, col: 13, message: "steps" });
  });

  it("callbacks count: 400,000 elements fit every limit, but not with a callback each", () => {
    expect(compileSource(model("const a = Array.from({ length: 4e5 });")).graph.inputs.length).toBe(1);
    const err = compileError(model("const a = Array.from({ length: 4e5 }, (_, i) => i * 2 + 1);"));
    expect(err.diagnostics[0]).toMatchObject({ code: "MLC111", line: 4 });
  });

  it("the budget is an option: what it stops compiles when it is raised", () => {
    const loop = "let s = 0; for (let i = 0; i < 20; i++) for (let j = 0; j < 1000; j++) s++;";
    expect(compileError(model(loop), { limits: { maxSteps: 50_000 } }).diagnostics[0]!.code).toBe("MLC111");
    expect(compileSource(model(loop), { limits: { maxSteps: 1_000_000 } }).graph.nodes.length).toBe(0);
  });
});

describe("crashes: nesting (MLC113) and value sizes (MLC112)", () => {
  it("2,000 nested parentheses: located at the first bracket past the limit, before TypeScript's parser overflows", () => {
    const err = compileError(model(`const k = ${"(".repeat(2000)}1${")".repeat(2000)};`));
    // `  const k = ` is 12 characters and the function body's brace is level 1: the 400th
    // parenthesis is level 401, past the limit of 400.
    expectDiagnostic(err, { code: "MLC113", line: 4, col: 12 + 400, message: "brackets nest deeper than 400 levels" });
    expect(err.message).toContain("--limit depth=N");
  });

  it("deep nesting without brackets (3,000 chained +) is the syntax tree's nesting", () => {
    const err = compileError(model(`const k = ${"1 + ".repeat(3000)}1;`));
    expect(err.diagnostics[0]!.code).toBe("MLC113");
    expect(err.diagnostics[0]!.line).toBe(4);
  });

  it("the parser's own stack overflow (raised depth limit, 3,000 unary minus) is caught", () => {
    const err = compileError(model(`const k = ${"- ".repeat(3000)}1;`), { limits: { maxNesting: 100_000 } });
    expect(err.diagnostics[0]!.code).toBe("MLC113");
    expect(err.message).not.toContain("internal compiler error");
  });

  it("'x'.repeat(2 ** 28) is refused before the string is built", () => {
    const err = compileError(model("const s = 'x'.repeat(2 ** 28);"));
    expectDiagnostic(err, { code: "MLC112", line: 4, col: 17, message: "repeat: a compile-time string of 268,435,456 characters is larger than the limit of 1,048,576" });
    expect(err.message).toContain("--limit value=N");
  });

  it("strings doubled by + and arrays doubled by spreads or self-nesting end at a limit", () => {
    expect(compileError(model("let s = 'x'; for (let i = 0; i < 40; i++) s = s + s;")).diagnostics[0]!.code).toBe("MLC112");
    expect(compileError(model("let a = [1]; for (let i = 0; i < 40; i++) a = [...a, ...a];")).diagnostics[0]!.code).toMatch(/MLC11[12]/);
    expect(compileError(model("let a: any[] = [1]; for (let i = 0; i < 40; i++) a = [a, a]; const s = JSON.stringify(a);")).diagnostics[0]!.code).toBe("MLC111");
    expect(compileError(model("let a: any[] = [1]; for (let i = 0; i < 40; i++) a = [a, a]; const s = `${a}`;")).diagnostics[0]!.code).toMatch(/MLC11[12]/);
  });

  it("a train export doubled 40 times is refused before it is copied", () => {
    const source = src(`import { input } from "mlc";`, "let a: any[] = [1];", "for (let i = 0; i < 40; i++) a = [a, a];", "export const train = { a };", `export default function m() { return input("x", [2]); }`);
    expectDiagnostic(compileError(source), { code: "MLC112", line: 4, col: 14, message: "larger than the limit" });
  });
});

describe("huge shapes and runaway evaluation (MLC206, MLC112)", () => {
  it("param('w', [1e9, 1e9]) is a located diagnostic, not an internal error downstream", () => {
    const err = compileError(model(`const w = param("w", [1e9, 1e9]);`));
    expectDiagnostic(err, { code: "MLC206", line: 4, col: 13, message: "param 'w' of shape [1000000000, 1000000000] has 1.000e+18 elements" });
    expect(err.message).toContain("--limit tensor-elements=N");
  });

  it("an input of 2^31 elements is refused (elements), and of 2^30 f32 elements (8 GiB... bytes)", () => {
    expectDiagnostic(compileError(model(`const big = input("big", [2 ** 31], "u8");`)), { code: "MLC206", line: 4, col: 15, message: "input 'big' of shape [2147483648] has 2,147,483,648 elements" });
    expectDiagnostic(compileError(model(`const big = input("big", [2 ** 30]);`)), { code: "MLC206", line: 4, col: 15, message: "input 'big' f32[1073741824] takes 4 GiB, more than the limit of 2 GiB" });
  });

  it("inputs and params together past 4 GiB, and op results past the limit, are refused", () => {
    const many = compileError(model(`const ps = Array.from({ length: 5 }, (_, i) => param("p" + i, [2 ** 28]));`));
    // Four 1 GiB params and the 8-byte input x pass 4 GiB at the fourth param.
    expect(many.diagnostics[0]).toMatchObject({ code: "MLC206", line: 4 });
    expect(many.diagnostics[0]!.message).toContain("param 'p3' brings the inputs and params to 4 GiB, more than the limit of 4 GiB");
    const outer = compileError(model(`const y = matmul(input("a", [100000, 1]), input("b", [1, 100000]));`));
    expectDiagnostic(outer, { code: "MLC206", line: 4, col: 13, message: "matmul: the result of shape [100000, 100000]" });
    expect(compileError(model("const z = full([1e5, 1e5], 1);")).diagnostics[0]!.code).toBe("MLC206");
  });

  it("Array.from({ length: 1e9 }) and Array.from({ length: 1e7 }, f) are refused before allocating", () => {
    expectDiagnostic(compileError(model("const a = Array.from({ length: 1e9 });")), { code: "MLC112", line: 4, col: 19, message: "Array.from: a compile-time array of 1,000,000,000 elements" });
    expectDiagnostic(compileError(model("const a = Array.from({ length: 1e7 }, (_, i) => i);")), { code: "MLC112", line: 4, col: 19, message: "10,000,000 elements" });
    expect(compileError(model("const a: number[] = []; a[1e9] = 1;")).diagnostics[0]!.code).toBe("MLC112");
    expect(compileError(model("const a: number[] = []; a.length = 2 ** 32 - 1;")).diagnostics[0]!.code).toBe("MLC112");
  });

  it("the tensor limits are options", () => {
    expect(compileSource(model(`const w = param("w", [2 ** 29]);`)).graph.params.map((p) => p.name)).toContain("w");
    expect(compileError(model(`const w = param("w", [2 ** 20]);`), { limits: { maxTensorBytes: 2 ** 20 } }).diagnostics[0]!.code).toBe("MLC206");
  });
});

describe("the limits' settings", () => {
  it("a loop of exactly the loop limit's iterations is within it (for, while, do-while)", () => {
    const limits = { maxLoopIterations: 10 };
    for (const loop of ["for (let i = 0; i < 10; i++) {}", "let i = 0; while (i < 10) i++;", "let i = 0; do { i++; } while (i < 10);"]) {
      expect(compileSource(model(loop), { limits }).graph.inputs.length).toBe(1);
      expect(compileError(model(loop.replace("10)", "11)").replace("< 10", "< 11")), { limits }).diagnostics[0]!.code).toBe("MLC107");
    }
  });

  it("--limit specs parse to limits; unknown keys and bad values are errors naming them", () => {
    expect(parseLimitSpec("steps=1e7, depth=800,tensor-bytes=2**32")).toEqual({ maxSteps: 1e7, maxNesting: 800, maxTensorBytes: 2 ** 32 });
    expect(() => parseLimitSpec("stepz=1")).toThrow(/unknown limit 'stepz' \(limits: steps, loop, calls, value, depth, tensor-elements, tensor-bytes, total-bytes\)/);
    expect(() => parseLimitSpec("steps=-1")).toThrow(/steps must be a positive integer, got '-1'/);
    expect(() => parseLimitSpec("steps=lots")).toThrow(/positive integer/);
  });

  it("setDefaultLimits (what --limit calls) applies to every later compilation", () => {
    const loop = model("for (let i = 0; i < 20; i++) {}");
    setDefaultLimits({ maxLoopIterations: 10 });
    try {
      expect(compileError(loop).diagnostics[0]!.code).toBe("MLC107");
    } finally {
      setDefaultLimits({});
    }
    expect(compileSource(loop).graph.inputs.length).toBe(1);
  });

  it("resnet at depth 256 and the transformer compile within the default limits", () => {
    expect(DEFAULT_LIMITS.maxSteps).toBe(1_000_000);
    expect(compileModelFile("examples/resnet/model.ts", { set: { depth: "256" } }).graph.nodes.length).toBeGreaterThan(2000);
    expect(compileModelFile("examples/transformer/model.ts").graph.nodes.length).toBeGreaterThan(10);
  });
});
