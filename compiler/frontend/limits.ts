// The frontend's compile-time evaluation limits.
//
// A model runs at compile time, so a model can ask for unbounded work: a loop nest of 10^7
// iterations, `Array.from({ length: 1e9 })`, `'x'.repeat(2 ** 28)`, 2,000 nested parentheses, or a
// param of 10^18 elements. Each limit turns one of these into a located diagnostic with its own
// code (docs/DSL.md "Limits") instead of a hang, an out-of-memory abort, a stack overflow or an
// internal error downstream. The defaults are far above what any example needs (resnet at
// depth 256 uses 19% of the step budget) and every one can be raised with `--limit`.

import { DTYPE_INFO } from "../ir/dtypes.ts";
import type { TensorType } from "../ir/types.ts";
import { CODES, type DiagnosticCode } from "./diagnostics.ts";

export interface EvalLimits {
  /** Iterations one execution of one loop may take before it is reported as unbounded. */
  readonly maxLoopIterations: number;
  /** Nesting of inlined calls before recursion is reported as unbounded. */
  readonly maxCallDepth: number;
  /** Evaluation steps for the whole model: statements, expressions, calls, callbacks, array elements. */
  readonly maxSteps: number;
  /** Elements of one compile-time array, or characters of one string. */
  readonly maxValueSize: number;
  /** Syntax nesting: brackets in the source text and levels of the syntax tree. */
  readonly maxNesting: number;
  /** Elements of one tensor. */
  readonly maxTensorElements: number;
  /** Bytes of one tensor. */
  readonly maxTensorBytes: number;
  /** Bytes of all inputs and params together. */
  readonly maxDeclaredBytes: number;
}

const GiB = 2 ** 30;

export const DEFAULT_LIMITS: EvalLimits = {
  maxLoopIterations: 100_000,
  maxCallDepth: 200,
  // About 1 s of evaluation (a step is under 1 µs, an op 32 steps): 5 times what resnet at
  // depth 256 takes (192,000 steps), and a runaway ends soon.
  maxSteps: 1_000_000,
  maxValueSize: 1 << 20,
  // The TypeScript parser itself overflows Node's stack below 1,000 nested parentheses.
  maxNesting: 400,
  // wasm32 addresses 4 GiB in all; one tensor past 2 GiB (or 2^31 elements, the range of the
  // kernels' i32 indices) cannot sit in an arena beside anything else.
  maxTensorElements: 2 ** 31 - 1,
  maxTensorBytes: 2 * GiB,
  maxDeclaredBytes: 4 * GiB,
};

/** Each limit's `--limit` key, its field, its diagnostic code and what the message calls it. */
export const LIMIT_KEYS: readonly { key: string; field: keyof EvalLimits; code: DiagnosticCode; what: string }[] = [
  { key: "steps", field: "maxSteps", code: CODES.stepLimit, what: "evaluation steps" },
  { key: "loop", field: "maxLoopIterations", code: CODES.loopLimit, what: "iterations of one loop" },
  { key: "calls", field: "maxCallDepth", code: CODES.recursionLimit, what: "nested calls" },
  { key: "value", field: "maxValueSize", code: CODES.valueLimit, what: "elements of an array or characters of a string" },
  { key: "depth", field: "maxNesting", code: CODES.nestingLimit, what: "levels of syntax nesting" },
  { key: "tensor-elements", field: "maxTensorElements", code: CODES.tensorLimit, what: "elements of one tensor" },
  { key: "tensor-bytes", field: "maxTensorBytes", code: CODES.tensorLimit, what: "bytes of one tensor" },
  { key: "total-bytes", field: "maxDeclaredBytes", code: CODES.tensorLimit, what: "bytes of all inputs and params" },
];

/** How a message names a limit and its flag: "limit 'steps'; raise it with --limit steps=N". */
export function raiseHint(field: keyof EvalLimits, _current?: number): string {
  const key = LIMIT_KEYS.find((k) => k.field === field)!.key;
  return `limit '${key}'; raise it with --limit ${key}=N`;
}

/** A limit was exceeded; `code` says which (the evaluator attaches the location). */
export class LimitError extends Error {
  override name = "LimitError";
  constructor(
    readonly code: DiagnosticCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `steps=1e7,depth=800` → the limits it changes. Values are positive integers (1e7 and 2**31
 * style exponents are accepted); unknown keys and bad values throw an Error naming them.
 */
export function parseLimitSpec(spec: string): Partial<Record<keyof EvalLimits, number>> {
  const out: Partial<Record<keyof EvalLimits, number>> = {};
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = eq > 0 ? part.slice(0, eq).trim() : part;
    const entry = LIMIT_KEYS.find((k) => k.key === key);
    if (!entry) throw new Error(`--limit ${part}: unknown limit '${key}' (limits: ${LIMIT_KEYS.map((k) => k.key).join(", ")})`);
    const raw = eq > 0 ? part.slice(eq + 1).trim() : "";
    const pow = /^(\d+)\s*\*\*\s*(\d+)$/.exec(raw);
    const value = pow ? Number(pow[1]) ** Number(pow[2]) : /^[0-9.e+]+$/i.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`--limit ${part}: ${key} must be a positive integer, got '${raw}'`);
    }
    out[entry.field] = value;
  }
  return out;
}

/** Limits every compilation in this process starts from (the CLI's `--limit` sets them). */
let processLimits: Partial<EvalLimits> = {};

/** Sets the limits every later compileModelFile starts from; its own `limits` option still wins. */
export function setDefaultLimits(limits: Partial<EvalLimits>): void {
  processLimits = { ...limits };
}

/** The defaults, then the process's (`--limit`), then `overrides`. */
export function withLimits(overrides: Partial<EvalLimits> | undefined): EvalLimits {
  return { ...DEFAULT_LIMITS, ...processLimits, ...overrides };
}

/** Checks one tensor type against the tensor limits; the error names `what` (e.g. "param 'w'"). */
export function checkTensorSize(type: TensorType, limits: EvalLimits, what: string): void {
  let elements = 1;
  for (const d of type.shape) elements *= d;
  const shape = `[${type.shape.join(", ")}]`;
  if (!(elements <= limits.maxTensorElements)) {
    throw new LimitError(
      CODES.tensorLimit,
      `${what} of shape ${shape} has ${fmt(elements)} elements, more than the limit of ${fmt(limits.maxTensorElements)} (${raiseHint("maxTensorElements", limits.maxTensorElements)})`,
    );
  }
  const bytes = tensorBytes(type);
  if (!(bytes <= limits.maxTensorBytes)) {
    throw new LimitError(
      CODES.tensorLimit,
      `${what} ${type.dtype}${shape} takes ${bytesText(bytes)}, more than the limit of ${bytesText(limits.maxTensorBytes)} for one tensor (wasm32 addresses 4 GiB in all; ${raiseHint("maxTensorBytes", limits.maxTensorBytes)})`,
    );
  }
}

export function tensorBytes(type: TensorType): number {
  let elements = 1;
  for (const d of type.shape) elements *= d;
  // bool is stored one byte per element.
  return elements * (DTYPE_INFO[type.dtype]?.bytes ?? 1);
}

export function bytesText(n: number): string {
  if (n >= GiB) return `${+(n / GiB).toPrecision(4)} GiB`;
  if (n >= 2 ** 20) return `${+(n / 2 ** 20).toPrecision(4)} MiB`;
  return `${n} bytes`;
}

function fmt(n: number): string {
  return Number.isSafeInteger(n) ? n.toLocaleString("en-US") : n.toExponential(3);
}
