// Fashion-MNIST for the benchmarks (Debian's dataset-fashion-mnist, gzip IDX files): a split as
// pixels in [0, 1] (the training bundles' and the PyTorch twins' scaling) with its labels, and the
// seeded sample orders the benchmarks train in.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Digits } from "../examples/mnist-mlp/data.ts";

export const FASHION = "/usr/share/datasets/fashion-mnist";

/** An IDX file (gzip): its dimensions and bytes. */
function idx(file: string): { dims: number[]; data: Uint8Array } {
  const bytes = gunzipSync(readFileSync(file));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = bytes[3];
  return { dims: Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i)), data: bytes.subarray(4 + 4 * rank) };
}

/** A Fashion-MNIST split ("train": 60,000 images, "t10k": 10,000), 784 pixels in [0, 1] per image. */
export function loadFashion(part: "train" | "t10k"): Digits {
  const images = idx(join(FASHION, `${part}-images-idx3-ubyte.gz`));
  const labels = idx(join(FASHION, `${part}-labels-idx1-ubyte.gz`));
  return { x: Float32Array.from(images.data, (v) => v / 255), y: Int32Array.from(labels.data), count: labels.dims[0] };
}

/** A Fisher-Yates permutation of 0 … n-1 drawn from `random`. */
export function permutation(n: number, random: () => number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
