// The dropout kernel: out[i] = keep(i) ? x[i] * 1/(1-rate) : 0, the keep mask bit-exact to the
// interpreter's (compiler/ir/rng.ts): Philox block i >> 2 under key (seed, step), word i & 3,
// kept iff (word >>> 8) >= ceil(rate * 2^24). One Philox call yields the words of four
// consecutive elements, which is exactly one f32x4 (f16/bf16 widened to it): the mask is compared and applied in SIMD.
// Output and x may share a slot (in place): each block reads its four elements first.

import { attr } from "../../ir/op-def.ts";
import { dropoutThreshold } from "../../ir/rng.ts";
import { DTYPE_BYTES, numel } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { KernelEmitter, KernelTable } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { loadLanes, loadScalar, storeLanes } from "./access.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { Lanes } from "./lanes.ts";
import { philox4x32 } from "./philox.ts";

const dropout: KernelEmitter = ({ f, node, inputs: [x, step], output }) => {
  const rate = attr.num(node.attrs, "rate");
  const seed = attr.num(node.attrs, "seed");
  const threshold = dropoutThreshold(rate);
  const scale = Math.fround(1 / (1 - rate)); // inf at rate 1, when nothing is kept
  const n = numel(x.type.shape);
  const fullBlocks = Math.floor(n / 4);
  const key1 = f.local("i32");
  const block = f.local("i32");
  const stepKey = () => f.get(key1);

  const dtype = x.type.dtype;
  const eb = DTYPE_BYTES[dtype];
  const vectorBlock = (): Expr[] => {
    const { body, words } = philox4x32(f, f.get(block), seed, stepKey);
    let bits = f.i32x4.splat(f.get(words[0]));
    for (let lane = 1; lane < 4; lane++) bits = f.i32x4.replace_lane(bits, lane, f.get(words[lane]));
    const keep = f.i32x4.ge_s(f.i32x4.shr_u(bits, f.i32.const(8)), f.i32x4.splat(f.i32.const(threshold)));
    const addr = (base: number) => f.i32.add(f.i32.const(base), f.i32.mul(f.get(block), f.i32.const(4 * eb)));
    const L = new Lanes(f, 4);
    const scaled = f.f32x4.mul(loadLanes(L, dtype, addr(x.offset)), f.f32x4.splat(f.f32.const(scale)));
    const store = storeLanes(L, dtype, addr(output.offset), f.v128.bitselect(scaled, f.v128.const(new Array(16).fill(0)), keep));
    return [...body, ...L.body, store];
  };
  // The last, partial block: one Philox call, then its lanes one by one.
  const tail = (): Expr[] => {
    const first = fullBlocks * 4;
    if (first === n) return [];
    const { body, words } = philox4x32(f, f.i32.const(fullBlocks), seed, stepKey);
    const L = new Lanes(f, 1);
    const lanes = Array.from({ length: n - first }, (_, lane) => {
      const keep = f.i32.ge_u(f.i32.shr_u(f.get(words[lane]), f.i32.const(8)), f.i32.const(threshold));
      const value = f.f32.mul(loadScalar(L, dtype, f.i32.const(x.offset + (first + lane) * eb)), f.f32.const(scale));
      return storeLanes(L, dtype, f.i32.const(output.offset + (first + lane) * eb), f.select(keep, value, f.f32.const(0)));
    });
    return [...body, ...L.body, ...lanes];
  };
  return [
    f.set(key1, f.loadI32(f.i32.const(step.offset))),
    f.forRange(block, 0, fullBlocks, 1, fullBlocks > 0 ? vectorBlock() : []),
    ...tail(),
  ];
};

export const DROPOUT_KERNELS: KernelTable = signedTable("wasm dropout kernels", {
  dropout: [{ op: "dropout", dtypes: FLOATS.map((t) => signature([t, "i32"], t)), kernel: dropout }],
});
