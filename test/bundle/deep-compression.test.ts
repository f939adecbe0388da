// The Deep Compression tensor format (compiler/bundle/deep-compression.ts): the encoder and decoder
// round trip exactly (every position, each nonzero decoded to its codebook entry, the zeros exact),
// across gaps longer than the relative index holds, all-zero and all-nonzero tensors, every index
// and position width; the codebook is k-means of the nonzeros only; and malformed tensors are
// refused naming the tensor.
import { describe, expect, it } from "vitest";
import { decodeDeepCompressed, encodeDeepCompressed } from "../../compiler/bundle/deep-compression.ts";
import { kmeansCodebook } from "../../compiler/passes/quantize/kmeans.ts";

/** A deterministic pseudo-random weight with `density` nonzeros (some runs of zeros far longer than 255). */
function sparseWeight(count: number, density: number, salt: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => {
    const u = Math.sin(i * 12.9898 + salt * 78.233) * 43758.5453;
    const v = u - Math.floor(u);
    if (i % 1000 >= 700 || v >= density) return 0;
    return Math.fround((v / density - 0.5) * 0.4);
  });
}

/** What decoding must give: each nonzero replaced by its nearest centroid of a codebook of the nonzeros. */
function expected(values: Float32Array, bits: number): Float32Array {
  const nonzero = Array.from(values).filter((v) => v !== 0);
  const cb = kmeansCodebook(nonzero, bits);
  const out = new Float32Array(values.length);
  let k = 0;
  values.forEach((v, i) => {
    if (v !== 0) out[i] = cb.table[cb.indices[k++]];
  });
  return out;
}

describe("Deep Compression tensors", () => {
  for (const bits of [1, 4, 5, 8]) {
    for (const positionBits of [1, 2, 4, 5, 8, undefined]) {
      for (const huffman of [false, true]) it(`round trip: ${bits}-bit indices, ${positionBits ?? "chosen"} position bits, gaps past the escape, ${huffman ? "Huffman where smaller" : "fixed width"}`, () => {
        const w = sparseWeight(6000, 0.08, bits);
        const c = encodeDeepCompressed(w, [60, 100], bits, { positionBits, huffman });
        if (!huffman) expect(c.huffman).toEqual({ positions: false, indices: false });
        const d = decodeDeepCompressed("w/dc", c.bytes);
        expect(d.shape).toEqual([60, 100]);
        expect(Array.from(d.values)).toEqual(Array.from(expected(w, bits)));
        // The positions are exact: zeros stay zero and nonzeros stay nonzero (no centroid is 0 here).
        expect(d.values.map((v) => (v === 0 ? 0 : 1))).toEqual(w.map((v) => (v === 0 ? 0 : 1)));
        expect(c.nonzeros).toBe(w.filter((v) => v !== 0).length);
        if (positionBits !== undefined && positionBits < 8) expect(c.positionSymbols).toBeGreaterThan(c.nonzeros);
      });
    }
  }

  it("chooses the position width and coding that make each stream smallest", () => {
    const w = sparseWeight(20000, 0.08, 3);
    const chosen = encodeDeepCompressed(w, [20000], 5);
    for (let p = 1; p <= 8; p++) {
      for (const huffman of [false, true]) expect(chosen.positionBytes).toBeLessThanOrEqual(encodeDeepCompressed(w, [20000], 5, { positionBits: p, huffman }).positionBytes);
    }
    const fixed = encodeDeepCompressed(w, [20000], 5, { huffman: false });
    expect(chosen.indexBytes).toBeLessThanOrEqual(fixed.indexBytes);
    expect(chosen.huffman.positions).toBe(true);
    expect(chosen.positionBytes).toBeLessThan(fixed.positionBytes);
    expect(chosen.bytes.length).toBe(12 + 4 + 32 * 4 + chosen.positionBytes + chosen.indexBytes);
  });

  it("a stream of one symbol value Huffman-codes it in one bit per symbol", () => {
    const w = Float32Array.from({ length: 4096 }, (_, i) => (i % 8 === 7 ? 0.5 : 0));
    const c = encodeDeepCompressed(w, [4096], 3, { positionBits: 4 });
    expect(c.huffman).toEqual({ positions: true, indices: true });
    expect(c.positionBytes).toBe(1 + 16 + 4 + 512 / 8);
    expect(Array.from(decodeDeepCompressed("w/dc", c.bytes).values)).toEqual(Array.from(w));
  });

  it("a run of zeros at the start and the end, and a gap of exactly the escape", () => {
    const w = new Float32Array(40);
    w[3] = 0.5; // 3 zeros before: the escape symbol of 2-bit positions is 3
    w[4] = -0.25;
    w[20] = 1;
    const c = encodeDeepCompressed(w, [5, 8], 2, { positionBits: 2 });
    const d = decodeDeepCompressed("w/dc", c.bytes);
    expect(Array.from(d.values)).toEqual(Array.from(w));
  });

  it("an all-zero tensor: no positions, no indices", () => {
    const c = encodeDeepCompressed(new Float32Array(300), [3, 100], 5);
    expect(c.nonzeros).toBe(0);
    expect(c.positionBytes + c.indexBytes).toBe(2); // the two streams' coding bytes
    expect(Array.from(decodeDeepCompressed("w/dc", c.bytes).values)).toEqual(new Array(300).fill(0));
  });

  it("an all-nonzero tensor: one position symbol of 0 per element", () => {
    const w = Float32Array.from({ length: 64 }, (_, i) => (i % 4) - 1.5);
    const c = encodeDeepCompressed(w, [8, 8], 2);
    expect(c.positionBits).toBe(1);
    expect(c.positionSymbols).toBe(64);
    expect(Array.from(decodeDeepCompressed("w/dc", c.bytes).values)).toEqual(Array.from(w));
  });

  describe("refuses malformed tensors, naming them", () => {
    const w = sparseWeight(600, 0.1, 1);
    const encoded = encodeDeepCompressed(w, [6, 100], 4, { positionBits: 3, huffman: false });
    const good = encoded.bytes;
    // The fixed-width position stream's data (after its coding byte).
    const positionsAt = 12 + 8 + 16 * 4 + 1;
    const coded = encodeDeepCompressed(sparseWeight(60000, 0.08, 2), [60000], 4, { positionBits: 8 });
    const codedAt = 12 + 4 + 16 * 4;
    const editCoded = (f: (b: Uint8Array) => void) => {
      const b = coded.bytes.slice();
      f(b);
      return b;
    };
    const edit = (f: (b: Uint8Array, v: DataView) => void, length = good.length) => {
      const b = new Uint8Array(length);
      b.set(good.subarray(0, Math.min(length, good.length)));
      f(b, new DataView(b.buffer));
      return b;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ["too short", good.subarray(0, 8), /'fc\.w\/dc' is not a valid Deep Compression tensor: 8 bytes is shorter than its header/],
      ["a version it does not know", edit((b) => (b[0] = 2)), /'fc\.w\/dc' .*version 2/],
      ["index bits 9", edit((b) => (b[1] = 9)), /'fc\.w\/dc' .*index bits 9 and position bits 3 must be 1\.\.8/],
      ["a truncated stream", good.subarray(0, good.length - 1), /'fc\.w\/dc' .*its index stream of \d+ 4-bit symbols needs \d+ bytes, \d+ left/],
      ["bytes after its streams", edit(() => {}, good.length + 1), /'fc\.w\/dc' .*1 bytes after its streams/],
      ["an unknown stream coding", edit((b) => (b[positionsAt - 1] = 2)), /'fc\.w\/dc' .*its position stream has coding 2/],
      ["an over-subscribed Huffman code", editCoded((b) => b.fill(1, codedAt + 1, codedAt + 1 + 256)), /'fc\.w\/dc' .*its position stream's code lengths are over-subscribed/],
      ["a code length over 24", editCoded((b) => (b[codedAt + 1] = 25)), /'fc\.w\/dc' .*its position stream has a code length 25/],
      ["a Huffman stream cut short", editCoded((b) => new DataView(b.buffer).setUint32(codedAt + 257, 2, true)), /'fc\.w\/dc' .*its position stream ends after 16 bits, too few for \d+ symbols/],
      ["more nonzeros than elements", edit((_, v) => { v.setUint32(12, 1, true); v.setUint32(16, 1, true); }), new RegExp(`'fc\\.w/dc' .*${encoded.nonzeros} nonzeros in 1 elements`)],
      ["a shape too large to decode", edit((_, v) => { v.setUint32(12, 1 << 20, true); v.setUint32(16, 1 << 20, true); }), /'fc\.w\/dc' .*shape \[1048576,1048576\] is too large/],
      ["positions past the end", edit((_, v) => v.setUint32(12, 1, true)), /'fc\.w\/dc' .*nonzero \d+ falls at element \d+, past its 100 elements/],
      ["positions placing too few nonzeros", edit((b) => b.fill(0xff, positionsAt, positionsAt + encoded.positionBytes - 1)), new RegExp(`'fc\\.w/dc' .*its positions place 0 of its ${encoded.nonzeros} nonzeros`)],
      ["positions placing too many nonzeros", edit((b) => b.fill(0, positionsAt, positionsAt + encoded.positionBytes - 1)), new RegExp(`'fc\\.w/dc' .*its positions place more than its ${encoded.nonzeros} nonzeros`)],
    ];
    it("(the Huffman cases edit a Huffman-coded position stream)", () => expect(coded.huffman.positions).toBe(true));
    for (const [what, bytes, message] of cases) it(what, () => expect(() => decodeDeepCompressed("fc.w/dc", bytes)).toThrow(message));
  });
});
