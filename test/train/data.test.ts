// The pieces of `mlc train` that need no bundle: datasets streamed from IDX (plain and gzip), .npy
// and safetensors files with their checks, the per-epoch permutation, learning-rate schedules and
// atomic writes.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Dataset, DataError, type InputSpec } from "../../compiler/cli/train/data.ts";
import { EpochPermutation } from "../../compiler/cli/train/permutation.ts";
import { learningRate } from "../../compiler/cli/train/schedule.ts";
import { writeFileAtomic } from "../../compiler/cli/atomic-write.ts";
import { npyBytes, syntheticImages, writeIdx, writeSafetensorsSet } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-train-data-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cacheDir = join(tmp, "cache");

const BATCH = 4;
const INPUTS: InputSpec[] = [
  { name: "images", dtype: "f32", shape: [BATCH, 28, 28, 1] },
  { name: "labels", dtype: "i32", shape: [BATCH] },
];
const views = () => ({ images: new Float32Array(BATCH * 784), labels: new Int32Array(BATCH) });
const set = syntheticImages(10, 3);

/** Reads samples [3, 0, 9] (and one padded row) and checks them against the set. */
function checkRead(d: Dataset, scale = 1 / 255) {
  const v = views();
  v.images.fill(7);
  v.labels.fill(7);
  d.read([3, 0, 9], 3, v);
  [3, 0, 9].forEach((s, r) => {
    expect(v.labels[r]).toBe(set.labels[s]);
    for (const p of [0, 100, 783]) expect(v.images[r * 784 + p]).toBe(Math.fround(set.images[s * 784 + p] * scale));
  });
  expect(v.labels[3]).toBe(0); // the padded row is zeroed
  expect(v.images.subarray(3 * 784).every((x) => x === 0)).toBe(true);
}

describe("datasets", () => {
  it("reads MNIST IDX files, gzip-compressed too (decompressed once into the cache)", async () => {
    for (const gz of [false, true]) {
      const dir = join(tmp, gz ? "gz" : "plain");
      mkdirSync(dir, { recursive: true });
      const spec = writeIdx(dir, set, "train", gz);
      // Both columns small enough to be read whole (the default), and both streamed sample by sample.
      for (const smallColumnBytes of [undefined, 0]) {
        const d = await Dataset.open(spec, INPUTS, { cacheDir, smallColumnBytes });
        expect(d.count).toBe(10);
        expect(d.batch).toBe(BATCH);
        checkRead(d);
        checkRead(d);
        d.close();
      }
    }
    const cached = readdirSync(cacheDir);
    expect(cached.filter((f) => !f.includes(".tmp-"))).toHaveLength(2);
    // Opening again reuses the cache files (same names, not rewritten).
    const before = cached.map((f) => statSync(join(cacheDir, f)).mtimeMs);
    (await Dataset.open(`images=${tmp}/gz/train-images-idx3-ubyte.gz,labels=${tmp}/gz/train-labels-idx1-ubyte.gz`, INPUTS, { cacheDir })).close();
    expect(readdirSync(cacheDir).map((f) => statSync(join(cacheDir, f)).mtimeMs)).toEqual(before);
  });

  it("reads a small column once and keeps it; a larger one is read at every batch", async () => {
    const dir = join(tmp, "small-columns");
    mkdirSync(dir, { recursive: true });
    const spec = writeIdx(dir, set, "train", false);
    // The labels (10 bytes) are kept, the images (7840 bytes) streamed.
    const d = await Dataset.open(spec, INPUTS, { smallColumnBytes: 1000 });
    checkRead(d);
    truncateSync(join(dir, "train-labels-idx1-ubyte"), 8);
    checkRead(d);
    truncateSync(join(dir, "train-images-idx3-ubyte"), 16 + 784 * 5);
    expect(() => d.read([3, 0, 9], 3, views())).toThrow(`${join(dir, "train-images-idx3-ubyte")}: the file ended early reading sample 9 of 'images' (truncated while in use?)`);
    d.close();
  });

  it("keeps u8 pixels 0..255 with scaleU8 false", async () => {
    const d = await Dataset.open(writeIdx(join(tmp, "plain"), set, "raw", false), INPUTS, { scaleU8: false });
    checkRead(d, 1);
    d.close();
  });

  it("reads a safetensors file whose tensors are named like the inputs", async () => {
    const d = await Dataset.open(writeSafetensorsSet(join(tmp, "set.safetensors"), set), INPUTS);
    checkRead(d);
    d.close();
  });

  it("reads a directory of NAME.npy files", async () => {
    const dir = join(tmp, "npy");
    mkdirSync(dir);
    writeFileSync(join(dir, "images.npy"), npyBytes("|u1", [10, 28, 28], set.images));
    writeFileSync(join(dir, "labels.npy"), npyBytes("<i8", [10], BigInt64Array.from(set.labels, (v) => BigInt(v))));
    const d = await Dataset.open(dir, INPUTS);
    checkRead(d);
    d.close();
  });

  const error = async (spec: string, inputs = INPUTS) => {
    try {
      (await Dataset.open(spec, inputs)).close();
    } catch (e) {
      expect(e).toBeInstanceOf(DataError);
      return (e as Error).message;
    }
    throw new Error("no error");
  };

  it("names the tensor and the file: a missing tensor, a wrong shape, a wrong dtype, a truncated file", async () => {
    const st = join(tmp, "set.safetensors");
    expect(await error(`images=${st}`)).toBe(`--data images=${st}: missing tensor for input 'labels' (i32[4])`);
    expect(await error(`images=${st}:nope,labels=${st}`)).toBe(`${st}: missing tensor 'nope' (the file has images, labels)`);
    expect(await error(join(tmp, "npy"), [...INPUTS, { name: "mask", dtype: "f32", shape: [BATCH, 3] }])).toBe(
      `${join(tmp, "npy")}: missing tensor 'mask' (f32[4,3]): no mask.npy in the directory`,
    );
    const wide: InputSpec[] = [{ name: "images", dtype: "f32", shape: [BATCH, 100] }, INPUTS[1]];
    expect(await error(st, wide)).toBe(`${st}: 'images' has samples of shape [28,28,1] (784 values) but input 'images' is f32[4,100] (100 values per sample)`);
    const floats = join(tmp, "floatlabels.npy");
    writeFileSync(floats, npyBytes("<f4", [10], new Float32Array(10)));
    expect(await error(`images=${st},labels=${floats}`)).toBe(`${floats}: 'labels' holds f32 values but input 'labels' is i32 (integers needed)`);
    const cut = join(tmp, "cut-images-idx3-ubyte");
    writeFileSync(cut, readFileSync(join(tmp, "plain", "train-images-idx3-ubyte")));
    truncateSync(cut, 16 + 784 * 5 + 10);
    expect(await error(`images=${cut},labels=${tmp}/plain/train-labels-idx1-ubyte`)).toBe(`${cut}: 'images' is truncated: 10 samples of 784 bytes need 7856 bytes, the file has 3946`);
    const badGz = join(tmp, "bad.gz");
    writeFileSync(badGz, readFileSync(join(tmp, "gz", "train-images-idx3-ubyte.gz")).subarray(0, 100));
    expect(await error(`images=${badGz},labels=${tmp}/plain/train-labels-idx1-ubyte`)).toMatch(new RegExp(`^${badGz}: cannot decompress: .* \\(a truncated or corrupt gzip file\\?\\)$`));
    expect(await error(`images=${join(tmp, "plain", "train-images-idx3-ubyte")},labels=${join(tmp, "npy", "labels.npy")},labels=x`)).toBe("--data: 'labels' is mapped twice");
    expect(await error(`picture=${st}`)).toBe("--data: 'picture' is not an input of the model (inputs: images, labels)");
    expect(await error(join(tmp, "nothing-here"))).toBe(`cannot read ${join(tmp, "nothing-here")}: ENOENT`);
    const counts = join(tmp, "short-labels.npy");
    writeFileSync(counts, npyBytes("<i4", [9], new Int32Array(9)));
    expect(await error(`images=${st},labels=${counts}`)).toBe(`${counts}: 'labels' has 9 samples but 'images' (${st}) has 10`);
  });
});

describe("the epoch permutation", () => {
  it("is a bijection of [0, n), different per epoch and seed, the same when recomputed", () => {
    for (const n of [1, 2, 5, 64, 1000, 60_000]) {
      const p = new EpochPermutation(n, 7, 3);
      const seen = new Uint8Array(n);
      for (let i = 0; i < n; i++) seen[p.at(i)]++;
      expect(seen.every((c) => c === 1)).toBe(true);
    }
    const at = (seed: number, epoch: number) => Array.from({ length: 20 }, (_, i) => new EpochPermutation(1000, seed, epoch).at(i));
    expect(at(0, 0)).toEqual(at(0, 0));
    expect(at(0, 1)).not.toEqual(at(0, 0));
    expect(at(1, 0)).not.toEqual(at(0, 0));
  });

  it("spreads a batch over the whole dataset (sorted data gets mixed batches)", () => {
    const p = new EpochPermutation(60_000, 0, 0);
    const firstBatch = Array.from({ length: 64 }, (_, i) => Math.floor(p.at(i) / 6000)); // "class" of a sorted set
    expect(new Set(firstBatch).size).toBeGreaterThanOrEqual(8);
  });
});

describe("learning-rate schedules", () => {
  it("computes each schedule from (step, total)", () => {
    expect(learningRate({ kind: "constant", lr: 0.1 }, 57, 100)).toBe(0.1);
    expect(learningRate({ kind: "step", lr: 0.1 }, 33, 100)).toBe(0.1); // decays every ceil(100/3) = 34 steps
    expect(learningRate({ kind: "step", lr: 0.1 }, 34, 100)).toBeCloseTo(0.01, 12);
    expect(learningRate({ kind: "step", lr: 1, gamma: 0.5, every: 10 }, 25, undefined)).toBe(0.25);
    expect(learningRate({ kind: "cosine", lr: 2 }, 0, 100)).toBe(2);
    expect(learningRate({ kind: "cosine", lr: 2 }, 50, 100)).toBeCloseTo(1, 12);
    expect(learningRate({ kind: "warmup-cosine", lr: 1, warmup: 10 }, 0, 110)).toBeCloseTo(0.1, 12);
    expect(learningRate({ kind: "warmup-cosine", lr: 1, warmup: 10 }, 9, 110)).toBe(1);
    expect(learningRate({ kind: "warmup-cosine", lr: 1, warmup: 10 }, 60, 110)).toBeCloseTo(0.5, 12);
  });
});

describe("atomic writes", () => {
  it("replace the file whole and leave no temp files", () => {
    const path = join(tmp, "atomic", "f.bin");
    mkdirSync(join(tmp, "atomic"));
    writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    writeFileAtomic(path, "hello");
    expect(readFileSync(path, "utf8")).toBe("hello");
    expect(readdirSync(join(tmp, "atomic"))).toEqual(["f.bin"]);
  });
});
