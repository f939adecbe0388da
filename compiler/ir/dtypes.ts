// The element types of the IR, described once. Every place that needs to know something about a
// dtype — its size, whether it is a float, its safetensors code, the typed array that holds it,
// how each backend stores and computes it — reads it from DTYPE_INFO instead of listing the dtypes
// again. Adding a dtype is one row here (and the kernels that support it).
//
// Storage vs compute: the arena stores each dtype in its own bytes; kernels compute floats in f32
// (f16 and bf16 are widened on load and narrowed with round-to-nearest-even on store) and every
// integer dtype and bool in i32 (sign- or zero-extended on load, truncated to the width on store,
// which is the interpreter's wrap-around).
//
// The second half of the file is dtype *signatures*: what operand and result dtypes one
// application of an op has, and a table of things (backend kernels) registered by op and
// signature, so backends look kernels up by (op, dtypes) and a missing combination is an error
// naming both. Runtime bundles cannot import this file: runtime/bundle-io.js holds a literal
// copy of the (safetensors code, typed array) columns, which test/ir/dtypes.test.ts keeps equal.

import { bf16BitsToNumber, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from "../../runtime/half.ts";

export const DTYPES = ["f32", "f16", "bf16", "i32", "i8", "u8", "bool"] as const;
export type DType = (typeof DTYPES)[number];

/** The types the backends compute in: floats in f32, integers and bool in i32. */
export type ComputeDType = "f32" | "i32";

/** The safetensors dtype codes of the IR dtypes. */
export type SafetensorsCode = "F32" | "F16" | "BF16" | "I32" | "I8" | "U8" | "BOOL";

export type DTypeArray = Float32Array | Uint16Array | Int32Array | Int8Array | Uint8Array;
export type DTypeArrayConstructor =
  | Float32ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor;

/**
 * How the WASM backend moves an element between memory and its compute type: a load of `bits`
 * (narrow loads sign-extend when `signed`), then `widen` (none: the bits are the f32/i32 value;
 * "f16": IEEE binary16 to f32; "bf16": the high half of an f32). A store applies the inverse
 * (f32 -> f16/bf16 round to nearest even, integers keep their low `bits`).
 */
export interface WasmStorage {
  readonly bits: 8 | 16 | 32;
  readonly signed: boolean;
  readonly widen: "none" | "f16" | "bf16";
}

/**
 * How the WGSL backend packs the dtype into the arena's `array<u32>`: `perWord` elements to a
 * little-endian word (element index = byte offset / bytes + i), read by the prelude function
 * `load` (which returns the compute type) and, for packed dtypes, turned into their bits by
 * `encode` before a whole word is stored (wgsl.ts). f16 and bf16 are decoded and rounded with
 * integer operations, not unpack2x16float/pack2x16float: WGSL leaves those builtins' rounding
 * direction, out-of-range results and subnormal handling to the implementation.
 */
export interface WgslStorage {
  readonly perWord: 1 | 2 | 4;
  readonly load: "ld_f32" | "ld_i32" | "ld_f16" | "ld_bf16" | "ld_i8" | "ld_u8";
  /** WGSL expression turning compute value `v` into the element's bits (packed dtypes). */
  readonly encode: (v: string) => string;
}

export interface DTypeInfo {
  readonly name: DType;
  /** Bytes one element occupies in memory (bool is one byte). */
  readonly bytes: 1 | 2 | 4;
  readonly kind: "float" | "int" | "bool";
  readonly signed: boolean;
  readonly safetensors: SafetensorsCode;
  /** The typed array that holds elements (f16/bf16: their raw 16-bit patterns). */
  readonly array: DTypeArrayConstructor;
  /** The type kernels compute in. */
  readonly compute: ComputeDType;
  /** A number (already of this dtype's values) as the element the typed array stores. */
  readonly toStored: (x: number) => number;
  /** An element of the typed array as the number it means. */
  readonly fromStored: (x: number) => number;
  readonly wasm: WasmStorage;
  readonly wgsl: WgslStorage;
}

const same = (x: number) => x;
const byteBits = (v: string) => `(u32(${v}) & 0xffu)`;

export const DTYPE_INFO: Readonly<Record<DType, DTypeInfo>> = {
  f32: {
    name: "f32", bytes: 4, kind: "float", signed: true, safetensors: "F32", array: Float32Array, compute: "f32",
    toStored: same, fromStored: same,
    wasm: { bits: 32, signed: false, widen: "none" },
    wgsl: { perWord: 1, load: "ld_f32", encode: (v) => `bitcast<u32>(${v})` },
  },
  f16: {
    name: "f16", bytes: 2, kind: "float", signed: true, safetensors: "F16", array: Uint16Array, compute: "f32",
    toStored: numberToF16Bits, fromStored: f16BitsToNumber,
    wasm: { bits: 16, signed: false, widen: "f16" },
    wgsl: { perWord: 2, load: "ld_f16", encode: (v) => `f16_bits(${v})` },
  },
  bf16: {
    name: "bf16", bytes: 2, kind: "float", signed: true, safetensors: "BF16", array: Uint16Array, compute: "f32",
    toStored: numberToBF16Bits, fromStored: bf16BitsToNumber,
    wasm: { bits: 16, signed: false, widen: "bf16" },
    wgsl: { perWord: 2, load: "ld_bf16", encode: (v) => `bf16_bits(${v})` },
  },
  i32: {
    name: "i32", bytes: 4, kind: "int", signed: true, safetensors: "I32", array: Int32Array, compute: "i32",
    toStored: same, fromStored: same,
    wasm: { bits: 32, signed: true, widen: "none" },
    wgsl: { perWord: 1, load: "ld_i32", encode: (v) => `bitcast<u32>(${v})` },
  },
  i8: {
    name: "i8", bytes: 1, kind: "int", signed: true, safetensors: "I8", array: Int8Array, compute: "i32",
    toStored: same, fromStored: same,
    wasm: { bits: 8, signed: true, widen: "none" },
    wgsl: { perWord: 4, load: "ld_i8", encode: byteBits },
  },
  u8: {
    name: "u8", bytes: 1, kind: "int", signed: false, safetensors: "U8", array: Uint8Array, compute: "i32",
    toStored: same, fromStored: same,
    wasm: { bits: 8, signed: false, widen: "none" },
    wgsl: { perWord: 4, load: "ld_u8", encode: byteBits },
  },
  bool: {
    name: "bool", bytes: 1, kind: "bool", signed: false, safetensors: "BOOL", array: Uint8Array, compute: "i32",
    toStored: (x) => (x ? 1 : 0), fromStored: same,
    wasm: { bits: 8, signed: false, widen: "none" },
    wgsl: { perWord: 4, load: "ld_u8", encode: byteBits },
  },
};

export function dtypeInfo(dtype: DType): DTypeInfo {
  return DTYPE_INFO[dtype];
}

/** The IR dtype whose safetensors code is `code`, or undefined (F64, I64, ... have none). */
export function dtypeOfSafetensors(code: string): DType | undefined {
  return DTYPES.find((d) => DTYPE_INFO[d].safetensors === code);
}

/** `data` (numbers already of the dtype's values, e.g. rounded by dtype-round.ts) in the dtype's typed array. */
export function toTypedArray(dtype: DType, data: ArrayLike<number>): DTypeArray {
  const info = DTYPE_INFO[dtype];
  const out = new info.array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = info.toStored(data[i]);
  return out;
}

/** The numbers a typed array of `dtype` holds, as float64. */
export function fromTypedArray(dtype: DType, data: ArrayLike<number>): Float64Array {
  const { fromStored } = DTYPE_INFO[dtype];
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = fromStored(data[i]);
  return out;
}

// ---- dtype signatures ------------------------------------------------------------------------

/**
 * The dtypes of one application of an op: `operands` for the leading operands, `rest` for every
 * further one (variadic ops such as concat, or "all operands" in a uniform signature), `result`.
 * Without `rest` the operand count is exactly `operands.length`.
 */
export interface DTypeSignature {
  readonly operands: readonly DType[];
  /** The dtype of every further operand, or the dtypes each of them may have. */
  readonly rest?: DType | readonly DType[];
  readonly result: DType;
}

/** Whether `d` is a dtype `rest` allows. */
function restAllows(rest: DType | readonly DType[] | undefined, d: DType): boolean {
  return rest !== undefined && (typeof rest === "string" ? rest === d : rest.includes(d));
}

/** The dtypes a signature allows at operand position i (empty past its end). */
function allowedAt(s: DTypeSignature, i: number): readonly DType[] {
  if (i < s.operands.length) return [s.operands[i]];
  return s.rest === undefined ? [] : typeof s.rest === "string" ? [s.rest] : s.rest;
}

/** A signature with exactly these operand dtypes. */
export function signature(operands: readonly DType[], result: DType): DTypeSignature {
  return { operands, result };
}

/** Every operand (any number of them) and the result of dtype `dtype`. */
export function uniformSignature(dtype: DType): DTypeSignature {
  return { operands: [], rest: dtype, result: dtype };
}

/**
 * How a registration names its signatures: a dtype is shorthand for its uniform signature (all
 * operands and the result of that dtype), so `"f32"` covers matmul(f32, f32) -> f32 and
 * concat(f32, f32, f32) -> f32 alike.
 */
export type DTypeSpec = DType | DTypeSignature | readonly (DType | DTypeSignature)[];

export function signaturesOf(spec: DTypeSpec): DTypeSignature[] {
  const list = typeof spec === "string" || !Array.isArray(spec) ? [spec as DType | DTypeSignature] : (spec as readonly (DType | DTypeSignature)[]);
  return list.map((s) => (typeof s === "string" ? uniformSignature(s) : s));
}

export function signatureMatches(s: DTypeSignature, operands: readonly DType[], result: DType): boolean {
  if (s.result !== result) return false;
  if (operands.length < s.operands.length || (s.rest === undefined && operands.length !== s.operands.length)) return false;
  return operands.every((d, i) => (i < s.operands.length ? d === s.operands[i] : restAllows(s.rest, d)));
}

/** Whether some operand list has both signatures. */
export function signaturesOverlap(a: DTypeSignature, b: DTypeSignature): boolean {
  if (a.result !== b.result) return false;
  const la = a.operands.length;
  const lb = b.operands.length;
  const n = a.rest === undefined ? la : b.rest === undefined ? lb : Math.max(la, lb);
  if ((a.rest === undefined && n !== la) || (b.rest === undefined && n !== lb) || n < la || n < lb) return false;
  for (let i = 0; i < n; i++) {
    const other = allowedAt(b, i);
    if (!allowedAt(a, i).some((d) => other.includes(d))) return false;
  }
  return true;
}

/** `matmul(f16, f16) -> f16`: one application's dtypes, as errors name them. */
export function formatApplication(op: string, operands: readonly DType[], result: DType): string {
  return `${op}(${operands.join(", ")}) -> ${result}`;
}

/** `where(bool, f32, f32) -> f32`; a variadic tail as `f32...` (`concat(f32...) -> f32`: all f32). */
export function formatSignature(op: string, s: DTypeSignature): string {
  const parts: string[] = [...s.operands];
  if (s.rest !== undefined) parts.push(typeof s.rest === "string" ? `${s.rest}...` : `{${s.rest.join(",")}}...`);
  return `${op}(${parts.join(", ")}) -> ${s.result}`;
}

// ---- tables keyed by (op, signature) --------------------------------------------------------

/** One registered thing (a backend's kernel) and the signatures it implements. */
export interface SignedEntry<K> {
  readonly signatures: readonly DTypeSignature[];
  readonly kernel: K;
}

/** Entries by op name; an op may have several entries with disjoint signatures. */
export type SignedTable<K> = ReadonlyMap<string, readonly SignedEntry<K>[]>;

/** A registration: `{ op: "matmul", dtypes: "f32", kernel }`. */
export interface SignedRegistration<K> {
  readonly op: string;
  readonly dtypes: DTypeSpec;
  readonly kernel: K;
}

/**
 * The table of a list of registrations (several tables merged first, in order). Two entries of
 * one op whose signatures overlap are an error at load time, naming the op, the signature and
 * `owner`'s groups.
 */
export function signedTable<K>(owner: string, groups: Readonly<Record<string, readonly SignedRegistration<K>[] | SignedTable<K>>>): SignedTable<K> {
  const table = new Map<string, { entry: SignedEntry<K>; group: string }[]>();
  for (const [group, content] of Object.entries(groups)) {
    const regs: { op: string; entry: SignedEntry<K> }[] = isTable(content)
      ? [...content].flatMap(([op, entries]) => entries.map((entry) => ({ op, entry })))
      : content.map((r) => ({ op: r.op, entry: { signatures: signaturesOf(r.dtypes), kernel: r.kernel } }));
    for (const { op, entry } of regs) {
      const list = table.get(op) ?? [];
      for (const other of list) {
        for (const s of entry.signatures) {
          const clash = other.entry.signatures.find((o) => signaturesOverlap(o, s));
          if (clash) {
            throw new Error(`${owner}: ${formatSignature(op, s)} is registered twice (${other.group} and ${group}; overlaps ${formatSignature(op, clash)})`);
          }
        }
      }
      list.push({ entry, group });
      table.set(op, list);
    }
  }
  return new Map([...table].map(([op, list]) => [op, list.map((x) => x.entry)]));
}

function isTable<K>(x: readonly SignedRegistration<K>[] | SignedTable<K>): x is SignedTable<K> {
  return x instanceof Map;
}

/** The entry of `op` implementing these dtypes, or undefined. */
export function findSigned<K>(table: SignedTable<K>, op: string, operands: readonly DType[], result: DType): K | undefined {
  return table.get(op)?.find((e) => e.signatures.some((s) => signatureMatches(s, operands, result)))?.kernel;
}

/** Every signature registered for `op` (empty when none). */
export function signaturesFor<K>(table: SignedTable<K>, op: string): DTypeSignature[] {
  return (table.get(op) ?? []).flatMap((e) => e.signatures);
}

/**
 * The error text of a table miss: "wasm-simd has no kernel for matmul(f16, f16) -> f16 (node %3
 * at model.ts:4:5; it has matmul(f32...) -> f32)", or "... no kernel for op 'exp' (node %0)"
 * when the op has no entry at all.
 */
export function missingKernelMessage<K>(
  backend: string,
  table: SignedTable<K>,
  node: { readonly id: string; readonly op: string; readonly loc?: { file: string; line: number; col: number } },
  operands: readonly DType[],
  result: DType,
): string {
  const where = `node %${node.id}${node.loc ? ` at ${node.loc.file}:${node.loc.line}:${node.loc.col}` : ""}`;
  const known = signaturesFor(table, node.op);
  if (known.length === 0) return `${backend} has no kernel for op '${node.op}' (${where})`;
  const shown = known.slice(0, 6).map((s) => formatSignature(node.op, s)).join(", ");
  const more = known.length > 6 ? `, and ${known.length - 6} more` : "";
  return `${backend} has no kernel for ${formatApplication(node.op, operands, result)} (${where}; it has ${shown}${more})`;
}

// ---- dtype roles: which dtypes a backend's kernels of each kind register (both backends store
// f16/bf16 in 16 bits and compute in f32, integers in i32) ----

/** The 16-bit float storage dtypes. */
export const HALVES: readonly DType[] = ["f16", "bf16"];
/** Float dtypes (computed in f32). */
export const FLOATS: readonly DType[] = ["f32", ...HALVES];
/** Integer dtypes (computed in i32, truncated to their width on store). */
export const INTS: readonly DType[] = ["i32", "i8", "u8"];
/** Every dtype arithmetic kernels take: FLOATS and INTS. */
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
/** Every dtype data-movement kernels (layout, where, cast, const, gather) take: NUMERIC and bool. */
export const STORED: readonly DType[] = [...NUMERIC, "bool"];

/** Whether `dtype` is stored in 16 bits (f16, bf16). */
export function isHalf(dtype: DType): boolean {
  return HALVES.includes(dtype);
}

/**
 * A backend's kernel lookups over its signed table (the default; a caller may pass another):
 * `findKernel` (undefined on a miss), `kernelFor` (throws `fail(message)` naming the node, op and
 * dtypes, and what the op does have) and `missingKernel` (that message, or undefined).
 */
export function kernelLookups<K>(backend: string, table: SignedTable<K>, fail: (message: string) => Error) {
  type NodeLike = { readonly op: string; readonly id: string; readonly type: { readonly dtype: DType } };
  type Typed = { readonly dtype: DType };
  const findKernel = (node: NodeLike, operandTypes: readonly Typed[], kernels: SignedTable<K> = table): K | undefined =>
    findSigned(kernels, node.op, operandTypes.map((t) => t.dtype), node.type.dtype);
  const missingKernel = (node: NodeLike, operandTypes: readonly Typed[], kernels: SignedTable<K> = table): string | undefined =>
    findKernel(node, operandTypes, kernels) ? undefined : missingKernelMessage(backend, kernels, node, operandTypes.map((t) => t.dtype), node.type.dtype);
  const kernelFor = (node: NodeLike, operandTypes: readonly Typed[], kernels: SignedTable<K> = table): K => {
    const kernel = findKernel(node, operandTypes, kernels);
    if (kernel !== undefined) return kernel;
    throw fail(missingKernel(node, operandTypes, kernels)!);
  };
  return { findKernel, kernelFor, missingKernel };
}
