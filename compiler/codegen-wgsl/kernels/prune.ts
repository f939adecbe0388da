// The pruneMask kernel (ir/ops/prune.ts), as the WASM one (codegen-wasm/kernels/prune.ts): on a
// step that recomputes the mask, bisection on the bits of the k-th smallest totalOrder key, each
// of the 32 counts shared by one workgroup's invocations (each counts a strided share, summed in
// a workgroup atomic); one invocation finds the index after the (k - #(key < T))-th score equal to
// T, and the last sweep sets 0 below T and at T before that index, 1 elsewhere. One workgroup: a
// mask is recomputed only at scheduled steps, and the other steps copy the old mask (or leave it
// when the result took its buffer). Every score is read before any element of the result is
// written but its own (the last sweep reads score i, then writes element i), so the result may
// take the scores' buffer. The update flag, k and each count reach every invocation through
// workgroupUniformLoad, so the barriers stay in uniform control flow.

import { numel } from "../../ir/types.ts";
import type { WgslKernel, WgslKernelRegistration } from "../kernel.ts";
import { baseIndex, pass, u32 } from "../wgsl.ts";

const GROUP = 64;

const pruneMask: WgslKernel = (a) => {
  const [scores, k, mask, update] = a.inputs;
  const n = numel(scores.type.shape);
  const s = baseIndex(scores.offset, "f32");
  const o = baseIndex(a.output.offset, "f32");
  const m = baseIndex(mask.offset, "f32");
  const copy = a.output.offset === mask.offset ? "" : `for (var i = t; i < ${u32(n)}; i += ${u32(GROUP)}) { arena[${u32(o)} + i] = arena[${u32(m)} + i]; }`;
  const code = `var<workgroup> below: atomic<u32>;
var<workgroup> total: u32;
var<workgroup> w_update: i32;
var<workgroup> w_k: i32;
var<workgroup> w_cut: u32;
fn score_key(i: u32) -> u32 {
  let b = arena[${u32(s)} + i];
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn count_below(t: u32, bound: u32) -> u32 {
  if (t == 0u) { atomicStore(&below, 0u); }
  workgroupBarrier();
  var c = 0u;
  for (var i = t; i < ${u32(n)}; i += ${u32(GROUP)}) { c += select(0u, 1u, score_key(i) < bound); }
  atomicAdd(&below, c);
  workgroupBarrier();
  if (t == 0u) { total = atomicLoad(&below); }
  return workgroupUniformLoad(&total);
}
@compute @workgroup_size(${GROUP})
fn main(@builtin(local_invocation_index) t: u32) {
  if (t == 0u) {
    w_update = ld_i32(${u32(baseIndex(update.offset, "i32"))});
    w_k = ld_i32(${u32(baseIndex(k.offset, "i32"))});
  }
  if (workgroupUniformLoad(&w_update) == 0i) {
    ${copy}
    return;
  }
  let need = u32(clamp(workgroupUniformLoad(&w_k), 0i, ${n}i));
  var prefix = 0u;
  var ties = 0u;
  if (need > 0u) {
    for (var bit = 0u; bit < 32u; bit++) {
      let candidate = prefix | (1u << (31u - bit));
      if (count_below(t, candidate) < need) { prefix = candidate; }
    }
    ties = need - count_below(t, prefix);
  }
  // The keys equal to T pruned are those before the index of the ties-th one (found before any write).
  if (t == 0u) {
    var end = 0u;
    var left = ties;
    for (var i = 0u; i < ${u32(n)} && left > 0u; i++) {
      if (score_key(i) == prefix) {
        left -= 1u;
        if (left == 0u) { end = i + 1u; }
      }
    }
    w_cut = end;
  }
  let cut = workgroupUniformLoad(&w_cut);
  for (var i = t; i < ${u32(n)}; i += ${u32(GROUP)}) {
    let key = score_key(i);
    st_f32(${u32(o)} + i, select(1.0, 0.0, need > 0u && (key < prefix || (key == prefix && i < cut))));
  }
}
`;
  return [pass(`pruneMask %${a.node.id}`, code, [1, 1, 1])];
};

export const PRUNE_KERNELS: readonly WgslKernelRegistration[] = [
  { op: "pruneMask", dtypes: [{ operands: ["f32", "i32", "f32", "i32"], result: "f32" }], kernel: pruneMask },
];
