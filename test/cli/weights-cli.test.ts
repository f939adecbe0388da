// `--weights` on the command line (mlc build, run, eval): a file with NaN or ±Inf is refused with
// one line naming the file, the tensor and the first bad element, exit 1, unless
// --allow-nonfinite-weights; a file with no tensors is refused; params a file leaves out are
// named in a note (they keep their seeded initial values).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-weights-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });

/** recsys's item.embed ([500, 16]) with `value` at element 35, and the global offset. */
function weightsWith(value: number, file: string): string {
  const embed = new Float32Array(500 * 16).fill(0.01);
  embed[35] = value;
  writeFileSync(file, encodeSafetensors({ "item.embed": { dtype: "F32", shape: [500, 16], data: embed }, offset: { dtype: "F32", shape: [1], data: new Float32Array([0.5]) } }));
  return file;
}

describe("--weights with non-finite values", () => {
  for (const [value, word] of [[NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"]] as const) {
    it(`mlc build refuses ${word}, naming the tensor and element; --allow-nonfinite-weights accepts NaN`, () => {
      const file = weightsWith(value, join(tmp, `w-${word}.safetensors`));
      const out = join(tmp, `out-${word}`);
      const r = mlc("build", "examples/recsys/model.ts", "--weights", file, "--out", out);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`error: ${file}: 'item.embed' holds ${word} at element 35 (index [2, 3] of F32[500,16]); pass --allow-nonfinite-weights to load it anyway\n`);
      expect(existsSync(out)).toBe(false);
      if (word !== "NaN") return;
      const ok = mlc("build", "examples/recsys/model.ts", "--weights", file, "--allow-nonfinite-weights", "--out", out);
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
    }, 60_000);
  }

  it("mlc run and mlc eval refuse NaN too", () => {
    const file = weightsWith(NaN, join(tmp, "run-nan.safetensors"));
    const message = `error: ${file}: 'item.embed' holds NaN at element 35 (index [2, 3] of F32[500,16]); pass --allow-nonfinite-weights to load it anyway\n`;
    const run = mlc("run", "examples/recsys/model.ts", "--random-inputs", "--weights", file);
    expect(run.stderr).toBe(message);
    expect(run.status).toBe(1);
    const data = join(tmp, "ratings.safetensors");
    writeFileSync(data, encodeSafetensors({
      user: { dtype: "I32", shape: [128], data: new Int32Array(128) },
      item: { dtype: "I32", shape: [128], data: new Int32Array(128) },
      rating: { dtype: "F32", shape: [128], data: new Float32Array(128) },
    }));
    const ev = mlc("eval", "examples/recsys/model.ts", "--weights", file, "--data", data);
    expect(ev.stderr).toBe(message);
    expect(ev.status).toBe(1);
  }, 60_000);
});

describe("--weights files that set nothing or only some params", () => {
  it("refuses a file with no tensors", () => {
    const file = join(tmp, "empty.safetensors");
    writeFileSync(file, encodeSafetensors({}));
    for (const args of [["build", "examples/recsys/model.ts", "--out", join(tmp, "empty-out")], ["run", "examples/recsys/model.ts", "--random-inputs"]]) {
      const r = mlc(...args, "--weights", file);
      expect(r.stderr).toBe(`error: ${file}: the file has no tensors (a weights file holds the params it sets)\n`);
      expect(r.status).toBe(1);
    }
  }, 60_000);

  it("notes the params a partial file leaves at their seeded init", () => {
    const file = weightsWith(0.25, join(tmp, "partial.safetensors"));
    const note = `note: ${file}: 3 params not in the file keep the seeded initial values: user.embed, user.bias, item.bias`;
    const b = mlc("build", "examples/recsys/model.ts", "--weights", file, "--out", join(tmp, "partial-out"));
    expect(b.status).toBe(0);
    expect(b.stdout.split("\n")).toContain(note);
    const r = mlc("run", "examples/recsys/model.ts", "--random-inputs", "--weights", file);
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toContain(note);
  }, 60_000);
});
