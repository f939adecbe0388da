// Bad input to `mlc train` / `mlc eval` (a missing tensor, a wrong shape, bad flags) is one line on
// stderr naming the tensor and the file, exit code 1, no stack trace, nothing written; wrong dtypes
// and truncated files are in train-errors-files.test.ts.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeSafetensors } from "../../runtime/safetensors.ts";
import { npyBytes } from "../support/train-data.ts";
import { good, mlc, refuses, tmp } from "../support/train-errors.ts";

describe("mlc train refuses bad data", () => {
  it("a missing tensor", () => {
    const file = join(tmp, "images-only.safetensors");
    writeFileSync(file, encodeSafetensors({ images: { dtype: "F32", shape: [64, 28, 28, 1], data: new Float32Array(64 * 784) } }));
    refuses(file, `${file}: missing tensor 'labels' (the file has images)`);
  }, 60_000);

  it("a wrong shape", () => {
    const dir = join(tmp, "small-images");
    mkdirSync(dir);
    writeFileSync(join(dir, "images.npy"), npyBytes("|u1", [64, 20, 20], new Uint8Array(64 * 400)));
    writeFileSync(join(dir, "labels.npy"), npyBytes("<i4", [64], new Int32Array(64)));
    refuses(dir, `${join(dir, "images.npy")}: 'images' has samples of shape [20,20] (400 values) but input 'images' is f32[16,28,28,1] (784 values per sample)`);
  }, 60_000);

});

describe("usage errors", () => {
  it("are one line before anything runs", () => {
    const r1 = mlc("train", "examples/cnn/model.ts", "--data", good);
    expect(r1).toMatchObject({ status: 1, stderr: "error: name the run directory: --out RUN/ (or --resume RUN/)\n" });
    const r2 = mlc("train", "examples/cnn/model.ts", "--data", good, "--out", join(tmp, "x"), "--epochs", "2", "--steps", "5");
    expect(r2).toMatchObject({ status: 1, stderr: "error: give one of --epochs, --steps, --seconds, not --epochs and --steps\n" });
    const r3 = mlc("train", "examples/cnn/model.ts", "--data", good, "--out", join(tmp, "x"), "--seconds", "5", "--lr-schedule", "cosine");
    expect(r3).toMatchObject({ status: 1, stderr: "error: --lr-schedule cosine needs the run's length in steps: use --epochs or --steps, not --seconds\n" });
    const r4 = mlc("train", "examples/cnn/model.ts", "--resume", join(tmp, "no-such-run"));
    expect(r4).toMatchObject({ status: 1, stderr: `error: ${join(tmp, "no-such-run")} holds no mlc train run to resume (no config.json)\n` });
    expect(existsSync(join(tmp, "x"))).toBe(false);
  }, 60_000);

  it("mlc eval: a missing weights file is one line", () => {
    const r = mlc("eval", "examples/cnn/model.ts", "--weights", join(tmp, "none.safetensors"), "--data", good);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: cannot read ${join(tmp, "none.safetensors")}: ENOENT\n`);
  }, 60_000);
});
