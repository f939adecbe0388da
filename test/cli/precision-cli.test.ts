// --precision, --io-precision, --mixed and --loss-scale through the real command line: a 16-bit
// inference bundle's weights file, mlc mem's bytes by dtype, and the flags' usage errors.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-precision-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("reduced precision on the command line", () => {
  it("mlc build --precision f16 writes F16 weights in half the bytes, f32 inputs and outputs", () => {
    const f32 = mlc("build", "examples/cnn/model.ts", "--out", join(tmp, "f32"));
    const f16 = mlc("build", "examples/cnn/model.ts", "--out", join(tmp, "f16"), "--precision", "f16");
    expect(f16.stderr).toBe("");
    expect([f32.code, f16.code]).toEqual([0, 0]);
    const read = (dir: string) => decodeSafetensors(readFileSync(join(tmp, dir, "cnn.safetensors"))).tensors;
    const [full, half] = [read("f32"), read("f16")];
    for (const [name, t] of Object.entries(half)) {
      expect(t.dtype).toBe("F16");
      expect(full[name].dtype).toBe("F32");
    }
    expect(readFileSync(join(tmp, "f16", "cnn.safetensors")).length).toBeLessThan(0.55 * readFileSync(join(tmp, "f32", "cnn.safetensors")).length);
    const dts = readFileSync(join(tmp, "f16", "cnn.d.ts"), "utf8");
    expect(dts).toMatch(/"images": Float32Array/);
  });

  it("mlc mem --train --mixed bf16 breaks the bytes down by dtype", () => {
    const { code, stdout, stderr } = mlc("mem", "examples/mnist-mlp/model.ts", "--train", "--mixed", "bf16");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/by dtype, naive \/ live at the peak:\n\s+bf16 /);
    expect(stdout).toMatch(/\n\s+f32 /);
  });

  it("refuses flags that do not go together", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--train", "--precision", "bf16"], /--precision is for inference; with --train use --mixed/],
      [["--mixed", "bf16"], /--mixed needs --train/],
      [["--io-precision", "f16"], /--io-precision needs --precision/],
      [["--precision", "f16", "--io-precision", "bf16"], /--io-precision bf16 must be f32 or the --precision dtype \(f16\)/],
      [["--train", "--mixed", "bf16", "--loss-scale", "1024"], /--loss-scale is for --mixed f16/],
      [["--train", "--mixed", "f16", "--accumulate", "2"], /does not combine with --accumulate/],
    ];
    for (const [flags, message] of cases) {
      const { code, stderr } = mlc("ir", "examples/mnist-mlp/model.ts", ...flags);
      expect(code, flags.join(" ")).toBe(1);
      expect(stderr).toMatch(message);
    }
  });
});
