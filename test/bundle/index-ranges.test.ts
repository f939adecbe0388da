// compiler/bundle/index-ranges.ts: which integer inputs a bundle range-checks, and against what.
// An input reaches an index operand directly or through ops that keep each element (reshape,
// transpose, a cast to i32); through a slice (a part of it) or arithmetic no range is derived,
// since the valid range of an element would depend on where it is or what is added to it.

import { describe, expect, it } from "vitest";
import { indexRanges } from "../../compiler/bundle/index-ranges.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";

const ranges = (body: string[], exportName = "forward") =>
  Object.fromEntries(indexRanges([{ exportName, graph: parseGraph(["graph g {", ...body, "}", ""].join("\n")) }]));

describe("indexRanges", () => {
  it("takes labels of softmaxCrossEntropy and gather indices, through reshape, transpose and cast", () => {
    const r = ranges([
      "  input %x: f32[6,10]",
      "  input %labels: i8[2,3]",
      "  input %ids: i32[3,2]",
      "  param %table: f32[7,4] init=zeros",
      '  %0:i32[2,3] = cast %labels {dtype="i32"}',
      "  %1:i32[6] = reshape %0 {shape=[6]}",
      "  %2:f32[] = softmaxCrossEntropy %x, %1",
      "  %3:i32[2,3] = transpose %ids {perm=[1,0]}",
      "  %4:f32[2,3,4] = gather %table, %3 {axis=0}",
      "  output loss = %2",
      "  output rows = %4",
    ]);
    expect(r).toEqual({
      labels: { lo: 0, hi: 10, entries: ["forward"], what: "class labels of softmaxCrossEntropy over 10 classes" },
      ids: { lo: 0, hi: 7, entries: ["forward"], what: "indices of gather along axis 0 of f32[7,4]" },
    });
  });

  it("keeps the smallest axis an input indexes, and scatterAdd's size", () => {
    const r = ranges([
      "  input %ids: i32[3]",
      "  input %dy: f32[3,4]",
      "  param %small: f32[5,4] init=zeros",
      "  param %big: f32[9,4] init=zeros",
      "  %0:f32[3,4] = gather %big, %ids {axis=0}",
      "  %1:f32[3,4] = gather %small, %ids {axis=0}",
      "  %2:f32[2,4] = scatterAdd %ids, %dy {axis=0, size=2}",
      "  output a = %0",
      "  output b = %1",
      "  output c = %2",
    ]);
    expect(r.ids).toMatchObject({ lo: 0, hi: 2, what: "indices of scatterAdd along axis 0 of size 2" });
  });

  it("derives nothing through a slice or arithmetic, nor for oneHot (out of range is a zero row)", () => {
    const r = ranges([
      "  input %x: f32[2,10]",
      "  input %a: i32[4]",
      "  input %b: i32[2]",
      "  input %c: i32[2]",
      "  %0:i32[2] = slice %a {begin=[0], size=[2]}",
      "  %1:f32[] = softmaxCrossEntropy %x, %0",
      "  %2:i32[2] = add %b, %b",
      "  %3:f32[] = softmaxCrossEntropy %x, %2",
      '  %4:f32[2,10] = oneHot %c {depth=10, dtype="f32"}',
      "  output l1 = %1",
      "  output l2 = %3",
      "  output h = %4",
    ]);
    expect(r).toEqual({});
  });
});
