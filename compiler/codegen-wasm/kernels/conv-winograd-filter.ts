// The filter gradient of the convolutions conv-winograd.ts runs, by Winograd F(3x3, 2x2): the
// 3x3 filter gradient is a correlation of the padded input with dy, and each 2x2 tile of dy
// with the 4x4 patch of the padded image under it contributes
//
//   dW[:, :, c, o] += A^T [ (G h G^T) ⊙ (B^T d B) ] A      (h: the dy tile of channel o, d: the patch of channel c)
//
// so the sum over every tile of every image is, per position p of the 4x4 transform, one GEMM
// accumulated over the tiles, Acc[p][c, o] += sum_t V[p][t, c] H[p][t, o], and one transform
// back at the end: 16 * C * O multiply-adds per tile against 36 * C * O for conv-padded.ts's
// direct kernel. H is kept unscaled (G's halvings become a factor of 1, 1/2 or 1/4 per position,
// applied to Acc once at the end; a power of two, so the result is the same).
//
// Per image: the image is padded into the workspace, then for each group of tile rows the
// patches are transformed (V), dy's tiles too (H), and the products accumulated into Acc (groups
// sized to keep the workspace near im2col's column buffer: layoutOf).

import { DTYPE_BYTES, numel } from "../../ir/types.ts";
import type { BufferRef, KernelArgs } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { COLUMN_BUDGET_BYTES, type ConvPlan } from "./conv-plan.ts";
import { outerProductStep } from "./gemm-core.ts";
import { align16, geometry, imageBytes, padded, padImage, type PaddedGeometry } from "./conv-padded.ts";
import { perPositionBlocks, transformInputs, usesWinogradConv, type Plane } from "./conv-winograd.ts";

/** The workspace must fit the padded image, one group of tile rows' V and H, and Acc. */
const MAX_WORKSPACE_BYTES = 128 * 1024;
/** A group's transformed patches and dy tiles stay near this size (layoutOf): half im2col's column buffer. */
const GROUP_BUDGET_BYTES = COLUMN_BUDGET_BYTES / 2;
const POSITIONS = 16;

interface FilterLayout {
  readonly g: PaddedGeometry;
  /** Tiles in a row, tile rows per group, tiles per group. */
  readonly rowTiles: number;
  readonly groupRows: number;
  readonly groupTiles: number;
  readonly v: number;
  readonly h: number;
  readonly acc: number;
  readonly total: number;
}

function layoutFor(g: PaddedGeometry, groupRows: number): FilterLayout {
  const rowTiles = g.outW / 2;
  const groupTiles = groupRows * rowTiles;
  const v = align16(imageBytes(g));
  const h = v + POSITIONS * groupTiles * g.srcC * 4;
  const acc = h + POSITIONS * groupTiles * g.outC * 4;
  return { g, rowTiles, groupRows, groupTiles, v, h, acc, total: acc + POSITIONS * g.srcC * g.outC * 4 };
}

/**
 * Tile rows per group: as many as keep a group's V and H within GROUP_BUDGET_BYTES (at least one;
 * a last, shorter group takes the rest). The workspace is live while the node runs, and in a
 * training step the filter gradients run where memory peaks, so it is kept small rather than
 * sized for the longest GEMMs: on the CNN's second layer one tile row per group (7 tiles) against
 * all 49 tiles of an image per group costs a few percent of the kernel, while the resnet example's
 * filter gradients with 4x the group would cost checkpoint auto a spill under the budget of
 * test/codegen-wasm/checkpoint-budget.test.ts.
 */
function layoutOf(p: ConvPlan): FilterLayout | undefined {
  const g = geometry("conv2dBackpropFilter", p);
  const perRow = POSITIONS * (g.outW / 2) * (g.srcC + g.outC) * 4;
  const rows = Math.max(1, Math.min(g.outH / 2, Math.floor(GROUP_BUDGET_BYTES / perRow)));
  const layout = layoutFor(g, rows);
  return layout.total <= MAX_WORKSPACE_BYTES ? layout : undefined;
}

/** Whether conv2dBackpropFilter of this (f32) convolution runs the Winograd kernel: where conv2d does. */
export function usesWinogradFilterGradient(p: ConvPlan): boolean {
  return usesWinogradConv("conv2d", p) && layoutOf(p) !== undefined;
}

export function winogradFilterWorkspaceBytes(p: ConvPlan): number {
  return layoutOf(p)!.total;
}

export function emitWinogradFilterGradient(args: KernelArgs, p: ConvPlan): Expr[] {
  const { f, inputs, output } = args;
  if (args.workspace === undefined) throw new Error(`conv2dBackpropFilter %${args.node.id}: the Winograd kernel needs a workspace and the plan gave none`);
  const ws = args.workspace;
  const layout = layoutOf(p)!;
  const { g } = layout;
  const [x, dy] = inputs;
  for (const b of [x, dy, output]) if (DTYPE_BYTES[b.type.dtype] !== 4) throw new Error("conv2dBackpropFilter: the Winograd kernel is f32-only");
  const n = f.local("i32");
  const src = f.local("i32");
  const img = f.local("i32");
  const dyImage = f.local("i32");
  const group = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const tileRows = g.outH / 2;
  const fullGroups = Math.floor(tileRows / layout.groupRows);
  const lastRows = tileRows - fullGroups * layout.groupRows;
  // The transforms of `rows` tile rows from tile row first() on, and their products into Acc.
  const groupOf = (rows: number, first: () => Expr): Expr[] => {
    const out: Expr[] = [];
    for (let r = 0; r < rows; r++) {
      const ty = () => f.i32.add(first(), c(r));
      out.push(
        transformInputs(f, g, layout.groupTiles, img, ty, ws + layout.v + r * layout.rowTiles * g.srcC * 4, "F(3,2)"),
        transformGrads(f, layout, dyImage, ty, ws + layout.h + r * layout.rowTiles * g.outC * 4),
      );
    }
    out.push(accumulate(f, layout, ws, rows * layout.rowTiles));
    return out;
  };
  return [
    f.fill(ws + layout.acc, 0, POSITIONS * g.srcC * g.outC * 4),
    f.forRange(n, 0, g.images, 1, [
      f.set(src, f.i32.add(c(x.offset), f.i32.mul(f.get(n), c(g.srcH * g.srcW * g.srcC * 4)))),
      f.set(dyImage, f.i32.add(c(dy.offset), f.i32.mul(f.get(n), c(g.outH * g.outW * g.outC * 4)))),
      ...(padded(g) ? [...padImage(f, g, src, ws), f.set(img, c(ws))] : [f.set(img, f.get(src))]),
      f.forRange(group, 0, fullGroups, 1, groupOf(layout.groupRows, () => f.i32.mul(f.get(group), c(layout.groupRows)))),
      ...(lastRows > 0 ? groupOf(lastRows, () => c(fullGroups * layout.groupRows)) : []),
    ]),
    transformBack(f, layout, ws + layout.acc, output),
  ];
}

/**
 * H[p][groupTile, o] = (G h G^T)[p] unscaled, for the tiles of dy's tile row `ty` (h the 2x2
 * tile at (2 ty, 2 tile)), four channels at a time: G's rows h0, h0 + h1, h0 - h1, h1.
 */
function transformGrads(f: FunctionBuilder, layout: FilterLayout, dyImage: Local, ty: () => Expr, dest: number): Expr {
  const { g, groupTiles } = layout;
  const O4 = g.outC * 4;
  const tx = f.local("i32");
  const a = f.local("i32");
  const to = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const hl = Array.from({ length: 4 }, () => f.local("v128"));
  const ul = Array.from({ length: 8 }, () => f.local("v128"));
  const get = (l: Local) => f.get(l);
  const add = (x: Expr, y: Expr) => f.f32x4.add(x, y);
  const sub = (x: Expr, y: Expr) => f.f32x4.sub(x, y);
  const body: Expr[] = [
    f.set(a, f.i32.add(f.get(dyImage), f.i32.mul(f.i32.add(f.i32.mul(ty(), c(2 * g.outW)), f.i32.mul(f.get(tx), c(2))), c(O4)))),
    f.set(to, f.i32.add(c(dest), f.i32.mul(f.get(tx), c(O4)))),
  ];
  for (let ov = 0; ov < g.outC / 4; ov++) {
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) body.push(f.set(hl[2 * i + j], f.v128.load(((i * g.outW + j) * g.outC + 4 * ov) * 4, 4, f.get(a))));
    // u = G h (4x2), column by column.
    for (let j = 0; j < 2; j++) {
      const [h0, h1] = [hl[j], hl[2 + j]];
      body.push(f.set(ul[j], get(h0)), f.set(ul[2 + j], add(get(h0), get(h1))), f.set(ul[4 + j], sub(get(h0), get(h1))), f.set(ul[6 + j], get(h1)));
    }
    // H = u G^T (4x4), row by row, at position 4 i + j.
    for (let i = 0; i < 4; i++) {
      const [u0, u1] = [ul[2 * i], ul[2 * i + 1]];
      [get(u0), add(get(u0), get(u1)), sub(get(u0), get(u1)), get(u1)].forEach((value, j) =>
        body.push(f.v128.store((4 * i + j) * groupTiles * O4 + 16 * ov, 4, f.get(to), value)));
    }
  }
  return f.forRange(tx, 0, layout.rowTiles, 1, body);
}

/** Acc[p][c, o] += sum_t V[p][t, c] H[p][t, o] over a group's first `tiles` tiles, for the 16 positions, in blocks of channels c. */
function accumulate(f: FunctionBuilder, layout: FilterLayout, ws: number, tiles: number): Expr {
  const { g, groupTiles } = layout;
  const C = g.srcC;
  const O = g.outC;
  const c = (v: number) => f.i32.const(v);
  const planes: Plane[] = [[ws + layout.v, groupTiles * C * 4], [ws + layout.h, groupTiles * O * 4], [ws + layout.acc, C * O * 4]];
  return perPositionBlocks(f, planes, C, O, (rows, ch, c0, vectors, [v, h, acc]) => accumulateMicro(f, layout, tiles, rows, vectors, c0,
    f.i32.add(f.get(v), f.i32.shl(ch(), c(2))), f.get(h), f.i32.add(f.get(acc), f.i32.mul(ch(), c(O * 4)))));
}

/** Acc[r, c0 + 4q ..] += sum_t V[t, r] H[t, c0 + 4q ..] for `rows` channels of V and `vectors` f32x4 columns of H, over `tiles` tiles. */
function accumulateMicro(f: FunctionBuilder, layout: FilterLayout, tiles: number, rows: number, vectors: number, c0: number, vAt: Expr, hAt: Expr, accAt: Expr): Expr[] {
  const { g } = layout;
  const C4 = g.srcC * 4;
  const O4 = g.outC * 4;
  const acc = Array.from({ length: rows }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const hv = Array.from({ length: vectors }, () => f.local("v128"));
  const av = f.local("v128");
  const a = f.local("i32");
  const b = f.local("i32");
  const t = f.local("i32");
  const dst = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const step = outerProductStep(f, acc, hv, av, (q) => f.v128.load((c0 + 4 * q) * 4, 4, f.get(b)), (r) => f.v128.load32_splat(4 * r, 4, f.get(a)));
  return [
    f.set(dst, accAt),
    ...acc.flatMap((row, r) => row.map((v, q) => f.set(v, f.v128.load(r * O4 + (c0 + 4 * q) * 4, 4, f.get(dst))))),
    f.set(a, vAt),
    f.set(b, hAt),
    f.set(t, c(tiles)),
    f.countDown(t, [...step, f.set(a, f.i32.add(f.get(a), c(C4))), f.set(b, f.i32.add(f.get(b), c(O4)))]),
    ...acc.flatMap((row, r) => row.map((v, q) => f.v128.store(r * O4 + (c0 + 4 * q) * 4, 4, f.get(dst), f.get(v)))),
  ];
}

/**
 * dw[ky, kx, c, o] = (A^T (S ⊙ Acc) A)[ky, kx] with A^T's rows (1, 1, 1, 0), (0, 1, -1, 0),
 * (0, 1, 1, 1) and S the positions' scale (1/2 for rows and columns 1 and 2), four output
 * channels at a time.
 */
function transformBack(f: FunctionBuilder, layout: FilterLayout, src: number, dw: BufferRef): Expr {
  const { g } = layout;
  const C = g.srcC;
  const O = g.outC;
  if (numel(dw.type.shape) !== 9 * C * O) throw new Error("conv2dBackpropFilter: the Winograd kernel takes 3x3 filters");
  const ch = f.local("i32");
  const from = f.local("i32");
  const to = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const al = Array.from({ length: 16 }, () => f.local("v128"));
  const sl = Array.from({ length: 12 }, () => f.local("v128"));
  const get = (l: Local) => f.get(l);
  const add = (x: Expr, y: Expr) => f.f32x4.add(x, y);
  const sub = (x: Expr, y: Expr) => f.f32x4.sub(x, y);
  const scale = [1, 0.5, 0.5, 1];
  const body: Expr[] = [
    f.set(from, f.i32.add(c(src), f.i32.mul(f.get(ch), c(O * 4)))),
    f.set(to, f.i32.add(c(dw.offset), f.i32.mul(f.get(ch), c(O * 4)))),
  ];
  for (let ov = 0; ov < O / 4; ov++) {
    for (let p = 0; p < POSITIONS; p++) {
      const s = scale[p >> 2] * scale[p & 3];
      const value = f.v128.load(p * C * O * 4 + 16 * ov, 4, f.get(from));
      body.push(f.set(al[p], s === 1 ? value : f.f32x4.mul(value, f.v128.const(f32x4Bytes(s)))));
    }
    // s = A^T Acc (3x4), column by column.
    for (let j = 0; j < 4; j++) {
      const [a0, a1, a2, a3] = [al[j], al[4 + j], al[8 + j], al[12 + j]];
      body.push(
        f.set(sl[j], add(add(get(a0), get(a1)), get(a2))),
        f.set(sl[4 + j], sub(get(a1), get(a2))),
        f.set(sl[8 + j], add(add(get(a1), get(a2)), get(a3))),
      );
    }
    // dw = s A (3x3), row by row: tap (ky, kx) = (i, j).
    for (let i = 0; i < 3; i++) {
      const [s0, s1, s2, s3] = [sl[4 * i], sl[4 * i + 1], sl[4 * i + 2], sl[4 * i + 3]];
      [add(add(get(s0), get(s1)), get(s2)), sub(get(s1), get(s2)), add(add(get(s1), get(s2)), get(s3))].forEach((value, j) =>
        body.push(f.v128.store(((3 * i + j) * C * O + 4 * ov) * 4, 4, f.get(to), value)));
    }
  }
  return f.forRange(ch, 0, C, 1, body);
}

/** The 16 bytes of an f32x4 constant with every lane `v`. */
function f32x4Bytes(v: number): number[] {
  const bytes = new Uint8Array(new Float32Array([v, v, v, v]).buffer);
  return [...bytes];
}
