// The IR text format: exact printing, print/parse round trips over every op of the op table,
// and every error the parser reports.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { IRParseError, parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph, printNode, printValueRef } from "../../compiler/ir/printer.ts";
import { sampleGraph } from "../support/op-samples.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";

const loc = (line: number, col: number, file = "model.ts") => ({ file, line, col });

/** The docs/IR.md example, built through the builder. */
function mnistLike(): Graph {
  const b = new GraphBuilder("mnistMlp");
  const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [64, 784] }, loc: loc(14, 13) });
  b.addInput({ name: "y", type: { dtype: "i32", shape: [64] }, loc: loc(15, 13) });
  const w = b.addParam({ name: "fc256.w", type: { dtype: "f32", shape: [784, 256] }, init: "he_normal", trainable: true, loc: loc(6, 13) });
  const step = b.addParam({ name: "rng.step", type: { dtype: "i32", shape: [] }, init: "zeros", trainable: false });
  const mm = b.op("matmul", [x, w], {}, loc(9, 10));
  const one = b.op("const", [], { value: 1, dtype: "f32", shape: [] });
  const sum = b.op("add", [mm, one], {}, loc(9, 20));
  const oneI = b.op("const", [], { value: 1, dtype: "i32", shape: [] });
  const next = b.op("add", [step, oneI]);
  b.output("logits", sum);
  b.update(step, next);
  return b.build();
}


describe("printer", () => {
  it("prints the documented format exactly", () => {
    expect(printGraph(mnistLike())).toBe(
      [
        "graph mnistMlp {",
        "  input %x: f32[64,784]                                   # model.ts:14:13",
        "  input %y: i32[64]                                       # model.ts:15:13",
        "  param %fc256.w: f32[784,256] init=he_normal             # model.ts:6:13",
        "  state %rng.step: i32[] init=zeros",
        "  %0:f32[64,256] = matmul %x, %fc256.w {transposeA=false, transposeB=false}   # model.ts:9:10",
        '  %1:f32[] = const {value=1, dtype="f32", shape=[]}',
        "  %2:f32[64,256] = add %0, %1                             # model.ts:9:20",
        '  %3:i32[] = const {value=1, dtype="i32", shape=[]}',
        "  %4:i32[] = add %rng.step, %3",
        "  output logits = %2",
        "  update %rng.step = %4",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("leaves locations out on request", () => {
    const text = printGraph(mnistLike(), { locations: false });
    expect(text).not.toContain("#");
    expect(text).toContain("  %2:f32[64,256] = add %0, %1\n");
  });

  it("prints single nodes and value references", () => {
    const node = mnistLike().nodes[2];
    expect(printNode(node)).toBe("%2:f32[64,256] = add %0, %1");
    expect(printNode(node, { locations: true })).toBe("%2:f32[64,256] = add %0, %1 # model.ts:9:20");
    expect(printValueRef("grad/fc.w")).toBe("%grad/fc.w");
    // A name the format cannot carry shows quoted, and the parser refuses it (see below).
    expect(printValueRef("a b")).toBe('%"a b"');
  });

  it("prints special numbers so that they read back exactly", () => {
    const b = new GraphBuilder("numbers");
    const values = [Infinity, -Infinity, NaN, -0, 0, 0.1, 1e-7, 5e-324, 1.7976931348623157e308, 1e21, -2.5];
    for (const value of values) b.op("const", [], { value, dtype: "f32", shape: [] });
    const text = expectRoundTrip(b.build()).text;
    const printed = [...text.matchAll(/value=([^,]+),/g)].map((m) => m[1]);
    expect(printed).toEqual(["inf", "-inf", "nan", "-0", "0", "0.1", "1e-7", "5e-324", "1.7976931348623157e+308", "1e+21", "-2.5"]);
    const parsed = parseGraph(text).nodes.map((n) => n.attrs.value);
    expect(Object.is(parsed[3], -0)).toBe(true);
    expect(Object.is(parsed[4], 0)).toBe(true);
  });
});

describe("round trip", () => {
  const opNames = [...OPS.keys()];

  it("covers a non-trivial op table", () => {
    expect(opNames.length).toBeGreaterThan(40);
  });

  it.each(opNames)("%s", (op) => {
    const g = sampleGraph(op);
    const text = expectRoundTrip(g).text;
    expect(text).toContain(` = ${op}`);
    expect(text).toContain("# samples.ts:10:3");
  });

  it("keeps names with slashes, dots and dashes", () => {
    const b = new GraphBuilder("train/step-1.v2");
    const w = b.addParam({ name: "grad/fc.w", type: { dtype: "f32", shape: [3] }, init: "normal(0.02)", trainable: true });
    const m = b.addParam({ name: "opt/a.b/m", type: { dtype: "f32", shape: [3] }, init: "zeros", trainable: false });
    const x = b.addInput({ name: "in-put_0", type: { dtype: "f32", shape: [3] } });
    const s = b.op("add", [w, x], {}, undefined, "fwd/sum.0");
    const n = b.op("mul", [s, m], {}, undefined, "a-b.c/d_e");
    b.output("out/value-1", n);
    b.update(m, n);
    const text = expectRoundTrip(b.build()).text;
    expect(text).toContain("graph train/step-1.v2 {");
    expect(text).toContain("%a-b.c/d_e:f32[3] = mul %fwd/sum.0, %opt/a.b/m");
    expect(text).toContain("param %grad/fc.w: f32[3] init=normal(0.02)");
  });

  it("quotes graph names, initializers and files that need it", () => {
    const b = new GraphBuilder("my model #1");
    const p = b.addParam({
      name: "w",
      type: { dtype: "f32", shape: [2] },
      init: 'custom # {a, b} "x"',
      trainable: true,
      loc: { file: "dir with space/m#odel.ts", line: 3, col: 7 },
    });
    b.op("neg", [p], {}, { file: "C:\\models\\m.ts", line: 12, col: 1 });
    const text = expectRoundTrip(b.build()).text;
    expect(text).toContain('graph "my model #1" {');
    expect(text).toContain('init="custom # {a, b} \\"x\\""');
    expect(text).toContain('# "dir with space/m#odel.ts":3:7');
    expect(text).toContain("# C:\\models\\m.ts:12:1");
  });

  it("keeps every dtype and empty/zero-size shapes", () => {
    const b = new GraphBuilder("types");
    for (const dtype of ["f32", "f16", "bf16", "i32", "i8", "u8", "bool"] as const) {
      b.addInput({ name: `v_${dtype}`, type: { dtype, shape: [2, 0, 1] } });
    }
    b.addInput({ name: "scalar", type: { dtype: "f32", shape: [] } });
    expectRoundTrip(b.build());
  });

  it("aligns location comments to one column", () => {
    const lines = printGraph(mnistLike()).split("\n").filter((l) => l.includes("#") && !l.includes("matmul"));
    const columns = new Set(lines.map((l) => l.indexOf("#")));
    expect(lines.length).toBeGreaterThan(3);
    expect(columns.size).toBe(1);
  });
});

describe("parser conveniences", () => {
  it("does not depend on spacing, and skips comments, blank lines and CRLF", () => {
    const text = [
      "# a test graph",
      "",
      "graph   g{",
      "\tinput %x :f32 [ 2 , 3 ]   # not a location",
      "  %0 : f32[2,3]=relu %x#m.ts:1:2",
      "  %1:f32[3,2] = transpose %0 { perm = [ 1 , 0 ] }",
      "   # a comment line inside the body",
      "  output y=%1",
      "}",
      "",
    ].join("\r\n");
    const g = parseGraph(text);
    expect(g.inputs[0].loc).toBeUndefined();
    expect(g.nodes[0].loc).toEqual({ file: "m.ts", line: 1, col: 2 });
    expect(printGraph(g)).toBe(
      [
        "graph g {",
        "  input %x: f32[2,3]",
        "  %0:f32[2,3] = relu %x                                   # m.ts:1:2",
        "  %1:f32[3,2] = transpose %0 {perm=[1,0]}",
        "  output y = %1",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("infers an omitted type and fills default attributes", () => {
    const g = parseGraph("graph g {\n input %a: f32[4,3]\n input %b: f32[4,5]\n %0 = matmul %a, %b {transposeA=true}\n}\n");
    expect(g.nodes[0].type).toEqual({ dtype: "f32", shape: [3, 5] });
    expect(g.nodes[0].attrs).toEqual({ transposeA: true, transposeB: false });
  });
});

describe("parse errors", () => {
  const head = "graph g {\n  input %x: f32[2,3]\n  input %i: i32[2]\n";
  /** Parses `head + body + "}"`; returns the error, which must be an IRParseError. */
  function errorOf(text: string): IRParseError {
    try {
      parseGraph(text, "t.ir");
    } catch (e) {
      expect(e).toBeInstanceOf(IRParseError);
      return e as IRParseError;
    }
    throw new Error("expected a parse error");
  }
  const bodyError = (body: string) => errorOf(head + body + "\n}\n");

  // [what, body lines (from line 4 on), line of the error, the text the column points at, message]
  const cases: [string, string, number, string, RegExp][] = [
    ["unknown op", "  %0:f32[2,3] = frobnicate %x", 4, "frobnicate", /unknown op 'frobnicate'/],
    ["unknown operand", "  %0:f32[2,3] = relu %nope", 4, "%nope", /unknown value %nope/],
    ["operand defined later", "  %0:f32[2,3] = add %x, %1\n  %1:f32[2,3] = relu %x", 4, "%1", /unknown value %1/],
    ["type mismatch", "  %0:f32[3,2] = relu %x", 4, "f32", /type mismatch: %0 is printed as f32\[3,2\] but relu infers f32\[2,3\]/],
    ["dtype mismatch", "  %0:i32[2,3] = relu %x", 4, "i32", /printed as i32\[2,3\] but relu infers f32\[2,3\]/],
    ["unknown attribute", "  %0:f32[2,3] = relu %x {alpha=1}", 4, "alpha", /unknown attribute 'alpha' of relu \(it takes none\)/],
    ["unknown attribute with known list", "  %0:f32[2] = sum %x {axes=[1], keep=true}", 4, "keep", /unknown attribute 'keep' of sum \(known: axes, keepDims\)/],
    ["inherited property as attribute", "  %0:f32[2,3] = relu %x {toString=1}", 4, "toString", /unknown attribute 'toString' of relu/],
    ["attribute twice", "  %0:f32[2] = sum %x {axes=[1], axes=[0]}", 4, "axes=[0]", /attribute 'axes' is given twice/],
    ["attribute of the wrong kind", "  %0:f32[2] = sum %x {axes=[1], keepDims=1}", 4, "1}", /sum attribute 'keepDims' must be a boolean/],
    ["string attribute outside its set", '  %0:f32[2,3] = gelu %x {approximate="a#b}, c"}', 4, '"a#b', /must be one of "none", "tanh"/],
    ["missing required attribute", "  %0:f32[2] = sum %x", 4, "sum", /sum needs attribute 'axes'/],
    ["missing required attribute with braces", "  %0:f32[2] = sum %x {keepDims=true}", 4, "{", /sum needs attribute 'axes'/],
    ["shape rule failure", "  %0:f32[2,3] = matmul %x, %x", 4, "matmul", /matmul/],
    ["operand count", "  %0:f32[2,3] = add %x", 4, "add", /add takes 2 operands, got 1/],
    ["value defined twice", "  %x:f32[2,3] = relu %x", 4, "%x:", /value %x is defined twice/],
    ["missing comma", "  %0:f32[2,3] = add %x %x", 4, "%x", /unexpected '%x' after the add node/],
    ["stray character", "  %0:f32[2,3] = relu %x @", 4, "@", /unexpected '@'/],
    ["missing '='", "  %0:f32[2,3] relu %x", 4, "relu", /expected '=' after %0:f32\[2,3\], found 'relu'/],
    ["unknown dtype", "  %0:f64[2,3] = relu %x", 4, "f64", /unknown dtype 'f64'/],
    ["negative dimension", "  input %z: f32[2,-3]", 4, "-3", /expected a dimension \(a non-negative integer\), got -3/],
    ["fractional dimension", "  input %z: f32[2.5]", 4, "2.5", /got 2.5/],
    ["bad number", '  %0:f32[] = const {value=1.5x, dtype="f32", shape=[]}', 4, "1.5x", /bad number '1.5x'/],
    ["unterminated string", '  %0:f32[] = const {value=1, dtype="f32, shape=[]}', 4, '"f32', /unterminated string/],
    ["unclosed attributes", "  %0:f32[2] = sum %x {axes=[1]", 4, "", /expected '}' to close the attributes, found end of line/],
    ["unclosed list", "  %0:f32[2] = sum %x {axes=[1}", 4, "}", /expected '\]' to close the list/],
    ["quoted value name", '  %0:f32[2,3] = relu %"x y"', 4, '%"', /a value name after '%' may only contain/],
    ["unknown keyword", "  inputs %z: f32[2]", 4, "inputs", /found 'inputs'/],
    ["bad initializer", "  param %w: f32[2] init=normal(0.02", 4, "normal", /bad initializer 'normal\(0.02'/],
    ["missing init", "  param %w: f32[2]", 4, "", /expected 'init=...' after the param's type/],
    ["output of unknown value", "  output y = %nope", 4, "%nope", /unknown value %nope/],
    ["output twice", "  output y = %x\n  output y = %i", 5, "y", /output 'y' is defined twice/],
    ["update of an input", "  update %x = %x", 4, "%x =", /update target %x is not a param or state/],
    ["update of an unknown param", "  update %w = %x", 4, "%w", /unknown param %w/],
    ["update with the wrong type", "  state %s: f32[3] init=zeros\n  update %s = %x", 5, "%x", /update of %s: f32\[3\] cannot take %x: f32\[2,3\]/],
    ["update twice", "  state %s: f32[2,3] init=zeros\n  update %s = %x\n  update %s = %x", 6, "%s", /%s is updated twice/],
  ];

  it.each(cases)("%s", (_what, body, line, at, message) => {
    const e = bodyError(body);
    const text = body.split("\n")[line - 4];
    // The column of `at` (its last occurrence), or the end of the line when `at` is empty.
    const col = (at ? text.lastIndexOf(at) : text.length) + 1;
    expect(e.reason).toMatch(message);
    expect([e.line, e.col]).toEqual([line, col]);
    expect(e.message.startsWith(`t.ir:${line}:${col}: `)).toBe(true);
    expect(e.message).toContain(`\n  ${text}\n  ${" ".repeat(col - 1)}^`); // code frame
  });

  it("reports a missing header, a missing '}' and text after the graph", () => {
    expect(errorOf("").reason).toMatch(/found no graph/);
    expect(errorOf("  \n# only a comment\n").reason).toMatch(/found no graph/);
    const header = errorOf("grap g {\n}\n");
    expect([header.line, header.col, header.reason]).toEqual([1, 1, "expected 'graph NAME {'"]);
    expect(errorOf("graph g\n}\n").reason).toMatch(/expected '\{' after the graph name, found end of line/);
    const open = errorOf(head);
    expect(open.reason).toMatch(/graph 'g' is not closed/);
    const after = errorOf(head + "}\ngraph h {\n}\n");
    expect([after.line, after.reason]).toEqual([5, "unexpected text after the end of the graph (one graph per text)"]);
    expect(errorOf(head + "} x\n").reason).toMatch(/unexpected 'x' after '}'/);
  });

  it("gives a clear error for what the printer shows for unprintable names", () => {
    const g: Graph = { name: "g", inputs: [{ name: "a b", type: { dtype: "f32", shape: [1] } }], params: [], nodes: [], outputs: [], updates: [] };
    expect(errorOf(printGraph(g)).reason).toMatch(/may only contain letters, digits/);
  });
});
