// The WASM pruneMask kernel (codegen-wasm/kernels/prune.ts) against the interpreter, exactly,
// over test/support/prune-cases.ts; and with its result in the old mask's buffer (in place), as
// the planner places it when nothing reads the old mask afterwards.
import { describe, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { pruneMaskGraph } from "../support/prune-cases.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";
import { randomData } from "../support/op-fixtures.ts";

describe("pruneMask on wasm-simd", () => {
  it("matches the interpreter on every case (tails, k out of range, ties, totalOrder, kept masks)", async () => {
    const { graph, inputs } = pruneMaskGraph();
    await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
  });

  it("matches when the mask is computed in a chain whose old mask dies there (in place)", async () => {
    const b = new GraphBuilder("prune-chain");
    const w = b.addInput({ name: "w", type: { dtype: "f32", shape: [11, 5] } });
    const k = b.addInput({ name: "k", type: { dtype: "i32", shape: [] } });
    const update = b.addInput({ name: "update", type: { dtype: "i32", shape: [] } });
    const old = b.op("greater", [w, b.op("const", [], { value: -0.5, dtype: "f32", shape: [11, 5] })]);
    const oldMask = b.op("cast", [old], { dtype: "f32" });
    const mask = b.op("pruneMask", [b.op("abs", [w]), k, oldMask, update]);
    b.output("masked", b.op("mul", [w, mask]));
    const graph = b.build();
    for (const [kk, u] of [[20, 1], [20, 0], [54, 1]]) {
      await expectMatchesInterpreter(graph, { w: Array.from(randomData(55, kk + u)), k: [kk], update: [u] }, { tolerance: 0 });
    }
  });
});
