// Kernels of the elementwise ops (docs/IR.md, "Elementwise"), the `fused` op and the sources
// (const, iota): each is an element expression run by map.ts's elementMap, with operands read
// through NumPy broadcasting. f32 computes in f32; integers and bool compute in i32 and are
// truncated to their width when stored (the interpreter's wrap-around), as in the WASM kernels.
//
// Where the interpreter's semantics need care:
//   integer div    truncates toward zero, x / 0 = 0 (WGSL would give x), INT_MIN / -1 = INT_MIN
//   cast f32->int  saturates to the target's range, NaN -> 0, spelled out rather than left to
//                  WGSL's conversion (whose NaN result is implementation-defined)
//   cast ->bool    nonzero -> 1, NaN -> 1
//   maximum/minimum/relu  NaN propagates (WGSL's max/min need not), selected explicitly
//   exp/log/tanh/sigmoid/gelu/pow  math.ts, not WGSL's builtins

import { roundTo } from "../../ir/dtype-round.ts";
import { attr } from "../../ir/op-def.ts";
import { parseBody, type BodyArg, type BodyStep } from "../../ir/ops/fused-body.ts";
import { FUSED_SIGNATURES } from "../../ir/ops/fused.ts";
import { stridesOf, type DType } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelTable } from "../kernel.ts";
import { FLOATS, INTS, NUMERIC, STORED } from "../../ir/dtypes.ts";
import { computeType, f32, i32, literal, u32 } from "../wgsl.ts";
import { mathLibrary } from "./math.ts";
import { broadcastRead, elementMap } from "./map.ts";

type Expr1 = (x: string) => string;
type Expr2 = (a: string, b: string) => string;

/** f32 unary element expressions; `math` names the math.ts function they call. */
const FLOAT_UNARY: Readonly<Record<string, { fn: Expr1; math?: string }>> = {
  neg: { fn: (x) => `(-${x})` },
  exp: { fn: (x) => `m_exp(${x})`, math: "exp" },
  log: { fn: (x) => `m_log(${x})`, math: "log" },
  sqrt: { fn: (x) => `sqrt(${x})` },
  rsqrt: { fn: (x) => `(1.0 / sqrt(${x}))` },
  abs: { fn: (x) => `abs(${x})` },
  tanh: { fn: (x) => `m_tanh(${x})`, math: "tanh" },
  sigmoid: { fn: (x) => `m_sigmoid(${x})`, math: "sigmoid" },
  relu: { fn: (x) => `select(max(${x}, 0.0), ${x}, is_nan(${x}))` },
};

const FLOAT_BINARY: Readonly<Record<string, { fn: Expr2; math?: string }>> = {
  add: { fn: (a, b) => `(${a} + ${b})` },
  sub: { fn: (a, b) => `(${a} - ${b})` },
  mul: { fn: (a, b) => `(${a} * ${b})` },
  div: { fn: (a, b) => `(${a} / ${b})` },
  pow: { fn: (a, b) => `m_pow(${a}, ${b})`, math: "pow" },
  maximum: { fn: (a, b) => `select(max(${a}, ${b}), ${a} + ${b}, is_nan(${a}) || is_nan(${b}))` },
  minimum: { fn: (a, b) => `select(min(${a}, ${b}), ${a} + ${b}, is_nan(${a}) || is_nan(${b}))` },
};

const INT_UNARY: Readonly<Record<string, Expr1>> = {
  neg: (x) => `(0i - ${x})`,
  abs: (x) => `abs(${x})`,
  relu: (x) => `max(${x}, 0i)`,
};

const INT_BINARY: Readonly<Record<string, Expr2>> = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `select(${a} / ${b}, 0i, ${b} == 0i)`,
  maximum: (a, b) => `max(${a}, ${b})`,
  minimum: (a, b) => `min(${a}, ${b})`,
};

/** Body steps with a bool condition (read as i32 0 or 1) and float branches. */
const FLOAT_SELECT: Readonly<Record<string, (c: string, a: string, b: string) => string>> = {
  where: (c, a, b) => `select(${b}, ${a}, ${c} != 0i)`,
};

const COMPARE: Readonly<Record<string, string>> = { less: "<", greater: ">", equal: "==" };

/** Comparisons that also take bool operands (the op record's `accepts: "any"`). */
const BOOL_COMPARABLE: ReadonlySet<string> = new Set(["equal"]);

/** The f32 expression of one body step (an arithmetic op or gelu) and the math it needs. */
export function floatStep(op: string, approximate: string | undefined, args: readonly string[]): { expr: string; math?: string } {
  if (Object.hasOwn(FLOAT_SELECT, op) && args.length === 3) return { expr: FLOAT_SELECT[op](args[0], args[1], args[2]) };
  if (op === "gelu") return approximate === "tanh" ? { expr: `m_gelu_tanh(${args[0]})`, math: "gelu" } : { expr: `m_gelu(${args[0]})`, math: "gelu" };
  if (Object.hasOwn(FLOAT_UNARY, op) && args.length === 1) return { expr: FLOAT_UNARY[op].fn(args[0]), math: FLOAT_UNARY[op].math };
  if (Object.hasOwn(FLOAT_BINARY, op) && args.length === 2) return { expr: FLOAT_BINARY[op].fn(args[0], args[1]), math: FLOAT_BINARY[op].math };
  throw new Error(`webgpu: no f32 element function for '${op}'`);
}

/**
 * WGSL statements evaluating a fused body (fused-body.ts) over the operand expressions, one `let`
 * per step; returns the statements, the result's name and the math functions used.
 */
export function bodyProgram(steps: readonly BodyStep[], operands: readonly string[], prefix = "t"): { stmts: string; result: string; math: Set<string> } {
  const math = new Set<string>();
  const arg = (a: BodyArg) => (a.kind === "operand" ? operands[a.index] : a.kind === "temp" ? `${prefix}${a.index}` : f32(a.value));
  const lines = steps.map((s, k) => {
    const step = floatStep(s.op, s.approximate, s.args.map(arg));
    if (step.math) math.add(step.math);
    return `  let ${prefix}${k} = ${step.expr};`;
  });
  return { stmts: lines.join("\n"), result: `${prefix}${steps.length - 1}`, math };
}

function operands(a: WgslKernelArgs): string[] {
  return a.inputs.map((x) => broadcastRead(x, a.output.type.shape));
}

/** A kernel whose value is `ret` over the operands' loads (`let xK` each), with math helpers. */
function mapKernel(a: WgslKernelArgs, ret: (xs: string[]) => string, math: Iterable<string> = []): ReturnType<WgslKernel> {
  const xs = operands(a);
  const lets = xs.map((x, k) => `  let x${k} = ${x};`).join("\n");
  const body = `${lets}\n  return ${ret(xs.map((_, k) => `x${k}`))};`;
  return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { helpers: mathLibrary(math), body }, a.target)];
}

function isFloatData(dtype: DType): boolean {
  return computeType(dtype) === "f32";
}

const unaryKernel = (op: string): WgslKernel => (a) => {
  if (isFloatData(a.inputs[0].type.dtype)) {
    if (op === "gelu") return mapKernel(a, ([x]) => floatStep("gelu", attr.str(a.node.attrs, "approximate"), [x]).expr, ["gelu"]);
    const f = FLOAT_UNARY[op];
    return mapKernel(a, ([x]) => f.fn(x), f.math ? [f.math] : []);
  }
  const g = INT_UNARY[op];
  if (!g) throw new Error(`webgpu: ${op} was registered for ${a.inputs[0].type.dtype}, which it has no expression for`);
  return mapKernel(a, ([x]) => g(x));
};

const binaryKernel = (op: string): WgslKernel => (a) => {
  if (isFloatData(a.inputs[0].type.dtype)) {
    const f = FLOAT_BINARY[op];
    return mapKernel(a, ([x, y]) => f.fn(x, y), f.math ? [f.math] : []);
  }
  const g = INT_BINARY[op];
  if (!g) throw new Error(`webgpu: ${op} was registered for ${a.inputs[0].type.dtype}, which it has no expression for`);
  return mapKernel(a, ([x, y]) => g(x, y));
};

const compareKernel = (op: string): WgslKernel => (a) => {
  return mapKernel(a, ([x, y]) => `select(0i, 1i, ${x} ${COMPARE[op]} ${y})`);
};

const where: WgslKernel = (a) => {
  return mapKernel(a, ([c, x, y]) => FLOAT_SELECT.where(c, x, y));
};

/** Inclusive ranges float -> integer casts saturate to. */
const RANGE: Partial<Record<DType, readonly [number, number]>> = { i8: [-128, 127], u8: [0, 255] };

function castExpr(x: string, from: DType, to: DType): string {
  const fromFloat = isFloatData(from);
  if (to === "bool") return fromFloat ? `select(0i, 1i, ${x} != 0.0 || is_nan(${x}))` : `select(0i, 1i, ${x} != 0i)`;
  if (isFloatData(to)) return fromFloat ? x : `f32(${x})`;
  if (!fromFloat) return x; // int -> int: the store truncates (wraps)
  const range = RANGE[to];
  if (range) return `select(i32(clamp(${x}, ${f32(range[0])}, ${f32(range[1])})), 0i, is_nan(${x}))`;
  return `select(select(select(i32(${x}), ${i32(2 ** 31 - 1)}, ${x} >= 2147483648.0), ${i32(-(2 ** 31))}, ${x} <= -2147483648.0), 0i, is_nan(${x}))`;
}

const cast: WgslKernel = (a) => {
  return mapKernel(a, ([x]) => castExpr(x, a.inputs[0].type.dtype, a.output.type.dtype));
};

const constant: WgslKernel = (a) => {
  const dtype = a.output.type.dtype;
  // Rounded to the dtype here (f16/bf16 values are exact f32s), not through f32 on the way.
  const value = isFloatData(dtype) ? roundTo(dtype, attr.num(a.node.attrs, "value")) : attr.num(a.node.attrs, "value");
  return [elementMap(`const %${a.node.id}`, a.output, { body: `  return ${literal(value, dtype)};` }, a.target)];
};

const iota: WgslKernel = (a) => {
  const shape = a.output.type.shape;
  const rank = shape.length;
  const axis = ((attr.num(a.node.attrs, "axis") % rank) + rank) % rank;
  const index = `((i / ${u32(stridesOf(shape)[axis])}) % ${u32(shape[axis])})`;
  const value = isFloatData(a.output.type.dtype) ? `f32(${index})` : `i32(${index})`;
  return [elementMap(`iota %${a.node.id}`, a.output, { body: `  return ${value};` }, a.target)];
};

const fused: WgslKernel = (a) => {
  const steps = parseBody(attr.str(a.node.attrs, "body"), a.inputs.length);
  const xs = operands(a);
  const program = bodyProgram(steps, xs.map((_, k) => `x${k}`));
  const lets = xs.map((x, k) => `  let x${k} = ${x};`).join("\n");
  const body = `${lets}\n${program.stmts}\n  return ${program.result};`;
  return [elementMap(`fused %${a.node.id}`, a.output, { helpers: mathLibrary(program.math), body }, a.target)];
};

/** The dtypes an arithmetic op takes: FLOATS, plus INTS where it has an integer expression. */
const arithmeticDTypes = (op: string, ints: Readonly<Record<string, unknown>>): DType[] => [...FLOATS, ...(Object.hasOwn(ints, op) ? INTS : [])];

/** Comparisons: numeric operands (equal also bool), a bool result. */
const compareSignatures = (op: string) => [...NUMERIC, ...(BOOL_COMPARABLE.has(op) ? (["bool"] as const) : [])].map((t) => signature([t, t], "bool"));

export const ELEMENTWISE_KERNELS: WgslKernelTable = signedTable("wgsl elementwise kernels", {
  arithmetic: [
    ...[...Object.keys(FLOAT_UNARY), "gelu"].map((op) => ({ op, dtypes: arithmeticDTypes(op, INT_UNARY), kernel: unaryKernel(op) })),
    ...Object.keys(FLOAT_BINARY).map((op) => ({ op, dtypes: arithmeticDTypes(op, INT_BINARY), kernel: binaryKernel(op) })),
    ...Object.keys(COMPARE).map((op) => ({ op, dtypes: compareSignatures(op), kernel: compareKernel(op) })),
  ],
  select: [
    { op: "where", dtypes: STORED.map((t) => signature(["bool", t, t], t)), kernel: where },
    { op: "cast", dtypes: STORED.flatMap((from) => STORED.map((to) => signature([from], to))), kernel: cast },
  ],
  source: [
    { op: "const", dtypes: STORED, kernel: constant },
    { op: "iota", dtypes: NUMERIC, kernel: iota },
  ],
  // f32 bodies may read 16-bit operands (widening casts the fuse pass absorbed); 16-bit bodies read their own dtype.
  fused: [{ op: "fused", dtypes: FUSED_SIGNATURES, kernel: fused }],
});
