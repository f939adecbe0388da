// GraphBuilder's bookkeeping that passes rely on instead of scanning the nodes (autodiff names
// each gradient through it).
import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";

describe("GraphBuilder", () => {
  it("isNode tells node values from inputs and unknown names, and follows renames", () => {
    const b = new GraphBuilder("g");
    b.addInput({ name: "x", type: { dtype: "f32", shape: [4] } });
    const y = b.op("exp", ["x"]);
    expect(b.isNode(y)).toBe(true);
    expect(b.isNode("x")).toBe(false);
    expect(b.isNode("nope")).toBe(false);
    b.rename(y, "grad/w");
    expect(b.isNode(y)).toBe(false);
    expect(b.isNode("grad/w")).toBe(true);
    expect(b.isUsed("grad/w")).toBe(false);
  });
});
