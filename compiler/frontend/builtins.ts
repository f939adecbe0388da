// The DSL's functions (dsl.ts) and how each call becomes IR: which arguments are operands, which
// are attributes, what the defaults are. IR op names are the DSL names (docs/IR.md); shape and
// dtype rules are the op records' (compiler/ir/ops/), whose ShapeErrors the evaluator reports at
// the call.

import { parseInit } from "../ir/init.ts";
import { isValidName } from "../ir/graph.ts";
import { isFloat, type DType } from "../ir/types.ts";
import { OpArgs, type OpOptions } from "./builtin-args.ts";
import { CODES, FrontendError } from "./diagnostics.ts";
import type { CallSite, Evaluator } from "./evaluator.ts";
import { RNG_STEP } from "./graph-context.ts";
import { describe, TensorValue, type Value } from "./values.ts";

type Impl = (a: OpArgs) => Value;

interface Builtin {
  readonly impl: Impl;
  /** Also callable as a Tensor method with the tensor as first argument (`x.relu()`). */
  readonly method: boolean;
}

const table = new Map<string, Builtin>();
const define = (name: string, method: boolean, impl: Impl) => table.set(name, { impl, method });

export const BUILTINS: ReadonlyMap<string, Builtin> = table;

export function callBuiltin(name: string, args: Value[], site: CallSite, ev: Evaluator): Value {
  const builtin = table.get(name);
  if (!builtin) throw new FrontendError(CODES.internal, `no implementation for mlc function '${name}'`, site.node, site.start);
  return builtin.impl(new OpArgs(name, args, site, ev.graph));
}

// ---- inputs and params ------------------------------------------------------------------------

function checkNewName(a: OpArgs, name: string): void {
  if (!isValidName(name)) {
    a.fail(0, `'${name}' is not a valid value name (use letters, digits and _ . / -)`, CODES.badName);
  }
  if (a.graph.isDeclared(name)) {
    const at = a.graph.declaredAt(name);
    const where = at ? ` at ${at.file}:${at.line}:${at.col}` : " by the compiler";
    a.fail(0, `the name '${name}' is already declared${where}`, CODES.duplicateName);
  }
}

define("input", false, (a) => {
  a.arity(2, 3);
  const name = a.string(0, "name");
  const shape = a.shape(1);
  const dtype = a.dtype(2, "f32");
  checkNewName(a, name);
  return a.graph.input(name, { dtype, shape }, a.site.loc);
});

define("param", false, (a) => {
  a.arity(2, 3);
  const name = a.string(0, "name");
  const shape = a.shape(1);
  const opts = a.options(2, ["init", "dtype", "trainable"]);
  const dtype = opts.dtype("dtype", "f32");
  const given = opts.raw("init") ?? "glorot_uniform";
  const init = typeof given === "string" ? given : opts.fail("init", `option 'init' must be a string such as "zeros" or "normal(0.02)"`, CODES.badInit);
  try {
    const spec = parseInit(init);
    if (!isFloat(dtype) && spec.kind !== "zeros" && spec.kind !== "ones") {
      opts.fail("init", `${dtype} params take only "zeros" or "ones", got '${init}'`, CODES.badInit);
    }
  } catch (e) {
    if (e instanceof FrontendError) throw e;
    opts.fail("init", (e as Error).message, CODES.badInit);
  }
  checkNewName(a, name);
  return a.graph.param(name, { dtype, shape }, init, opts.bool("trainable", true), a.site.loc);
});

// ---- constant tensors -------------------------------------------------------------------------

const fill = (a: OpArgs, shape: number[], value: number, dtype: DType) => a.graph.op("const", [], { value, dtype, shape }, a.site.loc);

define("full", false, (a) => {
  a.arity(2, 3);
  return fill(a, a.shape(0), a.number(1, "value"), a.dtype(2, "f32"));
});
define("zeros", false, (a) => {
  a.arity(1, 2);
  return fill(a, a.shape(0), 0, a.dtype(1, "f32"));
});
define("ones", false, (a) => {
  a.arity(1, 2);
  return fill(a, a.shape(0), 1, a.dtype(1, "f32"));
});
define("iota", false, (a) => {
  a.arity(2, 3);
  return a.graph.op("iota", [], { shape: a.shape(0), axis: a.int(1, "axis"), dtype: a.dtype(2, "i32") }, a.site.loc);
});

// ---- elementwise ------------------------------------------------------------------------------

for (const op of ["neg", "exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid", "relu"]) {
  define(op, true, (a) => {
    a.arity(1);
    return a.graph.op(op, [a.tensor(0, "x")], {}, a.site.loc);
  });
}

define("gelu", true, (a) => {
  a.arity(1, 2);
  const x = a.tensor(0, "x");
  const approximate = a.options(1, ["approximate"]).oneOf("approximate", ["none", "tanh"], "none");
  return a.graph.op("gelu", [x], { approximate }, a.site.loc);
});

/**
 * Operands of a broadcasting op where plain numbers are allowed: each number becomes a shared
 * scalar `const` of the tensors' dtype (`dtypeIfAllNumbers` when no operand is a tensor).
 */
function tensorOperands(a: OpArgs, indices: readonly number[], dtypeIfAllNumbers?: DType): TensorValue[] {
  const vals = indices.map((i) => a.operand(i, `operand ${i + 1}`));
  const firstTensor = vals.find((v): v is TensorValue => v instanceof TensorValue);
  if (!firstTensor && !dtypeIfAllNumbers) {
    a.fail(indices[0], "needs at least one tensor operand (plain numbers are folded with JavaScript operators)");
  }
  const dtype = firstTensor?.type.dtype ?? dtypeIfAllNumbers!;
  return vals.map((v) => (v instanceof TensorValue ? v : a.graph.constant(v, dtype)));
}

for (const op of ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "less", "greater", "equal"]) {
  define(op, true, (a) => {
    a.arity(2);
    return a.graph.op(op, tensorOperands(a, [0, 1]), {}, a.site.loc);
  });
}

define("where", true, (a) => {
  a.arity(3);
  const cond = a.tensor(0, "cond");
  // Two plain numbers give an f32 result: there is no tensor to take the dtype from.
  const [x, y] = tensorOperands(a, [1, 2], "f32");
  return a.graph.op("where", [cond, x, y], {}, a.site.loc);
});

define("cast", true, (a) => {
  a.arity(2);
  return a.graph.op("cast", [a.tensor(0, "x")], { dtype: a.dtype(1) }, a.site.loc);
});

define("dropout", true, (a) => {
  a.arity(2);
  const x = a.tensor(0, "x");
  const rate = a.number(1, "rate");
  if (!(rate >= 0 && rate < 1)) a.fail(1, `rate must be in [0, 1), got ${rate}`);
  if (!a.graph.hasDropout() && a.graph.isDeclared(RNG_STEP)) {
    a.fail(0, `'${RNG_STEP}' is reserved for dropout's step counter`, CODES.duplicateName);
  }
  const { step, seed } = a.graph.nextDropout();
  return a.graph.op("dropout", [x, step], { rate, seed }, a.site.loc);
});

// ---- contractions and pooling -----------------------------------------------------------------

define("matmul", true, (a) => {
  a.arity(2, 3);
  const [x, w] = [a.tensor(0, "a"), a.tensor(1, "b")];
  const opts = a.options(2, ["transposeA", "transposeB"]);
  return a.graph.op("matmul", [x, w], { transposeA: opts.bool("transposeA", false), transposeB: opts.bool("transposeB", false) }, a.site.loc);
});

// ---- quantization -----------------------------------------------------------------------------

/** The data, scale and zero point operands and the `axis` attribute (null: per tensor). */
function quantOperands(a: OpArgs, names: readonly [string, string, string], known: readonly string[], minArity = 3) {
  a.arity(minArity, 4);
  const operands = names.map((name, i) => a.tensor(i, name));
  const opts = a.options(3, known);
  return { operands, opts, axis: opts.has("axis") ? opts.int("axis") : null };
}

for (const [op, names] of [["quantize", ["x", "scale", "zeroPoint"]], ["requantize", ["acc", "multiplier", "zeroPoint"]]] as const) {
  define(op, true, (a) => {
    const { operands, opts, axis } = quantOperands(a, names, ["axis", "dtype"]);
    return a.graph.op(op, operands, { axis, dtype: opts.oneOf("dtype", ["i8", "u8"], "i8") }, a.site.loc);
  });
}

define("dequantize", true, (a) => {
  const { operands, axis } = quantOperands(a, ["q", "scale", "zeroPoint"], ["axis"]);
  return a.graph.op("dequantize", operands, { axis }, a.site.loc);
});

define("fakeQuant", true, (a) => {
  const { operands, opts, axis } = quantOperands(a, ["x", "scale", "zeroPoint"], ["axis", "qmin", "qmax"], 4);
  return a.graph.op("fakeQuant", operands, { axis, qmin: opts.int("qmin"), qmax: opts.int("qmax") }, a.site.loc);
});

define("matmulInteger", true, (a) => {
  a.arity(2);
  return a.graph.op("matmulInteger", [a.tensor(0, "a"), a.tensor(1, "w")], {}, a.site.loc);
});

/** DSL padding → the IR's `padding` + `pads` attributes. */
function paddingAttrs(opts: OpOptions, allowFourSides: boolean): { padding: string; pads?: number[] } {
  const p = opts.raw("padding");
  if (p === undefined) return { padding: "valid" };
  if (p === "same" || p === "valid") return { padding: p };
  const isPad = (x: Value) => typeof x === "number" && Number.isInteger(x) && x >= 0;
  if (isPad(p)) return { padding: "explicit", pads: [p, p, p, p] as number[] };
  if (allowFourSides && Array.isArray(p) && p.length === 4 && p.every(isPad)) return { padding: "explicit", pads: p as number[] };
  const forms = allowFourSides ? `"same", "valid", a non-negative integer or [top, bottom, left, right]` : `"same", "valid" or a non-negative integer`;
  return opts.fail("padding", `option 'padding' must be ${forms}`);
}

define("conv2d", true, (a) => {
  a.arity(2, 3);
  const [x, w] = [a.tensor(0, "x"), a.tensor(1, "w")];
  const opts = a.options(2, ["stride", "padding", "dilation", "groups"]);
  const attrs = {
    stride: opts.pair("stride", [1, 1]),
    ...paddingAttrs(opts, true),
    dilation: opts.pair("dilation", [1, 1]),
    groups: opts.int("groups", 1),
  };
  return a.graph.op("conv2d", [x, w], attrs, a.site.loc);
});

for (const op of ["maxPool2d", "avgPool2d"]) {
  define(op, true, (a) => {
    a.arity(2);
    const x = a.tensor(0, "x");
    const opts = a.options(1, ["size", "stride", "padding"]);
    const size = opts.pair("size");
    const attrs = { size, stride: opts.pair("stride", size), ...paddingAttrs(opts, false) };
    return a.graph.op(op, [x], attrs, a.site.loc);
  });
}

// ---- reductions, normalization, losses --------------------------------------------------------

for (const op of ["sum", "mean", "max"]) {
  define(op, true, (a) => {
    a.arity(1, 3);
    const x = a.tensor(0, "x");
    const given = a.values[1];
    const all = x.type.shape.map((_, i) => i);
    const axes = given === undefined ? all : typeof given === "number" ? [a.int(1, "axes")] : a.ints(1, "axes");
    return a.graph.op(op, [x], { axes, keepDims: a.bool(2, "keepDims", false) }, a.site.loc);
  });
}

for (const op of ["softmax", "logSoftmax"]) {
  define(op, true, (a) => {
    a.arity(1, 2);
    return a.graph.op(op, [a.tensor(0, "x")], { axis: a.int(1, "axis", -1) }, a.site.loc);
  });
}

define("layerNorm", true, (a) => {
  a.arity(3, 4);
  const operands = [a.tensor(0, "x"), a.tensor(1, "gamma"), a.tensor(2, "beta")];
  const opts = a.options(3, ["axis", "eps"]);
  return a.graph.op("layerNorm", operands, { axis: opts.int("axis", -1), eps: opts.number("eps", 1e-5) }, a.site.loc);
});

/**
 * batchNorm normalizes with batch statistics and updates the running statistics at the end of
 * the step: one batchNorm node, two batchNormRunningStat nodes and two `update`s.
 */
define("batchNorm", true, (a) => {
  a.arity(5, 6);
  const [x, gamma, beta] = [a.tensor(0, "x"), a.tensor(1, "gamma"), a.tensor(2, "beta")];
  const running = [a.tensor(3, "runningMean"), a.tensor(4, "runningVar")];
  running.forEach((r, k) => {
    if (!a.graph.isState(r)) {
      const what = k === 0 ? "runningMean" : "runningVar";
      a.fail(3 + k, `${what} must be a param declared with { trainable: false }, got ${r.name}`, CODES.badState);
    }
  });
  const opts = a.options(5, ["momentum", "eps"]);
  const momentum = opts.number("momentum", 0.1);
  const y = a.graph.op("batchNorm", [x, gamma, beta], { eps: opts.number("eps", 1e-5) }, a.site.loc);
  const stats = (["mean", "var"] as const).map((stat, k) =>
    a.graph.op("batchNormRunningStat", [x, running[k]], { stat, momentum }, a.site.loc),
  );
  running.forEach((r, k) => {
    try {
      a.graph.update(r, stats[k]);
    } catch (e) {
      a.fail(3 + k, (e as Error).message, CODES.badState);
    }
  });
  return y;
});

define("softmaxCrossEntropy", true, (a) => {
  a.arity(2);
  return a.graph.op("softmaxCrossEntropy", [a.tensor(0, "logits"), a.tensor(1, "labels")], {}, a.site.loc);
});

define("mse", true, (a) => {
  a.arity(2);
  return a.graph.op("mse", [a.tensor(0, "a"), a.tensor(1, "b")], {}, a.site.loc);
});

// ---- layout -----------------------------------------------------------------------------------

define("reshape", true, (a) => {
  a.arity(2);
  return a.graph.op("reshape", [a.tensor(0, "x")], { shape: a.ints(1, "shape") }, a.site.loc);
});

define("transpose", true, (a) => {
  a.arity(1, 2);
  const x = a.tensor(0, "x");
  const reversed = x.type.shape.map((_, i) => x.type.shape.length - 1 - i);
  return a.graph.op("transpose", [x], { perm: a.ints(1, "perm", reversed) }, a.site.loc);
});

define("slice", true, (a) => {
  a.arity(3);
  return a.graph.op("slice", [a.tensor(0, "x")], { begin: a.ints(1, "begin"), size: a.ints(2, "size") }, a.site.loc);
});

define("concat", false, (a) => {
  a.arity(1, 2);
  const given = a.values[0];
  const xs = Array.isArray(given) && given.length > 0 ? given : a.fail(0, `needs a non-empty array of tensors, got ${describe(given)}`);
  const bad = xs.findIndex((x) => !(x instanceof TensorValue));
  if (bad >= 0) return a.fail(0, `entry ${bad} of the array is ${describe(xs[bad])}, not a tensor`);
  return a.graph.op("concat", xs as TensorValue[], { axis: a.int(1, "axis", 0) }, a.site.loc);
});

define("broadcastTo", true, (a) => {
  a.arity(2);
  return a.graph.op("broadcastTo", [a.tensor(0, "x")], { shape: a.shape(1) }, a.site.loc);
});

define("gather", true, (a) => {
  a.arity(2, 3);
  return a.graph.op("gather", [a.tensor(0, "table"), a.tensor(1, "indices")], { axis: a.int(2, "axis", 0) }, a.site.loc);
});

define("oneHot", true, (a) => {
  a.arity(2, 3);
  return a.graph.op("oneHot", [a.tensor(0, "indices")], { depth: a.int(1, "depth"), dtype: a.dtype(2, "f32") }, a.site.loc);
});

/** Names of the Tensor methods; each is the op of the same name with the receiver first. */
export const TENSOR_METHODS: ReadonlySet<string> = new Set([...table].filter(([, b]) => b.method).map(([name]) => name));
