// Philox-4x32-10 in WebAssembly, bit-exact to compiler/ir/rng.ts (see the contract there). The
// 32x32 -> 64-bit products that give each round's hi and lo words come from one i64 multiply of
// the zero-extended operands, so no 16-bit partial products are needed.

import type { Expr, FunctionBuilder, Local } from "../module.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;

export interface PhiloxWords {
  /** Statements computing the four output words into `words`. */
  readonly body: Expr[];
  readonly words: readonly [Local, Local, Local, Local];
}

/**
 * philox4x32([counter0, 0, 0, 0], [key0, key1]) for a runtime counter word and key1 and a
 * compile-time key0: straight-line code, ten rounds unrolled.
 */
export function philox4x32(f: FunctionBuilder, counter0: Expr, key0: number, key1: () => Expr): PhiloxWords {
  const c = [f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32")] as const;
  const product0 = f.local("i64");
  const product1 = f.local("i64");
  const body: Expr[] = [f.set(c[0], counter0), f.set(c[1], f.i32.const(0)), f.set(c[2], f.i32.const(0)), f.set(c[3], f.i32.const(0))];
  const wide = (m: number, x: Local) => f.i64.mul(f.i64.const(m), f.i64.extend_u(f.get(x)));
  const hi = (p: Local) => f.i32.wrap(f.i64.shr_u(f.get(p), f.i64.const(32)));
  const lo = (p: Local) => f.i32.wrap(f.get(p));
  for (let round = 0; round < ROUNDS; round++) {
    // The key schedule advances between rounds: round r uses key + r * (W0, W1).
    const k0 = f.i32.const((key0 + round * W0) | 0);
    const k1 = f.i32.add(key1(), f.i32.const((round * W1) | 0));
    body.push(
      f.set(product0, wide(M0, c[0])),
      f.set(product1, wide(M1, c[2])),
      f.set(c[0], f.i32.xor(f.i32.xor(hi(product1), f.get(c[1])), k0)),
      f.set(c[1], lo(product1)),
      f.set(c[2], f.i32.xor(f.i32.xor(hi(product0), f.get(c[3])), k1)),
      f.set(c[3], lo(product0)),
    );
  }
  return { body, words: c };
}
