// The example models as tests use them: their names, and their forward and training graphs.
import { readdirSync } from "node:fs";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

/** Every folder under examples/, sorted. */
export const EXAMPLES = readdirSync("examples", { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

/** The training step of an example with its own `train` settings. */
export function trainStepOf(name: string): Graph {
  const model = compileModelFile(`examples/${name}/model.ts`);
  return buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
}

/** [label, graph] pairs for an example's forward graph and training step. */
export function graphsOf(name: string): Array<[string, Graph]> {
  const model = compileModelFile(`examples/${name}/model.ts`);
  return [["forward", model.graph], ["train step", buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep]];
}
