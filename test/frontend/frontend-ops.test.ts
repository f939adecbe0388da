// Every DSL function: which IR node(s) it makes, with which operands, attributes and defaults;
// plus numeric checks through the reference interpreter for the argument mappings that change
// meaning (number operands, defaults of axes/perm/stride, padding forms, transposes).

import { afterAll, describe, expect, it } from "vitest";
import { BUILTINS } from "../../compiler/frontend/builtins.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { compileSource, irText, nodeLines, removeTempDirs } from "../support/frontend-harness.ts";

afterAll(removeTempDirs);

const ALL = [...BUILTINS.keys()].join(", ");

/** Compiles a model whose function body is `body` (every mlc function is imported). */
function model(body: string) {
  return compileSource(`import { ${ALL}, type Tensor } from "mlc";
export default function model() {
${body}
}`);
}

const lines = (body: string) => nodeLines(model(body));

describe("inputs and params", () => {
  it("declares inputs with a default dtype of f32", () => {
    const m = model(`return { a: input("a", [2, 3]), b: input("b", [], "i32") };`);
    expect(irText(m)).toContain("input %a: f32[2,3]\n  input %b: i32[]");
    expect(m.graph.outputs).toEqual([
      { name: "a", value: "a" },
      { name: "b", value: "b" },
    ]);
  });

  it("declares params with init, dtype and trainable options and their defaults", () => {
    const m = model(`const std = 0.02;
  param("w", [4, 2]);
  param("e", [3], { init: \`normal(\${std})\`, dtype: "bf16" });
  param("u", [1], { init: "uniform(0.5)" });
  param("h", [2, 2], { init: "he_normal" });
  param("o", [2], { init: "ones" });
  param("count", [], { init: "zeros", dtype: "i32", trainable: false });
  return input("x", [1]);`);
    const decls = irText(m).split("\n").filter((l) => /^\s+(param|state) /.test(l)).map((l) => l.trim());
    expect(decls).toEqual([
      "param %w: f32[4,2] init=glorot_uniform",
      "param %e: bf16[3] init=normal(0.02)",
      "param %u: f32[1] init=uniform(0.5)",
      "param %h: f32[2,2] init=he_normal",
      "param %o: f32[2] init=ones",
      "state %count: i32[] init=zeros",
    ]);
  });
});

describe("constant tensors", () => {
  it("full/zeros/ones make const nodes and iota an iota node, with their default dtypes", () => {
    expect(lines(`return { a: full([2, 3], 0.5), b: zeros([2], "i32"), c: ones([1, 2]), d: iota([2, 3], 1), e: iota([4], 0, "f32") };`)).toEqual([
      `%0:f32[2,3] = const {value=0.5, dtype="f32", shape=[2,3]}`,
      `%1:i32[2] = const {value=0, dtype="i32", shape=[2]}`,
      `%2:f32[1,2] = const {value=1, dtype="f32", shape=[1,2]}`,
      `%3:i32[2,3] = iota {shape=[2,3], axis=1, dtype="i32"}`,
      `%4:f32[4] = iota {shape=[4], axis=0, dtype="f32"}`,
    ]);
  });

  it("a causal mask from two iotas masks exactly the keys after each query", () => {
    const m = model(`return { mask: greater(iota([3, 3], 1), iota([3, 3], 0)) };`);
    expect(Array.from(interpret(m.graph, {}).outputs.mask.data)).toEqual([0, 1, 1, 0, 0, 1, 0, 0, 0]);
  });

  it("rejects a non-numeric fill value with a diagnostic", () => {
    expect(() => model(`return full([2], "x" as unknown as number);`)).toThrow(/MLC\d+/);
  });
});

describe("elementwise", () => {
  it("maps each unary op and gelu's approximate option", () => {
    const ops = ["neg", "exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid", "relu"];
    const body = `const x = input("x", [2]);\n  return [${ops.map((o) => `${o}(x)`).join(", ")}, gelu(x), gelu(x, { approximate: "tanh" })].reduce((a, b) => add(a, b));`;
    const got = lines(body);
    expect(got.slice(0, 11)).toEqual([
      ...ops.map((o, i) => `%${i}:f32[2] = ${o} %x`),
      '%9:f32[2] = gelu %x {approximate="none"}',
      '%10:f32[2] = gelu %x {approximate="tanh"}',
    ]);
  });

  it("maps binary ops, broadcasting, and comparisons to bool", () => {
    const ops = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"];
    const body = `const a = input("a", [2, 3]); const b = input("b", [3]);
  return { ${ops.map((o) => `${o}: ${o}(a, b)`).join(", ")}, lt: less(a, b), gt: greater(b, a), eq: equal(a, b) };`;
    expect(lines(body)).toEqual([
      ...ops.map((o, i) => `%${i}:f32[2,3] = ${o} %a, %b`),
      "%7:bool[2,3] = less %a, %b",
      "%8:bool[2,3] = greater %b, %a",
      "%9:bool[2,3] = equal %a, %b",
    ]);
  });

  it("turns number operands into one shared scalar const per (value, dtype)", () => {
    const body = `const x = input("x", [2]); const k = input("k", [2], "i32");
  return { a: mul(x, 2), b: sub(2, x), c: x.add(0.5).mul(2), d: k.add(2), e: pow(x, 2) };`;
    expect(lines(body)).toEqual([
      '%0:f32[] = const {value=2, dtype="f32", shape=[]}',
      "%1:f32[2] = mul %x, %0",
      "%2:f32[2] = sub %0, %x",
      '%3:f32[] = const {value=0.5, dtype="f32", shape=[]}',
      "%4:f32[2] = add %x, %3",
      "%5:f32[2] = mul %4, %0",
      '%6:i32[] = const {value=2, dtype="i32", shape=[]}',
      "%7:i32[2] = add %k, %6",
      "%8:f32[2] = pow %x, %0",
    ]);
  });

  it("maps where (number branches take the other branch's dtype) and cast", () => {
    const body = `const x = input("x", [3]); const c = input("c", [3], "bool");
  return { w: where(c, x, 0), v: c.where(-1, 1), i: cast(x, "i32"), j: x.cast("f16") };`;
    expect(lines(body)).toEqual([
      '%0:f32[] = const {value=0, dtype="f32", shape=[]}',
      "%1:f32[3] = where %c, %x, %0",
      '%2:f32[] = const {value=-1, dtype="f32", shape=[]}',
      '%3:f32[] = const {value=1, dtype="f32", shape=[]}',
      "%4:f32[3] = where %c, %2, %3",
      '%5:i32[3] = cast %x {dtype="i32"}',
      '%6:f16[3] = cast %x {dtype="f16"}',
    ]);
  });

  it("computes with number operands as the hand-computed values say", () => {
    const m = model(`const x = input("x", [3]); return x.mul(2).add(1).pow(2).sub(div(1, x));`);
    const { outputs } = interpret(m.graph, { x: [1, 2, 4] }, { precision: "f64" });
    expect([...outputs.out.data]).toEqual([9 - 1, 25 - 0.5, 81 - 0.25]);
  });
});

describe("dropout", () => {
  it("declares rng.step once, increments it each step, and numbers the dropouts", () => {
    const m = model(`const x = input("x", [4]); return x.dropout(0.1).relu().dropout(0.5);`);
    expect(irText(m)).toContain("state %rng.step: i32[] init=zeros");
    expect(nodeLines(m)).toEqual([
      '%0:i32[] = const {value=1, dtype="i32", shape=[]}',
      "%1:i32[] = add %rng.step, %0",
      "%2:f32[4] = dropout %x, %rng.step {rate=0.1, seed=0}",
      "%3:f32[4] = relu %2",
      "%4:f32[4] = dropout %3, %rng.step {rate=0.5, seed=1}",
    ]);
    expect(m.graph.updates).toEqual([{ param: "rng.step", value: "1" }]);
    const run = interpret(m.graph, { x: [1, 2, 3, 4] }, { params: { "rng.step": [41] } });
    expect([...run.updates["rng.step"].data]).toEqual([42]);
  });

  it("adds no state to graphs without dropout", () => {
    const m = model(`return input("x", [1]).relu();`);
    expect(m.graph.params).toEqual([]);
    expect(m.graph.updates).toEqual([]);
  });
});

describe("contractions and pooling", () => {
  it("maps matmul with its transpose options", () => {
    const body = `const a = input("a", [2, 3]); const b = input("b", [4, 3]); const d = input("d", [3, 2]);
  return { p: matmul(a, b, { transposeB: true }), q: d.matmul(b, { transposeA: true, transposeB: true }) };`;
    expect(lines(body)).toEqual([
      "%0:f32[2,4] = matmul %a, %b {transposeA=false, transposeB=true}",
      "%1:f32[2,4] = matmul %d, %b {transposeA=true, transposeB=true}",
    ]);
  });

  it("multiplies with transposeB as the hand computation says", () => {
    const m = model(`return matmul(input("a", [1, 2]), input("b", [2, 2]), { transposeB: true });`);
    const { outputs } = interpret(m.graph, { a: [1, 2], b: [1, 10, 100, 1000] }, { precision: "f64" });
    expect([...outputs.out.data]).toEqual([1 + 20, 100 + 2000]);
  });

  it("maps conv2d's stride, padding forms, dilation and groups", () => {
    const body = `const x = input("x", [1, 8, 8, 4]); const w = param("w", [3, 3, 2, 6]); const v = param("v", [3, 3, 4, 6]);
  return {
    a: conv2d(x, v),
    b: conv2d(x, v, { stride: 2, padding: "same" }),
    c: x.conv2d(v, { padding: 1, dilation: [2, 1] }),
    d: conv2d(x, w, { padding: [0, 1, 2, 3], stride: [1, 2], groups: 2 }),
  };`;
    expect(lines(body)).toEqual([
      '%0:f32[1,6,6,6] = conv2d %x, %v {stride=[1,1], padding="valid", pads=[0,0,0,0], dilation=[1,1], groups=1}',
      '%1:f32[1,4,4,6] = conv2d %x, %v {stride=[2,2], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}',
      '%2:f32[1,6,8,6] = conv2d %x, %v {stride=[1,1], padding="explicit", pads=[1,1,1,1], dilation=[2,1], groups=1}',
      '%3:f32[1,7,6,6] = conv2d %x, %w {stride=[1,2], padding="explicit", pads=[0,1,2,3], dilation=[1,1], groups=2}',
    ]);
  });

  it("pads conv2d with a number on all four sides (numeric check)", () => {
    // A 1x1 input padded by 1 with a 3x3 all-ones kernel: every output sees the one pixel.
    const m = model(`return conv2d(input("x", [1, 1, 1, 1]), param("w", [3, 3, 1, 1]), { padding: 1 });`);
    const { outputs } = interpret(m.graph, { x: [5] }, { precision: "f64", params: { w: new Array(9).fill(1) } });
    expect(outputs.out.type.shape).toEqual([1, 1, 1, 1]);
    expect([...outputs.out.data]).toEqual([5]);
  });

  it("maps maxPool2d/avgPool2d with stride defaulting to the window size", () => {
    const body = `const x = input("x", [1, 6, 6, 2]);
  return { a: maxPool2d(x, { size: 2 }), b: x.avgPool2d({ size: [3, 2], stride: 1, padding: "same" }), c: maxPool2d(x, { size: 3, padding: 1 }) };`;
    expect(lines(body)).toEqual([
      '%0:f32[1,3,3,2] = maxPool2d %x {size=[2,2], stride=[2,2], padding="valid", pads=[0,0,0,0]}',
      '%1:f32[1,6,6,2] = avgPool2d %x {size=[3,2], stride=[1,1], padding="same", pads=[0,0,0,0]}',
      '%2:f32[1,2,2,2] = maxPool2d %x {size=[3,3], stride=[3,3], padding="explicit", pads=[1,1,1,1]}',
    ]);
  });

  it("pools non-overlapping windows by default (numeric check)", () => {
    const m = model(`return maxPool2d(input("x", [1, 2, 4, 1]), { size: 2 });`);
    const { outputs } = interpret(m.graph, { x: [1, 5, 2, 0, 3, 4, 8, 7] }, { precision: "f64" });
    expect([...outputs.out.data]).toEqual([5, 8]);
  });
});

describe("quantization", () => {
  it("maps quantize, dequantize, requantize, fakeQuant and matmulInteger with axis null unless given", () => {
    const body = `const x = input("x", [2, 3]); const s = input("s", []); const z = input("z", [], "i32");
  const sc = input("sc", [3]); const zc = input("zc", [3], "i32"); const w = input("w", [3, 4], "i8");
  const q = quantize(x, s, z);
  const qc = x.quantize(sc, zc, { axis: 1, dtype: "u8" });
  const acc = matmulInteger(q, w);
  return {
    a: dequantize(qc, sc, zc, { axis: -1 }), b: acc.requantize(s, z, { dtype: "u8" }), c: acc.dequantize(s, z),
    d: fakeQuant(x, sc, zc, { axis: 1, qmin: -8, qmax: 7 }), e: x.fakeQuant(s, z, { qmin: 0, qmax: 255 }),
  };`;
    expect(lines(body)).toEqual([
      '%0:i8[2,3] = quantize %x, %s, %z {axis=null, dtype="i8"}',
      '%1:u8[2,3] = quantize %x, %sc, %zc {axis=1, dtype="u8"}',
      "%2:i32[2,4] = matmulInteger %0, %w",
      "%3:f32[2,3] = dequantize %1, %sc, %zc {axis=-1}",
      '%4:u8[2,4] = requantize %2, %s, %z {axis=null, dtype="u8"}',
      "%5:f32[2,4] = dequantize %2, %s, %z {axis=null}",
      "%6:f32[2,3] = fakeQuant %x, %sc, %zc {axis=1, qmin=-8, qmax=7}",
      "%7:f32[2,3] = fakeQuant %x, %s, %z {axis=null, qmin=0, qmax=255}",
    ]);
  });

  it("quantizes and dequantizes as the hand computation says", () => {
    const m = model(`const x = input("x", [4]); const s = full([], 0.5); const z = full([], 1, "i32");
  return dequantize(quantize(x, s, z), s, z);`);
    const { outputs } = interpret(m.graph, { x: [0.25, 0.75, -100, 1.2] });
    expect([...outputs.out.data]).toEqual([0, 1, -64.5, 1]);
  });

  it("requires fakeQuant's range and reports the op's shape errors at the call", () => {
    expect(() => model(`return fakeQuant(input("x", [2]), input("s", []), input("z", [], "i32"));`)).toThrow(/fakeQuant: takes 4 arguments, got 3/);
    expect(() => model(`return quantize(input("x", [2]), input("s", [2]), input("z", [2], "i32"));`)).toThrow(/MLC201.*per-tensor scale and zeroPoint must hold one element/s);
  });
});

describe("reductions, normalization, losses", () => {
  it("reduces over all axes by default, a number axis, or an axis list, with keepDims", () => {
    const body = `const x = input("x", [2, 3, 4]);
  return { a: sum(x), b: mean(x, 1), c: x.max([0, -1], true), d: x.sum(undefined, true) };`;
    expect(lines(body)).toEqual([
      "%0:f32[] = sum %x {axes=[0,1,2], keepDims=false}",
      "%1:f32[2,4] = mean %x {axes=[1], keepDims=false}",
      "%2:f32[1,3,1] = max %x {axes=[0,-1], keepDims=true}",
      "%3:f32[1,1,1] = sum %x {axes=[0,1,2], keepDims=true}",
    ]);
  });

  it("sums every element when no axes are given (numeric check)", () => {
    const m = model(`return sum(input("x", [2, 2]));`);
    expect([...interpret(m.graph, { x: [1, 2, 3, 4] }).outputs.out.data]).toEqual([10]);
  });

  it("maps softmax/logSoftmax axes and layerNorm options", () => {
    const body = `const x = input("x", [2, 4]); const g = param("g", [4]); const b = param("b", [4]);
  return { s: softmax(x), l: x.logSoftmax(0), n: layerNorm(x, g, b), m: x.layerNorm(g, b, { eps: 1e-6, axis: 1 }) };`;
    expect(lines(body)).toEqual([
      "%0:f32[2,4] = softmax %x {axis=-1}",
      "%1:f32[2,4] = logSoftmax %x {axis=0}",
      "%2:f32[2,4] = layerNorm %x, %g, %b {axis=-1, eps=0.00001}",
      "%3:f32[2,4] = layerNorm %x, %g, %b {axis=1, eps=0.000001}",
    ]);
  });

  it("expands batchNorm into the normalization, two running statistics and two updates", () => {
    const m = model(`const x = input("x", [8, 3]);
  const g = param("g", [3], { init: "ones" }); const b = param("b", [3], { init: "zeros" });
  const rm = param("rm", [3], { init: "zeros", trainable: false }); const rv = param("rv", [3], { init: "ones", trainable: false });
  return batchNorm(x, g, b, rm, rv, { momentum: 0.01 });`);
    expect(nodeLines(m)).toEqual([
      "%0:f32[8,3] = batchNorm %x, %g, %b {eps=0.00001}",
      '%1:f32[3] = batchNormRunningStat %x, %rm {stat="mean", momentum=0.01}',
      '%2:f32[3] = batchNormRunningStat %x, %rv {stat="var", momentum=0.01}',
    ]);
    expect(m.graph.updates).toEqual([
      { param: "rm", value: "1" },
      { param: "rv", value: "2" },
    ]);
    expect(m.graph.outputs).toEqual([{ name: "out", value: "0" }]);
  });

  it("maps the losses", () => {
    const body = `const logits = input("l", [4, 10]); const y = input("y", [4], "i32"); const t = input("t", [4, 10]);
  return { ce: softmaxCrossEntropy(logits, y), ce2: logits.softmaxCrossEntropy(y), se: mse(logits, t), se2: t.mse(logits) };`;
    expect(lines(body)).toEqual([
      "%0:f32[] = softmaxCrossEntropy %l, %y",
      "%1:f32[] = softmaxCrossEntropy %l, %y",
      "%2:f32[] = mse %l, %t",
      "%3:f32[] = mse %t, %l",
    ]);
  });
});

describe("layout", () => {
  it("maps reshape, transpose (default reverses), slice, concat, broadcastTo, gather, oneHot", () => {
    const body = `const x = input("x", [2, 3, 4]); const i = input("i", [5], "i32");
  return {
    r: reshape(x, [6, -1]), t: transpose(x), p: x.transpose([0, 2, 1]), s: slice(x, [0, 1, 0], [2, -1, 2]),
    c: concat([x, x], 2), c0: concat([x, x]), b: broadcastTo(input("v", [4]), [3, 4]),
    g: gather(x, i, 2), g0: x.gather(input("j", [2], "i32")), o: oneHot(i, 7), o8: i.oneHot(3, "u8"),
  };`;
    expect(lines(body)).toEqual([
      "%0:f32[6,4] = reshape %x {shape=[6,-1]}",
      "%1:f32[4,3,2] = transpose %x {perm=[2,1,0]}",
      "%2:f32[2,4,3] = transpose %x {perm=[0,2,1]}",
      "%3:f32[2,2,2] = slice %x {begin=[0,1,0], size=[2,-1,2]}",
      "%4:f32[2,3,8] = concat %x, %x {axis=2}",
      "%5:f32[4,3,4] = concat %x, %x {axis=0}",
      "%6:f32[3,4] = broadcastTo %v {shape=[3,4]}",
      "%7:f32[2,3,5] = gather %x, %i {axis=2}",
      "%8:f32[2,3,4] = gather %x, %j {axis=0}",
      '%9:f32[5,7] = oneHot %i {depth=7, dtype="f32"}',
      '%10:u8[5,3] = oneHot %i {depth=3, dtype="u8"}',
    ]);
  });

  it("transposes by reversing the axes by default (numeric check)", () => {
    const m = model(`return transpose(input("x", [2, 3]));`);
    expect([...interpret(m.graph, { x: [1, 2, 3, 4, 5, 6] }).outputs.out.data]).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

describe("tensor methods", () => {
  it("chains methods: x.matmul(w).add(b).relu()", () => {
    const body = `const x = input("x", [1, 2]);
  return x.matmul(param("w", [2, 3])).add(param("b", [3])).relu();`;
    expect(lines(body)).toEqual([
      "%0:f32[1,3] = matmul %x, %w {transposeA=false, transposeB=false}",
      "%1:f32[1,3] = add %0, %b",
      "%2:f32[1,3] = relu %1",
    ]);
  });
});
