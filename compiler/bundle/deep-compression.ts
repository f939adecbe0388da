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
//   the S position symbols (alphabet 2^p), then the E codebook indices (alphabet 2^b), each a stream:
//     u8 0, then the symbols at w bits each (w = p or b), packed LSB first: ceil(n*w/8) bytes; or
//     u8 1, 2^w u8 code lengths (0: unused, at most 24), u32 L, then L bytes: the symbols as
//     canonical Huffman codes (Deep Compression's third stage; deflate's code assignment), each
//     code's bits from its most significant, packed LSB first.
// Position symbols walk the flattened weight: a symbol s < 2^p-1 skips s zeros and places the next
// nonzero; the symbol 2^p-1 skips 2^p-1 zeros and places nothing (Han's relative index pads an
// overflowing gap with a filler zero entry; this escape costs no codebook index). Elements after
// the last nonzero are zero. The encoder picks the p and each stream's coding that make it smallest.

import { kmeansCodebook } from "../passes/quantize/kmeans.ts";
import type { SafeTensor } from "../../runtime/safetensors.ts";

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
  /** Bytes of the parts: the position stream, the index stream (each with its coding byte and code lengths), the f32 codebook. */
  readonly positionBytes: number;
  readonly indexBytes: number;
  readonly codebookBytes: number;
  /** Whether each stream is Huffman-coded (else fixed width). */
  readonly huffman: { readonly positions: boolean; readonly indices: boolean };
  /** sqrt(mean (w - decoded)^2) / sqrt(mean w^2) over the nonzeros. */
  readonly relativeRms: number;
}

/** The longest Huffman code a stream may use (a longer one falls back to fixed width). */
export const MAX_CODE_LENGTH = 24;

export interface EncodeOptions {
  /** Position bits (default: the smallest stream). */
  readonly positionBits?: number;
  /** Huffman-code the streams where that is smaller (default true); false: fixed width always. */
  readonly huffman?: boolean;
}

/** Compresses `values` (a weight of `shape`) with a 2^bits-entry codebook of its nonzeros. */
export function encodeDeepCompressed(values: ArrayLike<number>, shape: readonly number[], bits: number, opts: EncodeOptions = {}): DeepCompressedTensor {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new Error(`deep compression: index bits must be 1..8, got ${bits}`);
  const huffman = opts.huffman ?? true;
  const gaps: number[] = [];
  const nonzero: number[] = [];
  let run = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === 0) { run++; continue; }
    gaps.push(run);
    nonzero.push(values[i]);
    run = 0;
  }
  const symbolsFor = (p: number) => {
    const escape = 2 ** p - 1;
    const out: number[] = [];
    for (const g of gaps) {
      for (let left = g; ; left -= escape) {
        if (left < escape) { out.push(left); break; }
        out.push(escape);
      }
    }
    return out;
  };
  let p = opts.positionBits ?? 1;
  let positions = encodeStream(symbolsFor(p), p, huffman);
  if (opts.positionBits === undefined) {
    for (let q = 2; q <= 8; q++) {
      const candidate = encodeStream(symbolsFor(q), q, huffman);
      if (candidate.bytes.length < positions.bytes.length) { p = q; positions = candidate; }
    }
  }
  const cb = kmeansCodebook(nonzero, bits);
  const indices = encodeStream(cb.indices, bits, huffman);
  const head = 12 + 4 * shape.length;
  const codebookBytes = 4 * 2 ** bits;
  const bytes = new Uint8Array(head + codebookBytes + positions.bytes.length + indices.bytes.length);
  const view = new DataView(bytes.buffer);
  bytes.set([DEEP_COMPRESSION_VERSION, bits, p, shape.length]);
  view.setUint32(4, positions.count, true);
  view.setUint32(8, nonzero.length, true);
  shape.forEach((d, i) => view.setUint32(12 + 4 * i, d, true));
  cb.table.forEach((c, i) => view.setFloat32(head + 4 * i, c, true));
  bytes.set(positions.bytes, head + codebookBytes);
  bytes.set(indices.bytes, head + codebookBytes + positions.bytes.length);
  return {
    bytes, nonzeros: nonzero.length, positionBits: p, positionSymbols: positions.count,
    positionBytes: positions.bytes.length, indexBytes: indices.bytes.length, codebookBytes,
    huffman: { positions: positions.huffman, indices: indices.huffman }, relativeRms: cb.relativeRms,
  };
}

/** A stream of symbols < 2^width: fixed width, or Huffman-coded when `huffman` and that is smaller. */
function encodeStream(symbols: ArrayLike<number>, width: number, huffman: boolean): { bytes: Uint8Array; count: number; huffman: boolean } {
  const fixed = new Uint8Array(1 + Math.ceil((symbols.length * width) / 8));
  packBits(fixed, 1, symbols, width);
  const lengths = huffman ? huffmanLengths(symbols, 2 ** width) : undefined;
  if (!lengths) return { bytes: fixed, count: symbols.length, huffman: false };
  const codes = canonicalCodes(lengths);
  let bitCount = 0;
  for (let i = 0; i < symbols.length; i++) bitCount += lengths[symbols[i]];
  const alphabet = 2 ** width;
  const coded = new Uint8Array(1 + alphabet + 4 + Math.ceil(bitCount / 8));
  if (coded.length >= fixed.length) return { bytes: fixed, count: symbols.length, huffman: false };
  coded[0] = 1;
  coded.set(lengths, 1);
  new DataView(coded.buffer).setUint32(1 + alphabet, coded.length - (1 + alphabet + 4), true);
  const at = 1 + alphabet + 4;
  let bit = 0;
  for (let i = 0; i < symbols.length; i++) {
    const len = lengths[symbols[i]];
    const code = codes[symbols[i]];
    for (let b = len - 1; b >= 0; b--, bit++) if ((code >> b) & 1) coded[at + (bit >> 3)] |= 1 << (bit & 7);
  }
  return { bytes: coded, count: symbols.length, huffman: true };
}

/** Huffman code lengths of the symbols' counts (undefined when a code would exceed MAX_CODE_LENGTH). */
function huffmanLengths(symbols: ArrayLike<number>, alphabet: number): Uint8Array | undefined {
  const counts = new Float64Array(alphabet);
  for (let i = 0; i < symbols.length; i++) counts[symbols[i]]++;
  const lengths = new Uint8Array(alphabet);
  const used = [...counts.keys()].filter((c) => counts[c] > 0);
  if (used.length === 0) return lengths;
  if (used.length === 1) { lengths[used[0]] = 1; return lengths; }
  // Nodes: leaves 0..alphabet-1, then merged ones; each merge joins the two lightest (ties: the lower node).
  const weight = [...counts];
  const parent: number[] = new Array(alphabet).fill(-1);
  let live = used.slice();
  while (live.length > 1) {
    live.sort((a, b) => weight[a] - weight[b] || a - b);
    const [x, y] = live;
    const node = weight.length;
    weight.push(weight[x] + weight[y]);
    parent.push(-1);
    parent[x] = node;
    parent[y] = node;
    live = [node, ...live.slice(2)];
  }
  for (const c of used) {
    let depth = 0;
    for (let n = c; parent[n] !== -1; n = parent[n]) depth++;
    if (depth > MAX_CODE_LENGTH) return undefined;
    lengths[c] = depth;
  }
  return lengths;
}

/** Deflate's canonical code of each symbol from the code lengths. */
function canonicalCodes(lengths: Uint8Array): Uint32Array {
  const perLength = new Uint32Array(MAX_CODE_LENGTH + 1);
  for (const l of lengths) if (l > 0) perLength[l]++;
  const next = new Uint32Array(MAX_CODE_LENGTH + 2);
  for (let l = 1, code = 0; l <= MAX_CODE_LENGTH; l++) {
    code = (code + perLength[l - 1]) << 1;
    next[l] = code;
  }
  return Uint32Array.from(lengths, (l) => (l > 0 ? next[l]++ : 0));
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
  const entries = 2 ** bits;
  if (bytes.length < head + 4 * entries) fail(`${bytes.length} bytes is shorter than its header and codebook`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(12 + 4 * i, true));
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) fail(`its shape [${shape.join(",")}] is too large (over ${MAX_ELEMENTS} elements)`);
  if (nonzeros > count) fail(`${nonzeros} nonzeros in ${count} elements`);
  if (symbols > count + nonzeros) fail(`${symbols} position symbols for ${count} elements`);
  const codebook = new Float32Array(entries);
  for (let i = 0; i < entries; i++) codebook[i] = view.getFloat32(head + 4 * i, true);
  const positions = readStream(bytes, head + 4 * entries, symbols, p, "position", fail);
  const indices = readStream(bytes, positions.end, nonzeros, bits, "index", fail);
  if (indices.end !== bytes.length) fail(`${bytes.length - indices.end} bytes after its streams`);
  const escape = 2 ** p - 1;
  const values = new Float32Array(count);
  let at = 0;
  let k = 0;
  for (let s = 0; s < symbols; s++) {
    const sym = positions.symbols[s];
    at += sym;
    if (sym === escape) continue;
    if (k >= nonzeros) fail(`its positions place more than its ${nonzeros} nonzeros`);
    if (at >= count) fail(`nonzero ${k} falls at element ${at}, past its ${count} elements`);
    values[at++] = codebook[indices.symbols[k++]];
  }
  if (k !== nonzeros) fail(`its positions place ${k} of its ${nonzeros} nonzeros`);
  return { shape, values };
}

/** `n` symbols of `width` bits from the stream at `from` (fixed width or Huffman), and where it ends. */
function readStream(bytes: Uint8Array, from: number, n: number, width: number, what: string, fail: (why: string) => never): { symbols: Uint8Array; end: number } {
  if (from >= bytes.length) fail(`its ${what} stream is missing`);
  const coding = bytes[from];
  if (coding === 0) {
    const end = from + 1 + Math.ceil((n * width) / 8);
    if (end > bytes.length) fail(`its ${what} stream of ${n} ${width}-bit symbols needs ${end - from} bytes, ${bytes.length - from} left`);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = readBits(bytes.subarray(from + 1), i, width);
    return { symbols: out, end };
  }
  if (coding !== 1) fail(`its ${what} stream has coding ${coding} (0: fixed width, 1: Huffman)`);
  const alphabet = 2 ** width;
  if (from + 1 + alphabet + 4 > bytes.length) fail(`its ${what} stream's code lengths run past the end`);
  const lengths = bytes.subarray(from + 1, from + 1 + alphabet);
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(from + 1 + alphabet, true);
  const start = from + 1 + alphabet + 4;
  if (start + length > bytes.length) fail(`its ${what} stream's ${length} bytes run past the end`);
  if (n > 8 * length) fail(`its ${what} stream ends after ${8 * length} bits, too few for ${n} symbols`);
  const out = new Uint8Array(n);
  // Canonical decoding (zlib's puff): per length, the count of codes and the symbols in code order.
  const perLength = new Uint32Array(MAX_CODE_LENGTH + 1);
  for (const l of lengths) {
    if (l > MAX_CODE_LENGTH) fail(`its ${what} stream has a code length ${l} (at most ${MAX_CODE_LENGTH})`);
    if (l > 0) perLength[l]++;
  }
  let left = 1;
  for (let l = 1; l <= MAX_CODE_LENGTH; l++) {
    left = left * 2 - perLength[l];
    if (left < 0) fail(`its ${what} stream's code lengths are over-subscribed`);
  }
  const order: number[] = [];
  for (let l = 1; l <= MAX_CODE_LENGTH; l++) for (let c = 0; c < alphabet; c++) if (lengths[c] === l) order.push(c);
  const data = bytes.subarray(start, start + length);
  let bit = 0;
  for (let i = 0; i < n; i++) {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let l = 1; ; l++) {
      if (l > MAX_CODE_LENGTH) fail(`its ${what} stream holds an invalid code at symbol ${i}`);
      if (bit >= 8 * length) fail(`its ${what} stream ends after ${i} of its ${n} symbols`);
      code |= (data[bit >> 3] >> (bit & 7)) & 1;
      bit++;
      const c = perLength[l];
      if (code - c < first) { out[i] = order[index + code - first]; break; }
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
  }
  return { symbols: out, end: start + length };
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

/** A weights file's tensors with every `W/dc` tensor decoded back into the dense f32 `W`. */
export function decompressTensors(tensors: Readonly<Record<string, SafeTensor>>): Record<string, SafeTensor> {
  const out: Record<string, SafeTensor> = Object.create(null);
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.endsWith(DEEP_COMPRESSED_SUFFIX)) { out[name] = t; continue; }
    if (t.dtype !== "U8" || t.shape.length !== 1) throw new Error(`weights: '${name}' must be a u8 vector (a Deep Compression tensor), got ${t.dtype}[${t.shape.join(",")}]`);
    const d = decodeDeepCompressed(name, t.data as Uint8Array);
    out[name.slice(0, -DEEP_COMPRESSED_SUFFIX.length)] = { dtype: "F32", shape: d.shape, data: d.values };
  }
  return out;
}
