// What the driver works out once and reuses: a pass run with the same options on a graph it already
// ran on (the checkpoint pass's estimate fuses the step it chooses before the fusion phase does;
// every checkpoint policy's program has the same forward entry),
// and the WASM target loaded for planning only (`mlc mem` and `mlc ir`'s dumps skip binaryen):
// the reuse gives the same programs.
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { loadBackend } from "../../compiler/driver/backends.ts";
import { PassRunner } from "../../compiler/driver/pass-runner.ts";
import { fuseGraph } from "../../compiler/driver/phases.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { fuse } from "../../compiler/passes/fuse.ts";
import { optimizer } from "../../compiler/passes/optimizer.ts";
import { schedule } from "../../compiler/passes/schedule.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

describe("pass results reused per graph", () => {
  it("a pass with its defaults on the same graph object gives the same graph and statistics, recorded each time", () => {
    const model = compileModelFile("examples/cnn/model.ts");
    const runner = new PassRunner();
    const [a] = runner.each(fuse, [{ exportName: "forward", graph: model.graph }]);
    const [b] = runner.each(fuse, [{ exportName: "forward", graph: model.graph }]);
    expect(b.graph).toBe(a.graph);
    expect(runner.records.map((r) => r.pass)).toEqual(["fuse", "fuse"]);
    expect(runner.records[1].stats).toEqual(runner.records[0].stats);
    // A copy of the graph is another object: fused again, alike.
    const [c] = runner.each(fuse, [{ exportName: "forward", graph: { ...model.graph } }]);
    expect(c.graph).not.toBe(a.graph);
    expect(printGraph(c.graph)).toBe(printGraph(a.graph));
  });

  it("options are part of the key: the same values (functions by identity) reuse, other values and object options run again", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const runner = new PassRunner();
    const entry = [{ exportName: "forward", graph: model.graph }];
    const table = () => 0;
    const once = runner.each(schedule, entry, () => ({ lookahead: 3, workspaceBytes: table }))[0].graph;
    expect(runner.each(schedule, entry, () => ({ workspaceBytes: table, lookahead: 3 }))[0].graph).toBe(once);
    expect(runner.each(schedule, entry, () => ({ lookahead: 2, workspaceBytes: table }))[0].graph).not.toBe(once);
    expect(runner.each(schedule, entry, () => ({ lookahead: 3, workspaceBytes: () => 0 }))[0].graph).not.toBe(once);
    // `undefined` given overrides a default, so it is a value of its own.
    expect(runner.each(schedule, entry, () => ({ lookahead: undefined, workspaceBytes: table }))[0].graph).not.toBe(once);
    const spec = { lr: 0.1 };
    const step = runner.one(autodiff, "train_step", model.graph, { loss: trainingSpec(model.train).loss });
    const opt = (o: object) => runner.one(optimizer, "train_step", step, o);
    expect(opt({ kind: "sgd", ...spec })).toBe(opt({ kind: "sgd", ...spec }));
    expect(opt({ kind: "sgd", extra: spec })).not.toBe(opt({ kind: "sgd", extra: spec }));
  });

  it("a program's graphs keep their results past many other graphs; an estimate's (transient) only the latest few", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const kept = fuseGraph(model.graph).graph;
    // Forty other graphs fused as estimates.
    for (let i = 0; i < 40; i++) fuseGraph({ ...model.graph, name: `other${i}` }, { transient: true });
    expect(fuseGraph(model.graph).graph).toBe(kept);
    expect(fuseGraph(model.graph, { transient: true }).graph).toBe(kept);
    const copy = { ...model.graph };
    const first = fuseGraph(copy, { transient: true }).graph;
    expect(fuseGraph(copy).graph).toBe(first);
    for (let i = 0; i < 40; i++) fuseGraph({ ...model.graph, name: `more${i}` }, { transient: true });
    expect(fuseGraph(copy).graph).not.toBe(first);
  });

  it("a program compiled from new graphs equals the first (nothing reused across objects), and fusing a graph again returns the graph made", () => {
    const model = compileModelFile("examples/resnet/model.ts");
    const training = { ...trainingSpec(model.train), checkpoint: { mode: "sqrt" as const } };
    const program = compile(model.graph, { backend: wasmBackend, training });
    const step = program.entries.find((e) => e.exportName === "train_step")!.graph;
    // Recompiled without any graph in common (a new frontend run): the same program.
    const again = compile(compileModelFile("examples/resnet/model.ts").graph, { backend: wasmBackend, training });
    expect(again.arena).toBe(program.arena);
    expect(printGraph(again.entries.find((e) => e.exportName === "train_step")!.graph)).toBe(printGraph(step));
    expect(again.records.map((r) => [r.pass, r.entry, r.stats])).toEqual(program.records.map((r) => [r.pass, r.entry, r.stats]));
    // Fusing a graph the pipeline fused returns the object it made.
    const fused = fuseGraph(model.graph, { verify: false }).graph;
    expect(fuseGraph(model.graph).graph).toBe(fused);
  }, 60_000);
});

describe("the WASM target for planning only", () => {
  it("plans every entry as the full backend does, and refuses to write a bundle", async () => {
    const planning = await loadBackend("wasm-simd", { emit: false });
    const model = compileModelFile("examples/transformer/model.ts");
    const training = trainingSpec(model.train);
    const full = compile(model.graph, { backend: wasmBackend, training });
    const planned = compile(model.graph, { backend: planning, training });
    expect(planned.arena).toBe(full.arena);
    expect(planned.entries.map((e) => printGraph(e.graph))).toEqual(full.entries.map((e) => printGraph(e.graph)));
    expect(planning.maxArenaBytes).toBe(wasmBackend.maxArenaBytes);
    expect(() => planning.writeBundle(planned.entries, { name: "t", accumulate: 1, seed: 0 })).toThrow(/planning only/);
    expect(await loadBackend("wasm-simd")).toBe(wasmBackend);
  }, 60_000);
});
