// The Deep Compression weights format (Han et al. 2016; docs/COMPRESSION.md "Deep Compression"):
// a pruned f32 weight stored as the positions of its nonzeros (relative indices of a few bits) and
// each nonzero's index into a k-means codebook of the NONZERO values (pruned weights stay exactly
// 0), in one u8 tensor `W/dc` of the weights file that replaces `W`. A bundle decodes it into the
// dense weight when it loads the file (runtime/bundle-io.js holds the same decoder in plain JS);
// this module encodes, and decodes for the compiler's side (tests, `--weights` of the CLI).
//
// Layout of `W/dc` (little-endian):
//   u8 version (1), u8 index bits b (1..8), u8 position bits p (1..8), u8 rank r
//   u32 S (position symbols), u32 E (nonzeros), r x u32 the dense shape
//   2^b x f32 codebook
//   ceil(S*p/8) bytes: the S position symbols, p bits each, packed LSB first
//   ceil(E*b/8) bytes: the E codebook indices, b bits each, packed LSB first
// Position symbols walk the flattened weight: a symbol s < 2^p-1 skips s zeros and places the next
// nonzero; the symbol 2^p-1 skips 2^p-1 zeros and places nothing (Han's relative index pads an
// overflowing gap with a filler zero entry; this escape costs no codebook index). Elements after
// the last nonzero are zero. The encoder picks the p that makes the positions smallest.

import { kmeansCodebook } from "../passes/quantize/kmeans.ts";

/** The suffix of the compressed tensor's name: `W/dc` holds the weight `W`. */
export const DEEP_COMPRESSED_SUFFIX = "/dc";
export const DEEP_COMPRESSION_VERSION = 1;
/** The most elements a decoded weight may have (a corrupt header must not allocate gigabytes). */
export const MAX_ELEMENTS = 2 ** 28;

export interface DeepCompressedTensor {
  readonly bytes: Uint8Array;
  readonly nonzeros: number;
  readonly positionBits: number;
  readonly positionSymbols: number;
  /** Bytes of the parts: the packed positions, the packed indices, the f32 codebook. */
  readonly positionBytes: number;
  readonly indexBytes: number;
  readonly codebookBytes: number;
  /** sqrt(mean (w - decoded)^2) / sqrt(mean w^2) over the nonzeros. */
  readonly relativeRms: number;
}

/** Compresses `values` (a weight of `shape`) with a 2^bits-entry codebook of its nonzeros. */
export function encodeDeepCompressed(values: ArrayLike<number>, shape: readonly number[], bits: number, positionBits?: number): DeepCompressedTensor {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new Error(`deep compression: index bits must be 1..8, got ${bits}`);
  const gaps: number[] = [];
  const nonzero: number[] = [];
  let run = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === 0) { run++; continue; }
    gaps.push(run);
    nonzero.push(values[i]);
    run = 0;
  }
  const symbolsFor = (p: number) => gaps.reduce((s, g) => s + 1 + Math.floor(g / (2 ** p - 1)), 0);
  let p = positionBits ?? 1;
  if (positionBits === undefined) {
    for (let q = 2; q <= 8; q++) if (Math.ceil((symbolsFor(q) * q) / 8) < Math.ceil((symbolsFor(p) * p) / 8)) p = q;
  }
  const escape = 2 ** p - 1;
  const symbols: number[] = [];
  for (const g of gaps) {
    for (let left = g; ; left -= escape) {
      if (left < escape) { symbols.push(left); break; }
      symbols.push(escape);
    }
  }
  const cb = kmeansCodebook(nonzero, bits);
  const head = 12 + 4 * shape.length;
  const codebookBytes = 4 * 2 ** bits;
  const positionBytes = Math.ceil((symbols.length * p) / 8);
  const indexBytes = Math.ceil((nonzero.length * bits) / 8);
  const bytes = new Uint8Array(head + codebookBytes + positionBytes + indexBytes);
  const view = new DataView(bytes.buffer);
  bytes.set([DEEP_COMPRESSION_VERSION, bits, p, shape.length]);
  view.setUint32(4, symbols.length, true);
  view.setUint32(8, nonzero.length, true);
  shape.forEach((d, i) => view.setUint32(12 + 4 * i, d, true));
  cb.table.forEach((c, i) => view.setFloat32(head + 4 * i, c, true));
  packBits(bytes, head + codebookBytes, symbols, p);
  packBits(bytes, head + codebookBytes + positionBytes, cb.indices, bits);
  return { bytes, nonzeros: nonzero.length, positionBits: p, positionSymbols: symbols.length, positionBytes, indexBytes, codebookBytes, relativeRms: cb.relativeRms };
}

/** The dense weight a `W/dc` tensor holds; throws naming `name` when it is malformed. */
export function decodeDeepCompressed(name: string, bytes: Uint8Array): { shape: number[]; values: Float32Array } {
  const fail = (why: string): never => {
    throw new Error(`weights: '${name}' is not a valid Deep Compression tensor: ${why}`);
  };
  if (bytes.length < 12) fail(`${bytes.length} bytes is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [version, bits, p, rank] = bytes.subarray(0, 4);
  if (version !== DEEP_COMPRESSION_VERSION) fail(`version ${version} (this reader knows ${DEEP_COMPRESSION_VERSION})`);
  if (bits < 1 || bits > 8 || p < 1 || p > 8) fail(`index bits ${bits} and position bits ${p} must be 1..8`);
  const symbols = view.getUint32(4, true);
  const nonzeros = view.getUint32(8, true);
  const head = 12 + 4 * rank;
  if (bytes.length < head) fail(`${bytes.length} bytes is shorter than its header`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(12 + 4 * i, true));
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) fail(`its shape [${shape.join(",")}] is too large (over ${MAX_ELEMENTS} elements)`);
  const entries = 2 ** bits;
  const positionBytes = Math.ceil((symbols * p) / 8);
  const expected = head + 4 * entries + positionBytes + Math.ceil((nonzeros * bits) / 8);
  if (bytes.length !== expected) fail(`${bytes.length} bytes, but its header (${symbols} position symbols of ${p} bits, ${nonzeros} indices of ${bits} bits, shape [${shape.join(",")}]) needs ${expected}`);
  if (nonzeros > count) fail(`${nonzeros} nonzeros in ${count} elements`);
  const codebook = new Float32Array(entries);
  for (let i = 0; i < entries; i++) codebook[i] = view.getFloat32(head + 4 * i, true);
  const positions = bytes.subarray(head + 4 * entries);
  const indices = bytes.subarray(head + 4 * entries + positionBytes);
  const escape = 2 ** p - 1;
  const values = new Float32Array(count);
  let at = 0;
  let k = 0;
  for (let s = 0; s < symbols; s++) {
    const sym = readBits(positions, s, p);
    at += sym;
    if (sym === escape) continue;
    if (k >= nonzeros) fail(`its positions place more than its ${nonzeros} nonzeros`);
    if (at >= count) fail(`nonzero ${k} falls at element ${at}, past its ${count} elements`);
    values[at++] = codebook[readBits(indices, k++, bits)];
  }
  if (k !== nonzeros) fail(`its positions place ${k} of its ${nonzeros} nonzeros`);
  return { shape, values };
}

function packBits(out: Uint8Array, offset: number, values: ArrayLike<number>, width: number): void {
  for (let i = 0; i < values.length; i++) {
    const bit = i * width;
    for (let b = 0; b < width; b++) if ((values[i] >> b) & 1) out[offset + ((bit + b) >> 3)] |= 1 << ((bit + b) & 7);
  }
}

function readBits(bytes: Uint8Array, i: number, width: number): number {
  let v = 0;
  const bit = i * width;
  for (let b = 0; b < width; b++) v |= ((bytes[(bit + b) >> 3] >> ((bit + b) & 7)) & 1) << b;
  return v;
}
