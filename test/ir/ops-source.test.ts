import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";

function iota(shape: number[], axis: number, dtype?: string) {
  const b = new GraphBuilder("g");
  b.output("out", b.op("iota", [], { shape, axis, ...(dtype ? { dtype } : {}) }));
  return interpret(b.build(), {}).outputs.out;
}

describe("iota", () => {
  it("counts along the chosen axis", () => {
    expect(Array.from(iota([2, 3], 1).data)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(Array.from(iota([2, 3], 0).data)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(iota([2, 3], -1).data)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(Array.from(iota([2, 2, 2], 1).data)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    expect(iota([2, 3], 0).type).toEqual({ dtype: "i32", shape: [2, 3] });
    expect(iota([3], 0, "f32").type.dtype).toBe("f32");
  });
  it("rejects a bad axis, shape or dtype", () => {
    expect(() => iota([2, 3], 2)).toThrow(/iota: axis 2 is out of range for rank 2/);
    expect(() => iota([2, -1], 0)).toThrow(/iota: bad shape/);
    expect(() => iota([2], 0, "bool")).toThrow(/bool/);
  });
});
