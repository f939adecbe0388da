// The body of a `fused` node: a tiny straight-line program over the node's operands, evaluated
// per element. It is stored as the node's string attribute `body`, so the IR text printer and
// parser carry it as a plain JSON string.
//
// Syntax (docs/IR.md, "Fused ops"): steps separated by `;`, each `op(arg, ...)` or, for gelu's
// tanh form, `gelu[tanh](arg)`. Step k defines the temporary `tk`; the last step is the result.
// An argument is an operand `xI` (the node's I-th operand, broadcast to the result's shape), an
// earlier temporary `tK`, or a number literal (`String(n)` spelling, plus inf, -inf, nan).
//
//     mul(x0, x1); add(t0, x2); relu(t1)        = relu(x0 * x1 + x2)
//     mul(x0, 0.5); gelu[tanh](t0)              = gelu_tanh(x0 / 2)

import { operandCount } from "../op-def.ts";
import { ShapeError } from "../types.ts";
import { ELEMENTWISE_OPS, FLOAT_BINARY_FUNCTIONS, FLOAT_TERNARY_FUNCTIONS, FLOAT_UNARY_FUNCTIONS, GELU_FUNCTIONS } from "./elementwise.ts";

export type BodyArg =
  | { readonly kind: "operand"; readonly index: number }
  | { readonly kind: "temp"; readonly index: number }
  | { readonly kind: "literal"; readonly value: number };

export interface BodyStep {
  /** An op whose record says `fusion.chain` (a key of FLOAT_UNARY/BINARY_FUNCTIONS, or `gelu`). */
  readonly op: string;
  /** gelu's `approximate` attribute ("none" or "tanh"); absent for every other op. */
  readonly approximate?: string;
  readonly args: readonly BodyArg[];
}

/** The argument slot of `op` that is a bool condition (where's 0), per its record's `fusion.condition`. */
const CONDITIONS: ReadonlyMap<string, number> = new Map(
  ELEMENTWISE_OPS.flatMap((op) => (op.fusion?.chain && op.fusion.condition !== undefined ? [[op.name, op.fusion.condition] as const] : [])),
);

/**
 * The operands a body reads as conditions. Each must be a bool operand read only as a condition,
 * and each condition an operand (not a temporary or a literal): a body computes floats only, so a
 * bool value enters it where it selects and nowhere else. ShapeError otherwise.
 */
export function conditionOperands(op: string, steps: readonly BodyStep[], operandIsBool: (index: number) => boolean): Set<number> {
  const conditions = new Set<number>();
  const floats = new Set<number>();
  steps.forEach((s, k) => {
    s.args.forEach((a, slot) => {
      const isCondition = CONDITIONS.get(s.op) === slot;
      if (isCondition && a.kind !== "operand") throw new ShapeError(`${op}: body step ${k} (${s.op}) takes its condition from a bool operand, not ${a.kind === "temp" ? `t${a.index}` : "a literal"}`);
      if (a.kind === "operand") (isCondition ? conditions : floats).add(a.index);
    });
  });
  for (const i of conditions) {
    if (!operandIsBool(i)) throw new ShapeError(`${op}: operand x${i} is a condition and must be bool`);
    if (floats.has(i)) throw new ShapeError(`${op}: bool operand x${i} is read as a number`);
  }
  for (const i of floats) if (operandIsBool(i)) throw new ShapeError(`${op}: bool operand x${i} is read as a number`);
  return conditions;
}

/** The ops a body may use (records with `fusion.chain`) and their arity. */
const BODY_OPS: ReadonlyMap<string, number> = new Map(
  ELEMENTWISE_OPS.filter((op) => op.fusion?.chain).map((op) => [op.name, operandCount(op).min]),
);

/** The arity of `op` as a body step, or undefined when a body may not use it. */
export function bodyOpArity(op: string): number | undefined {
  return BODY_OPS.get(op);
}

export function formatBody(steps: readonly BodyStep[]): string {
  return steps.map(formatStep).join("; ");
}

function formatStep(s: BodyStep): string {
  const head = s.op === "gelu" && s.approximate === "tanh" ? "gelu[tanh]" : s.op;
  return `${head}(${s.args.map(formatArg).join(", ")})`;
}

function formatArg(a: BodyArg): string {
  if (a.kind === "operand") return `x${a.index}`;
  if (a.kind === "temp") return `t${a.index}`;
  if (Number.isNaN(a.value)) return "nan";
  if (a.value === Infinity) return "inf";
  if (a.value === -Infinity) return "-inf";
  return Object.is(a.value, -0) ? "-0" : String(a.value);
}

const STEP = /^([A-Za-z]+)(?:\[([a-z]+)\])?\((.*)\)$/;
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/;

/** Parses and validates a body for a node with `operandCount` operands; ShapeError on any flaw. */
export function parseBody(text: string, operandCount: number): BodyStep[] {
  const steps = text.split(";").map((s) => s.trim());
  if (steps.length === 0 || steps.some((s) => s === "")) throw new ShapeError(`fused: body ${JSON.stringify(text)} has an empty step`);
  return steps.map((s, k) => parseStep(s, k, operandCount));
}

function parseStep(text: string, k: number, operandCount: number): BodyStep {
  const bad = (why: string) => new ShapeError(`fused: body step ${k} '${text}': ${why}`);
  const m = STEP.exec(text);
  if (!m) throw bad("expected op(arg, ...)");
  const [, op, variant, argText] = m;
  const arity = bodyOpArity(op);
  if (arity === undefined) throw bad(`'${op}' is not a fusable elementwise op`);
  if (variant !== undefined && !(op === "gelu" && variant === "tanh")) throw bad(`unknown variant [${variant}]`);
  const args = argText.split(",").map((a) => parseArg(a.trim(), k, operandCount, bad));
  if (args.length !== arity) throw bad(`${op} takes ${arity} argument(s), got ${args.length}`);
  const step: BodyStep = { op, args };
  return op === "gelu" ? { ...step, approximate: variant ?? "none" } : step;
}

function parseArg(text: string, k: number, operandCount: number, bad: (why: string) => ShapeError): BodyArg {
  const ref = /^([xt])(\d+)$/.exec(text);
  if (ref) {
    const index = Number(ref[2]);
    if (ref[1] === "x") {
      if (index >= operandCount) throw bad(`x${index} is out of range (${operandCount} operands)`);
      return { kind: "operand", index };
    }
    if (index >= k) throw bad(`t${index} is not defined before this step`);
    return { kind: "temp", index };
  }
  if (text === "nan") return { kind: "literal", value: NaN };
  if (text === "inf") return { kind: "literal", value: Infinity };
  if (text === "-inf") return { kind: "literal", value: -Infinity };
  if (NUMBER.test(text)) return { kind: "literal", value: Number(text) };
  throw bad(`'${text}' is not an operand (xI), a temporary (tK) or a number`);
}

/** One element of the result from one element of each operand, in float64 (no rounding between steps). */
export function evaluateBody(steps: readonly BodyStep[], operands: readonly number[]): number {
  const temps = new Array<number>(steps.length);
  const value = (a: BodyArg) => (a.kind === "operand" ? operands[a.index] : a.kind === "temp" ? temps[a.index] : a.value);
  steps.forEach((s, k) => {
    if (s.op === "gelu") temps[k] = GELU_FUNCTIONS[s.approximate ?? "none"](value(s.args[0]));
    else if (s.args.length === 1) temps[k] = FLOAT_UNARY_FUNCTIONS[s.op](value(s.args[0]));
    else if (s.args.length === 3) temps[k] = FLOAT_TERNARY_FUNCTIONS[s.op](value(s.args[0]), value(s.args[1]), value(s.args[2]));
    else temps[k] = FLOAT_BINARY_FUNCTIONS[s.op](value(s.args[0]), value(s.args[1]));
  });
  return temps[steps.length - 1];
}
