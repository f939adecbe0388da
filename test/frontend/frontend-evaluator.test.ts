// The partial evaluator: every supported TypeScript construct, one focused test each. Results of
// compile-time code travel out through the `train` export (plain data), tensor code through the IR.

import { afterAll, describe, expect, it } from "vitest";
import { compileSource, evalAtCompileTime as ev, nodeLines, removeTempDirs, writeFiles } from "../support/frontend-harness.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import * as path from "node:path";

afterAll(removeTempDirs);

describe("literals and operators", () => {
  it("evaluates primitive literals", () => {
    expect(ev(`[1.5, 0x10, 1e-3, "s", 'q', true, false, null]`)).toEqual([1.5, 16, 0.001, "s", "q", true, false, null]);
    expect(ev(`undefined`)).toBeUndefined();
  });

  it("builds template literals from compile-time values", () => {
    expect(ev("`fc${2 * 64}.w/${[1, 2]}-${true}`")).toBe("fc128.w/1,2-true");
  });

  it("does arithmetic, comparison and bitwise operators as JavaScript does", () => {
    expect(ev(`[7 % 3, 2 ** 10, -7 / 2, 5 - 8, "a" + 1, 3 > 2, 2 <= 1, 1 === 1, 1 !== 1, 1 == 1, 6 & 3, 6 | 1, 6 ^ 3, 1 << 4, -16 >> 2, -1 >>> 28]`)).toEqual([
      1, 1024, -3.5, -3, "a1", true, false, true, false, true, 2, 7, 5, 16, -4, 15,
    ]);
  });

  it("does unary, logical, nullish and conditional operators", () => {
    // Operands come through `any` so TypeScript does not flag constant conditions.
    const prelude = `const [zero, three, four, nil, s]: any[] = [0, 3, 4, null, "4"];`;
    expect(ev(`[-(three), +s, !zero, ~5, zero || 7, three && four, nil ?? 9, zero ?? 9, three > 0 ? "y" : "n", typeof 1, typeof s, void 0]`, prelude)).toEqual([
      -3, 4, true, -6, 7, 4, 9, 0, "y", "number", "string", undefined,
    ]);
  });

  it("short-circuits && || ?? without evaluating the other side", () => {
    // The right sides would fail (unknown property of undefined) if evaluated.
    const prelude = "const u: any = undefined; const [no, yes, one]: any[] = [false, true, 1];";
    expect(ev(`[no && u.x, yes || u.x, one ?? u.x]`, prelude)).toEqual([false, true, 1]);
  });

  it("evaluates compound assignment, increments and logical assignment", () => {
    const prelude = `let a = 10; a += 5; a *= 2; a -= 1; a /= 29; a **= 3; a %= 2;
      let i = 0; const post = i++; const pre = ++i; i--;
      let n: number | undefined; n ??= 4; let t = 1; t &&= 8; let f = 0; f ||= 3;`;
    expect(ev(`[a, post, pre, i, n, t, f]`, prelude)).toEqual([1, 0, 2, 1, 4, 8, 3]);
  });

  it("ignores type annotations, as-casts, non-null assertions, satisfies, interfaces and type aliases", () => {
    const prelude = `import type { Tensor } from "mlc";
      interface Cfg { units: number }
      type Units = number;
      const cfg: Cfg = { units: 3 } satisfies Cfg;
      const u = (cfg.units as Units)!;
      let t: Tensor | undefined;`;
    expect(ev(`[u, <number>u, t === undefined]`, prelude)).toEqual([3, 3, true]);
  });
});

describe("arrays and objects", () => {
  it("builds arrays with spread and holes", () => {
    expect(ev(`[...[1, 2], 3, ..."ab", ,]`)).toEqual([1, 2, 3, "a", "b", undefined]);
  });

  it("builds objects with shorthand, spread, computed keys and methods", () => {
    const prelude = `const units = 8; const base = { a: 1, b: 2 }; const k = "dyn";
      const o: any = { units, ...base, b: 3, [k + 1]: true, "q-s": 4, 5: "five", twice(n: number) { return 2 * n; } };`;
    expect(ev(`[o.units, o.a, o.b, o.dyn1, o["q-s"], o[5], o.twice(4), Object.keys(o)]`, prelude)).toEqual([
      8, 1, 3, true, 4, "five", 8, ["5", "units", "a", "b", "dyn1", "q-s", "twice"],
    ]);
  });

  it("reads properties and elements, with optional chaining", () => {
    const prelude = `const o: any = { a: { b: [10, 20] } }; const none: any = undefined;`;
    expect(ev(`[o.a.b[1], o["a"].b.length, o.missing, none?.x.y.z, o.a?.b?.[0], none?.f(), o.a.b.at(-1)]`, prelude)).toEqual([
      20, 2, undefined, undefined, 10, undefined, 20,
    ]);
  });

  it("mutates arrays and objects through properties and elements", () => {
    const prelude = `const xs = [1, 2, 3]; xs[1] = 7; xs.push(9); const o: any = {}; o.k = 1; o["j"] = 2; o.k += 10;`;
    expect(ev(`[xs, o]`, prelude)).toEqual([[1, 7, 3, 9], { k: 11, j: 2 }]);
  });

  it("destructures objects with renames, defaults, nesting and rest", () => {
    const prelude = `const { a, b: bee, c = 5, d: { e } = { e: 6 }, ...rest } = { a: 1, b: 2, x: 8, y: 9 } as any;`;
    expect(ev(`[a, bee, c, e, rest]`, prelude)).toEqual([1, 2, 5, 6, { x: 8, y: 9 }]);
  });

  it("destructures arrays with holes, defaults and rest", () => {
    const prelude = `const [p, , q = 4, ...others] = [1, 2, undefined, 5, 6];`;
    expect(ev(`[p, q, others]`, prelude)).toEqual([1, 4, [5, 6]]);
  });

  it("assigns through destructuring patterns", () => {
    const prelude = `let a = 1, b = 2; [a, b] = [b, a]; let c = 0, d = 0; ({ c, k: d = 7 } = { c: 3 } as any);`;
    expect(ev(`[a, b, c, d]`, prelude)).toEqual([2, 1, 3, 7]);
  });
});

describe("functions", () => {
  it("inlines function declarations (hoisted), arrows and function expressions", () => {
    const prelude = `const sq = (n: number) => n * n;
      const cube = function (n: number) { return n * sq(n); };
      const r = twice(3);
      function twice(n: number): number { return 2 * n; }`;
    expect(ev(`[r, sq(4), cube(2)]`, prelude)).toEqual([6, 16, 8]);
  });

  it("binds default, destructured and rest parameters", () => {
    const prelude = `function f({ a, b = 2 }: { a: number; b?: number }, [c, d] = [3, 4], scale = a * 10, ...more: number[]) {
        return [a, b, c, d, scale, more];
      }`;
    expect(ev(`[f({ a: 1 }), f({ a: 1, b: 5 }, [6, 7], 8, 9, 10)]`, prelude)).toEqual([
      [1, 2, 3, 4, 10, []],
      [1, 5, 6, 7, 8, [9, 10]],
    ]);
  });

  it("gives closures the current binding of a let (rebinding, not copying)", () => {
    const prelude = `let n = 1; const get = () => n; n = 2; const seen = get(); n = 3;`;
    expect(ev(`[seen, get()]`, prelude)).toEqual([2, 3]);
  });

  it("gives each for-let iteration its own binding, as JavaScript does", () => {
    const prelude = `const fs: (() => number)[] = []; for (let i = 0; i < 3; i++) fs.push(() => i);`;
    expect(ev(`fs.map((f) => f())`, prelude)).toEqual([0, 1, 2]);
  });

  it("recurses with a compile-time base case", () => {
    const prelude = `function fact(n: number): number { return n <= 1 ? 1 : n * fact(n - 1); }`;
    expect(ev(`fact(10)`, prelude)).toBe(3628800);
  });

  it("shadows outer names with inner declarations", () => {
    const prelude = `const v = 1; function f() { const v = 2; { const v = 3; } return v; }`;
    expect(ev(`[v, f()]`, prelude)).toEqual([1, 2]);
  });
});

describe("control flow", () => {
  it("takes if/else branches on compile-time conditions", () => {
    const prelude = `function sign(n: number) { if (n > 0) return 1; else if (n < 0) return -1; else { return 0; } }`;
    expect(ev(`[sign(5), sign(-2), sign(0)]`, prelude)).toEqual([1, -1, 0]);
  });

  it("unrolls for, for-of, for-in, while and do-while", () => {
    const prelude = `const out: unknown[] = [];
      for (let i = 0, j = 10; i < 3; i++, j--) out.push(i + j);
      for (const [k, v] of [["a", 1], ["b", 2]] as const) out.push(k + v);
      for (const key in { p: 1, q: 2 }) out.push(key);
      let w = 0; while (w < 2) w++; out.push(w);
      let d = 0; do { d += 5; } while (d < 0); out.push(d);
      for (const ch of "xy") out.push(ch);`;
    expect(ev(`out`, prelude)).toEqual([10, 10, 10, "a1", "b2", "p", "q", 2, 5, "x", "y"]);
  });

  it("honours break, continue, labels and return inside loops", () => {
    const prelude = `const out: number[] = [];
      for (let i = 0; i < 10; i++) { if (i % 2) continue; if (i > 6) break; out.push(i); }
      outer: for (const a of [1, 2, 3]) { for (const b of [1, 2, 3]) { if (b === 2) continue outer; if (a === 3) break outer; out.push(a * 10 + b); } }
      function firstBig(xs: number[]) { for (const x of xs) if (x > 5) return x; return -1; }`;
    expect(ev(`[out, firstBig([1, 7, 9]), firstBig([])]`, prelude)).toEqual([[0, 2, 4, 6, 11, 21], 7, -1]);
  });

  it("selects switch cases with fallthrough and default", () => {
    const prelude = `function f(s: string) { const r: string[] = []; switch (s) { case "a": r.push("a"); case "b": r.push("b"); break; case "c": { r.push("c"); break; } default: r.push("d"); } return r; }`;
    expect(ev(`[f("a"), f("b"), f("c"), f("z")]`, prelude)).toEqual([["a", "b"], ["b"], ["c"], ["d"]]);
  });
});

describe("the standard library at compile time", () => {
  it("has Math functions and constants", () => {
    expect(ev(`[Math.max(1, 5, 3), Math.floor(2.7), Math.ceil(2.1), Math.sqrt(16), Math.round(2.5), Math.PI, Math.log2(8), Math.hypot(3, 4)]`)).toEqual([
      5, 2, 3, 4, 3, Math.PI, 3, 5,
    ]);
  });

  it("has Number, String, Object, JSON and global helpers", () => {
    expect(ev(`[Number.isInteger(3), Number("2.5"), String(7), Object.entries({ a: 1 }), JSON.stringify({ a: [1] }), isFinite(1 / 0), parseInt("12px"), Infinity > 1, Number.NaN !== Number.NaN]`)).toEqual([
      true, 2.5, "7", [["a", 1]], '{"a":[1]}', false, 12, true, true,
    ]);
  });

  it("has array methods", () => {
    const prelude = `const xs = [3, 1, 4, 1, 5];`;
    expect(ev(`[xs.length, xs.map((x, i) => x * i), xs.slice(1, 3), xs.concat([9], 8), xs.reduce((a, b) => a + b, 0), xs.reduce((a, b) => a * b),
      xs.includes(4), xs.indexOf(1), xs.join("-"), Array.from({ length: 3 }, (_, i) => i * 2), Array.from("ab"),
      xs.filter((x) => x > 2), xs.some((x) => x > 4), xs.every((x) => x > 0), xs.find((x) => x > 3), xs.findIndex((x) => x > 3),
      [[1], [2, 3]].flat(), [1, 2].flatMap((x) => [x, x]), [0, 0, 0].fill(7, 1), [1, 2, 3].reverse(), Array.isArray(xs)]`, prelude)).toEqual([
      5, [0, 1, 8, 3, 20], [1, 4], [3, 1, 4, 1, 5, 9, 8], 14, 60, true, 1, "3-1-4-1-5", [0, 2, 4], ["a", "b"],
      [3, 4, 5], true, true, 4, 2, [1, 2, 3], [1, 1, 2, 2], [0, 7, 7], [3, 2, 1], true,
    ]);
  });

  it("has string and number methods", () => {
    expect(ev(`["layer".toUpperCase(), "a.b.c".split("."), "conv".padStart(6, "_"), "abc".slice(1), "x".repeat(3), "fc1".startsWith("fc"), (0.5).toFixed(2), (255).toString(16), "ab".length]`)).toEqual([
      "LAYER", ["a", "b", "c"], "__conv", "bc", "xxx", true, "0.50", "ff", 2,
    ]);
  });
});

describe("tensors in the evaluator", () => {
  it("folds x.shape, x.shape[i], x.shape.length and x.dtype", () => {
    const m = compileSource(`import { input, type Tensor } from "mlc";
export default function model() {
  const x = input("x", [2, 3, 4], "f16");
  const info = input(\`i_\${x.shape[1]}_\${x.shape.length}_\${x.dtype}\`, [x.shape.reduce((a, b) => a * b)]);
  return { info };
}`);
    expect(m.graph.inputs.map((i) => `${i.name}:${i.type.shape}`)).toEqual(["x:2,3,4", "i_3_3_f16:24"]);
  });

  it("turns let reassignment of tensors into an SSA chain", () => {
    const m = compileSource(`import { input, relu } from "mlc";
export default function model() {
  const x = input("x", [4]);
  let h = x;
  h = relu(h);
  h = h.add(1);
  h = h.mul(h);
  return h;
}`);
    expect(nodeLines(m)).toEqual([
      "%0:f32[4] = relu %x",
      '%1:f32[] = const {value=1, dtype="f32", shape=[]}',
      "%2:f32[4] = add %0, %1",
      "%3:f32[4] = mul %2, %2",
    ]);
    expect(m.graph.outputs).toEqual([{ name: "out", value: "3" }]);
  });

  it("unrolls loops that build layers, with names from the loop variable", () => {
    const m = compileSource(`import { input, param, type Tensor } from "mlc";
export default function model() {
  let h: Tensor = input("x", [1, 4]);
  for (let i = 0; i < 3; i++) h = h.matmul(param(\`l\${i}\`, [4, 4])).tanh();
  return h;
}`);
    expect(m.graph.params.map((p) => p.name)).toEqual(["l0", "l1", "l2"]);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["matmul", "tanh", "matmul", "tanh", "matmul", "tanh"]);
  });

  it("uses mlc functions as first-class values", () => {
    const m = compileSource(`import { input, relu, gelu, tanh, add } from "mlc";
export default function model() {
  const x = input("x", [2]);
  const act = relu;
  const acts = [gelu, tanh];
  const ys = acts.map((f) => f(x));
  const zs = [x, x].map(relu);
  return { a: act(x), b: ys[0], c: ys[1], d: [x, x, x].reduce(add), e: zs[1] };
}`);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["gelu", "tanh", "relu", "relu", "relu", "add", "add"]);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("compares tensors by identity and tells tensors apart with typeof", () => {
    const m = compileSource(`import { input } from "mlc";
export default function model() {
  const x = input("x", [2]);
  const y = x;
  const flags = [x === y, x === input("z", [2]), typeof x, typeof x.relu];
  return input(\`f_\${flags.join("_")}\`, [1]);
}`);
    expect(m.graph.inputs.map((i) => i.name)).toContain("f_true_false_object_function");
  });

  it("passes optional tensors and tests them with !== undefined", () => {
    const m = compileSource(`import { input, param, type Tensor } from "mlc";
function dense(x: Tensor, units: number, bias?: Tensor) {
  const y = x.matmul(param("w" + units, [x.shape[1], units]));
  return bias !== undefined ? y.add(bias) : y;
}
export default function model() {
  const x = input("x", [1, 2]);
  return { plain: dense(x, 3), biased: dense(x, 4, param("b", [4])) };
}`);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["matmul", "matmul", "add"]);
  });
});

describe("modules", () => {
  it("inlines helpers from imported model files, including re-exported mlc ops and namespaces", () => {
    const dir = writeFiles({
      "layers.ts": `import { param, relu, type Tensor } from "mlc";
export { gelu as activation } from "mlc";
export const UNITS = 5;
export function dense(x: Tensor, name: string, units = UNITS): Tensor {
  return relu(x.matmul(param(name, [x.shape[1], units])));
}`,
      "util/math.ts": `export const double = (n: number) => 2 * n;`,
      "model.ts": `import { input } from "mlc";
import { dense, activation, UNITS } from "./layers.ts";
import * as L from "./layers";
import { double } from "./util/math.js";
export default function model() {
  const x = input("x", [1, double(UNITS)]);
  return activation(L.dense(dense(x, "a"), "b", L.UNITS + 1));
}`,
    });
    const m = compileModelFile(path.join(dir, "model.ts"));
    expect(m.graph.params.map((p) => `${p.name}:${p.type.shape}`)).toEqual(["a:10,5", "b:5,6"]);
    expect(m.graph.nodes.map((n) => n.op)).toEqual(["matmul", "relu", "matmul", "relu", "gelu"]);
    expect(m.graph.params[0].loc?.file).toBe(path.join(dir, "layers.ts"));
  });
});
