// Quantization-aware training (compiler/passes/qat.ts) against its PyTorch twin
// (test/oracle/qat_twin.py: an explicit float64 re-implementation of torch.ao.quantization's
// FakeQuantize with torch.fake_quantize_per_channel_affine / _per_tensor_affine and
// MovingAverageMinMaxObserver's update, beside torch's own float32 observer) on
// test/fixtures/small-mlp/model.ts, step by step: the loss, the gradients (through the
// straight-through estimator), the weights and the observers' EMA ranges. And: the forward
// entry reads the ranges without moving them, the layers kept by --quantize-skip, convolutions,
// and the training steps and forward entry on wasm-simd against the interpreter.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParam } from "../../compiler/ir/init.ts";
import { Session } from "../../compiler/ir/session.ts";
import { QAT_STEP, qatRangeNames } from "../../compiler/passes/qat.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { rng } from "../support/seeded-random.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

const MODEL = "test/fixtures/small-mlp/model.ts";
const STEPS = 6;
const LAYERS = ["l1.w", "l2.w"];

function program(extra: { quantizeSkip?: string[]; backend?: boolean } = {}) {
  const model = compileModelFile(MODEL);
  const training = { ...trainingSpec(model.train), exposeGradients: true, quantize: "int8" as const, ...(extra.quantizeSkip ? { quantizeSkip: extra.quantizeSkip } : {}) };
  const compiled = compile(model.graph, { training, ...(extra.backend ? { backend: wasmBackend, timeLimitMs: 100 } : {}) });
  const entry = (name: string) => compiled.entries.find((e) => e.exportName === name)!.graph;
  return { forward: entry("forward"), step: entry("train_step") };
}

function batches(seed: number) {
  const random = rng(seed);
  return Array.from({ length: STEPS }, () => ({
    x: Array.from({ length: 24 }, () => Math.fround(random() * 2 - 1)),
    y: Array.from({ length: 12 }, () => Math.fround(random() * 2 - 1)),
  }));
}

describe("quantization-aware training against PyTorch (fake_quantize_* and MovingAverageMinMaxObserver)", () => {
  it("loss, STE gradients, weights and EMA ranges equal the twin's at every step; the forward entry does not move the ranges", () => {
    const { forward, step } = program();
    const weights = Object.fromEntries(step.params.filter((p) => p.trainable).map((p) => [p.name, Array.from(initParam(p, 5))]));
    const data = batches(17);
    const twin = JSON.parse(execFileSync("/usr/bin/python3", ["test/oracle/qat_twin.py"], {
      input: JSON.stringify({
        params: Object.fromEntries(Object.entries(weights).map(([n, d]) => [n, { shape: step.params.find((p) => p.name === n)!.type.shape, data: d }])),
        batches: data, lr: 0.1, momentum: Math.fround(0.9), steps: STEPS,
      }),
      maxBuffer: 16 << 20,
    }).toString()) as Record<string, number | number[]>[];
    const session = new Session([forward, step], { precision: "f64", params: weights });
    const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, rel = 1e-6) => {
      expect(a.length, what).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(b[i])));
    };
    for (let t = 0; t < STEPS; t++) {
      const out = session.run(step, data[t]);
      const expected = twin[t];
      close(out.loss.data, [expected.loss as number], `step ${t} loss`);
      for (const name of ["l1.w", "l1.b", "l2.w", "l2.b"]) {
        close(out[`grad/${name}`].data, expected[`grad/${name}`] as number[], `step ${t} grad/${name}`);
        close(session.state.get(name)!, expected[name] as number[], `step ${t} ${name}`);
      }
      for (const layer of LAYERS) {
        const r = qatRangeNames(layer);
        for (const end of ["min", "max"] as const) {
          close(session.state.get(r[end])!, [expected[`qat/${layer}/${end}`] as number], `step ${t} ${r[end]}`);
          close(session.state.get(r[end])!, [expected[`torch/qat/${layer}/${end}`] as number], `step ${t} ${r[end]} vs torch's observer`, 1e-5);
        }
      }
      expect(Array.from(session.state.get(QAT_STEP)!)).toEqual([t + 1]);
      // The forward entry fake-quantizes with the stored ranges and leaves every state as it is.
      const before = new Map([...session.state].map(([k, v]) => [k, Array.from(v)]));
      session.run(forward, { x: data[t].x, y: data[t].y });
      for (const [k, v] of before) expect(Array.from(session.state.get(k)!), `forward moved ${k}`).toEqual(v);
    }
    // The ranges moved away from the first batch's: the EMA ran.
    expect(twin[STEPS - 1]["qat/l1.w/min"]).not.toBe(twin[0]["qat/l1.w/min"]);
    expect(forward.updates.filter((u) => u.param.startsWith("qat/"))).toEqual([]);
    expect(step.updates.map((u) => u.param).filter((p) => p.startsWith("qat/")).sort()).toEqual([QAT_STEP, ...LAYERS.flatMap((l) => [qatRangeNames(l).max, qatRangeNames(l).min])].sort());
  }, 60_000);

  it("a NaN batch leaves the observers and the step counter as they were (nonfinite-guard)", () => {
    const { step } = program();
    const weights = Object.fromEntries(step.params.filter((p) => p.trainable).map((p) => [p.name, Array.from(initParam(p, 5))]));
    const session = new Session([step], { params: weights });
    const [good, bad] = batches(3);
    session.run(step, good);
    const before = new Map([...session.state].filter(([k]) => k.startsWith("qat/")).map(([k, v]) => [k, Array.from(v)]));
    expect(before.get(QAT_STEP)).toEqual([1]);
    const out = session.run(step, { ...bad, x: bad.x.map((v, i) => (i === 7 ? NaN : v)) });
    expect(Array.from(out.skipped_step.data)).toEqual([1]);
    for (const [k, v] of before) expect(Array.from(session.state.get(k)!), k).toEqual(v);
  });

  it("fake-quantizes the weight and input of every dense layer but those --quantize-skip names", () => {
    const fq = (g: ReturnType<typeof program>["step"]) => g.nodes.filter((n) => n.op === "fakeQuant").map((n) => n.id).sort();
    expect(fq(program().forward)).toEqual(["qat/l1.w/w_fq", "qat/l1.w/x_fq", "qat/l2.w/w_fq", "qat/l2.w/x_fq"]);
    const skipped = program({ quantizeSkip: ["l2.w"] });
    expect(fq(skipped.step)).toEqual(["qat/l1.w/w_fq", "qat/l1.w/x_fq"]);
    expect(skipped.step.params.map((p) => p.name).filter((p) => p.startsWith("qat/"))).toEqual(["qat/l1.w/min", "qat/l1.w/max", QAT_STEP]);
  });

  it("its training step and forward entry on wasm-simd match the interpreter (first step and EMA step)", async () => {
    const { forward, step } = program({ backend: true });
    const ranges = { [qatRangeNames("l1.w").min]: [-0.75], [qatRangeNames("l1.w").max]: [0.5], [qatRangeNames("l2.w").min]: [0], [qatRangeNames("l2.w").max]: [1.25] };
    for (const s of [0, 1]) await expectMatchesInterpreter(step, undefined, { seed: s, params: { [QAT_STEP]: [s], ...ranges }, relativeToMax: true });
    await expectMatchesInterpreter(forward, undefined, { seed: 2, params: ranges, relativeToMax: true });
  }, 60_000);

  it("convolutions: their weights fake-quantized per output channel (axis 3 of [kh, kw, C, O]); the CNN's train step on wasm-simd matches the interpreter", async () => {
    const model = compileModelFile("examples/cnn/model.ts", { set: { batch: "2", width: "4" } });
    const training = { ...trainingSpec(model.train), quantize: "int8" as const };
    const unfused = compile(model.graph, { training }).entries.find((e) => e.exportName === "train_step")!.graph;
    expect(unfused.params.filter((p) => p.name.startsWith("qat/")).map((p) => p.name)).toEqual(["qat/conv1.w/min", "qat/conv1.w/max", "qat/conv2.w/min", "qat/conv2.w/max", "qat/fc.w/min", "qat/fc.w/max", QAT_STEP]);
    const weightFq = unfused.nodes.find((n) => n.id === "qat/conv2.w/w_fq")!;
    expect([weightFq.op, weightFq.inputs[0], weightFq.attrs]).toEqual(["fakeQuant", "conv2.w", { axis: 3, qmin: -127, qmax: 127 }]);
    expect(unfused.nodes.find((n) => n.op === "conv2d" && n.inputs[1] === "qat/conv2.w/w_fq")?.inputs[0]).toBe("qat/conv2.w/x_fq");
    const step = compile(model.graph, { backend: wasmBackend, training, timeLimitMs: 100 }).entries.find((e) => e.exportName === "train_step")!.graph;
    await expectMatchesInterpreter(step, undefined, { seed: 4, params: { [QAT_STEP]: [1], "qat/conv1.w/min": [0], "qat/conv1.w/max": [1], "qat/conv2.w/min": [0], "qat/conv2.w/max": [2], "qat/fc.w/min": [0], "qat/fc.w/max": [3] }, relativeToMax: true });
  }, 120_000);
});
