// Quantization op records (compiler/ir/ops/quant.ts): hand-computed float64 cases for rounding
// ties, clamping, per-channel axes and zero points; the reciprocal rule PyTorch uses; every
// shape-rule error; and 16-bit storage through the interpreter. test/ir/quant-pytorch.test.ts
// checks the same ops against torch itself.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import type { AttrValue, Tensor } from "../../compiler/ir/op-def.ts";
import { QUANT_OPS } from "../../compiler/ir/ops/quant.ts";
import { NN_OPS } from "../../compiler/ir/ops/nn.ts";
import { roundHalfEven } from "../../compiler/ir/ops/quant-kit.ts";
import { ShapeError, type DType, type TensorType } from "../../compiler/ir/types.ts";
import { findOp, inferOp, runOp, tensor, type } from "../support/op-fixtures.ts";

const op = (name: string) => findOp(QUANT_OPS, name);
const run = (name: string, inputs: Tensor[], attrs: Record<string, AttrValue> = {}) => runOp(op(name), inputs, attrs);
const values = (t: Tensor) => Array.from(t.data);
const f32s = (shape: number[], data: number[]) => tensor("f32", shape, data.map(Math.fround));
const i32s = (shape: number[], data: number[]) => tensor("i32", shape, data);
const scalarParams = (scale: number, zeroPoint: number) => [f32s([], [scale]), i32s([], [zeroPoint])];

describe("roundHalfEven", () => {
  it("rounds ties to the even neighbour and NaN to 0", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001, 7, -3].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 2, 3, 7, -3]);
    expect(roundHalfEven(NaN)).toBe(0);
    expect(roundHalfEven(Infinity)).toBe(Infinity);
  });
});

describe("quantize", () => {
  it("rounds half to even after scaling, then adds the zero point (per tensor)", () => {
    // scale 0.5: x / scale = 0.5, 1.5, 2.5, -0.5, -1.5, 3.25 exactly.
    const x = f32s([6], [0.25, 0.75, 1.25, -0.25, -0.75, 1.625]);
    const q = run("quantize", [x, ...scalarParams(0.5, 3)], { dtype: "i8" });
    expect(q.type).toEqual(type("i8", [6]));
    expect(values(q)).toEqual([3, 5, 5, 3, 1, 6]);
  });

  it("clamps to the dtype's range: i8 [-128, 127], u8 [0, 255]", () => {
    const x = f32s([5], [1000, -1000, 12.7, -12.8, -12.9]);
    expect(values(run("quantize", [x, ...scalarParams(0.1, 0)], { dtype: "i8" }))).toEqual([127, -128, 127, -128, -128]);
    expect(values(run("quantize", [x, ...scalarParams(0.1, 128)], { dtype: "u8" }))).toEqual([255, 0, 255, 0, 0]);
    // The zero point shifts the range: with zero point 100, x = 20 (200 steps) saturates at 127.
    expect(values(run("quantize", [f32s([2], [20, -20]), ...scalarParams(0.1, 100)], { dtype: "i8" }))).toEqual([127, -100]);
  });

  it("multiplies by the f32 reciprocal of the scale, as PyTorch (fbgemm) does, not divides", () => {
    // fbgemm's own example: x * fl(1/s) = 127.5 (a tie, to 128) while x / s = 127.49999 (to 127).
    const x = f32s([1], [0.273939937]);
    expect(values(run("quantize", [x, ...scalarParams(0.00214854861, 0)], { dtype: "u8" }))).toEqual([128]);
  });

  it("maps NaN to the zero point and infinities to the ends of the range", () => {
    const x = f32s([3], [NaN, Infinity, -Infinity]);
    expect(values(run("quantize", [x, ...scalarParams(0.5, 7)], { dtype: "i8" }))).toEqual([7, 127, -128]);
  });

  it("takes a scale and zero point of shape [1] as per tensor", () => {
    const q = run("quantize", [f32s([2, 2], [0.1, 0.2, 0.3, 0.4]), f32s([1], [0.1]), i32s([1], [-1])], { dtype: "i8" });
    expect(values(q)).toEqual([0, 1, 2, 3]);
  });

  it("picks each element's scale and zero point by its index along axis", () => {
    // x[2,3]: channels along axis 1 with scales 1, 0.5, 0.25 and zero points 0, 10, -10.
    const x = f32s([2, 3], [1, 1, 1, -2.5, 2.5, 0.375]);
    const params = [f32s([3], [1, 0.5, 0.25]), i32s([3], [0, 10, -10])];
    const byColumn = run("quantize", [x, ...params], { axis: 1, dtype: "i8" });
    expect(values(byColumn)).toEqual([1, 12, -6, -2, 15, -8]); // 0.375 / 0.25 = 1.5 -> 2
    expect(values(run("quantize", [x, ...params], { axis: -1, dtype: "i8" }))).toEqual(values(byColumn));
    // Along axis 0 of x[3,2] (rows): scales 1, 0.5, 0.25.
    const rows = f32s([3, 2], [1, -1, 1, -1, 1, 0.125]);
    expect(values(run("quantize", [rows, ...params], { axis: 0, dtype: "i8" }))).toEqual([1, -1, 12, 8, -6, -10]);
  });

  it("walks a middle axis of a rank-4 tensor (NHWC weights per output channel are axis 3; here axis 1)", () => {
    const x = f32s([2, 2, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1]);
    const q = run("quantize", [x, f32s([2], [0.5, 0.25]), i32s([2], [0, 1])], { axis: 1, dtype: "i8" });
    expect(values(q)).toEqual([2, 2, 5, 5, 2, 2, 5, 5]);
  });
});

describe("dequantize", () => {
  it("computes (q - zeroPoint) * scale from i8, u8 and i32, per tensor and per channel", () => {
    expect(values(run("dequantize", [tensor("i8", [3], [-128, 0, 127]), ...scalarParams(0.5, -2)]))).toEqual([-63, 1, 64.5]);
    expect(values(run("dequantize", [tensor("u8", [3], [0, 128, 255]), ...scalarParams(0.25, 128)]))).toEqual([-32, 0, 31.75]);
    const acc = run("dequantize", [i32s([2, 2], [1000, -1000, 7, 8]), f32s([2], [0.5, 0.125]), i32s([2], [0, 8])], { axis: 1 });
    expect(acc.type).toEqual(type("f32", [2, 2]));
    expect(values(acc)).toEqual([500, -126, 3.5, 0]);
  });

  it("leaves the product's rounding to f32 to the interpreter (float64 runs see it exact)", () => {
    const y = run("dequantize", [tensor("i8", [1], [3]), ...scalarParams(0.1, 0)]);
    expect(values(y)).toEqual([3 * Math.fround(0.1)]);
    const b = new GraphBuilder("dq");
    const q = b.addInput({ name: "q", type: { dtype: "i8", shape: [1] } });
    const s = b.op("const", [], { value: 0.1, dtype: "f32", shape: [] });
    b.output("y", b.op("dequantize", [q, s, b.op("const", [], { value: 0, dtype: "i32", shape: [] })]));
    expect(Array.from(interpret(b.build(), { q: [3] }).outputs.y.data)).toEqual([Math.fround(3 * Math.fround(0.1))]);
  });

  it("inverts quantize within half a step inside the range", () => {
    const x = f32s([8], [-1.28, -0.7, -0.05, 0, 0.04, 0.6, 1.1, 1.27]);
    const params = scalarParams(0.01, 0);
    const back = run("dequantize", [run("quantize", [x, ...params], { dtype: "i8" }), ...params]);
    back.data.forEach((v, i) => expect(Math.abs(v - x.data[i])).toBeLessThanOrEqual(0.005 + 1e-6));
  });
});

describe("requantize", () => {
  it("rounds f32(acc) * multiplier half to even, adds the zero point and clamps", () => {
    const acc = i32s([6], [1, 3, 5, -1, -3, 1000]);
    expect(values(run("requantize", [acc, ...scalarParams(0.5, 0)], { dtype: "i8" }))).toEqual([0, 2, 2, 0, -2, 127]);
    expect(values(run("requantize", [acc, ...scalarParams(0.5, 10)], { dtype: "u8" }))).toEqual([10, 12, 12, 10, 8, 255]);
  });

  it("per output channel", () => {
    const acc = i32s([2, 2], [100, 100, -100, -100]);
    const q = run("requantize", [acc, f32s([2], [0.25, 0.125]), i32s([2], [0, -3])], { axis: 1, dtype: "i8" });
    expect(values(q)).toEqual([25, 9, -25, -15]); // 100 * 0.125 = 12.5 -> 12 (even), plus -3
  });
});

describe("fakeQuant", () => {
  it("quantizes to [qmin, qmax] and dequantizes in f32", () => {
    const x = f32s([7], [0.25, 0.75, -0.8, 1.3, 100, -100, 0.31]);
    const y = run("fakeQuant", [x, ...scalarParams(0.5, 0)], { qmin: -2, qmax: 3 });
    expect(y.type).toEqual(type("f32", [7]));
    expect(values(y)).toEqual([0, 1, -1, 1.5, 1.5, -1, 0.5]);
  });

  it("with a zero point and per channel", () => {
    const x = f32s([2, 2], [0.3, 0.3, -1, 5]);
    const y = run("fakeQuant", [x, f32s([2], [0.25, 1]), i32s([2], [2, 250])], { axis: 1, qmin: 0, qmax: 255 });
    // column 0: q = rne(1.2) + 2 = 3 -> 0.25, rne(-4) + 2 = -2 -> 0 -> (0 - 2) * 0.25 = -0.5
    // column 1: q = 0 + 250 -> 0; 5 + 250 = 255 -> 5
    expect(values(y)).toEqual([0.25, 0, -0.5, 5]);
  });
});

describe("fakeQuantGrad", () => {
  it("passes dy where the unclamped quantized value lies in [qmin, qmax], ties rounded half to even", () => {
    // scale 1, zero point 0, range [-4, 5]: x rounds to -5 -4 -4 5 6 6 5 and a tie 5.5 -> 6.
    const x = f32s([8], [-5, -4, -4.5, 5, 6, 5.5, 4.5, 0]);
    const dy = f32s([8], [1, 2, 3, 4, 5, 6, 7, 8]);
    const g = run("fakeQuantGrad", [dy, x, ...scalarParams(1, 0)], { qmin: -4, qmax: 5 });
    expect(values(g)).toEqual([0, 2, 3, 4, 0, 0, 7, 8]);
  });

  it("measures the range after the zero point", () => {
    const x = f32s([3], [-1, 0, 1]);
    const dy = f32s([3], [1, 1, 1]);
    expect(values(run("fakeQuantGrad", [dy, x, ...scalarParams(1, 1)], { qmin: 0, qmax: 1 }))).toEqual([1, 1, 0]);
  });
});

describe("matmulInteger", () => {
  it("multiplies i8 and u8 matrices with exact i32 accumulation", () => {
    const a = tensor("i8", [2, 3], [1, -2, 3, -128, 127, 0]);
    const w = tensor("i8", [3, 2], [4, -5, 6, 7, -8, 9]);
    const y = run("matmulInteger", [a, w]);
    expect(y.type).toEqual(type("i32", [2, 2]));
    expect(values(y)).toEqual([1 * 4 - 2 * 6 - 3 * 8, -5 - 14 + 27, -128 * 4 + 127 * 6, 128 * 5 + 127 * 7]);
  });

  it("reaches sums past i16 and flattens a's leading axes", () => {
    const k = 300;
    const a = tensor("u8", [2, 1, k], new Array(2 * k).fill(255));
    const w = tensor("i8", [k, 1], new Array(k).fill(-128));
    expect(values(run("matmulInteger", [a, w]))).toEqual([-255 * 128 * k, -255 * 128 * k]);
  });

  it("gives zeros for K = 0", () => {
    expect(values(run("matmulInteger", [tensor("i8", [2, 0], []), tensor("i8", [0, 3], [])]))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe("convInteger", () => {
  it("sums (x - zero point) * w over the taps inside the image: the padding is the zero point", () => {
    // 1x2x2x1 u8 image, zero point 10, 3x3 filter of ones, "same" padding: every output is the
    // sum of (x - 10) over the whole image, since each 3x3 window covers it all and the padding
    // adds 0.
    const x = tensor("u8", [1, 2, 2, 1], [10, 13, 7, 30]);
    const w = tensor("i8", [3, 3, 1, 1], new Array(9).fill(1));
    const y = run("convInteger", [x, w], { padding: "same", inputZeroPoint: 10 });
    expect(y.type).toEqual(type("i32", [1, 2, 2, 1]));
    expect(values(y)).toEqual([20, 20, 20, 20]);
    // An image of zero points gives 0 everywhere, whatever the filter and padding.
    const flat = tensor("u8", [1, 3, 3, 2], new Array(18).fill(200));
    const wr = tensor("i8", [3, 3, 2, 3], Array.from({ length: 54 }, (_, i) => ((i * 37) % 255) - 127));
    expect(values(run("convInteger", [flat, wr], { padding: "same", inputZeroPoint: 200 }))).toEqual(new Array(27).fill(0));
  });

  it("equals conv2d (float64) of x - zero point with zero padding, per output channel, strided and dilated", () => {
    const xs = Array.from({ length: 2 * 6 * 5 * 3 }, (_, i) => (i * 53 + 11) % 256);
    const ws = Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => ((i * 29 + 5) % 255) - 127);
    const attrs = { stride: [2, 1], dilation: [1, 2], padding: "explicit", pads: [1, 2, 2, 0] };
    const y = run("convInteger", [tensor("u8", [2, 6, 5, 3], xs), tensor("i8", [3, 3, 3, 4], ws)], { ...attrs, inputZeroPoint: 77 });
    const conv2d = findOp(NN_OPS, "conv2d");
    const want = runOp(conv2d, [tensor("f32", [2, 6, 5, 3], xs.map((v) => v - 77)), tensor("f32", [3, 3, 3, 4], ws)], attrs);
    expect(y.type.shape).toEqual(want.type.shape);
    expect(values(y)).toEqual(values(want));
  });

  it("rejects float operands and a zero point outside x's range", () => {
    const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
    expect(() => inferOp(op("convInteger"), [t("f32", 1, 4, 4, 1), t("i8", 3, 3, 1, 2)], {})).toThrow(/convInteger: x must be i8 or u8, got f32\[1,4,4,1\]/);
    expect(() => inferOp(op("convInteger"), [t("u8", 1, 4, 4, 1), t("i8", 3, 3, 1, 2)], { inputZeroPoint: 300 })).toThrow(/inputZeroPoint must be an integer in x's range \[0, 255\] \(u8\), got 300/);
    expect(() => inferOp(op("convInteger"), [t("u8", 1, 4, 4, 2), t("i8", 3, 3, 1, 2)], {})).toThrow(/convInteger: w's third axis must be C\/groups = 2/);
    expect(inferOp(op("convInteger"), [t("u8", 2, 5, 5, 3), t("i8", 3, 3, 3, 7)], { padding: "same", stride: [2, 2] })).toEqual(t("i32", 2, 3, 3, 7));
  });
});

describe("shape rules", () => {
  const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
  const cases: [string, TensorType[], Record<string, AttrValue>, RegExp][] = [
    ["quantize", [t("i32", 2), t("f32"), t("i32")], {}, /quantize: x must be f32 or f16 or bf16, got i32\[2\]/],
    ["quantize", [t("f32", 2), t("i32"), t("i32")], {}, /quantize: scale must be f32 or f16 or bf16, got i32\[\]/],
    ["quantize", [t("f32", 2), t("f32"), t("f32")], {}, /quantize: zeroPoint must be i32, got f32\[\]/],
    ["quantize", [t("f16", 2), t("f32"), t("i32")], {}, /quantize: operand dtypes differ: x is f16\[2\], scale is f32\[\]/],
    ["quantize", [t("f32", 2), t("f32", 2), t("i32")], {}, /quantize: scale and zeroPoint must have one shape/],
    ["quantize", [t("f32", 2), t("f32", 2), t("i32", 2)], {}, /per-tensor scale and zeroPoint must hold one element.*give axis/],
    ["quantize", [t("f32", 2, 3), t("f32", 2), t("i32", 2)], { axis: 1 }, /per-channel scale and zeroPoint must be \[3\] \(axis 1 of f32\[2,3\]\)/],
    ["quantize", [t("f32", 2, 3), t("f32", 3), t("i32", 3)], { axis: 2 }, /quantize: axis 2 is out of range for f32\[2,3\]/],
    ["quantize", [t("f32", 2), t("f32"), t("i32")], { dtype: "i32" }, /quantize: dtype must be "i8" or "u8", got "i32"/],
    ["dequantize", [t("f32", 2), t("f32"), t("i32")], {}, /dequantize: q must be i8 or u8 or i32, got f32\[2\]/],
    ["requantize", [t("i8", 2), t("f32"), t("i32")], {}, /requantize: acc must be i32, got i8\[2\]/],
    ["requantize", [t("i32", 2, 4), t("f32", 2), t("i32", 2)], { axis: 1 }, /requantize: per-channel multiplier and zeroPoint must be \[4\]/],
    ["fakeQuant", [t("f32", 2), t("f32"), t("i32")], { qmin: 3, qmax: 2 }, /fakeQuant: qmin 3 must not exceed qmax 2/],
    ["fakeQuant", [t("f32", 2), t("f32"), t("i32")], { qmin: 0, qmax: 2 ** 20 }, /fakeQuant: qmin and qmax must lie within/],
    ["fakeQuant", [t("f32", 2), t("f32"), t("i32")], {}, /fakeQuant needs attribute 'qmin'/],
    ["fakeQuantGrad", [t("f32", 3), t("f32", 2), t("f32"), t("i32")], { qmin: 0, qmax: 1 }, /fakeQuantGrad: dy and x must have one shape/],
    ["matmulInteger", [t("f32", 2, 3), t("i8", 3, 2)], {}, /matmulInteger: a must be i8 or u8, got f32\[2,3\]/],
    ["matmulInteger", [t("i8", 3), t("i8", 3, 2)], {}, /matmulInteger: a must have rank >= 2/],
    ["matmulInteger", [t("i8", 2, 3), t("i8", 2, 3, 2)], {}, /matmulInteger: w must have rank 2/],
    ["matmulInteger", [t("i8", 2, 3), t("i8", 4, 2)], {}, /matmulInteger: inner dimensions differ: a is i8\[2,3\], w is i8\[4,2\] \(K 3 vs 4\)/],
  ];
  for (const [name, types, attrs, message] of cases) {
    it(`${name}: ${message.source}`, () => {
      let error: unknown;
      try {
        inferOp(op(name), types, attrs);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ShapeError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it("gives each op's result type", () => {
    expect(inferOp(op("quantize"), [t("bf16", 4, 3), t("bf16", 3), t("i32", 3)], { axis: -1, dtype: "u8" })).toEqual(t("u8", 4, 3));
    expect(inferOp(op("dequantize"), [t("u8", 4, 3), t("f16", 1), t("i32", 1)])).toEqual(t("f16", 4, 3));
    expect(inferOp(op("requantize"), [t("i32", 4, 3), t("f32", 3), t("i32", 3)], { axis: 1 })).toEqual(t("i8", 4, 3));
    expect(inferOp(op("fakeQuant"), [t("f32", 4, 3), t("f32"), t("i32")], { qmin: -127, qmax: 127 })).toEqual(t("f32", 4, 3));
    expect(inferOp(op("matmulInteger"), [t("u8", 2, 5, 3), t("i8", 3, 7)])).toEqual(t("i32", 2, 5, 7));
  });
});

describe("through the interpreter", () => {
  it("stores quantize's result in i8 and fakeQuant's in the 16-bit dtype it was given", () => {
    const b = new GraphBuilder("q");
    const x = b.addInput({ name: "x", type: t16("f32", [4]) });
    const h = b.addInput({ name: "h", type: t16("bf16", [4]) });
    const s = b.op("const", [], { value: 0.1, dtype: "f32", shape: [] });
    const sh = b.op("const", [], { value: 0.1, dtype: "bf16", shape: [] });
    const z = b.op("const", [], { value: 0, dtype: "i32", shape: [] });
    b.output("q", b.op("quantize", [x, s, z], { dtype: "i8" }));
    b.output("y", b.op("fakeQuant", [h, sh, z], { qmin: -128, qmax: 127 }));
    const r = interpret(b.build(), { x: [0.05, 0.15, -12.85, 99], h: [0.3, -0.3, 1, 2] });
    expect(Array.from(r.outputs.q.data)).toEqual([0, 2, -128, 127]); // 0.5 -> 0, 1.5 -> 2 (f32 ties)
    // bf16 0.1 = 0.10009765625; 0.30078125 / it = 3.0049 -> 3 -> 0.30029296875 -> bf16 0.30078125
    expect(r.outputs.y.type.dtype).toBe("bf16");
    expect(Array.from(r.outputs.y.data)).toEqual([0.30078125, -0.30078125, 1, 2]);
  });
});

function t16(dtype: DType, shape: number[]): TensorType {
  return { dtype, shape };
}
