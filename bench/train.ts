// `mlc train` on Fashion-MNIST against its PyTorch twin, and the training process's memory.
//
// Accuracy and speed: examples/cnn trained by `mlc train --epochs E --batch B --seed 0` on Debian's
// dataset-fashion-mnist (60,000 training images, gzip IDX, streamed from disk) and by
// test/oracle/train_fashion.py: the same model (test/oracle/twins.py), the same initial weights
// (the params mlc's bundle starts from), SGD with the model's lr and momentum on a cosine schedule
// (annealed to 0, so the final accuracy is not one noisy step's), the same batch and the same
// order of samples (mlc's per-epoch permutation, written out for it), CPU, one thread
// (torch.set_num_threads(1); a WASM bundle runs on one thread). Both report test accuracy and loss
// on the 10,000 test images after the last epoch and training samples/s (the training loop only:
// mlc's includes reading every batch from disk; PyTorch's indexes tensors already in memory).
// Speed is also measured in rounds that alternate the two (mlc resuming the run for 600 more steps,
// the twin timing 600 steps), in samples per second and per CPU-second of the training process
// (both single-threaded; CPU time does not follow the machine's load as wall-clock time does).
// Criteria: accuracy within 0.3 points of PyTorch's; the median ratio of samples per CPU-second
// over the rounds at least 1.3x.
//
// Memory: one epoch without evaluation over the 60,000 images and over 4x that (the set written
// four times into one uncompressed IDX file): the training process's peak RSS (its own
// getrusage; the compile runs in a child `mlc build`, the command line in a parent process) must
// be within the arena + 64 MiB and must not grow with the dataset (the two within 2 MiB).
//
//   npx tsx bench/train.ts             prints the tables and the JSON (MLC_BENCH_TRAIN_EPOCHS=3,
//                                      MLC_BENCH_TRAIN_BATCH=32)
//   npm run bench -- train             also writes bench/results/train.json and docs/BENCHMARKS.md
// Needs `apt-get install dataset-fashion-mnist` and /usr/bin/python3 with torch (python3-torch).

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { EpochPermutation } from "../compiler/cli/train/permutation.ts";
import { decodeSafetensors, encodeSafetensors } from "../runtime/safetensors.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import type { BenchReport } from "./run.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DATA = "/usr/share/datasets/fashion-mnist";
const EPOCHS = Number(process.env.MLC_BENCH_TRAIN_EPOCHS ?? 3);
const BATCH = Number(process.env.MLC_BENCH_TRAIN_BATCH ?? 32);
const SEED = 0;
const MIB = 2 ** 20;
/** Interleaved speed rounds, and optimizer steps per round. */
const ROUNDS = 3;
const ROUND_STEPS = 600;

interface MlcRun {
  step: number;
  samplesPerSecond: number;
  samplesPerCpuSecond: number;
  trainSeconds: number;
  trainLoss: number;
  eval: { accuracy: number; loss: number } | null;
  arena: { arena: number };
  peakRssBytes: number;
  samples: number;
}

function mlcTrain(args: string[], env: NodeJS.ProcessEnv): MlcRun {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/mlc.js"), "train", join(ROOT, "examples/cnn/model.ts"), ...args, "--json"], { env, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`mlc train ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as MlcRun;
}

export async function run(): Promise<BenchReport> {
  for (const f of ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
    if (!existsSync(join(DATA, f))) throw new Error(`${join(DATA, f)} is missing: apt-get install dataset-fashion-mnist`);
  }
  const tmp = mkdtempSync(join(tmpdir(), "mlc-bench-train-"));
  const env = { ...process.env, TMPDIR: tmp };
  const train = `images=${DATA}/train-images-idx3-ubyte.gz,labels=${DATA}/train-labels-idx1-ubyte.gz`;
  const test = `images=${DATA}/t10k-images-idx3-ubyte.gz,labels=${DATA}/t10k-labels-idx1-ubyte.gz`;
  try {
    // mlc train, then its twin on the same start.
    process.stderr.write(`bench train: mlc train, ${EPOCHS} epochs at batch ${BATCH}\n`);
    const mlc = mlcTrain(["--data", train, "--eval", test, "--epochs", String(EPOCHS), "--batch", String(BATCH), "--seed", String(SEED), "--lr-schedule", "cosine", "--out", join(tmp, "run")], env);
    const config = JSON.parse(readFileSync(join(tmp, "run", "config.json"), "utf8")) as { lr: number; samples: number };
    const steps = Math.floor(config.samples / BATCH);
    const order = new Int32Array(EPOCHS * steps * BATCH);
    for (let e = 0; e < EPOCHS; e++) {
      const p = new EpochPermutation(config.samples, SEED, e);
      for (let i = 0; i < steps * BATCH; i++) order[e * steps * BATCH + i] = p.at(i);
    }
    writeFileSync(join(tmp, "order.bin"), order);
    const initial = decodeSafetensors(readFileSync(join(tmp, "run", "bundle", "cnn.safetensors"))).tensors;
    writeFileSync(join(tmp, "init.safetensors"), encodeSafetensors(Object.fromEntries(Object.entries(initial).filter(([n]) => !n.startsWith("opt/")))));
    const { optimizer: spec } = trainingSpec(compileModelFile(join(ROOT, "examples/cnn/model.ts")).train);
    const optimizer = { kind: spec.kind, lr: config.lr, momentum: spec.momentum, nesterov: spec.nesterov, weightDecay: spec.weightDecay ?? 0 };
    process.stderr.write(`bench train: the PyTorch twin (torch.set_num_threads(1))\n`);
    const twinArgs = [join(ROOT, "test/oracle/train_fashion.py"), "--model", "cnn", "--config", JSON.stringify({ batch: BATCH }),
      "--weights", join(tmp, "init.safetensors"), "--order", join(tmp, "order.bin"), "--epochs", String(EPOCHS), "--data", DATA,
      "--optimizer", JSON.stringify(optimizer), "--lr-schedule", "cosine", "--threads", "1"];
    const py = spawnSync("/usr/bin/python3", twinArgs, { encoding: "utf8", maxBuffer: 1 << 26 });
    if (py.status !== 0) throw new Error(`train_fashion.py failed (${py.status}):\n${py.stderr}`);
    const torch = JSON.parse(py.stdout.trim().split("\n").at(-1)!) as { accuracy: number; loss: number; samplesPerSecond: number; samplesPerCpuSecond: number; trainSeconds: number; torch: string };

    // Speed rounds: mlc (the run resumed for ROUND_STEPS more steps, its bundle reused) and the
    // twin (ROUND_STEPS timed steps) alternately, so both see the same machine load; the medians.
    process.stderr.write(`bench train: ${ROUNDS} interleaved speed rounds of ${ROUND_STEPS} steps\n`);
    const rounds: Array<{ mlc: number; torch: number; mlcCpu: number; torchCpu: number }> = [];
    let at = mlc.step;
    for (let r = 0; r < ROUNDS; r++) {
      at += ROUND_STEPS;
      const m = mlcTrain(["--resume", join(tmp, "run"), "--steps", String(at)], env);
      const t = spawnSync("/usr/bin/python3", [...twinArgs, "--time-steps", String(ROUND_STEPS)], { encoding: "utf8", maxBuffer: 1 << 26 });
      if (t.status !== 0) throw new Error(`train_fashion.py --time-steps failed (${t.status}):\n${t.stderr}`);
      const tr = JSON.parse(t.stdout.trim().split("\n").at(-1)!) as { samplesPerSecond: number; samplesPerCpuSecond: number };
      rounds.push({ mlc: m.samplesPerSecond, torch: tr.samplesPerSecond, mlcCpu: m.samplesPerCpuSecond, torchCpu: tr.samplesPerCpuSecond });
    }
    const loadAverage = `load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores at the end of the rounds`;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const roundSpeedup = median(rounds.map((r) => r.mlc / r.torch));
    const cpuSpeedup = median(rounds.map((r) => r.mlcCpu / r.torchCpu));

    // Memory over 1x and 4x the data.
    process.stderr.write(`bench train: peak RSS over 1x and 4x the training images\n`);
    const images = gunzipSync(readFileSync(join(DATA, "train-images-idx3-ubyte.gz")));
    const labels = gunzipSync(readFileSync(join(DATA, "train-labels-idx1-ubyte.gz")));
    const x4 = (raw: Buffer, head: number, path: string) => {
      const fd = openSync(path, "w");
      const header = Buffer.from(raw.subarray(0, head));
      header.writeUInt32BE(raw.readUInt32BE(4) * 4, 4);
      writeSync(fd, header);
      for (let k = 0; k < 4; k++) writeSync(fd, raw, head, raw.length - head);
      closeSync(fd);
    };
    x4(images, 16, join(tmp, "x4-images-idx3-ubyte"));
    x4(labels, 8, join(tmp, "x4-labels-idx1-ubyte"));
    const memory = [
      { data: "60,000 images (1x)", run: mlcTrain(["--data", train, "--epochs", "1", "--batch", String(BATCH), "--out", join(tmp, "rss1")], env) },
      { data: "240,000 images (4x)", run: mlcTrain(["--data", `images=${tmp}/x4-images-idx3-ubyte,labels=${tmp}/x4-labels-idx1-ubyte`, "--epochs", "1", "--batch", String(BATCH), "--out", join(tmp, "rss4")], env) },
    ];

    const accuracyGap = 100 * Math.abs(mlc.eval!.accuracy - torch.accuracy);
    const speedup = cpuSpeedup;
    const arena = mlc.arena.arena;
    const rssGrowth = memory[1].run.peakRssBytes - memory[0].run.peakRssBytes;
    const criteria = {
      accuracyWithin03Points: accuracyGap <= 0.3,
      samplesPerSecondAtLeast13x: speedup >= 1.3,
      peakRssWithinArenaPlus64MiB: memory.every((m) => m.run.peakRssBytes <= m.run.arena.arena + 64 * MIB),
      peakRssNotGrowingWithData: Math.abs(rssGrowth) <= 2 * MIB,
    };
    const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
    const yes = (b: boolean) => (b ? "yes" : "**no**");
    const markdown = [
      `examples/cnn on Fashion-MNIST (dataset-fashion-mnist: 60,000 training and 10,000 test images), ${EPOCHS} epochs at batch ${BATCH}, ` +
        `SGD lr ${config.lr} momentum 0.9 on a cosine schedule, the same initial weights and sample order for both; one thread each (\`bench/train.ts\`, ` +
        `PyTorch twin \`test/oracle/train_fashion.py\`, torch ${torch.torch}).`,
      "",
      "| | test accuracy | test loss | training samples/s | samples per CPU-second | training time |",
      "|---|---:|---:|---:|---:|---:|",
      `| \`mlc train\` (WASM SIMD, data streamed from disk) | ${pct(mlc.eval!.accuracy)} | ${mlc.eval!.loss.toFixed(4)} | ${Math.round(mlc.samplesPerSecond)} | ${Math.round(mlc.samplesPerCpuSecond)} | ${mlc.trainSeconds.toFixed(1)} s |`,
      `| PyTorch CPU, 1 thread (data in memory) | ${pct(torch.accuracy)} | ${torch.loss.toFixed(4)} | ${Math.round(torch.samplesPerSecond)} | ${Math.round(torch.samplesPerCpuSecond)} | ${torch.trainSeconds.toFixed(1)} s |`,
      "",
      `Accuracy gap ${accuracyGap.toFixed(2)} points (criterion ≤ 0.3: ${yes(criteria.accuracyWithin03Points)}).`,
      "",
      `Speed in ${ROUNDS} interleaved rounds of ${ROUND_STEPS} steps (mlc / PyTorch): samples/s ` +
        `${rounds.map((r) => `${Math.round(r.mlc)} / ${Math.round(r.torch)}`).join(", ")} (median ratio ${roundSpeedup.toFixed(2)}x); ` +
        `samples per CPU-second ${rounds.map((r) => `${Math.round(r.mlcCpu)} / ${Math.round(r.torchCpu)}`).join(", ")} ` +
        `(median ratio ${cpuSpeedup.toFixed(2)}x). The criterion (≥ 1.3x: ${yes(criteria.samplesPerSecondAtLeast13x)}) is judged on CPU time: ` +
        `both run on one thread, and on a shared machine the wall-clock rates follow the load (here ${loadAverage}).`,
      "",
      "Peak RSS of the training process (one epoch, no evaluation; the compiler runs in a child `mlc build`, the command line in the parent):",
      "",
      "| data | steps | peak RSS | arena | arena + 64 MiB |",
      "|---|---:|---:|---:|---:|",
      ...memory.map((m) => `| ${m.data} | ${m.run.step} | ${(m.run.peakRssBytes / MIB).toFixed(1)} MiB | ${(m.run.arena.arena / MIB).toFixed(2)} MiB | ${((m.run.arena.arena + 64 * MIB) / MIB).toFixed(1)} MiB |`),
      "",
      `Within the arena + 64 MiB: ${yes(criteria.peakRssWithinArenaPlus64MiB)}; 4x the data changes the peak by ${(rssGrowth / MIB).toFixed(1)} MiB (criterion: within 2 MiB: ${yes(criteria.peakRssNotGrowingWithData)}).`,
    ].join("\n");
    const failed = Object.entries(criteria).filter(([, ok]) => !ok).map(([k]) => k);
    if (failed.length > 0) {
      process.stderr.write(`bench train: criteria not met: ${failed.join(", ")}\n`);
      process.exitCode = 1;
    }
    return { name: "train", title: "mlc train on Fashion-MNIST against PyTorch", results: { epochs: EPOCHS, batch: BATCH, mlc, torch, rounds, roundSpeedup, cpuSpeedup, arena, memory, accuracyGap, speedup, criteria }, markdown };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  process.stdout.write(report.markdown + "\n" + JSON.stringify(report.results, null, 2) + "\n");
}
