// Mutations of example models for the frontend fuzzer: what users and attackers would write.
//
// Each case applies one to three mutations, drawn by a PRNG seeded from (seed, case index), to one
// example's model.ts, so any case can be rebuilt from the two numbers alone. Kinds: token edits,
// line edits, numbers replaced by edge values, unsupported syntax, deep nesting, long or
// unbounded compile-time work, and huge shapes.

import { rng } from "../../test/support/seeded-random.ts";

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const TOKEN = /[A-Za-z_$][\w$]*|\d[\d_.eE]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[{}()[\];,.]|[-+*/%<>=!&|?:]+/g;
const NUMBER = /(?<![\w$.])\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?(?![\w$])/gi;
const SHAPE = /\b(input|param|zeros|ones|full|reshape|broadcastTo)\(\s*("[^"]*",\s*)?\[([^\]]*)\]/g;

const EDGE_NUMBERS = ["0", "-1", "NaN", "Infinity", "-Infinity", "1e9", "2 ** 31", "2 ** 53", "1e308", "0.5", "2.5", "-0", "1e-9", "65536", "4294967296", "3"];

const UNSUPPORTED = [
  "class A {}", "try { } catch { }", "var q = 1;", "const re = /x+/;", "const big = 10n;", "debugger;", "async function af() {}",
  "function* gen() {}", "const m = new Map();", "const o: any = {}; delete o.x;", "const t = this;", "eval('1');", "const r = Math.random();",
  "const d = Date.now();", "console.log(1);", "for (const k in { a: 1 }) { }", "enum E { A }", "namespace N {}", "const s = Symbol();",
  "const p = Promise.resolve(1);", "const y = (() => { throw new Error('boom'); })();", "label: for (;;) { break label; }",
  "const g = globalThis;", "const f = function () { return arguments; };", "const w = window;", "const proto = ({} as any).__proto__;",
  "const c = ({} as any).constructor;", "const ts = `${{}}`;", "const tag = String.raw`x`;", "import('./x.ts');", "const n = new Number(1);",
  "const j = JSON.parse('{}');", "const st = structuredClone({});", "const u = undefined as any; u.x;", "const z = null as any; z();",
];

const LONG_WORK = [
  "let s0 = 0; for (let i = 0; i < 1000; i++) for (let j = 0; j < 1000; j++) for (let k = 0; k < 10; k++) s0++;",
  "for (let i = 0; i < 1e7; i++) { }",
  "while (true) { }",
  "for (;;) { }",
  "do { } while (1);",
  "const a0 = Array.from({ length: 1e7 }, (_, i) => i);",
  "const a1 = Array.from({ length: 1e9 });",
  "const a2 = Array.from({ length: -1 });",
  "const a3 = Array.from({ length: 2.5 });",
  "const s1 = 'x'.repeat(2 ** 28);",
  "const s2 = 'ab'.padStart(1e9);",
  "let s3 = 'x'; for (let i = 0; i < 40; i++) s3 = s3 + s3;",
  "let a4: any[] = [1]; for (let i = 0; i < 40; i++) a4 = [a4, a4]; const s4 = JSON.stringify(a4);",
  "let a5: any[] = [1]; for (let i = 0; i < 40; i++) a5 = [a5, a5]; const s5 = `${a5}`;",
  "let a6: number[] = [1]; for (let i = 0; i < 40; i++) a6 = [...a6, ...a6];",
  "let a7: number[] = [1]; for (let i = 0; i < 40; i++) a7 = a7.concat(a7);",
  "const a8: number[] = []; a8[1e9] = 1;",
  "const a9: number[] = []; a9.length = 2 ** 32 - 1;",
  "function rec(n: number): number { return rec(n + 1); } rec(0);",
  "const rec2 = (n: number): number => n + rec2(n + 1); rec2(0);",
  "let cnt = 0; for (let i = 0; i < 1000; i++) for (let j = 0; j < 1000; j++) cnt += Math.max(i, j);",
  "const a10 = Array.from({ length: 1000 }, () => Array.from({ length: 1000 }, () => 0)).flat().map((x) => x + 1);",
  "const s6 = Array.from({ length: 1000 }, () => 'x'.repeat(100000)).join('');",
  "const s7 = 'x'.repeat(100000).replaceAll('x', 'y'.repeat(100000));",
];

/** Statements that use the model's first tensor `__T__` (replaced by a name bound in the body). */
const TENSOR_WORK = [
  "let h0 = __T__; for (let i = 0; i < 1000; i++) for (let j = 0; j < 1000; j++) h0 = h0.add(1);",
  "let h1 = __T__; for (let i = 0; i < 1e6; i++) h1 = h1.mul(2);",
  "const h2 = Array.from({ length: 1e6 }, () => __T__.add(1));",
];

const HUGE_SHAPES = [
  "[1e9, 1e9]", "[2 ** 31]", "[65536, 65536]", "[2 ** 16, 2 ** 16, 4]", "[-1, 3]", "[1.5]", "[NaN]", "[Infinity]", "[0, 5]", "[]",
  "[1e308]", "[2 ** 53, 2]", "[4294967296]", "[100000, 100000]", "[3, -3]", "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
];

const HUGE_DECLS = [
  'const hugeIn = input("huge_in", [2 ** 31]);',
  'const hugeP = param("huge_p", [1e9, 1e9]);',
  'const hugeU8 = input("huge_u8", [2 ** 31], "u8");',
  'const manyP = Array.from({ length: 300 }, (_, i) => param(`p${i}`, [4096, 4096]));',
  'const hugeZ = zeros([1e5, 1e5]);',
];

function tokens(src: string): { start: number; end: number }[] {
  return [...src.matchAll(TOKEN)].map((m) => ({ start: m.index!, end: m.index! + m[0].length }));
}

/** Where statements go inside the default-export function's body (after its opening brace). */
function bodyStart(src: string): number {
  const at = src.search(/export\s+default\s+function/);
  if (at < 0) return src.length;
  const paren = src.indexOf(")", at);
  const brace = src.indexOf("{", paren < 0 ? at : paren);
  return brace < 0 ? src.length : brace + 1;
}

/** Where statements go at the top level (after the imports). */
function topLevel(src: string): number {
  const m = [...src.matchAll(/^import[^;]*;\s*$/gm)].pop();
  return m ? m.index! + m[0].length : 0;
}

/** A tensor the body binds early, for statements that need one. */
function firstTensor(src: string): string | undefined {
  return /const\s+(\w+)\s*=\s*input\(/.exec(src)?.[1];
}

const insert = (src: string, at: number, text: string) => `${src.slice(0, at)}\n${text}\n${src.slice(at)}`;

type Mutation = (src: string, r: Rand) => { src: string; what: string };

const MUTATIONS: Record<string, Mutation> = {
  tokenDelete(src, r) {
    const t = pick(r, tokens(src));
    return { src: src.slice(0, t.start) + src.slice(t.end), what: `delete token '${src.slice(t.start, t.end)}'` };
  },
  tokenDuplicate(src, r) {
    const t = pick(r, tokens(src));
    return { src: src.slice(0, t.end) + " " + src.slice(t.start, t.end) + src.slice(t.end), what: `duplicate token '${src.slice(t.start, t.end)}'` };
  },
  tokenReplace(src, r) {
    const ts = tokens(src);
    const t = pick(r, ts);
    const u = pick(r, ts);
    const text = src.slice(u.start, u.end);
    return { src: src.slice(0, t.start) + text + src.slice(t.end), what: `token '${src.slice(t.start, t.end)}' -> '${text}'` };
  },
  lineDelete(src, r) {
    const lines = src.split("\n");
    const i = Math.floor(r() * lines.length);
    lines.splice(i, 1);
    return { src: lines.join("\n"), what: `delete line ${i + 1}` };
  },
  lineDuplicate(src, r) {
    const lines = src.split("\n");
    const i = Math.floor(r() * lines.length);
    lines.splice(i, 0, lines[i]!);
    return { src: lines.join("\n"), what: `duplicate line ${i + 1}` };
  },
  lineSwap(src, r) {
    const lines = src.split("\n");
    const i = Math.floor(r() * lines.length);
    const j = Math.floor(r() * lines.length);
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    return { src: lines.join("\n"), what: `swap lines ${i + 1} and ${j + 1}` };
  },
  number(src, r) {
    const ns = [...src.matchAll(NUMBER)];
    if (!ns.length) return { src, what: "no number" };
    const m = pick(r, ns);
    const v = pick(r, EDGE_NUMBERS);
    return { src: src.slice(0, m.index!) + `(${v})` + src.slice(m.index! + m[0].length), what: `number ${m[0]} -> ${v}` };
  },
  unsupported(src, r) {
    const s = pick(r, UNSUPPORTED);
    return { src: insert(src, r() < 0.7 ? bodyStart(src) : topLevel(src), s), what: `insert '${s}'` };
  },
  deepNesting(src, r) {
    const n = pick(r, [50, 200, 399, 401, 600, 1000, 2000, 5000]);
    const shapes = [
      () => "(".repeat(n) + "1" + ")".repeat(n),
      () => "[".repeat(n) + "1" + "]".repeat(n),
      () => "1+".repeat(n) + "1",
      () => "- ".repeat(n) + "1",
      () => "!".repeat(n) + "0",
      () => "(() => ".repeat(n) + "1" + ")()".repeat(n),
      () => "{ a: ".repeat(n) + "1" + " }".repeat(n),
      () => "1 ? ".repeat(n) + "1" + " : 0".repeat(n),
    ];
    const expr = pick(r, shapes)();
    const what = `deep nesting (${n}): ${expr.slice(0, 12)}...`;
    if (r() < 0.3) return { src: insert(src, bodyStart(src), `if (true) `.repeat(Math.min(n, 3000)) + "{ }"), what: `nested if x${n}` };
    return { src: insert(src, r() < 0.8 ? bodyStart(src) : topLevel(src), `const deep = ${expr};`), what };
  },
  longWork(src, r) {
    const tensor = firstTensor(src);
    if (tensor && r() < 0.3) {
      const s = pick(r, TENSOR_WORK).replaceAll("__T__", tensor);
      const at = src.search(new RegExp(`const\\s+${tensor}\\s*=\\s*input\\(`));
      const end = src.indexOf(";", at);
      return { src: insert(src, end + 1, s), what: `insert '${s}'` };
    }
    const s = pick(r, LONG_WORK);
    return { src: insert(src, r() < 0.8 ? bodyStart(src) : topLevel(src), s), what: `insert '${s}'` };
  },
  hugeShape(src, r) {
    const ms = [...src.matchAll(SHAPE)];
    const shape = pick(r, HUGE_SHAPES);
    if (!ms.length || r() < 0.3) {
      const d = pick(r, HUGE_DECLS);
      return { src: insert(src, bodyStart(src), d), what: `insert '${d}'` };
    }
    const m = pick(r, ms);
    const open = m.index! + m[0].lastIndexOf("[");
    return { src: src.slice(0, open) + shape + src.slice(m.index! + m[0].length), what: `${m[1]} shape -> ${shape}` };
  },
};

const KINDS = Object.keys(MUTATIONS);

/** The mutated source of case `index` of a run with `seed`, and what was done to it. */
export function mutateCase(examples: readonly { name: string; src: string }[], seed: number, index: number): { example: string; src: string; mutations: string[] } {
  const r = rng((seed * 1_000_003 + index) >>> 0);
  const ex = pick(r, examples);
  let src = ex.src;
  const mutations: string[] = [];
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const kind = pick(r, KINDS);
    const out = MUTATIONS[kind]!(src, r);
    src = out.src;
    mutations.push(`${kind}: ${out.what}`);
  }
  return { example: ex.name, src, mutations };
}
