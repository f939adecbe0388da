// The workgroup-tiled GEMM core: C[batch] = A B for C of m x n over k, where the kernel says how
// to read elements through WGSL functions it supplies:
//
//   fn a_at(batch: u32, i: u32, p: u32) -> f32     element (i, p) of A (in range: i < m, p < k)
//   fn b_at(batch: u32, p: u32, j: u32) -> f32     element (p, j) of B
//   fn epi(e: u32, v: f32)                         stores C's flat element e (batch * m * n + ...)
//
// matmul reads stored matrices (transposes and broadcast batches folded into a_at / b_at); the
// convolutions read A as the im2col matrix of their input, computed on the fly (implicit GEMM).
//
// One workgroup per tile x tile block of C (batch on z). Per BK-deep step along k, the workgroup
// stages A's tile x BK and B's BK x tile panels in workgroup memory (zero past the edges, so the
// inner loop has no bounds checks; each invocation loads along the operand's contiguous axis so
// neighbouring invocations read neighbouring words), then every invocation accumulates a 4 x 4
// block of C in registers (four vec4 rows): 16 multiply-adds per 8 workgroup-memory reads. Tiles
// are 64 x 64 (256 invocations) for large products where the device allows it, else 32 x 32 (64).

import { unsupported, type WgslKernelArgs, type WgslPass } from "../kernel.ts";
import { pass, u32 } from "../wgsl.ts";

export const BK = 16;

export interface TiledGemm {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly batches: number;
  /** WGSL defining a_at, b_at, epi and whatever they call. */
  readonly code: string;
  /** Whether A's neighbouring elements in memory are (i, p), (i, p + 1) (else (i, p), (i + 1, p)). */
  readonly aAlongK: boolean;
  /** Whether B's neighbouring elements in memory are (p, j), (p, j + 1) (else (p, j), (p + 1, j)). */
  readonly bAlongN: boolean;
}

export function tiledGemmPass(a: WgslKernelArgs, g: TiledGemm): WgslPass {
  const { m, n, k, batches } = g;
  if (batches > a.target.maxWorkgroupsPerDimension) throw unsupported(a, `${batches} batch matrices exceed one dispatch dimension`);
  // 64 x 64 tiles need 256 invocations and 8 KiB of workgroup memory; smaller devices get 32 x 32.
  const big = a.target.maxWorkgroupSize >= 256 && a.target.workgroupStorageBytes >= 2 * 64 * BK * 4;
  const tile = big && m * n >= 64 * 64 ? 64 : 32;
  if (Math.max(Math.ceil(m / tile), Math.ceil(n / tile)) > a.target.maxWorkgroupsPerDimension) {
    throw unsupported(a, `a ${m} x ${n} product needs more tiles than one dispatch dimension holds`);
  }
  const threads = (tile / 4) * (tile / 4);
  const panel = tile * BK;
  const aLoad = g.aAlongK ? `let i = e / ${u32(BK)}; let p = e % ${u32(BK)};` : `let i = e % ${u32(tile)}; let p = e / ${u32(tile)};`;
  const bLoad = g.bAlongN ? `let p = e / ${u32(tile)}; let j = e % ${u32(tile)};` : `let p = e % ${u32(BK)}; let j = e / ${u32(BK)};`;
  const code = `${g.code}
var<workgroup> As: array<f32, ${panel}>;
var<workgroup> Bs: array<f32, ${panel}>;
@compute @workgroup_size(${tile / 4}, ${tile / 4})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let batch = wid.z;
  let o0 = batch * ${u32(m * n)};
  let row0 = wid.y * ${u32(tile)};
  let col0 = wid.x * ${u32(tile)};
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < ${u32(k)}; k0 += ${u32(BK)}) {
    for (var e = lid; e < ${u32(panel)}; e += ${u32(threads)}) {
      ${aLoad}
      let gi = row0 + i; let gp = k0 + p;
      var v = 0.0;
      if (gi < ${u32(m)} && gp < ${u32(k)}) { v = a_at(batch, gi, gp); }
      As[p * ${u32(tile)} + i] = v;
    }
    for (var e = lid; e < ${u32(panel)}; e += ${u32(threads)}) {
      ${bLoad}
      let gp = k0 + p; let gj = col0 + j;
      var v = 0.0;
      if (gp < ${u32(k)} && gj < ${u32(n)}) { v = b_at(batch, gp, gj); }
      Bs[p * ${u32(tile)} + j] = v;
    }
    workgroupBarrier();
    for (var p = 0u; p < ${u32(BK)}; p++) {
      let bo = p * ${u32(tile)} + l.x * 4u;
      let b = vec4<f32>(Bs[bo], Bs[bo + 1u], Bs[bo + 2u], Bs[bo + 3u]);
      let ao = p * ${u32(tile)} + l.y * 4u;
      acc[0] += As[ao] * b;
      acc[1] += As[ao + 1u] * b;
      acc[2] += As[ao + 2u] * b;
      acc[3] += As[ao + 3u] * b;
    }
    workgroupBarrier();
  }
  let row = row0 + l.y * 4u;
  let col = col0 + l.x * 4u;
  for (var r = 0u; r < 4u; r++) {
    for (var c = 0u; c < 4u; c++) {
      if (row + r < ${u32(m)} && col + c < ${u32(n)}) { epi(o0 + (row + r) * ${u32(n)} + col + c, acc[r][c]); }
    }
  }
}
`;
  return pass(`${a.node.op} %${a.node.id}`, code, [Math.ceil(n / tile), Math.ceil(m / tile), batches]);
}
