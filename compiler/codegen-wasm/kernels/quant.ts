// Kernels of the quantization ops (compiler/ir/ops/quant.ts; formulas in ops/quant-kit.ts).
// quantize, dequantize, requantize, fakeQuant and fakeQuantGrad are element functions run by
// map.ts's broadcasting loop nest, four lanes at a time: the per-channel scale and zero point
// are passed as views of shape [C, 1, ..., 1], so broadcasting walks them along `axis`. Every
// step is an f32 or i32 operation the interpreter's formula names (f32.div for the reciprocal,
// f32.mul, f32.nearest = round half to even, trunc_sat after clamping to +-2^24), so results are
// bit-identical to the interpreter. f16/bf16 data and scales are widened to f32 on load and float
// results rounded once on store (access.ts), the backends' 16-bit contract.
//
// matmulInteger runs the blocked int8 GEMM (gemm-int8.ts: i32x4.dot_i16x8_s on operands widened
// to i16, exact for every i8/u8 pair), with its packed operands in the node's workspace;
// convInteger the same GEMM on a column matrix (conv-integer.ts).

import { numel, type TensorType } from "../../ir/types.ts";
import { attr } from "../../ir/op-def.ts";
import { ROUNDED_LIMIT, QUANT_RANGES, QUANT_SIGNATURES, perChannelViews } from "../../ir/ops/quant-kit.ts";
import { withWorkspace, type KernelArgs, type KernelEmitter, type KernelRegistration } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { callInt8Gemm, int8GemmWorkspaceBytes } from "./gemm-int8.ts";
import { convInteger } from "./conv-integer.ts";
import { Lanes, type V } from "./lanes.ts";
import { emitMap, type ElementFn } from "./map.ts";

/** rne(x) clamped to +-2^24 and converted to i32 (NaN -> 0), then plus the zero point. */
function roundedPlusZeroPoint(L: Lanes, real: Expr, zeroPoint: V): V {
  const rounded = L.letF(L.nearest(real));
  const limited = L.min(L.max(rounded(), L.c(-ROUNDED_LIMIT)), L.c(ROUNDED_LIMIT));
  return L.letI(L.iadd(L.truncSat(limited), zeroPoint()));
}

/** fl(x * fl(1 / scale)): the real value quantize rounds. */
function scaled(L: Lanes, x: V, scale: V): Expr {
  return L.mul(x(), L.div(L.c(1), scale()));
}

function clampInt(L: Lanes, q: V, lo: number, hi: number): Expr {
  const low = L.letI(L.imax(q, () => L.ic(lo)));
  return L.imin(low, () => L.ic(hi));
}

/** fl(fl(q - zeroPoint) * scale). */
function dequantized(L: Lanes, q: V, zeroPoint: V, scale: V): Expr {
  return L.mul(L.toFloat(L.isub(q(), zeroPoint())), scale());
}

function mapKernel(fn: (a: KernelArgs) => ElementFn, data = 0, first = 1): KernelEmitter {
  return (a) => emitMap(a.f, perChannelViews(a.node, a.inputs, data, first), a.output, fn(a));
}

const quantize = mapKernel((a) => {
  const [lo, hi] = QUANT_RANGES[a.output.type.dtype as "i8" | "u8"];
  return (L, [x, s, z]) => clampInt(L, roundedPlusZeroPoint(L, scaled(L, x, s), z), lo, hi);
});

const requantize = mapKernel((a) => {
  const [lo, hi] = QUANT_RANGES[a.output.type.dtype as "i8" | "u8"];
  return (L, [acc, m, z]) => clampInt(L, roundedPlusZeroPoint(L, L.mul(L.toFloat(acc()), m()), z), lo, hi);
});

const dequantize = mapKernel(() => (L, [q, s, z]) => dequantized(L, q, z, s));

const fakeQuant = mapKernel((a) => {
  const lo = attr.num(a.node.attrs, "qmin");
  const hi = attr.num(a.node.attrs, "qmax");
  return (L, [x, s, z]) => {
    const q = L.letI(clampInt(L, roundedPlusZeroPoint(L, scaled(L, x, s), z), lo, hi));
    return dequantized(L, q, z, s);
  };
});

const fakeQuantGrad = mapKernel((a) => {
  const lo = attr.num(a.node.attrs, "qmin");
  const hi = attr.num(a.node.attrs, "qmax");
  return (L, [dy, x, s, z]) => {
    const q = roundedPlusZeroPoint(L, scaled(L, x, s), z);
    const inside = L.maskAnd(L.maskNot(L.ilt(q(), L.ic(lo))), L.maskNot(L.igt(q(), L.ic(hi))));
    return L.select(inside, dy(), L.c(0));
  };
}, 1, 2);

/** out = a · w in i32: a [rows, K] (leading axes folded into rows) and w [K, N], by the int8 GEMM. */
const matmulInteger: KernelEmitter = withWorkspace(
  ({ f, node, inputs: [a, w], output, helper, workspace }: KernelArgs): Expr[] => {
    const shape = matmulIntegerShape(a.type, w.type);
    if (shape.m * shape.n === 0) return [];
    if (shape.k === 0) return [f.fill(output.offset, 0, shape.m * shape.n * 4)];
    if (workspace === undefined) throw new Error(`matmulInteger %${node.id} needs a workspace and the plan gave none`);
    return [callInt8Gemm(f, helper, a.type.dtype, w.type.dtype, { a: a.offset, b: w.offset, c: output.offset, workspace, ...shape })];
  },
  (_node, [a, w]) => {
    const { m, n, k } = matmulIntegerShape(a, w);
    return int8GemmWorkspaceBytes(m, n, k);
  },
);

function matmulIntegerShape(a: TensorType, w: TensorType): { m: number; n: number; k: number } {
  const [k, n] = w.shape;
  return { m: numel(a.shape.slice(0, -1)), n, k };
}

export const QUANT_KERNELS: readonly KernelRegistration[] = [
  { op: "quantize", dtypes: QUANT_SIGNATURES.quantize, kernel: quantize },
  { op: "requantize", dtypes: QUANT_SIGNATURES.requantize, kernel: requantize },
  { op: "dequantize", dtypes: QUANT_SIGNATURES.dequantize, kernel: dequantize },
  { op: "fakeQuant", dtypes: QUANT_SIGNATURES.fakeQuant, kernel: fakeQuant },
  { op: "fakeQuantGrad", dtypes: QUANT_SIGNATURES.fakeQuantGrad, kernel: fakeQuantGrad },
  { op: "matmulInteger", dtypes: QUANT_SIGNATURES.matmulInteger, kernel: matmulInteger },
  { op: "convInteger", dtypes: QUANT_SIGNATURES.convInteger, kernel: convInteger },
];
