// Bad data files for `mlc train` (see train-errors.test.ts): a wrong dtype, in --eval data too, and
// truncated files, plain and gzip — one line naming the tensor and the file, nothing written.
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { npyBytes, writeIdx } from "../support/train-data.ts";
import { d, good, goodImages, goodLabels, refuses, set, tmp } from "../support/train-errors.ts";

describe("mlc train refuses bad data", () => {
  it("a wrong dtype (float labels), in --eval data too", () => {
    const labels = join(tmp, "float-labels.npy");
    writeFileSync(labels, npyBytes("<f4", [64], new Float32Array(64)));
    refuses(`images=${goodImages},labels=${labels}`, `${labels}: 'labels' holds f32 values but input 'labels' is i32 (integers needed)`);
    refuses(good, `${labels}: 'labels' holds f32 values but input 'labels' is i32 (integers needed)`, ["--eval", `images=${goodImages},labels=${labels}`]);
  }, 60_000);

  it("a truncated file, plain or gzip", () => {
    const cut = join(tmp, "cut-images-idx3-ubyte");
    writeFileSync(cut, readFileSync(goodImages));
    truncateSync(cut, 16 + 784 * 10);
    refuses(`images=${cut},labels=${goodLabels}`, `${cut}: 'images' is truncated: 64 samples of 784 bytes need 50192 bytes, the file has 7856`);
    const gz = writeIdx(d, set, "gz", true).split(",")[0].split("=")[1];
    const cutGz = join(tmp, "cut-images.gz");
    writeFileSync(cutGz, readFileSync(gz).subarray(0, 200));
    refuses(`images=${cutGz},labels=${goodLabels}`, new RegExp(`^error: ${cutGz}: cannot decompress: .*\\(a truncated or corrupt gzip file\\?\\)\\n$`));
  }, 60_000);
});

