// The shape of one op record. Each op is ONE object that holds everything the compiler knows
// about it: operands, attribute schema, shape/dtype rule and reference kernel, its VJP, and the
// facts passes need (FLOPs, buffer sharing, fusion roles, randomness). Backends keep their own
// kernel tables keyed by `name`. Adding an op touches its record and those tables, nothing else.

import type { Attrs, Node } from "./graph.ts";
import { isDType, numel, ShapeError, type DType, type TensorType } from "./types.ts";

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

/**
 * Broad category of an op (docs, tests, error messages). Passes read the specific fields of the
 * record instead (`flops`, `inplace`, `fusion`, `random`), so a new op states each fact itself.
 */
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
  /**
   * Floating-point operations of one node from its static types (the checkpoint pass trades
   * memory against them: passes/checkpoint/cost.ts). Absent: `elementFlops`, one per element read
   * or written, which is what makes an op cheap to recompute next to a contraction.
   */
  readonly flops?: FlopsRule;
  /**
   * Whether the result may share an operand's buffer (absent: never). ir/aliasing.ts
   * `mayReuseOperand` is the one place that combines this with the operands' types:
   * - "alias": the result IS operand 0's bytes, unchanged (reshape, copy): zero-copy, no kernel
   *   writes anything, so sharing is safe even while the operand is read later.
   * - "overwrite": the kernel computes element i of the result from element i of each operand
   *   (after broadcasting) and reads them before it writes element i, so it may write into an
   *   operand of the result's element count and width once nothing reads that operand afterwards
   *   (elementwise ops; this is also what lets optimizer updates run in the state's buffer).
   */
  readonly inplace?: InplaceRule;
  /** The op's roles in the fusion passes (absent: it takes part in none). */
  readonly fusion?: OpFusion;
  /**
   * Computes and stores in f32 only: under 16-bit storage the precision pass gives it f32
   * operands (widened) and keeps its result f32, as for the losses (pruneMask: a mask of f32
   * master weights). Absent: the op takes every float storage dtype.
   */
  readonly f32Only?: boolean;
  /**
   * Draws random numbers: a Philox stream keyed by its `seed` attribute and its step operand
   * (rng.ts; dropout). The result is still a pure function of operands and attributes, and no op
   * has side effects (persistent state changes only through `update` records), but two such nodes
   * are distinct draws by intent: cse must not merge them, constant folding must not evaluate
   * them (the value depends on the element index), dce keeps them unless told otherwise, and a
   * pass that creates new ones must give them fresh seeds.
   */
  readonly random?: boolean;
  /**
   * The operands this op reads as indices into an axis (class labels, gathered rows), each element
   * valid in [0, size): the WASM kernels trap outside it and the WGSL ones read 0, so a bundle
   * checks the inputs that reach these operands at its API (compiler/bundle/index-ranges.ts).
   * Absent: the op reads no operand as an index (oneHot is not one: out of range is a zero row).
   */
  readonly indexOperands?: IndexOperandsRule;
}

/** An operand read as indices into an axis of `size` entries; `what` says which, for messages. */
export interface IndexOperand {
  readonly operand: number;
  readonly size: number;
  readonly what: string;
}

/** See `OpDef.indexOperands`. */
export type IndexOperandsRule = (node: Node, operandTypes: readonly TensorType[]) => readonly IndexOperand[];

/** FLOPs of `node`, given its operands' types (in operand order). */
export type FlopsRule = (node: Node, operandTypes: readonly TensorType[]) => number;

/** See `OpDef.inplace`. */
export type InplaceRule = "alias" | "overwrite";

/** See `OpDef.fusion`; each field names the pass that reads it. */
export interface OpFusion {
  /**
   * May be a step of a fused elementwise body (ops/fused-body.ts): `fuse` merges chains of these
   * into `fused` nodes, and `fuseReductions` / `fuseEpilogues` absorb one as a producer or an
   * epilogue. The body evaluator needs the op's float element function (FLOAT_UNARY_FUNCTIONS,
   * FLOAT_BINARY_FUNCTIONS or gelu in ops/elementwise.ts) and backends a body kernel for it.
   */
  readonly chain?: boolean;
  /**
   * The operand that is a bool condition, the others being of the result's float dtype (where's
   * 0). Only `fuse` takes such a step into a body (the condition becomes a bool operand of the
   * fused node); `fuseReductions` and `fuseEpilogues` leave it out, their kernels read floats only.
   */
  readonly condition?: number;
  /**
   * As a body step, has a scalar element function only (no SIMD form): `fuseReductions` keeps
   * bodies with such a step out of a `fusedReduce`, whose kernel walks SIMD lanes (pow).
   */
  readonly scalarOnly?: boolean;
  /**
   * A reduction that may absorb the elementwise producer of its operand into a `fusedReduce`
   * (`fuseReductions`; the fusedReduce `reduce` attribute names this op).
   */
  readonly reduceHead?: boolean;
  /**
   * A contraction that may take its elementwise consumer as an epilogue: the name of the fused op
   * that carries both (`fuseEpilogues`; ops/fused-contraction.ts builds it from this record).
   */
  readonly epilogueOp?: string;
}

/** The default `flops`: one per element of the largest of the result and the operands. */
export function elementFlops(node: Node, operandTypes: readonly TensorType[]): number {
  return Math.max(numel(node.type.shape), ...operandTypes.map((t) => numel(t.shape)));
}

/** FLOPs of `node` under `op`'s rule (or the default). */
export function opFlops(op: OpDef, node: Node, operandTypes: readonly TensorType[]): number {
  return (op.flops ?? elementFlops)(node, operandTypes);
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
      if (typeof v !== "string" || !isDType(v)) throw bad("a dtype");
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
