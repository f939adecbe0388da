// When the driver's PassRunner verifies: by default once per phase (a pass whose result the
// driver always hands to a later pass of the same phase is verified with that pass's result), and
// after every pass with MLC_VERIFY=each or `verify: "each"` (what the test suite runs with).

import { afterEach, describe, expect, it } from "vitest";
import { PassRunner } from "../../compiler/driver/pass-runner.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { VerifyError } from "../../compiler/ir/verifier.ts";
import type { Pass } from "../../compiler/passes/pass.ts";

const f32 = (...shape: number[]) => ({ dtype: "f32" as const, shape });

function graph(): Graph {
  return {
    name: "g",
    inputs: [{ name: "x", type: f32(4) }],
    params: [],
    nodes: [{ id: "0", op: "relu", inputs: ["x"], attrs: {}, type: f32(4) }],
    outputs: [{ name: "y", value: "0" }],
    updates: [],
  };
}

/** A pass named `name` whose result reads a value nothing defines. */
function breaking(name: string): Pass<object> {
  return {
    name,
    summary: "breaks the graph",
    statistics: {},
    defaults: {},
    run: (g) => ({ graph: { ...g, nodes: g.nodes.map((n) => ({ ...n, inputs: ["nowhere"] })) }, stats: {} }),
  };
}

/** A pass named `name` that returns its graph unchanged. */
function identity(name: string): Pass<object> {
  return { name, summary: "changes nothing", statistics: {}, defaults: {}, run: (g) => ({ graph: g, stats: {} }) };
}

const saved = process.env.MLC_VERIFY;
afterEach(() => {
  if (saved === undefined) delete process.env.MLC_VERIFY;
  else process.env.MLC_VERIFY = saved;
});

describe("PassRunner verification", () => {
  it("by default verifies fuse's result with fuse-epilogues', the end of the fusion phase", () => {
    delete process.env.MLC_VERIFY;
    const runner = new PassRunner();
    const broken = runner.one(breaking("fuse"), "forward", graph());
    expect(() => runner.one(identity("fuse-epilogues"), "forward", broken)).toThrow(VerifyError);
  });

  it("verifies a phase's last pass at once", () => {
    delete process.env.MLC_VERIFY;
    expect(() => new PassRunner().one(breaking("fuse-epilogues"), "forward", graph())).toThrow(/undefined value %nowhere/);
  });

  it("verifies after every pass with MLC_VERIFY=each", () => {
    process.env.MLC_VERIFY = "each";
    expect(() => new PassRunner().one(breaking("fuse"), "forward", graph())).toThrow(VerifyError);
  });

  it('verifies after every pass with verify: "each"', () => {
    delete process.env.MLC_VERIFY;
    expect(() => new PassRunner(undefined, "each").one(breaking("cse"), "forward", graph())).toThrow(VerifyError);
  });

  it("verifies nothing with verify: false", () => {
    process.env.MLC_VERIFY = "each";
    expect(() => new PassRunner(undefined, false).one(breaking("fold-constants"), "forward", graph())).not.toThrow();
  });
});
