// Reduction, normalization and loss op records: PyTorch fixtures, hand-computed cases, attribute
// schemas and every shape-rule error.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { completeAttrs, type AttrValue } from "../../compiler/ir/op-def.ts";
import { REDUCTION_OPS } from "../../compiler/ir/ops/reduction.ts";
import { ShapeError, type TensorType } from "../../compiler/ir/types.ts";
import { checkFixture, expectClose, f32, findOp, inferOp, loadFixtures, randomData, runOp, tensor, type } from "../support/op-fixtures.ts";

const op = (name: string) => findOp(REDUCTION_OPS, name);
const run = (name: string, inputs: Parameters<typeof runOp>[1], attrs: Record<string, AttrValue> = {}) =>
  runOp(op(name), inputs, attrs);

describe("reduction group: PyTorch fixtures", () => {
  const cases = loadFixtures("reduction.json");

  it("covers every op of the group", () => {
    expect(new Set(cases.map((c) => c.op))).toEqual(new Set(REDUCTION_OPS.map((o) => o.name)));
  });

  for (const c of cases) it(c.name, () => checkFixture(REDUCTION_OPS, c));
});

describe("records", () => {
  it("are the ops docs/IR.md lists for the group, with kinds and f32 tolerances", () => {
    const kinds = Object.fromEntries(REDUCTION_OPS.map((o) => [o.name, o.kind]));
    expect(kinds).toEqual({
      sum: "reduction", mean: "reduction", max: "reduction",
      softmax: "normalization", logSoftmax: "normalization",
      layerNorm: "normalization", batchNorm: "normalization", batchNormRunningStat: "reduction",
      softmaxCrossEntropy: "loss", mse: "loss",
    });
    for (const o of REDUCTION_OPS) expect(o.tolerance, o.name).toBeGreaterThan(0);
  });

  it("fill IR.md's defaults in schema order", () => {
    expect(completeAttrs(op("sum"), { axes: [1] })).toEqual({ axes: [1], keepDims: false });
    expect(Object.keys(completeAttrs(op("mean"), { keepDims: true, axes: [] }))).toEqual(["axes", "keepDims"]);
    expect(completeAttrs(op("softmax"), {})).toEqual({ axis: -1 });
    expect(completeAttrs(op("logSoftmax"), {})).toEqual({ axis: -1 });
    expect(completeAttrs(op("layerNorm"), {})).toEqual({ axis: -1, eps: 1e-5 });
    expect(completeAttrs(op("batchNorm"), {})).toEqual({ eps: 1e-5 });
    expect(completeAttrs(op("batchNormRunningStat"), { stat: "var" })).toEqual({ stat: "var", momentum: 0.1 });
    expect(completeAttrs(op("softmaxCrossEntropy"), {})).toEqual({});
    expect(completeAttrs(op("mse"), {})).toEqual({});
  });

  it("require the attributes without defaults and check spellings", () => {
    expect(() => completeAttrs(op("max"), {})).toThrow(/max needs attribute 'axes'/);
    expect(() => completeAttrs(op("batchNormRunningStat"), {})).toThrow(/needs attribute 'stat'/);
    expect(() => completeAttrs(op("batchNormRunningStat"), { stat: "std" })).toThrow(/"mean", "var"/);
  });
});

describe("sum, mean, max by hand", () => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);

  it("reduce the named axes", () => {
    expect(run("sum", [x], { axes: [0] }).data).toEqual(Float64Array.of(5, 7, 9));
    const kept = run("sum", [x], { axes: [1], keepDims: true });
    expect(kept.type).toEqual(type("f32", [2, 1]));
    expect(kept.data).toEqual(Float64Array.of(6, 15));
    const all = run("sum", [x], { axes: [-1, 0] });
    expect(all.type).toEqual(type("f32", []));
    expect(all.data).toEqual(Float64Array.of(21));
    expect(run("mean", [x], { axes: [1] }).data).toEqual(Float64Array.of(2, 5));
    expect(run("max", [f32([2, 3], [3, -1, 2, -5, -4, -6])], { axes: [1] }).data).toEqual(Float64Array.of(3, -4));
  });

  it("treat axes=[] as the identity, keepDims or not, scalars included", () => {
    for (const name of ["sum", "mean", "max"]) {
      for (const keepDims of [false, true]) {
        const out = run(name, [x], { axes: [], keepDims });
        expect(out.type).toEqual(x.type);
        expect(out.data).toEqual(x.data);
        expect(out.data).not.toBe(x.data); // kernels must not alias their inputs
      }
      expect(run(name, [f32([], [2.5])], { axes: [] }).data).toEqual(Float64Array.of(2.5));
    }
  });

  it("sum to 0 and mean to NaN over zero elements, as NumPy", () => {
    const empty = f32([0, 3], []);
    expect(run("sum", [empty], { axes: [0] }).data).toEqual(Float64Array.of(0, 0, 0));
    expectClose(run("mean", [empty], { axes: [0] }).data, [NaN, NaN, NaN]);
    const none = run("sum", [empty], { axes: [1] });
    expect(none.type).toEqual(type("f32", [0]));
    expect(run("max", [empty], { axes: [1] }).type).toEqual(type("f32", [0])); // no empty max is taken
  });

  it("propagate NaN through max and keep -inf", () => {
    expectClose(run("max", [f32([4], [1, NaN, 3, 2])], { axes: [0] }).data, [NaN]);
    expectClose(run("max", [f32([3], [NaN, 5, NaN])], { axes: [0] }).data, [NaN]);
    expectClose(run("max", [f32([2], [-Infinity, -Infinity])], { axes: [0] }).data, [-Infinity]);
  });

  it("sum and max integers in their own dtype", () => {
    const ints = tensor("i32", [2, 2], [1, -7, 3, 4]);
    const s = run("sum", [ints], { axes: [0] });
    expect(s.type).toEqual(type("i32", [2]));
    expect(s.data).toEqual(Float64Array.of(4, -3));
    expect(run("max", [ints], { axes: [1] }).data).toEqual(Float64Array.of(1, 4));
  });
});

describe("softmax and logSoftmax by hand", () => {
  it("give the normalized distribution and its log", () => {
    expectClose(run("softmax", [f32([2], [0, Math.log(3)])]).data, [0.25, 0.75]);
    expectClose(run("logSoftmax", [f32([2], [0, Math.log(3)])]).data, [Math.log(0.25), Math.log(0.75)]);
    expectClose(run("softmax", [f32([2, 2], [1, 5, 1, 5])], { axis: 0 }).data, [0.5, 0.5, 0.5, 0.5]);
    expectClose(run("softmax", [f32([3, 1], [4, -2, 9])]).data, [1, 1, 1]);
  });

  it("are stable where exp overflows or underflows", () => {
    expectClose(run("softmax", [f32([2], [1000, 1000])]).data, [0.5, 0.5]);
    expectClose(run("softmax", [f32([2], [-1000, -1000 + Math.log(3)])]).data, [0.25, 0.75]);
    // log(exp(-1000)) underflows naively; with the max subtracted it is exact.
    expectClose(run("logSoftmax", [f32([2], [-1000, 0])]).data, [-1000, 0]);
  });
});

describe("normalization by hand", () => {
  it("layerNorm standardizes along the axis, then scales and shifts", () => {
    const out = run("layerNorm", [f32([1, 2], [1, 3]), f32([2], [2, 3]), f32([2], [1, -1])], { eps: 0 });
    expectClose(out.data, [-1, 2]); // mean 2, biased variance 1
    const cols = run("layerNorm", [f32([2, 2], [1, 10, 3, 30]), f32([2], [1, 1]), f32([2], [0, 0])], { axis: 0, eps: 0 });
    expectClose(cols.data, [-1, -1, 1, 1]);
  });

  it("batchNorm uses per-channel batch statistics with the biased variance", () => {
    // Channel 0 holds 1, 3 (mean 2, var 1); channel 1 holds 10, 10 (var 0, so eps decides).
    const out = run("batchNorm", [f32([2, 2], [1, 10, 3, 10]), f32([2], [1, 1]), f32([2], [0, 5])], { eps: 0.25 });
    expectClose(out.data, [-1 / Math.sqrt(1.25), 5, 1 / Math.sqrt(1.25), 5]);
  });

  it("batchNormRunningStat blends the batch mean or unbiased variance into the running value", () => {
    const x = f32([2, 1], [1, 5]); // mean 3, unbiased variance 8
    const running = f32([1], [4]);
    expectClose(run("batchNormRunningStat", [x, running], { stat: "mean", momentum: 0.25 }).data, [3.75]);
    expectClose(run("batchNormRunningStat", [x, running], { stat: "var", momentum: 0.25 }).data, [5]);
    expect(run("batchNormRunningStat", [x, running], { stat: "var" }).type).toEqual(type("f32", [1]));
  });
});

describe("losses by hand", () => {
  it("softmaxCrossEntropy is the mean of -log p[label]", () => {
    const uniform = run("softmaxCrossEntropy", [f32([2, 4], new Array(8).fill(0)), tensor("i32", [2], [2, 0])]);
    expect(uniform.type).toEqual(type("f32", []));
    expectClose(uniform.data, [Math.log(4)]);
    // p = (0.25, 0.75): rows pick -log 0.75 and -log 0.25.
    const logits = f32([2, 2], [0, Math.log(3), 0, Math.log(3)]);
    expectClose(run("softmaxCrossEntropy", [logits, tensor("i32", [2], [1, 0])]).data, [-(Math.log(0.75) + Math.log(0.25)) / 2]);
    expectClose(run("softmaxCrossEntropy", [f32([2], [500, -500]), tensor("i32", [], [1])]).data, [1000]);
  });

  it("softmaxCrossEntropy rejects labels outside [0, C), naming the label and C", () => {
    const logits = f32([3, 4]);
    const sce = op("softmaxCrossEntropy");
    expect(() => runOp(sce, [logits, tensor("i32", [3], [0, 4, 1])])).toThrow(/label 4 at position 1 .*C = 4/);
    expect(() => runOp(sce, [logits, tensor("i32", [3], [0, 1, -1])])).toThrow(/label -1 at position 2 .*C = 4/);
  });

  it("mse is the mean squared difference", () => {
    const out = run("mse", [f32([3], [1, 2, 3]), f32([3], [1, 0, 0])]);
    expect(out.type).toEqual(type("f32", []));
    expectClose(out.data, [13 / 3]);
  });
});

describe("through the graph builder and the interpreter", () => {
  it("a batch-norm layer updates its running statistics at the end of the step", () => {
    const b = new GraphBuilder("bn");
    const x = b.addInput({ name: "x", type: type("f32", [4, 2, 3]) });
    const gamma = b.addParam({ name: "bn.gamma", type: type("f32", [3]), init: "ones", trainable: true });
    const beta = b.addParam({ name: "bn.beta", type: type("f32", [3]), init: "zeros", trainable: true });
    const mean = b.addParam({ name: "bn.mean", type: type("f32", [3]), init: "zeros", trainable: false });
    const variance = b.addParam({ name: "bn.var", type: type("f32", [3]), init: "ones", trainable: false });
    const y = b.op("batchNorm", [x, gamma, beta]);
    b.output("y", b.op("softmax", [y]));
    b.update(mean, b.op("batchNormRunningStat", [x, mean], { stat: "mean" }));
    b.update(variance, b.op("batchNormRunningStat", [x, variance], { stat: "var", momentum: 0.5 }));
    const g = b.build();
    expect(g.nodes.map((n) => n.attrs)).toEqual([
      { eps: 1e-5 }, { axis: -1 }, { stat: "mean", momentum: 0.1 }, { stat: "var", momentum: 0.5 },
    ]);

    const xs = randomData(24, 11);
    const result = interpret(g, { x: xs }, { precision: "f64" });
    const xt = f32([4, 2, 3], xs);
    const normalized = run("batchNorm", [xt, f32([3], [1, 1, 1]), f32([3], [0, 0, 0])]);
    expect(result.outputs.y.data).toEqual(run("softmax", [normalized]).data);
    expect(result.updates["bn.mean"].data).toEqual(run("batchNormRunningStat", [xt, f32([3], [0, 0, 0])], { stat: "mean" }).data);
    expect(result.updates["bn.var"].data).toEqual(
      run("batchNormRunningStat", [xt, f32([3], [1, 1, 1])], { stat: "var", momentum: 0.5 }).data,
    );
  });
});

describe("shape-rule errors", () => {
  const t = type;
  const cases: [string, string, TensorType[], Record<string, AttrValue>, RegExp][] = [
    ["sum axis past the rank", "sum", [t("f32", [2, 3])], { axes: [2] }, /^sum: axis 2 is out of range for f32\[2,3\]/],
    ["sum negative axis past the rank", "sum", [t("f32", [2, 3])], { axes: [-3] }, /^sum: axis -3 is out of range/],
    ["sum over a scalar's axis", "sum", [t("f32", [])], { axes: [0] }, /^sum: axis 0 is out of range for f32\[\]/],
    ["sum duplicate axes", "sum", [t("f32", [2, 3])], { axes: [1, -1] }, /^sum: axis 1 appears twice in axes \[1,-1\] for f32\[2,3\]/],
    ["mean duplicate axes", "mean", [t("f32", [2, 3])], { axes: [0, 0] }, /^mean: axis 0 appears twice/],
    ["sum of booleans", "sum", [t("bool", [2])], { axes: [0] }, /^sum: x must be numeric, got bool\[2\]/],
    ["mean of integers", "mean", [t("i32", [2])], { axes: [0] }, /^mean: x must be a float tensor, got i32\[2\]/],
    ["max over an empty axis", "max", [t("f32", [2, 0])], { axes: [1] }, /^max: cannot reduce over empty axis 1 of f32\[2,0\]/],
    ["max over all of an empty tensor", "max", [t("f32", [0])], { axes: [-1] }, /^max: cannot reduce over empty axis 0/],
    ["max of booleans", "max", [t("bool", [2])], { axes: [0] }, /^max: x must be numeric/],
    ["softmax axis out of range", "softmax", [t("f32", [2, 2])], { axis: 2 }, /^softmax: axis 2 is out of range for f32\[2,2\]/],
    ["softmax of a scalar", "softmax", [t("f32", [])], {}, /^softmax: axis -1 is out of range for f32\[\]/],
    ["softmax of integers", "softmax", [t("i32", [2])], {}, /^softmax: x must be a float tensor/],
    ["logSoftmax axis out of range", "logSoftmax", [t("f32", [2, 2])], { axis: -3 }, /^logSoftmax: axis -3 is out of range/],
    ["layerNorm gamma length", "layerNorm", [t("f32", [2, 3]), t("f32", [2]), t("f32", [3])], {},
      /^layerNorm: gamma must have shape \[3\] \(size of axis 1 of f32\[2,3\]\), got f32\[2\]/],
    ["layerNorm beta rank", "layerNorm", [t("f32", [2, 3]), t("f32", [3]), t("f32", [1, 3])], {}, /^layerNorm: beta must have shape \[3\]/],
    ["layerNorm gamma for another axis", "layerNorm", [t("f32", [2, 3]), t("f32", [3]), t("f32", [3])], { axis: 0 },
      /^layerNorm: gamma must have shape \[2\]/],
    ["layerNorm dtypes", "layerNorm", [t("f32", [2, 3]), t("f16", [3]), t("f32", [3])], {},
      /^layerNorm: operand dtypes differ: x is f32\[2,3\], gamma is f16\[3\], beta is f32\[3\]/],
    ["layerNorm axis", "layerNorm", [t("f32", [2, 3]), t("f32", [3]), t("f32", [3])], { axis: 2 }, /^layerNorm: axis 2 is out of range/],
    ["layerNorm of integers", "layerNorm", [t("i32", [3]), t("i32", [3]), t("i32", [3])], {}, /^layerNorm: x must be a float tensor/],
    ["batchNorm without a batch axis", "batchNorm", [t("f32", [3]), t("f32", [3]), t("f32", [3])], {},
      /^batchNorm: x must have rank >= 2 \(batch axes, then channels last\), got f32\[3\]/],
    ["batchNorm gamma length", "batchNorm", [t("f32", [4, 3]), t("f32", [4]), t("f32", [3])], {},
      /^batchNorm: gamma must have shape \[3\] \(the channel count of f32\[4,3\]\), got f32\[4\]/],
    ["batchNorm beta length", "batchNorm", [t("f32", [4, 3]), t("f32", [3]), t("f32", [])], {}, /^batchNorm: beta must have shape \[3\]/],
    ["batchNorm dtypes", "batchNorm", [t("f32", [4, 3]), t("f32", [3]), t("bf16", [3])], {}, /^batchNorm: operand dtypes differ/],
    ["running stat shape", "batchNormRunningStat", [t("f32", [4, 3]), t("f32", [4])], { stat: "mean" },
      /^batchNormRunningStat: running must have shape \[3\]/],
    ["running var of one value per channel", "batchNormRunningStat", [t("f32", [1, 3]), t("f32", [3])], { stat: "var" },
      /^batchNormRunningStat: the unbiased variance needs at least 2 values per channel, f32\[1,3\] has 1/],
    ["running stat dtypes", "batchNormRunningStat", [t("f32", [4, 3]), t("f16", [3])], { stat: "mean" }, /operand dtypes differ/],
    ["running stat without a batch axis", "batchNormRunningStat", [t("f32", [3]), t("f32", [3])], { stat: "mean" }, /rank >= 2/],
    ["cross-entropy of integer logits", "softmaxCrossEntropy", [t("i32", [2, 3]), t("i32", [2])], {},
      /^softmaxCrossEntropy: logits must be a float tensor/],
    ["cross-entropy of scalar logits", "softmaxCrossEntropy", [t("f32", []), t("i32", [])], {}, /logits must be \[\.\.\., C\], got f32\[\]/],
    ["cross-entropy without classes", "softmaxCrossEntropy", [t("f32", [2, 0]), t("i32", [2])], {}, /logits f32\[2,0\] have no classes/],
    ["cross-entropy float labels", "softmaxCrossEntropy", [t("f32", [2, 3]), t("f32", [2])], {}, /labels must be i32 class indices, got f32\[2\]/],
    ["cross-entropy label shape", "softmaxCrossEntropy", [t("f32", [2, 3]), t("i32", [3])], {},
      /labels must have the logits' leading shape \[2\]: logits are f32\[2,3\], labels are i32\[3\]/],
    ["mse shapes", "mse", [t("f32", [2, 3]), t("f32", [3, 2])], {}, /^mse: operands must have the same shape: a is f32\[2,3\], b is f32\[3,2\]/],
    ["mse broadcastable shapes are still an error", "mse", [t("f32", [2, 3]), t("f32", [3])], {}, /same shape/],
    ["mse dtypes", "mse", [t("f32", [2]), t("f16", [2])], {}, /^mse: operand dtypes differ: a is f32\[2\], b is f16\[2\]/],
    ["mse of integers", "mse", [t("i32", [2]), t("i32", [2])], {}, /^mse: a must be a float tensor/],
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
