// The int8 build of a model trained with quantization-aware training (passes/qat.ts): with the
// QAT ranges (QuantizeSpec.ranges, what `mlc build --quantize int8 --weights qat.safetensors`
// reads from qat/W/min|max) nothing is calibrated, the activation parameters are those the
// training step fake-quantized with, and the integer program computes what QAT's forward entry
// does up to the bias's rounding to i32 and the requantize multiplier's f32 rounding.
import { describe, expect, it } from "vitest";
import { compile, formatQuantizationReport } from "../../compiler/driver/index.ts";
import { programForward } from "../../compiler/cli/training.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParam } from "../../compiler/ir/init.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { Session } from "../../compiler/ir/session.ts";
import { qatRangeNames } from "../../compiler/passes/qat.ts";
import { activationParams } from "../../compiler/passes/quantize/int8-params.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { rng } from "../support/seeded-random.ts";

const MODEL = "test/fixtures/small-mlp/model.ts";

describe("int8 from quantization-aware training", () => {
  it("takes the trained ranges, calibrates nothing, and matches QAT's forward entry", () => {
    const model = compileModelFile(MODEL);
    const training = { ...trainingSpec(model.train), quantize: "int8" as const };
    const qat = compile(model.graph, { training });
    const entry = (name: string) => qat.entries.find((e) => e.exportName === name)!.graph;
    const step = entry("train_step");
    const forward = entry("forward");
    const weights = Object.fromEntries(step.params.filter((p) => p.trainable).map((p) => [p.name, Array.from(initParam(p, 7))]));
    const session = new Session([forward, step], { params: weights });
    const random = rng(23);
    const batch = () => ({ x: Array.from({ length: 24 }, () => Math.fround(random() * 2 - 1)), y: Array.from({ length: 12 }, () => Math.fround(random() * 2 - 1)) });
    for (let t = 0; t < 8; t++) session.run(step, batch());

    const layers = ["l1.w", "l2.w"];
    const ranges = Object.fromEntries(layers.map((l) => [l, [session.state.get(qatRangeNames(l).min)![0], session.state.get(qatRangeNames(l).max)![0]] as const]));
    const trained = Object.fromEntries(["l1.w", "l1.b", "l2.w", "l2.b"].map((n) => [n, Float64Array.from(session.state.get(n)!)]));
    const { graph } = programForward(model, undefined);
    const program = compile(graph, { quantize: { observer: "minmax", calibration: {}, samples: 0, ranges, params: trained } });
    const q = program.quantization!;
    for (const l of layers) expect(q.layers[l]).toEqual(activationParams(ranges[l][0], ranges[l][1]));
    expect(q.report.observer).toBe("qat");
    expect(q.report.error).toBeUndefined();
    expect(formatQuantizationReport(q.report)).toMatch(/^int8 quantization \(activation ranges from quantization-aware training\):\n  l1\.w \(\+ l1\.b\) \[6,8\] i8 per column/);

    const quantized = program.entries[0].graph;
    const params = Object.fromEntries(Object.entries(q.tensors).map(([n, t]) => [n, t.data]));
    let worst = 0;
    let scale = 0;
    for (let k = 0; k < 4; k++) {
      const x = batch().x;
      const int8 = interpret(quantized, { x }, { params }).outputs.out.data;
      const fake = session.run(forward, { x, y: new Array(12).fill(0) }).out.data;
      for (let i = 0; i < fake.length; i++) {
        worst = Math.max(worst, Math.abs(int8[i] - fake[i]));
        scale = Math.max(scale, Math.abs(fake[i]));
      }
    }
    // One step of the last layer's output grid at most (q.tensors l2.w/scale is sx * sw).
    const step2 = Math.max(...Array.from(q.tensors["l2.w/scale"].data));
    expect(scale).toBeGreaterThan(0.1);
    expect(worst).toBeLessThanOrEqual(step2);
  });
});
