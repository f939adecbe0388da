// driver/inference.ts: the forward graph of an inference bundle keeps the outputs that read no
// label input, and only the nodes and inputs they need (every param stays); --outputs chooses.
import { describe, expect, it } from "vitest";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";

const forward = (name: string) => compileModelFile(`examples/${name}/model.ts`).graph;

describe("inferenceGraph", () => {
  it.each([
    ["cnn", ["logits"], ["images"], ["labels"]],
    ["mnist-mlp", ["logits"], ["x"], ["y"]],
    ["recsys", ["prediction"], ["user", "item"], ["rating"]],
    ["transformer", ["logits"], ["tokens"], ["targets"]],
    ["lstm", ["logits"], ["x"], ["labels"]],
    ["resnet", ["logits"], ["images"], ["labels"]],
  ])("%s: keeps %j, takes %j, drops the label input %j", (name, outputs, inputs, dropped) => {
    const g = forward(name);
    const { graph, dropped: d } = inferenceGraph(g, { loss: "loss" });
    verifyGraph(graph);
    expect(graph.outputs.map((o) => o.name)).toEqual(outputs);
    expect(graph.inputs.map((i) => i.name)).toEqual(inputs);
    expect(d).toEqual({ outputs: ["loss"], inputs: dropped });
    expect(graph.params).toEqual(g.params);
    expect(graph.nodes.length).toBeLessThan(g.nodes.length);
  });

  it("keeps what --outputs names, every output with 'all', and names unknown outputs", () => {
    const g = forward("cnn");
    expect(inferenceGraph(g, { loss: "loss", outputs: ["all"] }).graph).toEqual(g);
    const lossOnly = inferenceGraph(g, { loss: "loss", outputs: ["loss"] });
    expect(lossOnly.graph.outputs.map((o) => o.name)).toEqual(["loss"]);
    expect(lossOnly.graph.inputs.map((i) => i.name)).toEqual(["images", "labels"]);
    expect(() => inferenceGraph(g, { loss: "loss", outputs: ["logit"] })).toThrow("--outputs: 'logit' is not an output of cnn (outputs: logits, loss, or all)");
  });

  it("leaves a model whose only output is its loss as it is", () => {
    const g = forward("cnn");
    const only = { ...g, outputs: g.outputs.filter((o) => o.name === "loss") };
    expect(inferenceGraph(only, { loss: "loss" }).graph.outputs.map((o) => o.name)).toEqual(["loss"]);
  });
});
