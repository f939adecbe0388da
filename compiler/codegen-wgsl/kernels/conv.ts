// Kernels of conv2d, fusedConv2d and conv2d's backward ops. The direct form: one invocation per
// result element (map.ts's elementMap), which loops over the taps that reach it. The window geometry
// comes from ir/ops/window.ts through the op records' convGeometry, so padding and output sizes
// are the interpreter's. Layouts: x NHWC, w [kh, kw, C/groups, O].
//
//   conv2d               y[b,oy,ox,o] = sum over in-bounds taps (ky,kx) and the group's input
//                        channels of x * w; fusedConv2d then runs its epilogue on the sum
//   conv2dBackpropInput  dx[b,iy,ix,c] = sum over the taps whose output position (oy, ox) lands
//                        on a stride multiple inside the output, and the group's output channels,
//                        of dy * w (the gather form of the transposed convolution: no atomics)
//   conv2dBackpropFilter dw[ky,kx,ci,o] = sum over images and output pixels of x * dy
//
// On GPUs (WgslTarget.workgroupTiles) all three with one group run as implicit GEMMs on
// gemm-tiled.ts, the gathered operand's elements computed as the tiles are staged (0 for padding
// taps and misses), never stored:
//   conv2d                [N*OH*OW, O] = im2col(x) [N*OH*OW, kh*kw*C] x w [kh*kw*C, O]
//   conv2dBackpropFilter  [kh*kw*C, O] = im2col(x)^T x dy [N*OH*OW, O]
//   conv2dBackpropInput   [N*H*W, C] = G [N*H*W, kh*kw*O] x w^T [kh*kw*O, C], G gathering dy
//
// Not done yet: the implicit GEMM for grouped/depthwise convolutions (they run the direct loops
// on every target), and a depthwise-specialised kernel.

import { attr } from "../../ir/op-def.ts";
import { headAttrs } from "../../ir/ops/fused-contraction.ts";
import { parseBody } from "../../ir/ops/fused-body.ts";
import { convGeometry } from "../../ir/ops/nn.ts";
import type { Window2d } from "../../ir/ops/window.ts";
import type { TensorType } from "../../ir/types.ts";
import { signedTable } from "../../ir/dtypes.ts";
import type { BufferRef, WgslKernel, WgslKernelArgs, WgslKernelTable } from "../kernel.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { load, u32 } from "../wgsl.ts";
import { bodyProgram } from "./elementwise.ts";
import { broadcastRead, elementMap } from "./map.ts";
import { int, unravel } from "./nhwc.ts";
import { tiledGemmPass } from "./gemm-tiled.ts";
import { epilogue } from "./matmul.ts";
import { mathLibrary } from "./math.ts";
import { staged } from "./stage.ts";


/** conv2d's sum for result element i (`acc`), as WGSL statements. */
function convSum(a: WgslKernelArgs, x: TensorType, w: TensorType, win: Window2d, xOff: number, wOff: number): string {
  const [xd, wd] = [x.dtype, w.dtype];
  const [, inH, inW, channels] = x.shape;
  const [kh, kw, gc, outC] = w.shape;
  const groupOut = outC / attr.num(a.node.attrs, "groups");
  return `${unravel(a.output.type.shape, ["b", "oy", "ox", "o"])}
  let g = o / ${int(groupOut)};
  var acc = 0.0;
  for (var ky = 0i; ky < ${int(kh)}; ky++) {
    let iy = oy * ${int(win.strideH)} - ${int(win.padTop)} + ky * ${int(win.dilationH)};
    if (iy < 0i || iy >= ${int(inH)}) { continue; }
    for (var kx = 0i; kx < ${int(kw)}; kx++) {
      let ix = ox * ${int(win.strideW)} - ${int(win.padLeft)} + kx * ${int(win.dilationW)};
      if (ix < 0i || ix >= ${int(inW)}) { continue; }
      let xb = u32(((b * ${int(inH)} + iy) * ${int(inW)} + ix) * ${int(channels)} + g * ${int(gc)});
      let wb = u32((ky * ${int(kw)} + kx) * ${int(gc * outC)} + o);
      for (var ci = 0u; ci < ${u32(gc)}; ci++) {
        acc += ${load(xOff, xd, "xb + ci")} * ${load(wOff, wd, `wb + ci * ${u32(outC)}`)};
      }
    }
  }`;
}

/**
 * WGSL `fn im2col(i: u32, p: u32) -> f32`: element (i, p) of x's im2col matrix, i an output pixel
 * (b, oy, ox) and p a tap and channel (ky, kx, ci) in w's order; 0 where the tap is padding.
 */
function im2col(x: BufferRef, w: readonly number[], win: Window2d): string {
  const [, inH, inW, channels] = x.type.shape;
  const [, kw] = w;
  return `fn im2col(i: u32, p: u32) -> f32 {
  let b = i32(i / ${u32(win.outH * win.outW)});
  let oy = i32((i / ${u32(win.outW)}) % ${u32(win.outH)});
  let ox = i32(i % ${u32(win.outW)});
  let ky = i32(p / ${u32(kw * channels)});
  let kx = i32((p / ${u32(channels)}) % ${u32(kw)});
  let ci = i32(p % ${u32(channels)});
  let iy = oy * ${int(win.strideH)} - ${int(win.padTop)} + ky * ${int(win.dilationH)};
  let ix = ox * ${int(win.strideW)} - ${int(win.padLeft)} + kx * ${int(win.dilationW)};
  if (iy < 0i || iy >= ${int(inH)} || ix < 0i || ix >= ${int(inW)}) { return 0.0; }
  return ${load(x.offset, x.type.dtype, `u32(((b * ${int(inH)} + iy) * ${int(inW)} + ix) * ${int(channels)} + ci)`)};
}
`;
}

/** Whether the implicit-GEMM form applies: a GPU target (workgroup tiles) and one group. */
function implicitGemm(a: WgslKernelArgs): boolean {
  return a.target.workgroupTiles && attr.num(a.node.attrs, "groups") === 1;
}

function conv(a: WgslKernelArgs, epilogueText?: string) {
  const [x, w] = a.inputs;
  const { win } = convGeometry(a.node.op, x.type, w.type, epilogueText === undefined ? a.node.attrs : headAttrs(a.node.attrs));
  if (implicitGemm(a)) {
    // C [N*OH*OW, O] = im2col(x) [N*OH*OW, kh*kw*C] x w [kh*kw*C, O]; C is the NHWC result.
    const [kh, kw, channels, outC] = w.type.shape;
    const epi = epilogue(a, epilogueText);
    const code = `${mathLibrary(epi.math)}${epi.code}${im2col(x, w.type.shape, win)}
fn a_at(batch: u32, i: u32, p: u32) -> f32 { return im2col(i, p); }
fn b_at(batch: u32, p: u32, j: u32) -> f32 { return ${load(w.offset, w.type.dtype, `p * ${u32(outC)} + j`)}; }
`;
    const m = x.type.shape[0] * win.outH * win.outW;
    return [tiledGemmPass(a, { m, n: outC, k: kh * kw * channels, batches: 1, code, aAlongK: true, bAlongN: true })];
  }
  let tail = "  return acc;";
  let helpers = "";
  if (epilogueText !== undefined) {
    const extras = a.inputs.slice(2);
    const program = bodyProgram(parseBody(epilogueText, extras.length + 1), ["acc", ...extras.map((e) => broadcastRead(e, a.output.type.shape))]);
    tail = `${program.stmts}\n  return ${program.result};`;
    helpers = mathLibrary(program.math);
  }
  const body = `${convSum(a, x.type, w.type, win, x.offset, w.offset)}\n${tail}`;
  return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { helpers, body }, a.target)];
}

const backpropInput: WgslKernel = (a) => {
  const [dy, w] = a.inputs;
  // The result's shape (its dtype may be the f32 of a staged 16-bit result, stage.ts).
  const x = { ...a.output.type, dtype: w.type.dtype };
  const { win } = convGeometry(a.node.op, x, w.type, a.node.attrs);
  if (implicitGemm(a)) {
    // dx [N*H*W, C] = G [N*H*W, kh*kw*O] x w^T [kh*kw*O, C], where G[(b,iy,ix), (ky,kx,o)] is
    // dy at the output pixel whose tap (ky, kx) lands on (iy, ix), or 0 when none does.
    const [, inH, inW, channels] = x.shape;
    const [kh, kw, , outC] = w.type.shape;
    const code = `${epilogue(a, undefined).code}
fn a_at(batch: u32, i: u32, p: u32) -> f32 {
  let b = i32(i / ${u32(inH * inW)});
  let iy = i32((i / ${u32(inW)}) % ${u32(inH)});
  let ix = i32(i % ${u32(inW)});
  let ky = i32(p / ${u32(kw * outC)});
  let kx = i32((p / ${u32(outC)}) % ${u32(kw)});
  let o = p % ${u32(outC)};
  let ty = iy + ${int(win.padTop)} - ky * ${int(win.dilationH)};
  let tx = ix + ${int(win.padLeft)} - kx * ${int(win.dilationW)};
  if (ty < 0i || tx < 0i || ty % ${int(win.strideH)} != 0i || tx % ${int(win.strideW)} != 0i) { return 0.0; }
  let oy = ty / ${int(win.strideH)};
  let ox = tx / ${int(win.strideW)};
  if (oy >= ${int(win.outH)} || ox >= ${int(win.outW)}) { return 0.0; }
  return ${load(dy.offset, dy.type.dtype, `u32((b * ${int(win.outH)} + oy) * ${int(win.outW)} + ox) * ${u32(outC)} + o`)};
}
fn b_at(batch: u32, p: u32, j: u32) -> f32 { return ${load(w.offset, w.type.dtype, `((p / ${u32(outC)}) * ${u32(channels)} + j) * ${u32(outC)} + p % ${u32(outC)}`)}; }
`;
    return [tiledGemmPass(a, { m: x.shape[0] * inH * inW, n: channels, k: kh * kw * outC, batches: 1, code, aAlongK: true, bAlongN: false })];
  }
  const [kh, kw, gc, outC] = w.type.shape;
  const groupOut = outC / attr.num(a.node.attrs, "groups");
  const body = `${unravel(x.shape, ["b", "iy", "ix", "c"])}
  let g = c / ${int(gc)};
  let ci = c % ${int(gc)};
  var acc = 0.0;
  for (var ky = 0i; ky < ${int(kh)}; ky++) {
    let ty = iy + ${int(win.padTop)} - ky * ${int(win.dilationH)};
    if (ty < 0i || ty % ${int(win.strideH)} != 0i || ty / ${int(win.strideH)} >= ${int(win.outH)}) { continue; }
    let oy = ty / ${int(win.strideH)};
    for (var kx = 0i; kx < ${int(kw)}; kx++) {
      let tx = ix + ${int(win.padLeft)} - kx * ${int(win.dilationW)};
      if (tx < 0i || tx % ${int(win.strideW)} != 0i || tx / ${int(win.strideW)} >= ${int(win.outW)}) { continue; }
      let ox = tx / ${int(win.strideW)};
      let db = u32(((b * ${int(win.outH)} + oy) * ${int(win.outW)} + ox) * ${int(outC)} + g * ${int(groupOut)});
      let wb = u32(((ky * ${int(kw)} + kx) * ${int(gc)} + ci) * ${int(outC)} + g * ${int(groupOut)});
      for (var o = 0u; o < ${u32(groupOut)}; o++) {
        acc += ${load(dy.offset, dy.type.dtype, "db + o")} * ${load(w.offset, w.type.dtype, "wb + o")};
      }
    }
  }
  return acc;`;
  return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { body }, a.target)];
};

const backpropFilter: WgslKernel = (a) => {
  const [x, dy] = a.inputs;
  const w = { ...a.output.type, dtype: x.type.dtype };
  const { win } = convGeometry(a.node.op, x.type, w, a.node.attrs);
  if (implicitGemm(a)) {
    // dw [kh*kw*C, O] = im2col(x)^T [kh*kw*C, N*OH*OW] x dy [N*OH*OW, O].
    const [kh, kw, channels, outC] = w.shape;
    const code = `${epilogue(a, undefined).code}${im2col(x, w.shape, win)}
fn a_at(batch: u32, i: u32, p: u32) -> f32 { return im2col(p, i); }
fn b_at(batch: u32, p: u32, j: u32) -> f32 { return ${load(dy.offset, dy.type.dtype, `p * ${u32(outC)} + j`)}; }
`;
    const pixels = x.type.shape[0] * win.outH * win.outW;
    return [tiledGemmPass(a, { m: kh * kw * channels, n: outC, k: pixels, batches: 1, code, aAlongK: false, bAlongN: true })];
  }
  const [batch, inH, inW, channels] = x.type.shape;
  const [, kw, gc, outC] = w.shape;
  const groupOut = outC / attr.num(a.node.attrs, "groups");
  const body = `  let o = i32(i % ${u32(outC)});
  let ci = i32((i / ${u32(outC)}) % ${u32(gc)});
  let kx = i32((i / ${u32(outC * gc)}) % ${u32(kw)});
  let ky = i32(i / ${u32(outC * gc * kw)});
  let c = (o / ${int(groupOut)}) * ${int(gc)} + ci;
  var acc = 0.0;
  for (var b = 0i; b < ${int(batch)}; b++) {
    for (var oy = 0i; oy < ${int(win.outH)}; oy++) {
      let iy = oy * ${int(win.strideH)} - ${int(win.padTop)} + ky * ${int(win.dilationH)};
      if (iy < 0i || iy >= ${int(inH)}) { continue; }
      for (var ox = 0i; ox < ${int(win.outW)}; ox++) {
        let ix = ox * ${int(win.strideW)} - ${int(win.padLeft)} + kx * ${int(win.dilationW)};
        if (ix < 0i || ix >= ${int(inW)}) { continue; }
        acc += ${load(x.offset, x.type.dtype, `u32(((b * ${int(inH)} + iy) * ${int(inW)} + ix) * ${int(channels)} + c)`)} * ${load(dy.offset, dy.type.dtype, `u32(((b * ${int(win.outH)} + oy) * ${int(win.outW)} + ox) * ${int(outC)} + o)`)};
      }
    }
  }
  return acc;`;
  return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { body }, a.target)];
};

/**
 * Every float dtype; the implicit GEMMs (GPUs) store C element by element from 4 x 4 blocks, so a
 * 16-bit result goes through stage.ts there, while the direct forms (one invocation per result
 * element, map.ts) write 16-bit words themselves.
 */
const gemmStaged = (kernel: WgslKernel): WgslKernel => {
  const stagedKernel = staged(kernel);
  const run: WgslKernel = (a) => (implicitGemm(a) ? stagedKernel(a) : kernel(a));
  // The target is not known when the planner asks, so the scratch is reserved either way.
  run.workspaceBytes = stagedKernel.workspaceBytes;
  return run;
};

export const CONV_KERNELS: WgslKernelTable = signedTable("wgsl conv kernels", {
  conv: [
    { op: "conv2d", dtypes: FLOATS, kernel: gemmStaged((a) => conv(a)) },
    { op: "fusedConv2d", dtypes: FLOATS, kernel: gemmStaged((a) => conv(a, attr.str(a.node.attrs, "epilogue"))) },
    { op: "conv2dBackpropInput", dtypes: FLOATS, kernel: gemmStaged(backpropInput) },
    { op: "conv2dBackpropFilter", dtypes: FLOATS, kernel: gemmStaged(backpropFilter) },
  ],
});
