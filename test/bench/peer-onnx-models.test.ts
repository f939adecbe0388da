// The ONNX Runtime Web twins of bench/peer-onnx-models.ts compute the same logits as mlc's
// reference interpreter on the compiled example, with the same weights and inputs. Configs differ
// from the examples' defaults (smaller, and two transformer layers) so the twins are checked to
// follow the config, and every param is perturbed so zero biases and unit gammas cannot hide a
// misplaced term.

import { describe, expect, it } from "vitest";
import { ortForward, type PeerModelName } from "../../bench/peer-onnx-models.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { isFloat } from "../../compiler/ir/types.ts";

// `--set` overrides, as the CLI passes them (strings parsed as JSON).
const cases: [PeerModelName, Record<string, string>][] = [
  ["mnist-mlp", { batch: "8" }],
  ["cnn", { batch: "3", width: "4" }],
  ["transformer", { batch: "2", seq: "8", layers: "2", heads: "4", dropout: "0" }],
];

/** A seeded uniform generator in [0, 1) (mulberry32). */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("ONNX Runtime twins of the examples' forward passes", () => {
  for (const [model, set] of cases) {
    it(`${model} matches the reference interpreter`, async () => {
      const { graph, config } = compileModelFile(`examples/${model}/model.ts`, { set });
      const rand = uniform(7);
      const weights: Record<string, Float32Array> = {};
      for (const [name, init] of Object.entries(initParams(graph, 3))) {
        weights[name] = Float32Array.from(init, (v) => v + 0.5 * (rand() - 0.5));
      }
      const inputs: Record<string, Float32Array | Int32Array> = {};
      for (const inp of graph.inputs) {
        const data = randomInputs(graph, 5)[inp.name];
        inputs[inp.name] = isFloat(inp.type.dtype) ? Float32Array.from(data) : Int32Array.from(data);
      }

      const expected = interpret(graph, inputs, { params: weights }).outputs.logits;
      const session = await ortForward(model, weights, config as Record<string, number>);
      const actual = await session.run(inputs);

      expect(actual.length).toBe(expected.data.length);
      let maxDiff = 0;
      let maxLogit = 0;
      for (let i = 0; i < actual.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected.data[i]));
        maxLogit = Math.max(maxLogit, Math.abs(expected.data[i]));
      }
      expect(maxLogit).toBeGreaterThan(0);
      // Both sides compute in f32 (they agree to about 4e-7 of the largest logit); 1e-5 leaves room
      // for ORT's different summation orders and still rejects near misses such as GELU's tanh
      // approximation in place of the exact erf form (about 3e-4 here).
      expect(maxDiff / maxLogit).toBeLessThan(1e-5);
    });
  }
});
