// `mlc train` killed with SIGKILL at random moments (its whole process group: the command, its
// training process and any compile child), several times in one run: after every kill the files in
// RUN/ load (saves are atomic: temp file, fsync, rename), and `--resume RUN/` continues until the
// run ends with weights and optimizer state identical, byte for byte, to an uninterrupted run's.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { rng } from "../support/seeded-random.ts";
import { syntheticImages, writeIdx } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-train-kill-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const env = { ...process.env, TMPDIR: tmp };

mkdirSync(join(tmp, "data"));
const data = writeIdx(join(tmp, "data"), syntheticImages(4800, 5), "train", false);
const evalData = writeIdx(join(tmp, "data"), syntheticImages(40, 6), "test", false);
// Long enough (900 steps) that several kills land before it ends: a cycle of the loop below lets
// the run go on for at most a save and KILL_AFTER_MS more.
const flags = (out: string) => ["--data", data, "--eval", evalData, "--batch", "32", "--epochs", "6", "--lr-schedule", "warmup-cosine", "--save-every", "3", "--out", out];
/** The kill comes a random moment of up to this long after the run's next save. */
const KILL_AFTER_MS = 200;

/** Starts `mlc train ARGS` in its own process group; resolves when it exits (code, or null when killed). */
function start(args: string[]) {
  const child = spawn(process.execPath, ["bin/mlc.js", "train", "examples/cnn/model.ts", ...args], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, done, out: () => stdout, err: () => stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The step of the last save (undefined before the first). */
function savedStep(run: string): number | undefined {
  try {
    return (JSON.parse(decodeSafetensors(readFileSync(join(run, "checkpoint.safetensors"))).metadata["mlc.train"]) as { step: number }).step;
  } catch {
    return undefined;
  }
}

/** Every file a kill may have left must load: the config, the checkpoint with its position, the weights. */
function checkLoadable(run: string): number | undefined {
  if (existsSync(join(run, "config.json"))) JSON.parse(readFileSync(join(run, "config.json"), "utf8"));
  if (existsSync(join(run, "weights.safetensors"))) expect(Object.keys(decodeSafetensors(readFileSync(join(run, "weights.safetensors"))).tensors)).toHaveLength(6);
  if (!existsSync(join(run, "checkpoint.safetensors"))) return undefined;
  const saved = decodeSafetensors(readFileSync(join(run, "checkpoint.safetensors")));
  expect(Object.keys(saved.tensors)).toHaveLength(14); // 6 params, 6 momentum buffers, opt/lr, opt/skipped_steps
  return (JSON.parse(saved.metadata["mlc.train"]) as { step: number }).step;
}

it("survives SIGKILL at random moments and resumes to the uninterrupted run's weights", async () => {
  const reference = join(tmp, "reference");
  const whole = spawnSync(process.execPath, ["bin/mlc.js", "train", "examples/cnn/model.ts", ...flags(reference)], { env, encoding: "utf8" });
  expect(whole.stderr).toBe("");
  expect(whole.status).toBe(0);

  const run = join(tmp, "killed");
  const random = rng(2024);
  const steps: Array<number | undefined> = [];
  let kills = 0;
  for (let attempt = 0; attempt < 16 && kills < 8; attempt++) {
    const before = savedStep(run) ?? -1;
    const p = start(existsSync(join(run, "config.json")) ? ["--resume", run] : flags(run));
    // Wait until it has made progress (a save past the last one; a loaded machine can take seconds
    // to start), then kill it a random moment later: mid-step, mid-save, mid-evaluation.
    while ((savedStep(run) ?? -1) <= before && p.child.exitCode === null) await sleep(10);
    await sleep(Math.floor(random() * KILL_AFTER_MS));
    if (p.child.exitCode !== null) {
      expect(p.err()).toBe("");
      break; // it finished before the kill
    }
    process.kill(-p.child.pid!, "SIGKILL");
    expect(await p.done).toBe(null);
    kills++;
    steps.push(checkLoadable(run));
  }
  console.log(`kills: ${kills}, saved step after each: ${steps.join(", ")}`);
  expect(kills).toBeGreaterThanOrEqual(3);
  // Resume until the run ends.
  const last = spawnSync(process.execPath, ["bin/mlc.js", "train", "examples/cnn/model.ts", "--resume", run], { env, encoding: "utf8" });
  expect(last.stderr).toBe("");
  expect(last.status).toBe(0);
  // Kills landed at different points of the run (the saved step after each).
  expect(new Set(steps).size, `saved steps after each kill: ${steps.join(", ")}`).toBeGreaterThanOrEqual(2);

  const a = decodeSafetensors(readFileSync(join(reference, "checkpoint.safetensors")));
  const b = decodeSafetensors(readFileSync(join(run, "checkpoint.safetensors")));
  expect(JSON.parse(b.metadata["mlc.train"]).step).toBe(900); // 6 epochs of 4800 / 32 steps
  for (const [name, t] of Object.entries(a.tensors)) {
    expect(Buffer.from(b.tensors[name].data.buffer, b.tensors[name].data.byteOffset, b.tensors[name].data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
  }
  expect(readFileSync(join(run, "weights.safetensors")).equals(readFileSync(join(reference, "weights.safetensors")))).toBe(true);
}, 120_000);
