// Workgroup cooperation for the reductions, softmax, the normalizations and the losses: one
// workgroup of GROUP invocations per row (a row is whatever one result, or one normalized slice,
// folds over), each invocation folding a strided share of the row, then the shares combined:
//
//   without subgroups  a tree in workgroup memory (log2 GROUP barriers)
//   with subgroups     subgroupAdd / subgroupMax within each subgroup, the first lane of each
//                      writing its subgroup's value (the others the identity) to workgroup
//                      memory, then every invocation folding those GROUP slots in order: two
//                      barriers, and correct whatever the mapping of invocations to subgroups.
//                      A max checks for NaN with subgroupAny first (subgroupMax need not
//                      propagate it).
//
// The row index `o` comes from the workgroup id, so it is uniform and the barriers (and subgroup
// operations) after its bounds check are in uniform control flow. Both forms fold in a fixed order
// on a given device, so results are deterministic run to run.

import type { WgslPass, WgslTarget } from "../kernel.ts";
import { f32, groupLaunch, pass, u32 } from "../wgsl.ts";

export const GROUP = 64;

/** NaN-propagating max (WGSL's max need not propagate NaN). */
export const MAX_F32 = (a: string, b: string) => `select(max(${a}, ${b}), ${a} + ${b}, is_nan(${a}) || is_nan(${b}))`;

/** Workgroup-wide sum and max of f32 (and sum/max of i32), every invocation gets the result. */
export const COOPERATE = `
var<workgroup> red_f: array<f32, ${GROUP}>;
fn wg_sum(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] = red_f[lid] + red_f[lid + s]; }
    workgroupBarrier();
  }
  let r = red_f[0];
  workgroupBarrier();
  return r;
}
fn wg_max(v: f32, lid: u32) -> f32 {
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_f[lid] = ${MAX_F32("red_f[lid]", "red_f[lid + s]")}; }
    workgroupBarrier();
  }
  let r = red_f[0];
  workgroupBarrier();
  return r;
}
var<workgroup> red_i: array<i32, ${GROUP}>;
fn wg_sum_i(v: i32, lid: u32) -> i32 {
  red_i[lid] = v;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_i[lid] = red_i[lid] + red_i[lid + s]; }
    workgroupBarrier();
  }
  let r = red_i[0];
  workgroupBarrier();
  return r;
}
fn wg_max_i(v: i32, lid: u32) -> i32 {
  red_i[lid] = v;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red_i[lid] = max(red_i[lid], red_i[lid + s]); }
    workgroupBarrier();
  }
  let r = red_i[0];
  workgroupBarrier();
  return r;
}
`;

/** The subgroup form of the four folds (same names and signatures). */
export const COOPERATE_SUBGROUPS = `
var<private> sg_lane: u32;
var<workgroup> red_f: array<f32, ${GROUP}>;
var<workgroup> red_i: array<i32, ${GROUP}>;
fn wg_fold_f(s: f32, identity: f32, lid: u32, is_max: bool) -> f32 {
  red_f[lid] = select(identity, s, sg_lane == 0u);
  workgroupBarrier();
  var total = identity;
  for (var k = 0u; k < ${GROUP}u; k++) {
    if (is_max) { total = ${MAX_F32("total", "red_f[k]")}; } else { total += red_f[k]; }
  }
  workgroupBarrier();
  return total;
}
fn wg_sum(v: f32, lid: u32) -> f32 { return wg_fold_f(subgroupAdd(v), 0.0, lid, false); }
fn wg_max(v: f32, lid: u32) -> f32 {
  let m = select(subgroupMax(v), ${f32(NaN)}, subgroupAny(is_nan(v)));
  return wg_fold_f(m, ${f32(-Infinity)}, lid, true);
}
fn wg_fold_i(s: i32, identity: i32, lid: u32, is_max: bool) -> i32 {
  red_i[lid] = select(identity, s, sg_lane == 0u);
  workgroupBarrier();
  var total = identity;
  for (var k = 0u; k < ${GROUP}u; k++) {
    if (is_max) { total = max(total, red_i[k]); } else { total += red_i[k]; }
  }
  workgroupBarrier();
  return total;
}
fn wg_sum_i(v: i32, lid: u32) -> i32 { return wg_fold_i(subgroupAdd(v), 0i, lid, false); }
fn wg_max_i(v: i32, lid: u32) -> i32 { return wg_fold_i(subgroupMax(v), i32(-2147483647 - 1), lid, true); }
`;

/**
 * A pass with one workgroup per row (`rows` of them): `body` runs with the row index `o` and the
 * invocation index `lid` (0..GROUP-1) in scope; `helpers` are extra declarations.
 */
export function rowPass(label: string, rows: number, body: string, helpers: string, target: WgslTarget): WgslPass {
  const launch = groupLaunch(rows, target);
  const sub = target.subgroups;
  const code = `${sub ? COOPERATE_SUBGROUPS : COOPERATE}${helpers}
@compute @workgroup_size(${GROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${sub ? ", @builtin(subgroup_invocation_id) lane: u32" : ""}) {
${sub ? "  sg_lane = lane;\n" : ""}  let o = ${launch.item};
  if (o >= ${u32(rows)}) { return; }
${body}
}
`;
  return pass(label, code, launch.workgroups, sub ? "enable subgroups;\n" : "");
}
