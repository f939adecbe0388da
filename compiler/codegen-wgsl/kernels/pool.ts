// Kernels of the 2-D pools and their backward ops, one invocation per result element (map.ts's
// elementMap), each walking the window(s) that reach its element with the interpreter's geometry
// (ir/ops/nn.ts poolWindow) and its rules:
//
//   maxPool2d      the window's max over in-bounds pixels; the first NaN sticks (beatsMax)
//   avgPool2d      the mean over in-bounds pixels (padding is not counted)
//   maxPool2dGrad  dx[b,iy,ix,c] = sum of dy over the windows whose first maximum (rows, then
//                  columns, beatsMax) is this pixel: each window's winner is recomputed by every
//                  pixel it covers, in gather form, so no two invocations add into one element
//   avgPool2dGrad  dx = sum over the windows covering the pixel of dy / (in-bounds pixel count)

import { poolWindow } from "../../ir/ops/nn.ts";
import type { Window2d } from "../../ir/ops/window.ts";
import { computeType, f32, i32, load } from "../wgsl.ts";
import { signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelTable } from "../kernel.ts";
import { FLOATS, NUMERIC } from "../../ir/dtypes.ts";
import { elementMap } from "./map.ts";
import { int, unravel } from "./nhwc.ts";


/** WGSL `fn beats(v, m) -> bool`: v replaces the running max m (larger, or the first NaN). */
function beats(t: string): string {
  return t === "f32"
    ? "fn beats(v: f32, m: f32) -> bool { return v > m || (is_nan(v) && !is_nan(m)); }\n"
    : "fn beats(v: i32, m: i32) -> bool { return v > m; }\n";
}

/** Loops over the in-bounds pixels of window (oy, ox); `visit` sees `xi`, the pixel's flat index. */
function windowLoop(x: readonly number[], win: Window2d, visit: string): string {
  const [, inH, inW, channels] = x;
  return `for (var ky = 0i; ky < ${int(win.kernelH)}; ky++) {
      let iy = oy * ${int(win.strideH)} - ${int(win.padTop)} + ky;
      if (iy < 0i || iy >= ${int(inH)}) { continue; }
      for (var kx = 0i; kx < ${int(win.kernelW)}; kx++) {
        let ix = ox * ${int(win.strideW)} - ${int(win.padLeft)} + kx;
        if (ix < 0i || ix >= ${int(inW)}) { continue; }
        let xi = u32(((b * ${int(inH)} + iy) * ${int(inW)} + ix) * ${int(channels)} + c);
        ${visit}
      }
    }`;
}

function map(a: WgslKernelArgs, body: string, helpers = "") {
  return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { helpers, body }, a.target)];
}

const maxPool: WgslKernel = (a) => {
  const x = a.inputs[0];
  const t = computeType(x.type.dtype);
  const win = poolWindow(a.node.op, x.type.shape, a.node.attrs);
  const identity = t === "f32" ? f32(-Infinity) : i32(-(2 ** 31));
  return map(a, `${unravel(a.output.type.shape, ["b", "oy", "ox", "c"])}
  var m: ${t} = ${identity};
  ${windowLoop(x.type.shape, win, `let v = ${load(x.offset, x.type.dtype, "xi")}; if (beats(v, m)) { m = v; }`)}
  return m;`, beats(t));
};

const avgPool: WgslKernel = (a) => {
  const x = a.inputs[0];
  const win = poolWindow(a.node.op, x.type.shape, a.node.attrs);
  return map(a, `${unravel(a.output.type.shape, ["b", "oy", "ox", "c"])}
  var s = 0.0;
  var count = 0.0;
  ${windowLoop(x.type.shape, win, `s += ${load(x.offset, x.type.dtype, "xi")}; count += 1.0;`)}
  return s / count;`);
};

/** Loops over the windows (oy, ox) that cover pixel (iy, ix); `visit` runs inside. */
function coveringWindows(win: Window2d, visit: string): string {
  return `for (var ky = 0i; ky < ${int(win.kernelH)}; ky++) {
    let ty = iy + ${int(win.padTop)} - ky;
    if (ty < 0i || ty % ${int(win.strideH)} != 0i || ty / ${int(win.strideH)} >= ${int(win.outH)}) { continue; }
    let oy = ty / ${int(win.strideH)};
    for (var kx = 0i; kx < ${int(win.kernelW)}; kx++) {
      let tx = ix + ${int(win.padLeft)} - kx;
      if (tx < 0i || tx % ${int(win.strideW)} != 0i || tx / ${int(win.strideW)} >= ${int(win.outW)}) { continue; }
      let ox = tx / ${int(win.strideW)};
      let di = u32(((b * ${int(win.outH)} + oy) * ${int(win.outW)} + ox) * C + c);
      ${visit}
    }
  }`;
}

const maxPoolGrad: WgslKernel = (a) => {
  const [x, dy] = a.inputs;
  const shape = x.type.shape;
  const win = poolWindow(a.node.op, shape, a.node.attrs);
  // Window (oy, ox)'s winner: its first in-bounds pixel, replaced by any later one that beats it
  // (the inner loop's iy, ix shadow this pixel's, whose index `own` keeps).
  const winner = `var best = 0xffffffffu;
      var m = 0.0;
      ${windowLoop(shape, win, `let v = ${load(x.offset, x.type.dtype, "xi")}; if (best == 0xffffffffu || beats(v, m)) { best = xi; m = v; }`)}
      if (best == own) { acc += ${load(dy.offset, dy.type.dtype, "di")}; }`;
  const body = `${unravel(shape, ["b", "iy", "ix", "c"])}
  let C = ${int(shape[3])};
  let own = u32(((b * ${int(shape[1])} + iy) * ${int(shape[2])} + ix) * C + c);
  var acc = 0.0;
  ${coveringWindows(win, winner)}
  return acc;`;
  return map(a, body, beats("f32"));
};

const avgPoolGrad: WgslKernel = (a) => {
  const dy = a.inputs[0];
  const shape = a.output.type.shape;
  const win = poolWindow(a.node.op, shape, a.node.attrs);
  const [, inH, inW] = shape;
  const count = (o: string, stride: number, pad: number, kernel: number, size: number) =>
    `f32(min(${o} * ${int(stride)} - ${int(pad)} + ${int(kernel)}, ${int(size)}) - max(${o} * ${int(stride)} - ${int(pad)}, 0i))`;
  const body = `${unravel(shape, ["b", "iy", "ix", "c"])}
  let C = ${int(shape[3])};
  var acc = 0.0;
  ${coveringWindows(win, `acc += ${load(dy.offset, dy.type.dtype, "di")} / (${count("oy", win.strideH, win.padTop, win.kernelH, inH)} * ${count("ox", win.strideW, win.padLeft, win.kernelW, inW)});`)}
  return acc;`;
  return map(a, body);
};

/** maxPool2d compares in the compute type, so it takes every numeric dtype; the rest every float dtype. */
export const POOL_KERNELS: WgslKernelTable = signedTable("wgsl pool kernels", {
  pool: [
    { op: "maxPool2d", dtypes: NUMERIC, kernel: maxPool },
    { op: "avgPool2d", dtypes: FLOATS, kernel: avgPool },
    { op: "maxPool2dGrad", dtypes: FLOATS, kernel: maxPoolGrad },
    { op: "avgPool2dGrad", dtypes: FLOATS, kernel: avgPoolGrad },
  ],
});
