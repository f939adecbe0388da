// Packing for the blocked GEMM (gemm-core.ts). The micro-kernel reads both operands as
// contiguous "micro-panels": for A, `mr` rows interleaved along k (element (r, p) at p*mr + r);
// for B, `nr` columns interleaved along k (element (p, j) at p*nr + j). Packing copies a block of
// each operand into that layout once per block, so the hot loop streams memory linearly whatever
// the operands' transposes, and pads the last panel with zeros so the micro-kernel never needs
// a partial variant.
//
// Both pack functions take the source's row and column strides in bytes, so transposed operands
// are just swapped strides. The common layouts get SIMD paths: a stride of one element along the
// panel's short side is a straight vector copy; a stride of one element along k is a 4x4
// transpose per four k steps. Anything else (and every partial panel) goes through a scalar gather.
//
// The source may be stored as f16 or bf16: packing widens it (access.ts), so the panels, and the
// micro-kernel's inner loop over them, are f32 whatever the storage, and each element is widened
// once per block rather than once per use.

import type { DType } from "../../ir/types.ts";
import { DTYPE_BYTES } from "../../ir/types.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { loadLanes, loadScalar } from "./access.ts";
import { Lanes } from "./lanes.ts";

/** Byte mask of an i8x16.shuffle that picks these four 32-bit lanes of (left ++ right). */
function lanes32(l0: number, l1: number, l2: number, l3: number): number[] {
  return [l0, l1, l2, l3].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
}

/** Transposes in place the 4x4 matrix held row by row in four f32x4 locals: afterwards rows[q] holds column q. */
export function transpose4x4(f: FunctionBuilder, rows: readonly Local[]): Expr[] {
  const [r0, r1, r2, r3] = rows.map((l) => f.get(l));
  const lo01 = f.i8x16.shuffle(r0, r1, lanes32(0, 4, 1, 5)); // a0 b0 a1 b1
  const hi01 = f.i8x16.shuffle(f.get(rows[0]), f.get(rows[1]), lanes32(2, 6, 3, 7)); // a2 b2 a3 b3
  const lo23 = f.i8x16.shuffle(r2, r3, lanes32(0, 4, 1, 5));
  const hi23 = f.i8x16.shuffle(f.get(rows[2]), f.get(rows[3]), lanes32(2, 6, 3, 7));
  const t = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
  return [
    f.set(t[0], lo01), f.set(t[1], hi01), f.set(t[2], lo23), f.set(t[3], hi23),
    f.set(rows[0], f.i8x16.shuffle(f.get(t[0]), f.get(t[2]), lanes32(0, 1, 4, 5))),
    f.set(rows[1], f.i8x16.shuffle(f.get(t[0]), f.get(t[2]), lanes32(2, 3, 6, 7))),
    f.set(rows[2], f.i8x16.shuffle(f.get(t[1]), f.get(t[3]), lanes32(0, 1, 4, 5))),
    f.set(rows[3], f.i8x16.shuffle(f.get(t[1]), f.get(t[3]), lanes32(2, 3, 6, 7))),
  ];
}

const i32 = (f: FunctionBuilder, v: number) => f.i32.const(v);

/**
 * Body of `pack(src, shortStride, kStride, short, kc, dst)`: packs a block of `short` rows (A) or
 * columns (B) by `kc` k-steps into panels of `width` (= mr or nr) f32 lanes. Element (s, p) of the
 * block is at src + s*shortStride + p*kStride, stored as `dtype` (f32, f16 or bf16). A packs with
 * shortStride = A's row stride and kStride = its column stride; B with its column stride and row
 * stride.
 */
export function packBody(f: FunctionBuilder, width: number, dtype: DType = "f32"): Expr[] {
  const eb = DTYPE_BYTES[dtype];
  const L4 = new Lanes(f, 4);
  /** Four consecutive elements at `addr` as an f32x4, with the statements widening them first. */
  const four = (addr: Expr, offset: number): { pre: Expr[]; value: Expr } => {
    if (eb === 4) return { pre: [], value: f.v128.load(offset, 4, addr) };
    const value = loadLanes(L4, dtype, offset === 0 ? addr : f.i32.add(addr, i32(f, offset)));
    return { pre: L4.body.splice(0), value };
  };
  const [src, shortStride, kStride, short, kc, dst] = f.params;
  const panelStart = f.local("i32"); // first lane of the current panel
  const s = f.local("i32");
  const d = f.local("i32");
  const p = f.local("i32");
  const lane = f.local("i32");
  const n = f.local("i32");
  const v = Array.from({ length: 4 }, () => f.local("v128"));
  const panelBytes = f.i32.mul(f.get(kc), i32(f, width * 4));

  // Contiguous along the short side: each k step is `width` consecutive elements.
  const vectorCopy = f.block([
    f.set(n, f.get(kc)),
    f.countDown(n, [
      ...Array.from({ length: width / 4 }, (_, q) => {
        const { pre, value } = four(f.get(s), 4 * q * eb);
        return [...pre, f.v128.store(16 * q, 4, f.get(d), value)];
      }).flat(),
      f.set(s, f.i32.add(f.get(s), f.get(kStride))),
      f.set(d, f.i32.add(f.get(d), i32(f, width * 4))),
    ]),
  ]);

  // Contiguous along k: four k steps of four lanes are a 4x4 block to transpose.
  const transposeCopy = (() => {
    const groups = width / 4;
    const body: Expr[] = [];
    for (let g = 0; g < groups; g++) {
      for (let r = 0; r < 4; r++) {
        const rowAddr = f.i32.add(f.get(s), f.i32.mul(f.get(shortStride), i32(f, 4 * g + r)));
        const { pre, value } = four(rowAddr, 0);
        body.push(...pre, f.set(v[r], value));
      }
      body.push(...transpose4x4(f, v));
      for (let q = 0; q < 4; q++) body.push(f.v128.store(16 * g + q * width * 4, 4, f.get(d), f.get(v[q])));
    }
    return f.block([
      f.set(p, f.i32.shr_u(f.get(kc), i32(f, 2))),
      f.if(f.get(p), [
        f.set(n, f.get(p)),
        f.countDown(n, [
          ...body,
          f.set(s, f.i32.add(f.get(s), i32(f, 4 * eb))),
          f.set(d, f.i32.add(f.get(d), i32(f, 16 * width))),
        ]),
      ]),
      // The last kc % 4 steps, one lane at a time.
      f.set(p, f.i32.and(f.get(kc), i32(f, 3))),
      f.if(f.get(p), [gatherSteps(f, s, d, shortStride, kStride, p, i32(f, width), width, dtype)]),
    ]);
  })();

  return [
    f.set(d, f.get(dst)),
    f.forDynamic(panelStart, i32(f, 0), f.get(short), i32(f, width), [
      f.set(s, f.i32.add(f.get(src), f.i32.mul(f.get(panelStart), f.get(shortStride)))),
      f.set(lane, f.i32.sub(f.get(short), f.get(panelStart))),
      f.if(f.i32.ge_s(f.get(lane), i32(f, width)), [
        f.if(f.i32.eq(f.get(shortStride), i32(f, eb)), [vectorCopy], [
          f.if(f.i32.eq(f.get(kStride), i32(f, eb)), [transposeCopy], [
            f.set(p, f.get(kc)),
            gatherSteps(f, s, d, shortStride, kStride, p, i32(f, width), width, dtype),
          ]),
        ]),
      ], [
        // A partial last panel: zeros, then the lanes that exist.
        f.fillAt(f.get(d), i32(f, 0), panelBytes),
        f.set(p, f.get(kc)),
        gatherSteps(f, s, d, shortStride, kStride, p, f.get(lane), width, dtype),
      ]),
    ]),
  ];
}

/**
 * Scalar gather of `steps` k steps (steps >= 1) of `lanes` lanes from `s` into `d`, advancing both:
 * d[p*width + l] = s[l*shortStride + p*kStride]. Used for odd strides and partial panels.
 */
function gatherSteps(
  f: FunctionBuilder, s: Local, d: Local, shortStride: Local, kStride: Local, steps: Local, lanes: Expr, width: number, dtype: DType,
): Expr {
  const l = f.local("i32");
  const count = f.local("i32");
  const from = f.local("i32");
  const L = new Lanes(f, 1);
  const value = loadScalar(L, dtype, f.get(from));
  return f.block([
    f.set(count, lanes),
    f.countDown(steps, [
      f.set(from, f.get(s)),
      f.forDynamic(l, i32(f, 0), f.get(count), i32(f, 1), [
        ...L.body,
        f.storeF32(f.i32.add(f.get(d), f.i32.shl(f.get(l), i32(f, 2))), value),
        f.set(from, f.i32.add(f.get(from), f.get(shortStride))),
      ]),
      f.set(s, f.i32.add(f.get(s), f.get(kStride))),
      f.set(d, f.i32.add(f.get(d), i32(f, width * 4))),
    ]),
  ]);
}
