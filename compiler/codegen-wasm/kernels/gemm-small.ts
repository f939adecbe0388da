// Products with very few rows (a batch-1 dense layer is one row times a matrix). Packing B would
// copy the whole of B to use each element once or twice, so these read the operands in place:
//
//   B contiguous along n (not transposed): each row of C is a sum of rows of B scaled by A's
//   entries, computed 16, then 4, then 1 column(s) at a time with a splat of A[i, p].
//   B contiguous along k (transposed) and A contiguous along k: each element of C is a dot
//   product of two contiguous vectors, four lanes at a time, summed across lanes at the end.
//   Any other strides: the scalar triple loop.
//
// Same contract as the packed driver (gemm-core.ts): C (+)= op(A) op(B), byte strides, C rows
// contiguous.

import type { Expr, FunctionBuilder, Local } from "../module.ts";
import type { GemmCall } from "./gemm-core.ts";

type Helper = (name: string, define: (w: import("../module.ts").WasmModule) => void) => string;

/** Calls the unpacked small-m GEMM (defined once per module); `call.workspace` is not used. */
export function callSmallGemm(f: FunctionBuilder, helper: Helper, call: GemmCall): Expr {
  const name = helper("gemm_rows", (w) => w.funcWithParams("gemm_rows", Array(12).fill("i32"), "none", smallGemmBody));
  return f.call(name, [
    call.a, call.aRowStride, call.aColStride, call.b, call.bRowStride, call.bColStride,
    call.c, call.cRowStride, call.m, call.n, call.k, call.accumulate,
  ]);
}

function smallGemmBody(f: FunctionBuilder): Expr[] {
  const [a, aRs, aCs, b, bRs, bCs, c, ldc, m, n, k, accumulate] = f.params;
  const i = f.local("i32");
  const j = f.local("i32");
  const aRow = f.local("i32");
  const cRow = f.local("i32");
  const pa = f.local("i32");
  const pb = f.local("i32");
  const steps = f.local("i32");
  const x = f.local("v128");
  const acc = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
  const s = f.local("f32");
  const c0 = (v: number) => f.i32.const(v);
  const plus = (l: Local, e: Expr) => f.set(l, f.i32.add(f.get(l), e));
  const zero = () => f.v128.const(new Array(16).fill(0));

  /** acc[0..vectors) = sum over p of splat(A[i, p]) * B[p, j + 4q ..]. */
  const rowTimesB = (vectors: number): Expr[] => [
    ...acc.slice(0, vectors).map((v) => f.set(v, zero())),
    f.set(pa, f.get(aRow)),
    f.set(pb, f.i32.add(f.get(b), f.i32.shl(f.get(j), c0(2)))),
    f.set(steps, f.get(k)),
    f.countDown(steps, [
      f.set(x, f.v128.load32_splat(0, 4, f.get(pa))),
      ...acc.slice(0, vectors).map((v, q) => f.set(v, f.f32x4.add(f.get(v), f.f32x4.mul(f.get(x), f.v128.load(16 * q, 4, f.get(pb)))))),
      plus(pa, f.get(aCs)),
      plus(pb, f.get(bRs)),
    ]),
    ...acc.slice(0, vectors).map((v, q) => {
      const addr = f.i32.add(f.get(cRow), f.i32.shl(f.get(j), c0(2)));
      const old = f.v128.load(16 * q, 4, f.i32.add(f.get(cRow), f.i32.shl(f.get(j), c0(2))));
      return f.v128.store(16 * q, 4, addr, f.select(f.get(accumulate), f.f32x4.add(f.get(v), old), f.get(v)));
    }),
  ];

  /** One scalar element C[i, j] by the plain dot product over strided operands. */
  const scalarElement: Expr[] = [
    f.set(s, f.f32.const(0)),
    f.set(pa, f.get(aRow)),
    f.set(pb, f.i32.add(f.get(b), f.i32.mul(f.get(j), f.get(bCs)))),
    f.set(steps, f.get(k)),
    f.countDown(steps, [
      f.set(s, f.f32.add(f.get(s), f.f32.mul(f.loadF32(f.get(pa)), f.loadF32(f.get(pb))))),
      plus(pa, f.get(aCs)),
      plus(pb, f.get(bRs)),
    ]),
    storeScalar(),
  ];
  function storeScalar(): Expr {
    const addr = () => f.i32.add(f.get(cRow), f.i32.shl(f.get(j), c0(2)));
    return f.storeF32(addr(), f.select(f.get(accumulate), f.f32.add(f.get(s), f.loadF32(addr())), f.get(s)));
  }

  /** C[i, j] as a 4-lane dot product of contiguous A and B runs, then a scalar tail. */
  const vectorDot: Expr[] = [
    f.set(acc[0], zero()),
    f.set(pa, f.get(aRow)),
    f.set(pb, f.i32.add(f.get(b), f.i32.mul(f.get(j), f.get(bCs)))),
    f.set(steps, f.i32.shr_u(f.get(k), c0(2))),
    f.if(f.get(steps), [f.countDown(steps, [
      f.set(acc[0], f.f32x4.add(f.get(acc[0]), f.f32x4.mul(f.v128.load(0, 4, f.get(pa)), f.v128.load(0, 4, f.get(pb))))),
      plus(pa, c0(16)),
      plus(pb, c0(16)),
    ])]),
    f.set(s, f.f32.add(
      f.f32.add(f.f32x4.extract_lane(f.get(acc[0]), 0), f.f32x4.extract_lane(f.get(acc[0]), 1)),
      f.f32.add(f.f32x4.extract_lane(f.get(acc[0]), 2), f.f32x4.extract_lane(f.get(acc[0]), 3)),
    )),
    f.set(steps, f.i32.and(f.get(k), c0(3))),
    f.if(f.get(steps), [f.countDown(steps, [
      f.set(s, f.f32.add(f.get(s), f.f32.mul(f.loadF32(f.get(pa)), f.loadF32(f.get(pb))))),
      plus(pa, c0(4)),
      plus(pb, c0(4)),
    ])]),
    storeScalar(),
  ];

  /** Runs `body` for j, j + width, ... while a whole group of `width` columns is left. */
  const whileFits = (width: number, body: Expr[]) =>
    f.forDynamic(j, f.get(j), f.i32.sub(f.get(n), c0(width - 1)), c0(width), body);

  return [
    f.if(f.i32.or(f.i32.eqz(f.get(m)), f.i32.eqz(f.get(n))), [f.return()]),
    f.if(f.i32.eqz(f.get(k)), [
      f.if(f.i32.eqz(f.get(accumulate)), [
        f.forDynamic(i, c0(0), f.get(m), c0(1), [
          f.fillAt(f.i32.add(f.get(c), f.i32.mul(f.get(i), f.get(ldc))), c0(0), f.i32.shl(f.get(n), c0(2))),
        ]),
      ]),
      f.return(),
    ]),
    f.forDynamic(i, c0(0), f.get(m), c0(1), [
      f.set(aRow, f.i32.add(f.get(a), f.i32.mul(f.get(i), f.get(aRs)))),
      f.set(cRow, f.i32.add(f.get(c), f.i32.mul(f.get(i), f.get(ldc)))),
      f.set(j, c0(0)),
      f.if(f.i32.eq(f.get(bCs), c0(4)), [
        whileFits(16, rowTimesB(4)),
        whileFits(4, rowTimesB(1)),
      ], [
        f.if(f.i32.and(f.i32.eq(f.get(bRs), c0(4)), f.i32.eq(f.get(aCs), c0(4))), [
          whileFits(1, vectorDot),
        ]),
      ]),
      whileFits(1, scalarElement),
    ]),
  ];
}
