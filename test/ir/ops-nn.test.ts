// Contraction and pooling op records (matmul, conv2d, maxPool2d, avgPool2d) and the window
// geometry they share with the backends: PyTorch fixtures, hand-computed cases, attribute
// schemas, every shape-rule error, and the sizes real models use.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { completeAttrs, type AttrValue } from "../../compiler/ir/op-def.ts";
import { NN_OPS } from "../../compiler/ir/ops/nn.ts";
import { convOutputSize, resolvePads, type PaddingMode } from "../../compiler/ir/ops/window.ts";
import { ShapeError, type TensorType } from "../../compiler/ir/types.ts";
import { REDUCTION_OPS } from "../../compiler/ir/ops/reduction.ts";
import { checkFixture, expectClose, f32, findOp, inferOp, loadFixtures, randomData, runOp, tensor, type } from "../support/op-fixtures.ts";

const op = (name: string) => findOp(NN_OPS, name);
const run = (name: string, inputs: Parameters<typeof runOp>[1], attrs: Record<string, AttrValue> = {}) =>
  runOp(op(name), inputs, attrs);

describe("nn group: PyTorch fixtures", () => {
  const cases = loadFixtures("nn.json");

  it("covers every op of the group", () => {
    expect(new Set(cases.map((c) => c.op))).toEqual(new Set(NN_OPS.map((o) => o.name)));
  });

  for (const c of cases) it(c.name, () => checkFixture(NN_OPS, c));
});

describe("window geometry (TensorFlow conventions)", () => {
  // [in, kernel, stride, dilation, padding, explicit pads, expected pads, expected output size]
  const rows: [number, number, number, number, PaddingMode, [number, number], [number, number], number][] = [
    [5, 3, 2, 1, "same", [0, 0], [1, 1], 3],
    [6, 3, 2, 1, "same", [0, 0], [0, 1], 3], // odd total padding: the extra pixel goes at the end
    [4, 2, 1, 1, "same", [0, 0], [0, 1], 4],
    [7, 1, 3, 1, "same", [0, 0], [0, 0], 3],
    [10, 3, 1, 2, "same", [0, 0], [2, 2], 10],
    [3, 5, 4, 1, "same", [0, 0], [1, 1], 1],
    [7, 3, 2, 1, "valid", [4, 4], [0, 0], 3], // explicit pads are ignored unless padding is explicit
    [8, 3, 3, 2, "valid", [0, 0], [0, 0], 2],
    [5, 3, 2, 1, "explicit", [1, 2], [1, 2], 3],
    [2, 3, 1, 1, "valid", [0, 0], [0, 0], 0], // does not fit: the shape rules reject this
  ];
  for (const [inSize, k, s, d, padding, explicit, pads, out] of rows) {
    it(`in ${inSize}, k ${k}, stride ${s}, dilation ${d}, ${padding}`, () => {
      expect(resolvePads(inSize, k, s, d, padding, ...explicit)).toEqual({ before: pads[0], after: pads[1] });
      expect(convOutputSize(inSize, k, s, d, padding, ...explicit)).toBe(out);
    });
  }

  it('"same" always yields ceil(in / stride) outputs', () => {
    for (let inSize = 1; inSize <= 12; inSize++) {
      for (let k = 1; k <= 5; k++) {
        for (let s = 1; s <= 4; s++) {
          for (let d = 1; d <= 3; d++) expect(convOutputSize(inSize, k, s, d, "same")).toBe(Math.ceil(inSize / s));
        }
      }
    }
  });
});

describe("records", () => {
  it("have the kinds and f32 tolerances of their group", () => {
    const kinds = Object.fromEntries(NN_OPS.map((o) => [o.name, o.kind]));
    expect(kinds).toEqual({ matmul: "contraction", conv2d: "contraction", maxPool2d: "reduction", avgPool2d: "reduction" });
    expect(op("matmul").tolerance).toBe(1e-4);
    expect(op("conv2d").tolerance).toBe(1e-4);
    for (const o of NN_OPS) expect(o.tolerance, o.name).toBeGreaterThan(0);
  });

  it("fill IR.md's defaults in schema order", () => {
    expect(completeAttrs(op("matmul"), {})).toEqual({ transposeA: false, transposeB: false });
    const conv = completeAttrs(op("conv2d"), {});
    expect(conv).toEqual({ stride: [1, 1], padding: "valid", pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 });
    expect(Object.keys(conv)).toEqual(["stride", "padding", "pads", "dilation", "groups"]);
    const pool = completeAttrs(op("maxPool2d"), { stride: [2, 2], size: [2, 2] });
    expect(pool).toEqual({ size: [2, 2], stride: [2, 2], padding: "valid", pads: [0, 0, 0, 0] });
    expect(Object.keys(pool)).toEqual(["size", "stride", "padding", "pads"]);
  });

  it("require pool sizes and strides and check the padding spelling", () => {
    expect(() => completeAttrs(op("avgPool2d"), { size: [2, 2] })).toThrow(/avgPool2d needs attribute 'stride'/);
    expect(() => completeAttrs(op("maxPool2d"), { stride: [2, 2] })).toThrow(/maxPool2d needs attribute 'size'/);
    expect(() => completeAttrs(op("conv2d"), { padding: "full" })).toThrow(/"valid", "same", "explicit"/);
  });
});

describe("by hand", () => {
  const image = f32([1, 3, 3, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9]);

  it("matmul with and without transposes", () => {
    const a = f32([2, 2], [1, 2, 3, 4]);
    const b = f32([2, 2], [5, 6, 7, 8]);
    expect(run("matmul", [a, b]).data).toEqual(Float64Array.of(19, 22, 43, 50));
    expect(run("matmul", [a, b], { transposeA: true }).data).toEqual(Float64Array.of(26, 30, 38, 44));
    expect(run("matmul", [a, b], { transposeB: true }).data).toEqual(Float64Array.of(17, 23, 39, 53));
    // A batch of two left operands against one shared right operand.
    const batched = run("matmul", [f32([2, 1, 2], [1, 0, 0, 1]), b]);
    expect(batched.type).toEqual(type("f32", [2, 1, 2]));
    expect(batched.data).toEqual(Float64Array.of(5, 6, 7, 8));
  });

  it("conv2d valid and TensorFlow-same with an even kernel", () => {
    const ones = f32([2, 2, 1, 1], [1, 1, 1, 1]);
    expect(run("conv2d", [image, ones]).data).toEqual(Float64Array.of(12, 16, 24, 28));
    // Total padding 1 per axis goes after the image: the last row and column see only real pixels.
    const same = run("conv2d", [image, ones], { padding: "same" });
    expect(same.type).toEqual(type("f32", [1, 3, 3, 1]));
    expect(same.data).toEqual(Float64Array.of(12, 16, 9, 24, 28, 15, 15, 17, 9));
    const explicit = run("conv2d", [image, ones], { padding: "explicit", pads: [1, 0, 0, 0], stride: [2, 1] });
    expect(explicit.data).toEqual(Float64Array.of(3, 5, 24, 28)); // first row sees the top pad
  });

  it("conv2d groups keep channels apart; depthwise multiplies per channel", () => {
    const x = f32([1, 1, 1, 2], [2, 3]);
    expect(run("conv2d", [x, f32([1, 1, 1, 2], [10, 100])], { groups: 2 }).data).toEqual(Float64Array.of(20, 300));
    // Depthwise with multiplier 2: output channels 0,1 read input 0; 2,3 read input 1.
    expect(run("conv2d", [x, f32([1, 1, 1, 4], [1, 2, 3, 4])], { groups: 2 }).data).toEqual(Float64Array.of(2, 4, 9, 12));
    // Dense 1x1 conv for contrast: every output channel mixes both inputs.
    expect(run("conv2d", [x, f32([1, 1, 2, 2], [1, 2, 3, 4])]).data).toEqual(Float64Array.of(11, 16));
  });

  it("conv2d dilation spreads the kernel taps", () => {
    const row = f32([1, 1, 5, 1], [1, 2, 3, 4, 5]);
    expect(run("conv2d", [row, f32([1, 2, 1, 1], [1, 1])], { dilation: [1, 2] }).data).toEqual(Float64Array.of(4, 6, 8));
  });

  it("pools over 2x2 windows", () => {
    const x = f32([1, 4, 4, 1], Array.from({ length: 16 }, (_, i) => i + 1));
    const attrs = { size: [2, 2], stride: [2, 2] };
    expect(run("maxPool2d", [x], attrs).data).toEqual(Float64Array.of(6, 8, 14, 16));
    expect(run("avgPool2d", [x], attrs).data).toEqual(Float64Array.of(3.5, 5.5, 11.5, 13.5));
  });

  it("pools exclude padding from the max and from the average's count", () => {
    const attrs = { size: [2, 2], stride: [2, 2], padding: "same" };
    expect(run("avgPool2d", [image], attrs).data).toEqual(Float64Array.of(3, 4.5, 7.5, 9));
    const negative = f32([1, 3, 3, 1], [-1, -2, -3, -4, -5, -6, -7, -8, -9]);
    expect(run("maxPool2d", [negative], attrs).data).toEqual(Float64Array.of(-1, -3, -7, -9)); // a zero pad would win
    const explicit = { size: [2, 2], stride: [1, 1], padding: "explicit", pads: [1, 0, 1, 0] };
    expect(run("maxPool2d", [negative], explicit).data.slice(0, 3)).toEqual(Float64Array.of(-1, -1, -2));
    expect(run("avgPool2d", [image], explicit).data.slice(0, 4)).toEqual(Float64Array.of(1, 1.5, 2.5, 2.5));
  });

  it("maxPool2d propagates NaN", () => {
    const x = f32([1, 2, 2, 1], [1, NaN, 3, 2]);
    expectClose(run("maxPool2d", [x], { size: [2, 2], stride: [2, 2] }).data, [NaN]);
  });
});

describe("model-sized inputs", () => {
  it("matmul [64,784] x [784,256] matches direct dot products", () => {
    const a = f32([64, 784], randomData(64 * 784, 1));
    const b = f32([784, 256], randomData(784 * 256, 2));
    const out = run("matmul", [a, b]);
    expect(out.type).toEqual(type("f32", [64, 256]));
    for (const [i, j] of [[0, 0], [17, 200], [63, 255], [40, 3]]) {
      let dot = 0;
      for (let p = 0; p < 784; p++) dot += a.data[i * 784 + p] * b.data[p * 256 + j];
      expectClose([out.data[i * 256 + j]], [dot], 1e-12, `out[${i},${j}]`);
    }
  });

  it("a small conv net's layers chain shape-consistently", () => {
    let x = f32([8, 28, 28, 1], randomData(8 * 28 * 28, 3));
    x = run("conv2d", [x, f32([3, 3, 1, 16], randomData(144, 4))], { padding: "same" });
    x = run("maxPool2d", [x], { size: [2, 2], stride: [2, 2] });
    x = run("conv2d", [x, f32([3, 3, 16, 32], randomData(4608, 5))], { padding: "same" });
    x = run("avgPool2d", [x], { size: [2, 2], stride: [2, 2] });
    expect(x.type).toEqual(type("f32", [8, 7, 7, 32]));
    expect(x.data.every(Number.isFinite)).toBe(true);
  });
});

describe("through the graph builder and the interpreter", () => {
  // conv2d -> maxPool2d -> mean over H, W -> matmul -> softmaxCrossEntropy: records of both groups.
  function tinyCnn(): GraphBuilder {
    const b = new GraphBuilder("tinyCnn");
    const x = b.addInput({ name: "x", type: type("f32", [2, 6, 5, 2]) });
    const y = b.addInput({ name: "y", type: type("i32", [2]) });
    const w = b.addParam({ name: "conv.w", type: type("f32", [3, 3, 1, 4]), init: "he_normal", trainable: true });
    const d = b.addParam({ name: "dense.w", type: type("f32", [4, 3]), init: "glorot_uniform", trainable: true });
    const conv = b.op("conv2d", [x, w], { padding: "same", groups: 2 });
    const pool = b.op("maxPool2d", [conv], { size: [2, 2], stride: [2, 2], padding: "same" });
    const features = b.op("mean", [pool], { axes: [1, 2] });
    const logits = b.op("matmul", [features, d]);
    b.output("logits", logits);
    b.output("loss", b.op("softmaxCrossEntropy", [logits, y]));
    return b;
  }

  it("fills defaults and infers types as nodes are added", () => {
    const g = tinyCnn().build();
    expect(g.nodes.map((n) => `${n.op}:${n.type.dtype}[${n.type.shape}]`)).toEqual([
      "conv2d:f32[2,6,5,4]", "maxPool2d:f32[2,3,3,4]", "mean:f32[2,4]", "matmul:f32[2,3]", "softmaxCrossEntropy:f32[]",
    ]);
    expect(g.nodes[0].attrs).toEqual({ stride: [1, 1], padding: "same", pads: [0, 0, 0, 0], dilation: [1, 1], groups: 2 });
    expect(g.nodes[3].attrs).toEqual({ transposeA: false, transposeB: false });
  });

  it("runs to the same values as the records applied one by one", () => {
    const g = tinyCnn().build();
    const xs = randomData(2 * 6 * 5 * 2, 7);
    const params = { "conv.w": randomData(36, 8), "dense.w": randomData(12, 9) };
    const result = interpret(g, { x: xs, y: [2, 0] }, { precision: "f64", params });
    let h = run("conv2d", [f32([2, 6, 5, 2], xs), f32([3, 3, 1, 4], params["conv.w"])], { padding: "same", groups: 2 });
    h = run("maxPool2d", [h], { size: [2, 2], stride: [2, 2], padding: "same" });
    h = runOp(findOp(REDUCTION_OPS, "mean"), [h], { axes: [1, 2] });
    const logits = run("matmul", [h, f32([4, 3], params["dense.w"])]);
    expect(result.outputs.logits.data).toEqual(logits.data);
    const loss = runOp(findOp(REDUCTION_OPS, "softmaxCrossEntropy"), [logits, tensor("i32", [2], [2, 0])]);
    expect(result.outputs.loss.data).toEqual(loss.data);
    // In native precision every value is stored as f32; the records' tolerances bound the drift.
    const native = interpret(g, { x: xs, y: [2, 0] }, { params });
    expectClose(native.outputs.loss.data, loss.data, 1e-5, "f32 loss");
  });

  it("reports an out-of-range label at run time and a bad operand at build time", () => {
    const g = tinyCnn().build();
    const params = { "conv.w": randomData(36, 8), "dense.w": randomData(12, 9) };
    expect(() => interpret(g, { x: randomData(120, 7), y: [3, 0] }, { params })).toThrow(/label 3 at position 0 .*C = 3/);
    const b = tinyCnn();
    expect(() => b.op("matmul", ["x", "dense.w"])).toThrow(ShapeError);
  });
});

describe("shape-rule errors", () => {
  const t = type;
  const img = t("f32", [1, 5, 5, 4]);
  const cases: [string, string, TensorType[], Record<string, AttrValue>, RegExp][] = [
    ["matmul inner dimensions", "matmul", [t("f32", [64, 784]), t("f32", [512, 10])], {},
      /^matmul: inner dimensions differ: a is f32\[64,784\], b is f32\[512,10\] \(K 784 vs 512\)$/],
    ["matmul inner dimensions after a transpose", "matmul", [t("f32", [3, 2]), t("f32", [3, 4])], { transposeB: true },
      /^matmul: inner dimensions differ: a is f32\[3,2\], b is f32\[3,4\] with transposeB \(K 2 vs 4\)$/],
    ["matmul of a vector", "matmul", [t("f32", [3]), t("f32", [3, 4])], {}, /^matmul: operands must have rank >= 2: a is f32\[3\]/],
    ["matmul by a vector", "matmul", [t("f32", [2, 3]), t("f32", [3])], {}, /rank >= 2: a is f32\[2,3\], b is f32\[3\]/],
    ["matmul batch dims", "matmul", [t("f32", [2, 3, 4]), t("f32", [3, 4, 5])], {},
      /^matmul: batch dimensions do not broadcast: a is f32\[2,3,4\], b is f32\[3,4,5\]/],
    ["matmul dtypes", "matmul", [t("f32", [2, 3]), t("f16", [3, 4])], {}, /^matmul: operand dtypes differ: a is f32\[2,3\], b is f16\[3,4\]/],
    ["matmul of integers", "matmul", [t("i32", [2, 3]), t("i32", [3, 4])], {}, /^matmul: a must be a float tensor/],
    ["conv2d x rank", "conv2d", [t("f32", [5, 5, 4]), t("f32", [3, 3, 4, 2])], {}, /^conv2d: x must have rank 4 \(N, H, W, C\), got f32\[5,5,4\]/],
    ["conv2d w rank", "conv2d", [img, t("f32", [3, 3, 4])], {}, /^conv2d: w must have rank 4 \(kh, kw, C\/groups, O\)/],
    ["conv2d dtypes", "conv2d", [img, t("bf16", [3, 3, 4, 2])], {}, /^conv2d: operand dtypes differ/],
    ["conv2d of integers", "conv2d", [t("i8", [1, 5, 5, 4]), t("i8", [3, 3, 4, 2])], {}, /^conv2d: x must be a float tensor/],
    ["conv2d channel mismatch", "conv2d", [img, t("f32", [3, 3, 3, 2])], {},
      /^conv2d: w's third axis must be C\/groups = 4, got 3: x is f32\[1,5,5,4\], w is f32\[3,3,3,2\]/],
    ["conv2d groups not dividing C", "conv2d", [img, t("f32", [3, 3, 1, 3])], { groups: 3 }, /^conv2d: groups 3 must divide both C 4 and O 3/],
    ["conv2d groups not dividing O", "conv2d", [img, t("f32", [3, 3, 2, 3])], { groups: 2 }, /^conv2d: groups 2 must divide both C 4 and O 3/],
    ["conv2d depthwise with the wrong channel axis", "conv2d", [img, t("f32", [3, 3, 4, 4])], { groups: 4 }, /C\/groups = 1, got 4/],
    ["conv2d zero groups", "conv2d", [img, t("f32", [3, 3, 4, 2])], { groups: 0 }, /^conv2d: groups must be >= 1, got 0/],
    ["conv2d kernel larger than the input", "conv2d", [img, t("f32", [6, 3, 4, 2])], {},
      /^conv2d: window 6x3 \(kernel 6x3, dilation 1x1\) does not fit the 5x5 padded input \(5x5, valid padding\)/],
    ["conv2d dilated kernel larger than the input", "conv2d", [img, t("f32", [3, 3, 4, 2])], { dilation: [1, 3] }, /window 3x7/],
    ["conv2d empty kernel", "conv2d", [img, t("f32", [0, 3, 4, 2])], {}, /^conv2d: kernel size must be two integers >= 1, got \[0,3\]/],
    ["conv2d zero stride", "conv2d", [img, t("f32", [3, 3, 4, 2])], { stride: [0, 1] }, /^conv2d: stride must be two integers >= 1, got \[0,1\]/],
    ["conv2d one stride", "conv2d", [img, t("f32", [3, 3, 4, 2])], { stride: [2] }, /stride must be two integers/],
    ["conv2d zero dilation", "conv2d", [img, t("f32", [3, 3, 4, 2])], { dilation: [1, 0] }, /^conv2d: dilation must be two integers >= 1/],
    ["conv2d three pads", "conv2d", [img, t("f32", [3, 3, 4, 2])], { padding: "explicit", pads: [1, 1, 1] },
      /^conv2d: pads must be four integers >= 0 \(top, bottom, left, right\), got \[1,1,1\]/],
    ["conv2d negative pads", "conv2d", [img, t("f32", [3, 3, 4, 2])], { padding: "explicit", pads: [1, -1, 0, 0] }, /pads must be four integers >= 0/],
    ["maxPool2d x rank", "maxPool2d", [t("f32", [5, 5])], { size: [2, 2], stride: [2, 2] }, /^maxPool2d: x must have rank 4/],
    ["maxPool2d of booleans", "maxPool2d", [t("bool", [1, 4, 4, 1])], { size: [2, 2], stride: [2, 2] }, /^maxPool2d: x must be numeric/],
    ["avgPool2d of integers", "avgPool2d", [t("i32", [1, 4, 4, 1])], { size: [2, 2], stride: [2, 2] }, /^avgPool2d: x must be a float tensor/],
    ["pool size of one number", "avgPool2d", [img], { size: [2], stride: [2, 2] }, /^avgPool2d: size must be two integers >= 1, got \[2\]/],
    ["pool size zero", "maxPool2d", [img], { size: [0, 2], stride: [2, 2] }, /^maxPool2d: kernel size must be two integers >= 1, got \[0,2\]/],
    ["pool stride zero", "maxPool2d", [img], { size: [2, 2], stride: [2, 0] }, /^maxPool2d: stride must be two integers >= 1/],
    ["pool window larger than the input", "avgPool2d", [img], { size: [2, 6], stride: [1, 1] }, /^avgPool2d: window 2x6 .* does not fit/],
    ["pool pads as wide as the window", "maxPool2d", [img], { size: [2, 3], stride: [1, 1], padding: "explicit", pads: [0, 0, 3, 0] },
      /^maxPool2d: pads \[0,0,3,0\] must be smaller than the window 2x3/],
    ["pool pads as tall as the window", "avgPool2d", [img], { size: [2, 3], stride: [1, 1], padding: "explicit", pads: [0, 2, 0, 0] },
      /^avgPool2d: pads \[0,2,0,0\] must be smaller than the window/],
  ];

  for (const [label, name, types, attrs, message] of cases) {
    it(label, () => {
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
});
