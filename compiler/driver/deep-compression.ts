// Deep Compression of a bundle's weights file (`mlc build --compress codebookN`, docs/COMPRESSION.md
// "Deep Compression"): every f32 weight of rank >= 2 becomes a `W/dc` tensor (positions of its
// nonzeros + codebook indices + codebook, compiler/bundle/deep-compression.ts); the other tensors
// (biases, normalization params) stay as they are. The bundle decodes the file when it loads it,
// so only the file shrinks: the arena still holds the dense f32 weights.

import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { DEEP_COMPRESSED_SUFFIX, encodeDeepCompressed } from "../bundle/deep-compression.ts";

export { decompressTensors } from "../bundle/deep-compression.ts";

export interface DeepCompressionLayer {
  readonly weight: string;
  readonly shape: readonly number[];
  readonly nonzeros: number;
  readonly positionBits: number;
  /** Whether the positions and the indices are Huffman-coded (else fixed width). */
  readonly huffman: { readonly positions: boolean; readonly indices: boolean };
  readonly relativeRms: number;
  /** Bytes: dense f32; nonzeros as f32 plus their packed positions; packed positions, indices and codebook. */
  readonly bytes: { readonly dense: number; readonly pruned: number; readonly compressed: number };
}

export interface DeepCompressionReport {
  readonly bits: number;
  readonly layers: readonly DeepCompressionLayer[];
  /** The other tensors (kept as they are) and their bytes. */
  readonly keptBytes: number;
  /** The weights file before (dense f32) and after. */
  readonly fileBytes: { readonly dense: number; readonly compressed: number };
}

/** Rewrites a safetensors weights file with its f32 weights of rank >= 2 Deep-Compressed. */
export function compressWeightsFile(file: Uint8Array, bits: number): { bytes: Uint8Array; report: DeepCompressionReport } {
  const { tensors, metadata } = decodeSafetensors(file);
  const out: Record<string, SafeTensor> = Object.create(null);
  const layers: DeepCompressionLayer[] = [];
  let keptBytes = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== "F32" || t.shape.length < 2) {
      out[name] = t;
      keptBytes += t.data.byteLength;
      continue;
    }
    const c = encodeDeepCompressed(t.data as Float32Array, t.shape, bits);
    out[name + DEEP_COMPRESSED_SUFFIX] = { dtype: "U8", shape: [c.bytes.length], data: c.bytes };
    layers.push({
      weight: name,
      shape: t.shape,
      nonzeros: c.nonzeros,
      positionBits: c.positionBits,
      huffman: c.huffman,
      relativeRms: c.relativeRms,
      bytes: { dense: t.data.byteLength, pruned: 4 * c.nonzeros + c.positionBytes, compressed: c.bytes.length },
    });
  }
  const bytes = encodeSafetensors(out, metadata);
  return { bytes, report: { bits, layers, keptBytes, fileBytes: { dense: file.length, compressed: bytes.length } } };
}

/** The size table `mlc build --compress` prints. */
export function formatDeepCompressionReport(r: DeepCompressionReport): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const coding = (huffman: boolean) => (huffman ? "huffman" : "fixed");
  const sum = (f: (l: DeepCompressionLayer) => number) => r.layers.reduce((s, l) => s + f(l), 0);
  const dense = sum((l) => l.bytes.dense);
  const ratio = (n: number) => `${(dense / n).toFixed(1)}x`;
  const w = Math.max(6, ...r.layers.map((l) => l.weight.length));
  const lines = [
    `Deep Compression (--compress codebook${r.bits}: nonzeros' positions + ${r.bits}-bit indices into a k-means codebook of the nonzeros, Huffman-coded where smaller):`,
    `  ${"weight".padEnd(w)}  ${"shape".padEnd(11)}  nonzero  pos bits  coding (pos/idx)  rel RMS  dense f32   pruned      + codebook`,
  ];
  for (const l of r.layers) {
    lines.push(
      `  ${l.weight.padEnd(w)}  ${`[${l.shape.join(",")}]`.padEnd(11)}  ${`${((100 * l.nonzeros) / (l.bytes.dense / 4)).toFixed(1)}%`.padStart(7)}  ${String(l.positionBits).padStart(8)}  ${`${coding(l.huffman.positions)}/${coding(l.huffman.indices)}`.padEnd(16)}  ${l.relativeRms.toPrecision(2).padStart(7)}  ` +
        `${kib(l.bytes.dense).padEnd(10)}  ${kib(l.bytes.pruned).padEnd(10)}  ${kib(l.bytes.compressed)}`,
    );
  }
  lines.push(
    `  weights ${kib(dense)} dense f32 -> pruned ${kib(sum((l) => l.bytes.pruned))} (${ratio(sum((l) => l.bytes.pruned))}) -> + codebook ${kib(sum((l) => l.bytes.compressed))} (${ratio(sum((l) => l.bytes.compressed))})`,
    `  file ${kib(r.fileBytes.dense)} -> ${kib(r.fileBytes.compressed)} (${(r.fileBytes.dense / r.fileBytes.compressed).toFixed(1)}x smaller; other tensors ${kib(r.keptBytes)} kept f32)`,
  );
  return lines.join("\n");
}
