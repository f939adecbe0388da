// The precision pass (inference and mixed modes), and the fuse pass reading 16-bit values through
// widening casts (docs/PRECISION.md), on small hand-built graphs.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { fuse } from "../../compiler/passes/fuse.ts";
import { LOSS_SCALE } from "../../compiler/passes/loss-scale.ts";
import { precision } from "../../compiler/passes/precision.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

/** x @ w + b, relu, then softmaxCrossEntropy against labels: logits and loss out. */
function classifier(): Graph {
  const b = new GraphBuilder("classifier");
  const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [4, 3] } });
  const y = b.addInput({ name: "y", type: { dtype: "i32", shape: [4] } });
  const w = b.addParam({ name: "w", type: { dtype: "f32", shape: [3, 2] }, init: "he_normal", trainable: true });
  const bias = b.addParam({ name: "b", type: { dtype: "f32", shape: [2] }, init: "zeros", trainable: true });
  const logits = b.op("mul", [b.op("relu", [b.op("add", [b.op("matmul", [x, w]), bias])]), b.op("const", [], { value: 0.1, dtype: "f32", shape: [] })]);
  b.output("logits", logits);
  b.output("loss", b.op("softmaxCrossEntropy", [logits, y]));
  return b.build();
}

const run = (g: Graph, opts: Partial<typeof precision.defaults>) => precision.run(g, { ...precision.defaults, ...opts });

describe("precision", () => {
  it("inference: params and activations 16-bit, constants retyped, f32 at the edges, the loss in f32", () => {
    const { graph, stats } = run(classifier(), { dtype: "bf16" });
    expect(graph.params.map((p) => p.type.dtype)).toEqual(["bf16", "bf16"]);
    expect(graph.inputs.map((i) => i.type.dtype)).toEqual(["f32", "i32"]);
    const byId = new Map(graph.nodes.map((n) => [n.id, n]));
    expect(byId.get("bf16/x")?.op).toBe("cast");
    expect(graph.nodes.find((n) => n.op === "const")!.type.dtype).toBe("bf16");
    expect(graph.nodes.find((n) => n.op === "matmul")!.type.dtype).toBe("bf16");
    // The loss reads the logits widened, and is f32; the logits output is cast back to f32.
    const loss = graph.nodes.find((n) => n.op === "softmaxCrossEntropy")!;
    expect(loss.type.dtype).toBe("f32");
    expect(byId.get(loss.inputs[0])!.op).toBe("cast");
    const logits = graph.outputs.find((o) => o.name === "logits")!;
    expect(byId.get(logits.value)!.type.dtype).toBe("f32");
    // x to bf16, and the logits to f32 once (for the loss and the output).
    expect(stats["casts-added"]).toBe(2);
  });

  it("inference with --io-precision: inputs and outputs 16-bit too", () => {
    const { graph } = run(classifier(), { dtype: "f16", io: "f16" });
    expect(graph.inputs.map((i) => i.type.dtype)).toEqual(["f16", "i32"]);
    expect(graph.nodes.some((n) => n.id === "f16/x")).toBe(false);
  });

  it("mixed: f32 master params cast once where read, the loss scale declared", () => {
    const { graph } = run(classifier(), { dtype: "f16", mode: "mixed", lossScale: 2 ** 16 });
    expect(graph.params.map((p) => [p.name, p.type.dtype])).toEqual([["w", "f32"], ["b", "f32"], [LOSS_SCALE, "f32"]]);
    expect(graph.params[2].init).toBe("fill(65536)");
    const casts = graph.nodes.filter((n) => n.op === "cast").map((n) => n.id);
    expect(casts).toEqual(expect.arrayContaining(["f16/x", "f16/w", "f16/b"]));
  });

  it("runs on wasm-simd like the interpreter (bf16 weights)", async () => {
    const { graph } = run(classifier(), { dtype: "bf16" });
    await expectMatchesInterpreter(graph, undefined, { tolerance: 2 ** -6, relativeToMax: true });
  });
});

describe("fuse reads 16-bit values through widening casts", () => {
  /** p' = p - lr * cast(g), m' = m * 0.9 + cast(g): an optimizer's use of a 16-bit gradient. */
  function update(): Graph {
    const b = new GraphBuilder("update");
    const g = b.addInput({ name: "g", type: { dtype: "bf16", shape: [37] } });
    const p = b.addParam({ name: "p", type: { dtype: "f32", shape: [37] }, init: "he_normal", trainable: true });
    const m = b.addParam({ name: "m", type: { dtype: "f32", shape: [37] }, init: "zeros", trainable: false });
    const lr = b.addParam({ name: "lr", type: { dtype: "f32", shape: [] }, init: "fill(0.1)", trainable: false });
    const wide = b.op("cast", [g], { dtype: "f32" });
    const mNew = b.op("add", [b.op("mul", [m, b.op("const", [], { value: 0.9, dtype: "f32", shape: [] })]), wide]);
    b.update(m, mNew);
    b.update(p, b.op("sub", [p, b.op("mul", [wide, lr])]));
    return b.build();
  }

  it("absorbs the cast into every f32 chain that reads it: no f32 copy of the gradient remains", async () => {
    const { graph } = fuse.run(update(), fuse.defaults);
    expect(graph.nodes.some((n) => n.op === "cast")).toBe(false);
    const fused = graph.nodes.filter((n) => n.op === "fused");
    expect(fused).toHaveLength(2);
    for (const n of fused) {
      expect(n.inputs).toContain("g");
      expect(n.type.dtype).toBe("f32");
    }
    await expectMatchesInterpreter(graph, undefined, { tolerance: 1e-6 });
  });

  it("keeps a cast whose group would read nothing f32", () => {
    const b = new GraphBuilder("alone");
    const g = b.addInput({ name: "g", type: { dtype: "f16", shape: [8] } });
    b.output("y", b.op("exp", [b.op("cast", [g], { dtype: "f32" })]));
    const { graph } = fuse.run(b.build(), fuse.defaults);
    expect(graph.nodes.map((n) => n.op)).toEqual(["cast", "exp"]);
  });
});
