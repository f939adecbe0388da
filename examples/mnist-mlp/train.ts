// `npm run mnist` — compile examples/mnist-mlp/model.ts into a training bundle (what `mlc build
// --train` does), then train it on MNIST through the bundle's own API only, as an app embedding
// the bundle would, and report test accuracy, speed and memory.
//
//   npm run mnist -- [--epochs 10] [--seconds 60] [--batch 64] [--seed 0] [--out DIR] [--json]
//
// Data (data.ts): the 10,000 digits of the npm `mnist` package, a fixed seeded split into 8,000
// for training and 2,000 held out. --seconds is a budget for training: it stops after the step
// that crosses it. --seed seeds the initial weights and the batch order. --json ends the output
// with one line of JSON holding the figures printed above it.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { loadMnist, mulberry32, PIXELS, shuffle, type Digits } from "./data.ts";
import { formatMemory, memoryBreakdown, type PlanFile } from "./memory.ts";
import { parseOptions, UsageError } from "./options.ts";
import { Progress } from "./progress.ts";

/** The part of the generated bundle's API (dist/mnistMlp.d.ts) this runner uses. */
interface BundleModel {
  readonly memory: { readonly buffer: ArrayBuffer }; // a WebAssembly.Memory
  readonly inputs: Readonly<Record<string, Float32Array | Int32Array>>;
  readonly outputs: Readonly<Record<string, Float32Array>>;
  forward(): void;
  trainStep(): number;
}

const HERE = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const opts = parseOptions();
  const out = opts.out ?? join(HERE, "dist");

  // Build: the library path of `mlc build --train --seed N`.
  const buildStart = performance.now();
  const model = compileModelFile(join(HERE, "model.ts"), { set: opts.batch === undefined ? {} : { batch: String(opts.batch) } });
  const training = trainingSpec(model.train, {});
  const bundle = build(model.graph, { backend: wasmBackend, training, seed: opts.seed });
  mkdirSync(out, { recursive: true });
  for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(out, file), contents);
  const fileSizes = Object.fromEntries(Object.entries(bundle.files).map(([f, c]) => [f, typeof c === "string" ? Buffer.byteLength(c) : c.byteLength]));
  const shown = relative(process.cwd(), out);
  console.log(`built ${shown.startsWith("..") || isAbsolute(shown) ? out : shown || "."}/ in ${seconds(performance.now() - buildStart)}: ` +
    Object.entries(fileSizes).map(([f, n]) => `${f} (${kib(n)})`).join(", ") + `; arena ${kib(bundle.layout.arena)}`);

  // From here on only the bundle's API, as an app uses it.
  const { load } = (await import(pathToFileURL(join(out, `${bundle.name}.js`)).href)) as { load(): Promise<BundleModel> };
  const m = await load();
  const { x, y } = m.inputs;
  const logits = m.outputs.logits;
  if (!(x instanceof Float32Array) || !(y instanceof Int32Array) || !logits) throw new Error(`the bundle must have inputs x (f32), y (i32) and an output logits`);
  const batch = y.length;
  const { train, test } = loadMnist();
  if (batch > train.count) throw new Error(`batch ${batch} is larger than the ${train.count} training digits`);
  const stepsPerEpoch = Math.floor(train.count / batch); // the last partial batch of an epoch is dropped
  console.log(`data: ${train.count} training digits, ${test.count} held-out test digits; batch ${batch}, ` +
    `${opts.epochs} epochs of ${stepsPerEpoch} steps (at most ${opts.seconds} s), ${training.optimizer.kind} lr ${training.optimizer.lr}`);

  // Train.
  const random = mulberry32(opts.seed);
  const order = Uint32Array.from({ length: train.count }, (_, i) => i);
  const progress = new Progress();
  let steps = 0;
  let lastLoss = NaN;
  let outOfTime = false;
  const trainStart = performance.now();
  const elapsed = () => (performance.now() - trainStart) / 1000;
  for (let epoch = 1; epoch <= opts.epochs && !outOfTime; epoch++) {
    shuffle(order, random);
    let lossSum = 0;
    for (let step = 1; step <= stepsPerEpoch; step++) {
      for (let r = 0; r < batch; r++) {
        const i = order[(step - 1) * batch + r];
        x.set(train.x.subarray(i * PIXELS, (i + 1) * PIXELS), r * PIXELS);
        y[r] = train.y[i];
      }
      const loss = m.trainStep();
      if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss is ${loss} at epoch ${epoch}, step ${step}`);
      lossSum += loss;
      steps++;
      lastLoss = lossSum / step;
      const state = { epoch, epochs: opts.epochs, step, stepsPerEpoch, loss: lastLoss, samplesPerSecond: (steps * batch) / elapsed() };
      progress.update(state);
      if (step === stepsPerEpoch) progress.epochDone(state);
      if (elapsed() > opts.seconds) {
        outOfTime = true;
        break;
      }
    }
  }
  const trainSeconds = elapsed();
  progress.finish();
  const samplesPerSecond = (steps * batch) / trainSeconds;

  // Evaluate and report.
  const correct = countCorrect(m, test, batch);
  const plan = JSON.parse(bundle.files[`${bundle.name}.plan.json`] as string) as PlanFile;
  const memory = memoryBreakdown(bundle.layout, plan);
  const wasmMemoryBytes = m.memory.buffer.byteLength;
  console.log(`test accuracy ${((100 * correct) / test.count).toFixed(2)}% (${correct}/${test.count} held-out digits)`);
  console.log(`training: ${steps} steps in ${trainSeconds.toFixed(2)} s, ${Math.round(samplesPerSecond).toLocaleString("en-US")} samples/s, ` +
    `last epoch's mean loss ${lastLoss.toFixed(4)}${outOfTime ? ` (stopped: the ${opts.seconds} s budget ran out)` : ""}`);
  process.stdout.write(formatMemory(memory, wasmMemoryBytes));
  if (opts.json) {
    console.log(JSON.stringify({
      accuracy: correct / test.count, correct, testCount: test.count, trainCount: train.count, batch, steps,
      epochs: steps / stepsPerEpoch, trainSeconds, samplesPerSecond, loss: lastLoss, outOfTime, wasmMemoryBytes, memory, files: fileSizes,
    }));
  }
}

/** Correct predictions over all of `test`: the last partial batch is padded with zeros and its padded rows ignored. */
function countCorrect(m: BundleModel, test: Digits, batch: number): number {
  const { x, y } = m.inputs;
  const logits = m.outputs.logits;
  const classes = logits.length / batch;
  let correct = 0;
  for (let start = 0; start < test.count; start += batch) {
    const rows = Math.min(batch, test.count - start);
    x.set(test.x.subarray(start * PIXELS, (start + rows) * PIXELS));
    x.fill(0, rows * PIXELS);
    y.set(test.y.subarray(start, start + rows));
    y.fill(0, rows);
    m.forward();
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
      if (best === test.y[start + r]) correct++;
    }
  }
  return correct;
}

const kib = (n: number) => `${(n / 1024).toLocaleString("en-US", { maximumFractionDigits: 1 })} KiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

main().catch((e: unknown) => {
  process.stderr.write(`\nnpm run mnist: ${e instanceof Error ? e.message : String(e)}\n`);
  if (!(e instanceof UsageError) && e instanceof Error && process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
