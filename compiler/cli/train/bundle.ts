// The bundle `mlc train` and `mlc eval` run: compiled by a child `mlc build` process (so this
// process never loads the compiler — ts-morph, binaryen — and its memory is the bundle's arena,
// the data buffers and Node itself), then imported and driven through its own API, as an app would.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../atomic-write.ts";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { manifestOfScript } from "../../bundle/script.ts";

/** The part of a generated bundle's API (name.d.ts) that mlc train and eval use. */
export interface BundleModel {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly inputs: Readonly<Record<string, Float32Array | Int32Array | Uint8Array | Int8Array | Uint16Array>>;
  readonly outputs: Readonly<Record<string, Float32Array | Int32Array | Uint8Array | Int8Array | Uint16Array>>;
  readonly params: Readonly<Record<string, Float32Array | Int32Array | Uint8Array | Int8Array | Uint16Array>>;
  forward(): void;
  trainStep(): number;
  /** The non-finite guard's report (absent from bundles built before it). */
  readonly lastStepSkipped?: boolean;
  readonly skippedSteps?: number;
  applyUpdate(): void;
  setLearningRate(lr: number): void;
  saveWeights(opts?: { only?: "params" }): Uint8Array;
  loadWeights(bytes: Uint8Array | ArrayBuffer): void;
}

export interface ManifestTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly offset: number;
}

/** The MANIFEST constant a generated bundle script starts with (compiler/bundle/manifest.ts). */
export interface BundleManifest {
  readonly name: string;
  /** Inputs read as indices carry their valid range (compiler/bundle/index-ranges.ts). */
  readonly inputs: readonly (ManifestTensor & { readonly indexRange?: { readonly lo: number; readonly hi: number; readonly what: string } })[];
  readonly outputs: readonly ManifestTensor[];
  readonly params: readonly (ManifestTensor & { trainable: boolean })[];
  readonly loss: { dtype: string; offset: number } | null;
  readonly accumulate: number;
}

export interface BuiltBundleDir {
  readonly dir: string;
  readonly name: string;
  readonly manifest: BundleManifest;
  /** The planned arena, bytes (name.plan.json). */
  readonly arena: number;
  /** What `mlc build` printed on stdout besides its "wrote"/"arena" lines (notes). */
  readonly notes: readonly string[];
}

export class BuildFailed extends Error {
  override name = "BuildFailed";
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** bin/mlc.js of this installation (from the sources or from dist/). */
function mlcBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const bin = join(dir, "bin", "mlc.js");
    if (existsSync(bin) && existsSync(join(dir, "package.json"))) return bin;
    dir = dirname(dir);
  }
  throw new Error("cannot find bin/mlc.js above " + fileURLToPath(import.meta.url));
}

/** Runs `mlc build MODEL ...args --out DIR` in a child process; returns the bundle directory's facts. */
export async function buildInChild(model: string, args: readonly string[], out = mkdtempSync(join(tmpdir(), "mlc-train-bundle-"))): Promise<BuiltBundleDir> {
  const child = spawn(process.execPath, [mlcBin(), "build", model, ...args, "--out", out], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) {
    rmSync(out, { recursive: true, force: true });
    const message = stderr.trim().replace(/^error: /, "") || `mlc build exited with code ${code}`;
    throw new BuildFailed(message, code === 70 ? 70 : 1);
  }
  const notes = stdout.split("\n").filter((l) => l.startsWith("note: ")).map((l) => l.slice("note: ".length));
  return { ...readBundleDir(out), notes };
}

/** The facts of a bundle directory written by `mlc build` (wasm-simd). */
export function readBundleDir(dir: string): Omit<BuiltBundleDir, "notes"> {
  const script = readdirSync(dir).find((f) => f.endsWith(".js") && !f.endsWith(".wgsl.js"));
  if (!script) throw new Error(`no bundle script in ${dir}`);
  const name = script.slice(0, -".js".length);
  const manifest = readManifest(join(dir, script));
  const plan = JSON.parse(readFileSync(join(dir, `${name}.plan.json`), "utf8")) as { arena: number };
  return { dir, name, manifest, arena: plan.arena };
}

function readManifest(script: string): BundleManifest {
  const manifest = manifestOfScript(readFileSync(script, "utf8"));
  if (!manifest) throw new Error(`${script} has no MANIFEST`);
  return manifest as BundleManifest;
}

/** Imports the bundle and instantiates it (its own weights file unless `weights` is given). */
export async function loadBundle(b: Omit<BuiltBundleDir, "notes">, weights?: Uint8Array): Promise<BundleModel> {
  // The bundle script is an ES module; say so to Node (and loaders) in its folder.
  const pkg = join(b.dir, "package.json");
  if (!existsSync(pkg)) writeFileAtomic(pkg, '{ "type": "module" }\n');
  const module = (await import(pathToFileURL(join(b.dir, `${b.name}.js`)).href)) as { load(opts?: { weights?: Uint8Array }): Promise<BundleModel> };
  return module.load(weights ? { weights } : {});
}

/** What occupies the arena: bytes held for the bundle's life by category, and the shared rest. */
export interface ArenaBreakdown {
  arena: number;
  params: number;
  optimizerState: number;
  otherState: number;
  inputs: number;
  /** Activations, gradients, temporaries and kernel scratch, sharing bytes by lifetime. */
  shared: number;
}

const BYTES: Record<string, number> = { f32: 4, i32: 4, f16: 2, bf16: 2, u8: 1, i8: 1, bool: 1 };

export function arenaBreakdown(b: Pick<BuiltBundleDir, "manifest" | "arena">): ArenaBreakdown {
  const size = (t: ManifestTensor) => t.shape.reduce((x, y) => x * y, 1) * (BYTES[t.dtype] ?? 4);
  const out = { arena: b.arena, params: 0, optimizerState: 0, otherState: 0, inputs: 0, shared: 0 };
  for (const p of b.manifest.params) {
    if (p.trainable) out.params += size(p);
    else if (p.name.startsWith("opt/") || p.name.startsWith("acc/")) out.optimizerState += size(p);
    else out.otherState += size(p);
  }
  for (const i of b.manifest.inputs) out.inputs += size(i);
  out.shared = b.arena - out.params - out.optimizerState - out.otherState - out.inputs;
  return out;
}

export function formatArena(a: ArenaBreakdown): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  return `arena ${kib(a.arena)}: params ${kib(a.params)}, optimizer state ${kib(a.optimizerState)}, other state ${kib(a.otherState)}, ` +
    `inputs ${kib(a.inputs)}, activations/gradients/scratch ${kib(a.shared)} (shared by lifetime)`;
}
