// Kernels of the quantization ops (compiler/ir/ops/quant.ts; formulas in ops/quant-kit.ts), as
// the WASM ones: the elementwise ops through map.ts's elementMap with the per-channel scale and
// zero point read as [C, 1, ..., 1] views broadcast along `axis`; `round` is WGSL's round half
// to even; a NaN rounds to 0 explicitly (WGSL's clamp and i32() leave NaN unspecified).
//
// WGSL allows its f32 division 2.5 ULP, so on a GPU whose division is not correctly rounded the
// reciprocal 1/scale may differ from the interpreter's in its last bit, and an x whose x/scale
// lies within a few ULP of a rounding boundary may then quantize one step apart. SwiftShader
// (the tests) divides exactly and matches bit for bit.
//
// matmulInteger: on a target with WGSL's packed 4×8-bit dot products, kernels/gemm-int8.ts (4 k
// steps a dot4I8Packed); otherwise one invocation per result element, a loop over K with i32
// accumulation (every adapter runs it). convInteger likewise packed where 4 adjacent output
// channels share a group, else: one
// invocation per output element, a loop over the taps inside the image and their channels, each
// x minus the zero point (padding taps are skipped: they add 0).

import { attr } from "../../ir/op-def.ts";
import { QUANT_RANGES, ROUNDED_LIMIT, QUANT_SIGNATURES, perChannelViews } from "../../ir/ops/quant-kit.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelRegistration } from "../kernel.ts";
import { f32, i32, load, u32 } from "../wgsl.ts";
import { convIntegerShape, packedConvInteger, packedConvIntegerFits, packedMatmulInteger } from "./gemm-int8.ts";
import { broadcastRead, elementMap } from "./map.ts";

/** WGSL statements defining `q`: rne(real) limited to +-2^24 (NaN -> 0) plus the zero point `z`. */
function roundedPlusZeroPoint(real: string, z: string): string {
  return [
    `  let t = round(${real});`,
    `  let r = select(clamp(t, ${f32(-ROUNDED_LIMIT)}, ${f32(ROUNDED_LIMIT)}), 0.0, is_nan(t));`,
    `  let q = i32(r) + ${z};`,
  ].join("\n");
}

/** An elementwise kernel: `body(xs)` returns statements ending in `return ...;` over x0, x1, .... */
function mapKernel(body: (a: WgslKernelArgs) => string, data = 0, first = 1): WgslKernel {
  return (a) => {
    const reads = perChannelViews(a.node, a.inputs, data, first).map((x) => broadcastRead(x, a.output.type.shape));
    const lets = reads.map((x, k) => `  let x${k} = ${x};`).join("\n");
    return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { body: `${lets}\n${body(a)}` }, a.target)];
  };
}

const range = (a: WgslKernelArgs): readonly [number, number] => QUANT_RANGES[a.output.type.dtype as "i8" | "u8"];
const fakeRange = (a: WgslKernelArgs): readonly [number, number] => [attr.num(a.node.attrs, "qmin"), attr.num(a.node.attrs, "qmax")];
const clampQ = ([lo, hi]: readonly [number, number]) => `clamp(q, ${i32(lo)}, ${i32(hi)})`;

const quantize = mapKernel((a) => `${roundedPlusZeroPoint("x0 * (1.0 / x1)", "x2")}\n  return ${clampQ(range(a))};`);

const requantize = mapKernel((a) => `${roundedPlusZeroPoint("f32(x0) * x1", "x2")}\n  return ${clampQ(range(a))};`);

const dequantize = mapKernel(() => "  return f32(x0 - x2) * x1;");

const fakeQuant = mapKernel((a) => `${roundedPlusZeroPoint("x0 * (1.0 / x1)", "x2")}\n  return f32(${clampQ(fakeRange(a))} - x2) * x1;`);

const fakeQuantGrad = mapKernel((a) => {
  const [lo, hi] = fakeRange(a);
  return `${roundedPlusZeroPoint("x1 * (1.0 / x2)", "x3")}\n  return select(0.0, x0, q >= ${i32(lo)} && q <= ${i32(hi)});`;
}, 1, 2);

const matmulInteger: WgslKernel = (a) => (a.target.packedIntegerDot ? packedMatmulInteger(a) : matmulIntegerSteps(a));

const matmulIntegerSteps: WgslKernel = (a) => {
  const [x, w] = a.inputs;
  const [k, n] = w.type.shape;
  const body = [
    `  let row = i / ${u32(n)};`,
    `  let col = i % ${u32(n)};`,
    "  var acc = 0i;",
    `  for (var p = 0u; p < ${u32(k)}; p++) {`,
    `    acc += ${load(x.offset, x.type.dtype, `row * ${u32(k)} + p`)} * ${load(w.offset, w.type.dtype, `p * ${u32(n)} + col`)};`,
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`matmulInteger %${a.node.id}`, a.output, { body }, a.target)];
};

const convInteger: WgslKernel = (a) =>
  (a.target.packedIntegerDot && packedConvIntegerFits(a.inputs[1].type, a.node.attrs) ? packedConvInteger(a) : convIntegerSteps(a));

const convIntegerSteps: WgslKernel = (a) => {
  const { x, w, win, inH, inW, channels, kh, kw, cg, o, groupOut, z } = convIntegerShape(a);
  const body = [
    `  let oc = i % ${u32(o)};`,
    `  let ox = i32((i / ${u32(o)}) % ${u32(win.outW)});`,
    `  let oy = i32((i / ${u32(o * win.outW)}) % ${u32(win.outH)});`,
    `  let n = i / ${u32(o * win.outW * win.outH)};`,
    `  let c0 = (oc / ${u32(groupOut)}) * ${u32(cg)};`,
    "  var acc = 0i;",
    `  for (var ky = 0; ky < ${i32(kh)}; ky++) {`,
    `    let iy = oy * ${i32(win.strideH)} - ${i32(win.padTop)} + ky * ${i32(win.dilationH)};`,
    `    if (iy < 0 || iy >= ${i32(inH)}) { continue; }`,
    `    for (var kx = 0; kx < ${i32(kw)}; kx++) {`,
    `      let ix = ox * ${i32(win.strideW)} - ${i32(win.padLeft)} + kx * ${i32(win.dilationW)};`,
    `      if (ix < 0 || ix >= ${i32(inW)}) { continue; }`,
    `      let xBase = ((n * ${u32(inH)} + u32(iy)) * ${u32(inW)} + u32(ix)) * ${u32(channels)} + c0;`,
    `      let wBase = (u32(ky) * ${u32(kw)} + u32(kx)) * ${u32(cg * o)} + oc;`,
    `      for (var ci = 0u; ci < ${u32(cg)}; ci++) {`,
    `        acc += (${load(x.offset, x.type.dtype, "xBase + ci")} - ${i32(z)}) * ${load(w.offset, w.type.dtype, `wBase + ci * ${u32(o)}`)};`,
    "      }",
    "    }",
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`convInteger %${a.node.id}`, a.output, { body }, a.target)];
};

export const QUANT_KERNELS: readonly WgslKernelRegistration[] = [
  { op: "quantize", dtypes: QUANT_SIGNATURES.quantize, kernel: quantize },
  { op: "requantize", dtypes: QUANT_SIGNATURES.requantize, kernel: requantize },
  { op: "dequantize", dtypes: QUANT_SIGNATURES.dequantize, kernel: dequantize },
  { op: "fakeQuant", dtypes: QUANT_SIGNATURES.fakeQuant, kernel: fakeQuant },
  { op: "fakeQuantGrad", dtypes: QUANT_SIGNATURES.fakeQuantGrad, kernel: fakeQuantGrad },
  { op: "matmulInteger", dtypes: QUANT_SIGNATURES.matmulInteger, kernel: matmulInteger },
  { op: "convInteger", dtypes: QUANT_SIGNATURES.convInteger, kernel: convInteger },
];
