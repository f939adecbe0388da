// Small datasets on disk for the `mlc train` / `mlc eval` tests, in every format the loader reads:
// MNIST-style IDX (big-endian header), NumPy .npy and safetensors; images are u8 28x28 with a
// learnable pattern (the class's bright row), labels u8/i32.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encodeSafetensors } from "../../runtime/safetensors.ts";
import { rng } from "./seeded-random.ts";

export interface ImageSet {
  images: Uint8Array; // n x 28 x 28
  labels: Uint8Array; // n
  n: number;
}

/** n images whose class c (of 10) lights rows 2c..2c+2 brightly, over seeded noise. */
export function syntheticImages(n: number, seed = 1): ImageSet {
  const random = rng(seed);
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(random() * 10);
    labels[i] = c;
    for (let p = 0; p < 784; p++) {
      const row = Math.floor(p / 28);
      images[i * 784 + p] = row >= 2 * c + 2 && row < 2 * c + 5 ? 200 + Math.floor(random() * 55) : Math.floor(random() * 60);
    }
  }
  return { images, labels, n };
}

export function idxBytes(type: "u8" | "i32", shape: readonly number[], data: Uint8Array | Int32Array): Uint8Array {
  const code = type === "u8" ? 0x08 : 0x0c;
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = code;
  head[3] = shape.length;
  shape.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  let body: Buffer;
  if (type === "u8") body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  else {
    body = Buffer.alloc(data.length * 4);
    data.forEach((v, i) => body.writeInt32BE(v, 4 * i));
  }
  return Buffer.concat([head, body]);
}

export function npyBytes(descr: string, shape: readonly number[], data: ArrayBufferView): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write("NUMPY", 1, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** The set as MNIST IDX files (gzip-compressed when `gz`); returns the --data mapping for inputs x/y names. */
export function writeIdx(dir: string, set: ImageSet, stem: string, gz: boolean, names = { images: "images", labels: "labels" }): string {
  const ext = gz ? ".gz" : "";
  const img = `${dir}/${stem}-images-idx3-ubyte${ext}`;
  const lab = `${dir}/${stem}-labels-idx1-ubyte${ext}`;
  const pack = (b: Uint8Array) => (gz ? gzipSync(b) : b);
  writeFileSync(img, pack(idxBytes("u8", [set.n, 28, 28], set.images)));
  writeFileSync(lab, pack(idxBytes("u8", [set.n], set.labels)));
  return `${names.images}=${img},${names.labels}=${lab}`;
}

/** The set as one safetensors file, images f32 [n,28,28,1] in [0,1] and labels i32. */
export function writeSafetensorsSet(path: string, set: ImageSet, names = { images: "images", labels: "labels" }): string {
  const images = Float32Array.from(set.images, (v) => v / 255);
  writeFileSync(path, encodeSafetensors({
    [names.images]: { dtype: "F32", shape: [set.n, 28, 28, 1], data: images },
    [names.labels]: { dtype: "I32", shape: [set.n], data: Int32Array.from(set.labels) },
  }));
  return path;
}

/** 64 samples for test/fixtures/small-mlp (x f32[6], y f32[3]) written to `dir`/data.safetensors; the file's path. */
export function writeSmallMlpData(dir: string): string {
  const n = 64;
  const file = join(dir, "data.safetensors");
  writeFileSync(file, encodeSafetensors({
    x: { dtype: "F32", shape: [n, 6], data: Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(i)) },
    y: { dtype: "F32", shape: [n, 3], data: Float32Array.from({ length: n * 3 }, (_, i) => Math.cos(i)) },
  }));
  return file;
}
