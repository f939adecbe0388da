// convInteger (ir/ops/quant.ts) on the int8 GEMM (gemm-int8.ts): the image's windows are copied
// into a u8/i8 column matrix in the workspace (im2col, rows = output pixels, columns = (ky, kx,
// channel), the filter's row order), with the taps that fall in the padding filled with the input
// zero point; the filter [kh, kw, C, O] is already that matrix's [K, O] right operand. Since
// every tap of every row is then present, sum (x - zx) w = sum x w - zx * colsum(w) exactly, and
// the correction is one i32x4 subtraction per 4 outputs after the GEMM (colsum computed from the
// filter per call: it is a run-time param). The column matrix is built kernel row by kernel row
// with unrolled 8/4/2/1-byte moves (a row's taps are adjacent in the image). A 1x1, stride-1, unpadded convolution reads the image
// as the column matrix directly. Grouped convolutions have no kernel here (the quantization pass
// never makes them).

import { attr } from "../../ir/op-def.ts";
import { convIntegerGeometry } from "../../ir/ops/quant.ts";
import type { TensorType } from "../../ir/types.ts";
import type { Node } from "../../ir/graph.ts";
import { UnsupportedKernelError, withWorkspace, type KernelArgs, type KernelEmitter } from "../kernel.ts";
import type { Expr, FunctionBuilder } from "../module.ts";
import { callInt8Gemm, int8GemmWorkspaceBytes } from "./gemm-int8.ts";

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;

interface ConvIntegerShape {
  readonly win: ReturnType<typeof convIntegerGeometry>["win"];
  readonly batch: number; readonly inH: number; readonly inW: number; readonly channels: number;
  /** GEMM sizes: output pixels, filter rows, output channels. */
  readonly m: number; readonly k: number; readonly n: number;
  /** Whether the image is its own column matrix (1x1, stride 1, no padding). */
  readonly direct: boolean;
  /** Workspace layout: column matrix, zx * colsum (i32 [n]), the GEMM's scratch. */
  readonly colBytes: number; readonly corrBytes: number; readonly gemmBytes: number;
}

function shapeOf(node: Node, x: TensorType, w: TensorType): ConvIntegerShape {
  const { win, out } = convIntegerGeometry(x, w, node.attrs);
  const [batch, inH, inW, channels] = x.shape;
  const [kh, kw, , n] = w.shape;
  const m = out.shape[0] * out.shape[1] * out.shape[2];
  const k = kh * kw * channels;
  const direct = kh === 1 && kw === 1 && win.strideH === 1 && win.strideW === 1 && win.padTop === 0 && win.padLeft === 0 && win.outH === inH && win.outW === inW;
  const zx = attr.num(node.attrs, "inputZeroPoint");
  return {
    win, batch, inH, inW, channels, m, k, n, direct,
    colBytes: direct ? 0 : roundUp(m * k, 16),
    corrBytes: zx === 0 ? 0 : roundUp(4 * n, 16),
    gemmBytes: int8GemmWorkspaceBytes(m, n, k),
  };
}

function workspaceBytes(node: Node, [x, w]: readonly TensorType[]): number {
  const s = shapeOf(node, x, w);
  if (s.m * s.n * s.k === 0) return 0;
  return s.colBytes + s.corrBytes + s.gemmBytes;
}

function emit({ f, node, inputs: [x, w], output, helper, workspace }: KernelArgs): Expr[] {
  if (attr.num(node.attrs, "groups") !== 1) throw new UnsupportedKernelError(`convInteger %${node.id}: grouped convolutions (groups ${attr.num(node.attrs, "groups")}) have no wasm-simd kernel`);
  const s = shapeOf(node, x.type, w.type);
  const zx = attr.num(node.attrs, "inputZeroPoint");
  if (s.m * s.n === 0) return [];
  if (s.k === 0) return [f.fill(output.offset, 0, s.m * s.n * 4)];
  if (workspace === undefined) throw new Error(`convInteger %${node.id} needs a workspace and the plan gave none`);
  const col = workspace;
  const corr = workspace + s.colBytes;
  const gemmWs = corr + s.corrBytes;
  const c = (v: number) => f.i32.const(v);
  const out: Expr[] = [];
  if (!s.direct) out.push(im2col(f, s, x.offset, col, zx));
  out.push(callInt8Gemm(f, helper, x.type.dtype, w.type.dtype, { a: s.direct ? x.offset : col, b: w.offset, c: output.offset, workspace: gemmWs, m: s.m, n: s.n, k: s.k }));
  if (zx === 0) return out;
  // corr[j] = zx * sum_p w[p, j] (w i8 or u8 by its dtype).
  const j = f.local("i32");
  const p = f.local("i32");
  const sum = f.local("i32");
  const load = w.type.dtype === "i8" ? (a: Expr) => f.loadI8(a) : (a: Expr) => f.loadU8(a);
  out.push(f.forRange(j, 0, s.n, 1, [
    f.set(sum, c(0)),
    f.forRange(p, 0, s.k, 1, [f.set(sum, f.i32.add(f.get(sum), load(f.i32.add(f.i32.add(f.i32.mul(f.get(p), c(s.n)), f.get(j)), c(w.offset)))))]),
    f.storeI32(f.at(corr, f.get(j), 4), f.i32.mul(f.get(sum), c(zx))),
  ]));
  // out[r, j] -= corr[j]: four lanes at a time along each row, the row's tail scalar.
  const r = f.local("i32");
  const row = f.local("i32");
  const vectors = Math.floor(s.n / 4);
  const lane = (q: number) => [
    f.v128.store(16 * q, 4, f.get(row), f.i32x4.sub(f.v128.load(16 * q, 4, f.get(row)), f.v128.load(0, 4, c(corr + 16 * q)))),
  ];
  const tail: Expr[] = [];
  for (let t = vectors * 4; t < s.n; t++) {
    tail.push(f.i32.store(4 * t, 4, f.get(row), f.i32.sub(f.i32.load(4 * t, 4, f.get(row)), f.loadI32(c(corr + 4 * t)))));
  }
  const body: Expr[] = [];
  for (let q = 0; q < vectors; q++) body.push(...lane(q));
  out.push(
    f.set(row, c(output.offset)),
    f.forRange(r, 0, s.m, 1, [...body, ...tail, f.set(row, f.i32.add(f.get(row), c(4 * s.n)))]),
  );
  return out;
}

/**
 * `bytes` bytes from `src` to `dst` (addresses as expressions built fresh per use), unrolled as
 * 8/4/2/1-byte loads and stores up to 64 bytes (a tap's or kernel row's channel run), else one
 * memory.copy; memory.copy's call costs more than the move for runs this short.
 */
function moveBytes(f: FunctionBuilder, dst: () => Expr, src: () => Expr, bytes: number): Expr[] {
  if (bytes > 64) return [f.copyAt(dst(), src(), f.i32.const(bytes))];
  const out: Expr[] = [];
  let at = 0;
  for (const size of [8, 4, 2, 1] as const) {
    for (; at + size <= bytes; at += size) {
      if (size === 8) out.push(f.i64.store(at, 1, dst(), f.i64.load(at, 1, src())));
      else if (size === 4) out.push(f.i32.store(at, 1, dst(), f.i32.load(at, 1, src())));
      else if (size === 2) out.push(f.i32.store16(at, 1, dst(), f.i32.load16_u(at, 1, src())));
      else out.push(f.i32.store8(at, 1, dst(), f.i32.load8_u(at, 1, src())));
    }
  }
  return out;
}

/** `bytes` copies of the byte `value` at `dst`, unrolled like moveBytes. */
function fillBytes(f: FunctionBuilder, dst: () => Expr, value: number, bytes: number): Expr[] {
  if (bytes > 64) return [f.fillAt(dst(), f.i32.const(value), f.i32.const(bytes))];
  const b = BigInt(value & 0xff);
  const word64 = BigInt.asIntN(64, b * 0x0101010101010101n);
  const word32 = (value & 0xff) * 0x01010101 | 0;
  const out: Expr[] = [];
  let at = 0;
  for (const size of [8, 4, 2, 1] as const) {
    for (; at + size <= bytes; at += size) {
      if (size === 8) out.push(f.i64.store(at, 1, dst(), (f.i64.const as unknown as (v: bigint) => Expr)(word64)));
      else if (size === 4) out.push(f.i32.store(at, 1, dst(), f.i32.const(word32)));
      else if (size === 2) out.push(f.i32.store16(at, 1, dst(), f.i32.const(word32 & 0xffff)));
      else out.push(f.i32.store8(at, 1, dst(), f.i32.const(value & 0xff)));
    }
  }
  return out;
}

/**
 * The column matrix at `col`: per output pixel, per (ky, kx), the pixel's C channel bytes, or C
 * bytes of the zero point where the tap lies in the padding. Kernel rows are unrolled: a row
 * inside the image whose taps are adjacent (dilation 1) moves as one run of kw*C bytes, a row in
 * the vertical padding is one fill, and a row crossing the left or right border goes tap by tap.
 */
function im2col(f: FunctionBuilder, s: ConvIntegerShape, x: number, col: number, zx: number): Expr {
  const { win, inH, inW, channels: C } = s;
  const c = (v: number) => f.i32.const(v);
  const b = f.local("i32");
  const oy = f.local("i32");
  const ox = f.local("i32");
  const iy = f.local("i32");
  const ix = f.local("i32");
  const dst = f.local("i32");
  const src = f.local("i32");
  const kw = win.kernelW;
  const rows: Expr[] = [];
  for (let ky = 0; ky < win.kernelH; ky++) {
    const rowAt = (ky * kw) * C;
    const dstAt = (off: number) => () => f.i32.add(f.get(dst), c(off));
    const srcAt = (off: number) => () => f.i32.add(f.get(src), c(off));
    // src = address of (b, iy, ix0, 0); taps at kx * dilation * C further.
    const perTap: Expr[] = [];
    for (let kx = 0; kx < kw; kx++) {
      const inside = f.i32.lt_u(f.i32.add(f.get(ix), c(kx * win.dilationW)), c(inW));
      perTap.push(f.if(inside, moveBytes(f, dstAt(rowAt + kx * C), srcAt(kx * win.dilationW * C), C), fillBytes(f, dstAt(rowAt + kx * C), zx, C)));
    }
    const whole = win.dilationW === 1
      ? [f.if(f.i32.and(f.i32.ge_s(f.get(ix), c(0)), f.i32.le_s(f.i32.add(f.get(ix), c(kw)), c(inW))), moveBytes(f, dstAt(rowAt), srcAt(0), kw * C), perTap)]
      : perTap;
    rows.push(
      f.set(iy, f.i32.add(f.i32.sub(f.i32.mul(f.get(oy), c(win.strideH)), c(win.padTop)), c(ky * win.dilationH))),
      f.if(
        f.i32.lt_u(f.get(iy), c(inH)),
        [
          f.set(src, f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.get(b), c(inH)), f.get(iy)), c(inW)), f.get(ix)), c(C)), c(x))),
          ...whole,
        ],
        fillBytes(f, dstAt(rowAt), zx, kw * C),
      ),
    );
  }
  const rowBytes = win.kernelH * kw * C;
  return f.block([
    f.set(dst, c(col)),
    f.forRange(b, 0, s.batch, 1, [
      f.forRange(oy, 0, win.outH, 1, [
        f.forRange(ox, 0, win.outW, 1, [
          f.set(ix, f.i32.sub(f.i32.mul(f.get(ox), c(win.strideW)), c(win.padLeft))),
          ...rows,
          f.set(dst, f.i32.add(f.get(dst), c(rowBytes))),
        ]),
      ]),
    ]),
  ]);
}

export const convInteger: KernelEmitter = withWorkspace(emit, workspaceBytes);
