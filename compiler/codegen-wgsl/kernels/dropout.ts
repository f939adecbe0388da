// The dropout kernel: out[i] = keep(i) ? x[i] * 1/(1-rate) : 0 with the keep mask bit-exact to
// the interpreter's (compiler/ir/rng.ts): Philox-4x32-10 block i >> 2 under key (seed, step),
// word i & 3, kept iff (word >>> 8) >= ceil(rate * 2^24). WGSL has no 64-bit integers, so the
// high half of each 32x32 product comes from 16-bit partial products, as rng.ts's mulhi32 does.
// Each invocation computes its own element's block (elementMap), so the in-place form needs
// nothing special.

import { attr } from "../../ir/op-def.ts";
import { dropoutThreshold } from "../../ir/rng.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelTable } from "../kernel.ts";
import { f32, load, u32 } from "../wgsl.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { broadcastRead, elementMap } from "./map.ts";

export const PHILOX = `
fn mulhi32(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu; let a_hi = a >> 16u; let b_lo = b & 0xffffu; let b_hi = b >> 16u;
  let lolo = a_lo * b_lo; let lohi = a_lo * b_hi; let hilo = a_hi * b_lo; let hihi = a_hi * b_hi;
  let middle = (lolo >> 16u) + (lohi & 0xffffu) + (hilo & 0xffffu);
  return hihi + (lohi >> 16u) + (hilo >> 16u) + (middle >> 16u);
}
fn philox4x32(counter: u32, key0: u32, key1: u32) -> vec4<u32> {
  var c = vec4<u32>(counter, 0u, 0u, 0u);
  var k0 = key0; var k1 = key1;
  for (var round = 0u; round < 10u; round++) {
    if (round > 0u) { k0 += 0x9e3779b9u; k1 += 0xbb67ae85u; }
    let hi0 = mulhi32(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi32(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
  }
  return c;
}
`;

const dropout: WgslKernel = (a) => {
  const [x, step] = a.inputs;
  const rate = attr.num(a.node.attrs, "rate");
  const seed = attr.num(a.node.attrs, "seed") >>> 0;
  const scale = 1 / (1 - rate); // inf at rate 1, when nothing is kept
  const body = `  let bits = philox4x32(i >> 2u, ${u32(seed)}, bitcast<u32>(${load(step.offset, "i32", "0u")}))[i & 3u];
  return select(0.0, ${broadcastRead(x, a.output.type.shape)} * ${f32(scale)}, (bits >> 8u) >= ${u32(dropoutThreshold(rate))});`;
  return [elementMap(`dropout %${a.node.id}`, a.output, { helpers: PHILOX, body }, a.target)];
};

export const DROPOUT_KERNELS: WgslKernelTable = signedTable("wgsl dropout kernels", {
  dropout: [{ op: "dropout", dtypes: FLOATS.map((t) => signature([t, "i32"], t)), kernel: dropout }],
});
