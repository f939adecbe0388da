// `mlc run model.ts` — run one forward pass of a model in the reference interpreter; with
// --train, one whole training step (loss, every grad/<param>, updated params as param/<name>).
// The graph is the driver's, after the training and clean-up phases (what `mlc ir` prints).

import type { CommandModule } from "yargs";
import { compileModelFile } from "../../frontend/index.ts";
import type { Graph } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { interpret, type Precision } from "../../ir/interpreter.ts";
import type { Tensor } from "../../ir/op-def.ts";
import { printGraph } from "../../ir/printer.ts";
import { formatType } from "../../ir/types.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { randomInputs } from "../random-inputs.ts";
import { readSafetensorsFile, readWeightsFile, takeTensors, TensorIOError, toSafeTensor } from "../../bundle/tensor-io.ts";
import { leftInitialNote, paramsLeftInitial } from "../../bundle/manifest.ts";
import { indexRanges, indexRangeViolation } from "../../bundle/index-ranges.ts";
import { encodeSafetensors } from "../../../runtime/safetensors.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { parseSetFlags, UsageError, withModelOptions } from "../options.ts";
import { precisionOptions, programForward, trainingOptions, withTrainOptions, type TrainArgs } from "../training.ts";
import { codebookWeights, compile, formatCodebookReport, formatQuantizationReport, quantizedWeights } from "../../driver/index.ts";
import { quantizeOptions, wantsQuantization, withQuantizeOptions, type QuantizeArgs } from "../quantize-options.ts";

interface RunArgs extends TrainArgs, QuantizeArgs {
  model: string; set?: string[]; inputs?: string; "random-inputs": boolean; weights?: string; "allow-nonfinite-weights": boolean;
  out?: string; seed: number; precision: Precision | "f16" | "bf16"; "print-ir": boolean;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: "run <model>",
  describe: "run a model's forward pass in the reference interpreter",
  builder: (y) =>
    withQuantizeOptions(withTrainOptions(withModelOptions(y)))
      .option("inputs", { type: "string", describe: "safetensors file with every model input" })
      .option("random-inputs", { type: "boolean", default: false, describe: "use seeded random inputs instead of --inputs" })
      .option("weights", { type: "string", describe: "safetensors file with params (others keep their seeded init)" })
      .option("allow-nonfinite-weights", { type: "boolean", default: false, describe: "accept NaN/Inf in --weights (refused by default, naming the tensor)" })
      .option("out", { type: "string", describe: "write outputs (and updated state as param/<name>) to this safetensors file" })
      .option("seed", { type: "number", default: 0, describe: "seed for param inits and random inputs" })
      .option("precision", { choices: ["native", "f64", "f16", "bf16"] as const, default: "native" as const, describe: "native dtypes, float64 throughout, or f16/bf16 storage (the precision pass, then native)" })
      .option("print-ir", { type: "boolean", default: false, describe: "print the IR before running" }) as never,
  handler: (args) => {
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    if (args.train && args.accumulate !== 1) throw new UsageError("mlc run --train runs one plain step; --accumulate applies to built bundles");
    const training = trainingOptions(model, args, true);
    const half = args.precision === "f16" || args.precision === "bf16";
    // --quantize runs the inference program (`mlc build`'s forward pass: no loss or labels).
    const quantizing = wantsQuantization(args);
    const source = quantizing ? programForward(model, undefined).graph : model.graph;
    const weightsFile = args.weights ? readWeightsFile(args.weights, { allowNonFinite: args["allow-nonfinite-weights"] }) : undefined;
    const given = args.weights && weightsFile ? { source: args.weights, tensors: weightsFile } : undefined;
    const quantize = quantizing ? quantizeOptions(args, source, model.graph.inputs.map((i) => i.name), given, args.seed) : {};
    const program = compile(source, { ...(training ? { training } : {}), ...(half ? precisionOptions(args) : {}), ...quantize });
    const entries = program.entries;
    if (program.quantization) process.stdout.write(formatQuantizationReport(program.quantization.report) + "\n");
    if (program.codebooks) process.stdout.write(formatCodebookReport(program.codebooks.report) + "\n");
    const graph = entries.find((e) => e.exportName === (training ? "train_step" : "forward"))!.graph;
    if (args["print-ir"]) process.stdout.write(printGraph(graph) + "\n");
    const inputs = loadInputs(graph, args);
    // An index out of range would stop the interpreter at the op that reads it; the check names
    // the input and the file, as the bundles and mlc train do.
    for (const [name, range] of indexRanges([{ exportName: "run", graph }])) {
      const decl = graph.inputs.find((i) => i.name === name)!;
      const bad = indexRangeViolation(name, decl.type, inputs[name], range);
      if (bad) throw new TensorIOError(`${args.inputs ?? "--random-inputs"}: ${bad}`);
    }
    // Quantized: the file's params less those quantized away, plus the quantized ones.
    const tensors = program.quantization ? quantizedWeights(given, program.quantization) : program.codebooks ? codebookWeights(given, program.codebooks) : given;
    const params = tensors ? takeTensors(tensors.source, tensors.tensors, trainableAndState(graph), "param", { requireAll: false }) : {};
    const initial = weightsFile && tensors ? paramsLeftInitial(tensors.tensors, graph.params.map((p) => p.name)) : [];
    if (initial.length > 0) process.stdout.write(leftInitialNote(args.weights!, initial) + "\n");
    const result = interpret(graph, inputs, { precision: args.precision === "f64" ? "f64" : "native", params, seed: args.seed });
    if (args.out) {
      const types = valueTypes(graph);
      const tensors: Record<string, ReturnType<typeof toSafeTensor>> = Object.create(null);
      for (const [name, t] of Object.entries(result.outputs)) tensors[name] = toSafeTensor(t.type, t.data);
      for (const [name, t] of Object.entries(result.updates)) tensors[`param/${name}`] = toSafeTensor(types.get(name)!, t.data);
      writeFileAtomic(args.out, encodeSafetensors(tensors, { producer: "mlc run", model: graph.name }));
      process.stdout.write(`wrote ${Object.keys(tensors).length} tensors to ${args.out}\n`);
    }
    for (const [name, t] of Object.entries(result.outputs)) process.stdout.write(summarize(name, t) + "\n");
  },
};

function trainableAndState(g: Graph) {
  return g.params.map((p) => ({ name: p.name, type: p.type }));
}

function loadInputs(g: Graph, args: RunArgs): Record<string, Float64Array> {
  if (args.inputs && args["random-inputs"]) throw new UsageError("give either --inputs or --random-inputs, not both");
  if (args["random-inputs"]) return randomInputs(g, args.seed);
  if (!args.inputs) {
    if (g.inputs.length === 0) return {};
    throw new UsageError(`the model has inputs (${g.inputs.map((i) => i.name).join(", ")}): pass --inputs FILE.safetensors or --random-inputs`);
  }
  return takeTensors(args.inputs, readSafetensorsFile(args.inputs), g.inputs, "input", { requireAll: true });
}

/** One line per output: type, finiteness and a few statistics, then the first values. */
export function summarize(name: string, t: Tensor): string {
  const d = t.data;
  let min = Infinity, max = -Infinity, sum = 0, finite = true;
  for (const x of d) {
    if (!Number.isFinite(x)) finite = false;
    min = Math.min(min, x); max = Math.max(max, x); sum += x;
  }
  const head = Array.from(d.subarray(0, 6), (x) => Number(x.toPrecision(6))).join(", ");
  const stats = d.length ? ` min=${fmt(min)} max=${fmt(max)} mean=${fmt(sum / d.length)}` : "";
  return `${name}: ${formatType(t.type)}${stats} ${finite ? "finite" : "NOT FINITE"} [${head}${d.length > 6 ? ", …" : ""}]`;
}

const fmt = (x: number) => Number(x.toPrecision(6)).toString();
