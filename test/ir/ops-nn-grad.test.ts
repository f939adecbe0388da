// Backward-only op records (conv2dBackpropInput, conv2dBackpropFilter, maxPool2dGrad,
// avgPool2dGrad). Expected values do not come from the kernels under test: each op must be the
// adjoint of its forward op, <f(x), dy> = <x, f^T(dy)>, on random data over many attribute
// combinations (the forward kernels are checked against PyTorch in ops-nn.test.ts), plus small
// cases worked out by hand, the attribute schemas and every shape-rule error.

import { describe, expect, it } from "vitest";
import { completeAttrs, type AttrValue } from "../../compiler/ir/op-def.ts";
import { NN_OPS } from "../../compiler/ir/ops/nn.ts";
import { NN_GRAD_OPS } from "../../compiler/ir/ops/nn-grad.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { ShapeError, type TensorType } from "../../compiler/ir/types.ts";
import { expectClose, f32, findOp, inferOp, randomData, runOp, type } from "../support/op-fixtures.ts";

const run = (name: string, inputs: Parameters<typeof runOp>[1], attrs: Record<string, AttrValue> = {}) =>
  runOp(findOp([...NN_OPS, ...NN_GRAD_OPS], name), inputs, attrs);

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Random f32 test tensor; `seed` keeps every case's data distinct and reproducible. */
const random = (shape: number[], seed: number) => f32(shape, randomData(shape.reduce((p, d) => p * d, 1), seed));

describe("records", () => {
  it("are registered in the op table with kinds and f32 tolerances", () => {
    const kinds = Object.fromEntries(NN_GRAD_OPS.map((o) => [o.name, o.kind]));
    expect(kinds).toEqual({
      conv2dBackpropInput: "contraction", conv2dBackpropFilter: "contraction", maxPool2dGrad: "other", avgPool2dGrad: "other",
    });
    for (const o of NN_GRAD_OPS) {
      expect(getOp(o.name)).toBe(o);
      expect(o.tolerance, o.name).toBeGreaterThan(0);
    }
  });

  it("take their forward op's attributes, in the same order, plus the shape they produce", () => {
    const conv = Object.keys(getOp("conv2d").attrs);
    expect(Object.keys(getOp("conv2dBackpropInput").attrs)).toEqual([...conv, "inputShape"]);
    expect(Object.keys(getOp("conv2dBackpropFilter").attrs)).toEqual([...conv, "filterShape"]);
    expect(Object.keys(getOp("maxPool2dGrad").attrs)).toEqual(Object.keys(getOp("maxPool2d").attrs));
    expect(Object.keys(getOp("avgPool2dGrad").attrs)).toEqual([...Object.keys(getOp("avgPool2d").attrs), "inputShape"]);
    expect(completeAttrs(getOp("conv2dBackpropInput"), { inputShape: [1, 2, 2, 1] })).toEqual({
      stride: [1, 1], padding: "valid", pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1, inputShape: [1, 2, 2, 1],
    });
    expect(() => completeAttrs(getOp("conv2dBackpropFilter"), {})).toThrow(/needs attribute 'filterShape'/);
    expect(() => completeAttrs(getOp("avgPool2dGrad"), { size: [2, 2], stride: [2, 2] })).toThrow(/needs attribute 'inputShape'/);
  });
});

describe("conv2d's backward ops are its adjoints", () => {
  // [label, x shape, w shape, attrs]
  const configs: [string, number[], number[], Record<string, AttrValue>][] = [
    ["3x3 valid", [2, 5, 6, 3], [3, 3, 3, 4], {}],
    ["3x3 same", [2, 5, 6, 3], [3, 3, 3, 4], { padding: "same" }],
    ["3x3 same, stride 2", [1, 7, 6, 2], [3, 3, 2, 3], { padding: "same", stride: [2, 2] }],
    ["2x2 same, stride 2 (end padding)", [1, 5, 5, 2], [2, 2, 2, 2], { padding: "same", stride: [2, 2] }],
    ["4x4 same (even kernel, stride 1)", [1, 6, 6, 1], [4, 4, 1, 2], { padding: "same" }],
    ["explicit asymmetric pads, stride [2,3]", [2, 7, 8, 2], [3, 2, 2, 3], { padding: "explicit", pads: [2, 0, 1, 3], stride: [2, 3] }],
    ["dilation 2, same", [1, 8, 8, 2], [3, 3, 2, 2], { padding: "same", dilation: [2, 2] }],
    ["dilation [3,1], stride [1,2], valid", [1, 9, 6, 2], [2, 3, 2, 2], { dilation: [3, 1], stride: [1, 2] }],
    ["dilation 2 and stride 2, same", [1, 9, 9, 1], [3, 3, 1, 2], { padding: "same", dilation: [2, 2], stride: [2, 2] }],
    ["groups 2", [2, 5, 5, 4], [3, 3, 2, 6], { groups: 2, padding: "same" }],
    ["groups 3, stride 2, explicit", [1, 6, 7, 6], [2, 2, 2, 3], { groups: 3, stride: [2, 2], padding: "explicit", pads: [1, 1, 0, 1] }],
    ["depthwise", [2, 5, 4, 3], [3, 3, 1, 3], { groups: 3, padding: "same" }],
    ["depthwise, multiplier 2, stride 2", [1, 6, 6, 2], [3, 3, 1, 4], { groups: 2, stride: [2, 2] }],
    ["1x1, stride 2 (pixels no output reads)", [1, 6, 5, 3], [1, 1, 3, 2], { stride: [2, 2] }],
    ["kernel as large as the input", [1, 3, 4, 2], [3, 4, 2, 2], {}],
    ["non-square everything", [3, 4, 9, 2], [1, 4, 2, 5], { stride: [1, 2], padding: "same" }],
  ];

  configs.forEach(([label, xShape, wShape, attrs], k) => {
    it(label, () => {
      const x = random(xShape, 10 * k + 1);
      const w = random(wShape, 10 * k + 2);
      const y = run("conv2d", [x, w], attrs);
      const dy = random([...y.type.shape], 10 * k + 3);
      const dx = run("conv2dBackpropInput", [dy, w], { ...attrs, inputShape: xShape });
      const dw = run("conv2dBackpropFilter", [x, dy], { ...attrs, filterShape: wShape });
      expect(dx.type).toEqual(x.type);
      expect(dw.type).toEqual(w.type);
      const forward = dot(y.data, dy.data);
      expectClose([dot(x.data, dx.data)], [forward], 1e-12, "<x, conv2dBackpropInput(dy, w)>");
      expectClose([dot(w.data, dw.data)], [forward], 1e-12, "<w, conv2dBackpropFilter(x, dy)>");
    });
  });
});

describe("conv2d's backward ops by hand", () => {
  // One row: x = [1, 2, 3, 4, 5], w = [1, 2, 3], stride 2, valid: y0 = x0..x2 . w, y1 = x2..x4 . w.
  const x = f32([1, 1, 5, 1], [1, 2, 3, 4, 5]);
  const w = f32([1, 3, 1, 1], [1, 2, 3]);
  const dy = f32([1, 1, 2, 1], [1, 10]);
  const attrs = { stride: [1, 2] };

  it("conv2dBackpropInput scatters dy through the filter; overlapping taps add up", () => {
    const dx = run("conv2dBackpropInput", [dy, w], { ...attrs, inputShape: [1, 1, 5, 1] });
    expect([...dx.data]).toEqual([1, 2, 3 + 10, 20, 30]);
  });

  it("conv2dBackpropFilter correlates x with dy", () => {
    const dw = run("conv2dBackpropFilter", [x, dy], { ...attrs, filterShape: [1, 3, 1, 1] });
    expect([...dw.data]).toEqual([1 + 30, 2 + 40, 3 + 50]);
  });

  it("inputShape decides the pixels a strided conv never read", () => {
    // Widths 5 and 6 both give 2 outputs; the sixth pixel takes no cotangent.
    const dx = run("conv2dBackpropInput", [dy, w], { ...attrs, inputShape: [1, 1, 6, 1] });
    expect([...dx.data]).toEqual([1, 2, 13, 20, 30, 0]);
  });

  it("groups keep channels apart", () => {
    // 1x1 conv, groups 2: y = [2 * x0, 3 * x1]; transposed: dx = [2 * dy0, 3 * dy1].
    const dx = run("conv2dBackpropInput", [f32([1, 1, 1, 2], [5, 7]), f32([1, 1, 1, 2], [2, 3])], { groups: 2, inputShape: [1, 1, 1, 2] });
    expect([...dx.data]).toEqual([10, 21]);
  });
});

describe("pool backward ops", () => {
  const configs: [string, number[], Record<string, AttrValue>][] = [
    ["2x2 stride 2, valid", [2, 4, 6, 3], { size: [2, 2], stride: [2, 2] }],
    ["3x3 stride 2, same", [1, 5, 6, 2], { size: [3, 3], stride: [2, 2], padding: "same" }],
    ["2x2 stride 2, same, odd input", [1, 5, 7, 1], { size: [2, 2], stride: [2, 2], padding: "same" }],
    ["3x3 stride 1, overlapping", [1, 5, 5, 2], { size: [3, 3], stride: [1, 1] }],
    ["3x2 stride [2,1], explicit pads", [1, 6, 5, 2], { size: [3, 2], stride: [2, 1], padding: "explicit", pads: [2, 1, 0, 1] }],
    ["2x2 stride 3, gaps", [1, 7, 8, 1], { size: [2, 2], stride: [3, 3] }],
  ];

  configs.forEach(([label, shape, attrs], k) => {
    it(`adjoint identities: ${label}`, () => {
      // Distinct pixels so that max pooling is the linear map "pick each window's winner".
      const x = random(shape, 100 + k);
      const avg = run("avgPool2d", [x], attrs);
      const dy = random([...avg.type.shape], 200 + k);
      const dxAvg = run("avgPool2dGrad", [dy], { ...attrs, inputShape: shape });
      expect(dxAvg.type).toEqual(x.type);
      expectClose([dot(x.data, dxAvg.data)], [dot(avg.data, dy.data)], 1e-12, "<x, avgPool2dGrad(dy)>");
      const max = run("maxPool2d", [x], attrs);
      const dxMax = run("maxPool2dGrad", [x, dy], attrs);
      expect(dxMax.type).toEqual(x.type);
      expectClose([dot(x.data, dxMax.data)], [dot(max.data, dy.data)], 1e-12, "<x, maxPool2dGrad(x, dy)>");
    });
  });

  const image = f32([1, 3, 3, 1], [1, 2, 3, 4, 9, 6, 7, 8, 5]);

  it("maxPool2dGrad routes each cotangent to its window's maximum; shared winners add up", () => {
    // 2x2 windows, stride 1: every window contains the 9 in the middle.
    const dx = run("maxPool2dGrad", [image, f32([1, 2, 2, 1], [1, 2, 3, 4])], { size: [2, 2], stride: [1, 1] });
    expect([...dx.data]).toEqual([0, 0, 0, 0, 10, 0, 0, 0, 0]);
  });

  it("maxPool2dGrad picks the first maximum in window order on ties, never padding", () => {
    const flat = f32([1, 2, 3, 1], [4, 4, 4, 4, 4, 4]);
    const same = { size: [2, 2], stride: [2, 2], padding: "same" };
    // Windows: columns 0-1 and column 2 plus a padding column.
    expect([...run("maxPool2dGrad", [flat, f32([1, 1, 2, 1], [1, 2])], same).data]).toEqual([1, 0, 2, 0, 0, 0]);
    const negative = f32([1, 2, 2, 1], [-Infinity, -Infinity, -Infinity, -Infinity]);
    expect([...run("maxPool2dGrad", [negative, f32([1, 1, 1, 1], [5])], { size: [2, 2], stride: [2, 2] }).data]).toEqual([5, 0, 0, 0]);
  });

  it("maxPool2dGrad follows the forward's NaN: the first NaN wins", () => {
    const x = f32([1, 1, 3, 1], [1, NaN, 3]);
    expect([...run("maxPool2dGrad", [x, f32([1, 1, 1, 1], [7])], { size: [1, 3], stride: [1, 1] }).data]).toEqual([0, 7, 0]);
  });

  it("avgPool2dGrad divides by the count of real pixels (TensorFlow), not the window size", () => {
    // "same" 2x2 stride 2 over 3x3: windows hold 4, 2, 2 and 1 real pixels.
    const dx = run("avgPool2dGrad", [f32([1, 2, 2, 1], [4, 8, 12, 16])], { size: [2, 2], stride: [2, 2], padding: "same", inputShape: [1, 3, 3, 1] });
    expect([...dx.data]).toEqual([1, 1, 4, 1, 1, 4, 6, 6, 16]);
  });
});

describe("shape-rule errors", () => {
  const t = type;
  const convDy = t("f32", [1, 3, 3, 2]); // conv2d of a [1,5,5,4] image with a [3,3,4,2] filter
  const poolDy = t("f32", [1, 2, 2, 4]); // 2x2 stride-2 pool of a [1,5,5,4] image
  const pool = { size: [2, 2], stride: [2, 2] };
  const cases: [string, string, TensorType[], Record<string, AttrValue>, RegExp][] = [
    ["backprop input: inputShape of rank 3", "conv2dBackpropInput", [convDy, t("f32", [3, 3, 4, 2])], { inputShape: [5, 5, 4] },
      /^conv2dBackpropInput: inputShape must be four sizes >= 0 \(N, H, W, C\), got \[5,5,4\]$/],
    ["backprop input: dy of rank 2", "conv2dBackpropInput", [t("f32", [3, 2]), t("f32", [3, 3, 4, 2])], { inputShape: [1, 5, 5, 4] },
      /^conv2dBackpropInput: dy must have rank 4 \(N, OH, OW, O\), got f32\[3,2\]$/],
    ["backprop input: integer dy", "conv2dBackpropInput", [t("i32", [1, 3, 3, 2]), t("i32", [3, 3, 4, 2])], { inputShape: [1, 5, 5, 4] },
      /^conv2dBackpropInput: dy must be a float tensor/],
    ["backprop input: dtypes", "conv2dBackpropInput", [convDy, t("f16", [3, 3, 4, 2])], { inputShape: [1, 5, 5, 4] },
      /^conv2dBackpropInput: operand dtypes differ: dy is f32\[1,3,3,2\], w is f16\[3,3,4,2\]$/],
    ["backprop input: dy of the wrong size", "conv2dBackpropInput", [convDy, t("f32", [3, 3, 4, 2])], { inputShape: [1, 6, 5, 4] },
      /^conv2dBackpropInput: dy must have conv2d's output shape \[1,4,3,2\] for x f32\[1,6,5,4\] and w f32\[3,3,4,2\], got f32\[1,3,3,2\]$/],
    ["backprop input: groups mismatch", "conv2dBackpropInput", [convDy, t("f32", [3, 3, 4, 2])], { inputShape: [1, 5, 5, 4], groups: 2 },
      /^conv2dBackpropInput: w's third axis must be C\/groups = 2, got 4/],
    ["backprop filter: filterShape of rank 2", "conv2dBackpropFilter", [t("f32", [1, 5, 5, 4]), convDy], { filterShape: [3, 3] },
      /^conv2dBackpropFilter: filterShape must be four sizes >= 0 \(kh, kw, C\/groups, O\), got \[3,3\]$/],
    ["backprop filter: negative size", "conv2dBackpropFilter", [t("f32", [1, 5, 5, 4]), convDy], { filterShape: [3, -3, 4, 2] },
      /filterShape must be four sizes >= 0/],
    ["backprop filter: dtypes", "conv2dBackpropFilter", [t("f32", [1, 5, 5, 4]), t("bf16", [1, 3, 3, 2])], { filterShape: [3, 3, 4, 2] },
      /^conv2dBackpropFilter: operand dtypes differ: x is f32\[1,5,5,4\], dy is bf16\[1,3,3,2\]$/],
    ["backprop filter: x of rank 3", "conv2dBackpropFilter", [t("f32", [5, 5, 4]), convDy], { filterShape: [3, 3, 4, 2] },
      /^conv2dBackpropFilter: x must have rank 4 \(N, H, W, C\)/],
    ["backprop filter: dy for another stride", "conv2dBackpropFilter", [t("f32", [1, 5, 5, 4]), convDy], { filterShape: [3, 3, 4, 2], stride: [2, 2] },
      /^conv2dBackpropFilter: dy must have conv2d's output shape \[1,2,2,2\]/],
    ["backprop filter: filter larger than the input", "conv2dBackpropFilter", [t("f32", [1, 5, 5, 4]), convDy], { filterShape: [6, 3, 4, 2] },
      /^conv2dBackpropFilter: window 6x3 .* does not fit/],
    ["max grad: x of rank 3", "maxPool2dGrad", [t("f32", [5, 5, 4]), poolDy], pool, /^maxPool2dGrad: x must have rank 4/],
    ["max grad: integer x", "maxPool2dGrad", [t("i32", [1, 5, 5, 4]), t("i32", [1, 2, 2, 4])], pool, /^maxPool2dGrad: x must be a float tensor/],
    ["max grad: dtypes", "maxPool2dGrad", [t("f32", [1, 5, 5, 4]), t("f16", [1, 2, 2, 4])], pool, /^maxPool2dGrad: operand dtypes differ/],
    ["max grad: dy of the wrong shape", "maxPool2dGrad", [t("f32", [1, 5, 5, 4]), poolDy], { ...pool, padding: "same" },
      /^maxPool2dGrad: dy must have the pool's output shape \[1,3,3,4\] for an input of shape \[1,5,5,4\], got f32\[1,2,2,4\]$/],
    ["max grad: pads as wide as the window", "maxPool2dGrad", [t("f32", [1, 5, 5, 4]), poolDy], { ...pool, padding: "explicit", pads: [0, 0, 2, 0] },
      /^maxPool2dGrad: pads \[0,0,2,0\] must be smaller than the window 2x2$/],
    ["avg grad: inputShape of rank 2", "avgPool2dGrad", [poolDy], { ...pool, inputShape: [5, 5] }, /^avgPool2dGrad: inputShape must be four sizes >= 0/],
    ["avg grad: dy of rank 3", "avgPool2dGrad", [t("f32", [2, 2, 4])], { ...pool, inputShape: [1, 5, 5, 4] }, /^avgPool2dGrad: dy must have rank 4/],
    ["avg grad: integer dy", "avgPool2dGrad", [t("i8", [1, 2, 2, 4])], { ...pool, inputShape: [1, 5, 5, 4] }, /^avgPool2dGrad: dy must be a float tensor/],
    ["avg grad: channel count", "avgPool2dGrad", [poolDy], { ...pool, inputShape: [1, 5, 5, 3] },
      /^avgPool2dGrad: dy must have the pool's output shape \[1,2,2,3\]/],
    ["avg grad: window larger than the input", "avgPool2dGrad", [poolDy], { size: [6, 2], stride: [2, 2], inputShape: [1, 5, 5, 4] },
      /^avgPool2dGrad: window 6x2 .* does not fit/],
  ];

  for (const [label, name, types, attrs, message] of cases) {
    it(label, () => {
      let error: unknown;
      try {
        inferOp(getOp(name), types, attrs);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ShapeError);
      expect((error as Error).message).toMatch(message);
    });
  }
});
