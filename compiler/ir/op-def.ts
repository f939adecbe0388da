// The shape of one op record. Each op is ONE object that holds everything the compiler knows
// about it: operands, attribute schema, shape/dtype rule and reference kernel, and (filled in by
// the autodiff work) its VJP. Backends keep their own kernel tables keyed by `name`.

import type { Attrs } from "./graph.ts";
import { ShapeError, type DType, type TensorType } from "./types.ts";

export type AttrValue = number | string | boolean | readonly number[] | null;

export type AttrKind = "int" | "float" | "bool" | "string" | "ints" | "dtype";

export interface AttrSpec {
  readonly kind: AttrKind;
  /** Value used when the attribute is not given. Absent means the attribute is required. */
  readonly default?: AttrValue;
  /** For `string` attributes: the allowed spellings. */
  readonly oneOf?: readonly string[];
  /** May hold `null` as "not given" (e.g. optional numeric padding). */
  readonly nullable?: boolean;
  readonly doc?: string;
}

/** A runtime tensor of the reference interpreter: every dtype is held as exact float64 numbers. */
export interface Tensor {
  readonly type: TensorType;
  readonly data: Float64Array;
}

/** Broad category of an op; later passes (fusion, in-place, checkpointing) key off it. */
export type OpKind =
  | "source"      // no tensor operands (const)
  | "elementwise" // output element i depends only on input elements i (after broadcasting)
  | "reduction"
  | "contraction" // matmul, conv
  | "layout"      // reshape, transpose, slice, concat, ...
  | "normalization"
  | "loss"
  | "other";

export interface OpDef {
  /** The op's name in the IR and in the DSL. */
  readonly name: string;
  readonly summary: string;
  readonly kind: OpKind;
  /** Names of tensor operands (for docs and errors); `variadic` takes any number >= min. */
  readonly operands: readonly string[] | { readonly variadic: string; readonly min: number };
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  /** Output type from operand types and complete attributes; throws ShapeError on misuse. */
  infer(inputs: readonly TensorType[], attrs: Attrs): TensorType;
  /**
   * Reference kernel. Computes in float64; the interpreter rounds the result to `out.dtype`
   * when it runs in native precision. Must not mutate its inputs.
   */
  interpret(inputs: readonly Tensor[], attrs: Attrs, out: TensorType): Float64Array;
  /** Relative tolerance a float32 backend kernel must meet against this reference. */
  readonly tolerance?: number;
  /**
   * Vector-Jacobian product: given the cotangent of the result, emits (through ctx.b) the
   * cotangent of each operand, or null for operands that take none (integer indices, masks).
   * Absent for ops that cannot be differentiated; autodiff then names the op in its error.
   */
  readonly vjp?: VjpRule;
}

export interface VjpContext {
  /** Builder of the graph being extended; backward nodes are ordinary nodes added here. */
  readonly b: import("./builder.ts").GraphBuilder;
  /** The forward node; its operands are node.inputs and its result node.id. */
  readonly node: import("./graph.ts").Node;
  /** Cotangent of node.id (same type as the result). */
  readonly dy: string;
  /** Which operands need a cotangent; a rule may skip work for the others (return null). */
  readonly needs: readonly boolean[];
}

export type VjpRule = (ctx: VjpContext) => ReadonlyArray<string | null>;

export function operandCount(op: OpDef): { min: number; max: number } {
  if (Array.isArray(op.operands)) return { min: op.operands.length, max: op.operands.length };
  const v = op.operands as { variadic: string; min: number };
  return { min: v.min, max: Infinity };
}

/**
 * Fills defaults, rejects unknown attributes and checks kinds. Returns a new object whose keys
 * are in the schema's order, so printed IR is stable.
 */
export function completeAttrs(op: OpDef, given: Readonly<Record<string, AttrValue | undefined>>): Attrs {
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(op.attrs, key) && given[key] !== undefined) {
      const known = Object.keys(op.attrs);
      throw new ShapeError(
        `${op.name} has no attribute '${key}'` + (known.length ? ` (known: ${known.join(", ")})` : ""),
      );
    }
  }
  const out: Record<string, AttrValue> = {};
  for (const [key, spec] of Object.entries(op.attrs)) {
    const v = given[key] === undefined ? spec.default : given[key];
    if (v === undefined) throw new ShapeError(`${op.name} needs attribute '${key}'`);
    checkAttrKind(op.name, key, spec, v);
    out[key] = v;
  }
  return out;
}

function checkAttrKind(opName: string, key: string, spec: AttrSpec, v: AttrValue): void {
  const bad = (want: string) => new ShapeError(`${opName} attribute '${key}' must be ${want}, got ${JSON.stringify(v)}`);
  if (v === null) {
    if (!spec.nullable) throw bad(spec.kind);
    return;
  }
  switch (spec.kind) {
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v)) throw bad("an integer");
      return;
    case "float":
      if (typeof v !== "number") throw bad("a number");
      return;
    case "bool":
      if (typeof v !== "boolean") throw bad("a boolean");
      return;
    case "string":
      if (typeof v !== "string") throw bad("a string");
      if (spec.oneOf && !spec.oneOf.includes(v)) throw bad(`one of ${spec.oneOf.map((s) => `"${s}"`).join(", ")}`);
      return;
    case "dtype":
      if (typeof v !== "string" || !["f32", "f16", "bf16", "i32", "i8", "u8", "bool"].includes(v)) throw bad("a dtype");
      return;
    case "ints":
      if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) throw bad("an array of integers");
      return;
  }
}

/** Convenience for rules: the attribute as a number / int array / string / dtype. */
export const attr = {
  num: (a: Attrs, k: string) => a[k] as number,
  ints: (a: Attrs, k: string) => a[k] as readonly number[],
  str: (a: Attrs, k: string) => a[k] as string,
  bool: (a: Attrs, k: string) => a[k] as boolean,
  dtype: (a: Attrs, k: string) => a[k] as DType,
};
