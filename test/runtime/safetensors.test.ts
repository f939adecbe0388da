// safetensors reader/writer against the format's spec, with files assembled byte by byte here.
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type SafeTensor } from "../../runtime/safetensors.ts";
import { bf16BitsToNumber, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from "../../runtime/half.ts";
import { roundBF16, roundF16 } from "../../compiler/ir/dtype-round.ts";

/** A file built from a literal header object and raw data bytes, as the spec lays it out. */
function handMade(header: object, data: number[], pad = true): Uint8Array {
  let json = JSON.stringify(header);
  if (pad) while (json.length % 8) json += " ";
  const out = new Uint8Array(8 + json.length + data.length);
  const n = json.length;
  for (let i = 0; i < 8; i++) out[i] = Math.floor(n / 2 ** (8 * i)) & 0xff; // u64 little-endian
  for (let i = 0; i < n; i++) out[8 + i] = json.charCodeAt(i);
  out.set(data, 8 + n);
  return out;
}

describe("safetensors", () => {
  it("reads a hand-assembled file (little-endian f32 and i32)", () => {
    const bytes = handMade(
      { __metadata__: { format: "pt" }, a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "I32", shape: [], data_offsets: [8, 12] } },
      [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xff], // 1.0, -2.0, -1
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: "pt" });
    expect(Array.from(tensors.a.data as Float32Array)).toEqual([1, -2]);
    expect(tensors.a.shape).toEqual([2]);
    expect(Array.from(tensors.b.data as Int32Array)).toEqual([-1]);
    expect(tensors.b.shape).toEqual([]);
  });

  it("writes the exact layout: u64 LE header length, space-padded JSON, 8-aligned data, offsets in order", () => {
    const bytes = encodeSafetensors(
      { w: { dtype: "F32", shape: [1, 2], data: new Float32Array([0.5, 3]) }, i: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 255]) } },
      { producer: "test" },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({
      __metadata__: { producer: "test" },
      w: { dtype: "F32", shape: [1, 2], data_offsets: [0, 8] },
      i: { dtype: "U8", shape: [3], data_offsets: [8, 11] },
    });
    expect(bytes.length).toBe(8 + n + 11);
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0, 0, 0, 0x3f, 0, 0, 0x40, 0x40, 1, 2, 255]);
  });

  it("round-trips every dtype, empty tensors and scalars", () => {
    const tensors: Record<string, SafeTensor> = {
      f64: { dtype: "F64", shape: [2], data: new Float64Array([Math.PI, -0]) },
      f32: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      f16: { dtype: "F16", shape: [1], data: new Uint16Array([0x3c00]) },
      bf16: { dtype: "BF16", shape: [1], data: new Uint16Array([0x3f80]) },
      i64: { dtype: "I64", shape: [1], data: new BigInt64Array([-5n]) },
      i32: { dtype: "I32", shape: [], data: new Int32Array([7]) },
      i16: { dtype: "I16", shape: [1], data: new Int16Array([-300]) },
      i8: { dtype: "I8", shape: [2], data: new Int8Array([-128, 127]) },
      u8: { dtype: "U8", shape: [0, 3], data: new Uint8Array([]) },
      bool: { dtype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) },
    };
    const back = decodeSafetensors(encodeSafetensors(tensors)).tensors;
    expect(Object.keys(back)).toEqual(Object.keys(tensors));
    for (const [k, t] of Object.entries(tensors)) {
      expect(back[k].dtype).toBe(t.dtype);
      expect(back[k].shape).toEqual(t.shape);
      expect(Array.from(back[k].data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
  });

  const bad: Array<[string, Uint8Array, RegExp]> = [
    ["too short", new Uint8Array(4), /too short/],
    ["header longer than file", (() => { const b = handMade({}, []); b[0] = 200; return b; })(), /exceeds the file size/],
    ["not JSON", (() => { const b = handMade({ a: 1 }, []); b[9] = 0x7b; b[10] = 0x7b; return b; })(), /not valid UTF-8 JSON/],
    ["unknown dtype", handMade({ a: { dtype: "F8", shape: [1], data_offsets: [0, 1] } }, [0]), /unsupported dtype/],
    ["wrong byte count", handMade({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /needs 8 bytes/],
    ["past the end", handMade({ a: { dtype: "U8", shape: [4], data_offsets: [0, 4] } }, [0, 0]), /past the data section/],
    ["hole", handMade({ a: { dtype: "U8", shape: [1], data_offsets: [1, 2] } }, [0, 0]), /hole/],
    ["overlap", handMade({ a: { dtype: "U8", shape: [2], data_offsets: [0, 2] }, b: { dtype: "U8", shape: [1], data_offsets: [1, 2] } }, [0, 0]), /overlaps/],
    ["trailing bytes", handMade({ a: { dtype: "U8", shape: [1], data_offsets: [0, 1] } }, [0, 9]), /trailing/],
    ["bad shape", handMade({ a: { dtype: "U8", shape: [-1], data_offsets: [0, 0] } }, []), /bad shape/],
    ["bad metadata", handMade({ __metadata__: { a: 1 } }, []), /must be a string/],
  ];
  it.each(bad)("rejects a file with %s", (_name, bytes, message) => {
    expect(() => decodeSafetensors(bytes)).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes)).toThrow(message);
  });

  it("refuses to write data whose size does not match the shape", () => {
    expect(() => encodeSafetensors({ t: { dtype: "F32", shape: [3], data: new Float32Array(2) } })).toThrow(/needs 12 bytes, data has 8/);
  });

  it("writes and reads tensors named __proto__, constructor and toString as ordinary names", () => {
    const tensors: Record<string, SafeTensor> = Object.create(null);
    tensors["__proto__"] = { dtype: "F32", shape: [2], data: Float32Array.of(1.5, -2) };
    tensors["constructor"] = { dtype: "I32", shape: [], data: Int32Array.of(7) };
    const bytes = encodeSafetensors(tensors, { toString: "kept" });
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))));
    expect(header).toContain('"__proto__":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}');
    const { tensors: read, metadata } = decodeSafetensors(bytes);
    expect(Object.keys(read)).toEqual(["__proto__", "constructor"]);
    expect([...read["__proto__"].data]).toEqual([1.5, -2]);
    expect([...read["constructor"].data]).toEqual([7]);
    // Nothing is found by inheritance: a name the file lacks is absent.
    expect(read["toString"]).toBeUndefined();
    expect(metadata["toString"]).toBe("kept");
    expect(metadata["constructor"]).toBeUndefined();
  });

  it("refuses a dtype or tensor name that only exists by inheritance or is the format's own key", () => {
    expect(() => decodeSafetensors(handMade({ t: { dtype: "constructor", shape: [], data_offsets: [0, 0] } }, []))).toThrow("tensor 't': unsupported dtype \"constructor\"");
    expect(() => encodeSafetensors({ t: { dtype: "toString" as never, shape: [], data: new Uint8Array(0) } })).toThrow("tensor 't': unknown dtype toString");
    expect(() => encodeSafetensors({ __metadata__: { dtype: "F32", shape: [], data: new Float32Array(1) } })).toThrow("'__metadata__' is the format's metadata key, not a tensor name");
  });
});

describe("16-bit floats", () => {
  it("every finite f16 bit pattern decodes and re-encodes to itself", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const x = f16BitsToNumber(bits);
      if (!Number.isNaN(x)) expect(numberToF16Bits(x)).toBe(bits);
    }
  });
  it("encoding rounds like the interpreter's f16/bf16 rounding", () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 20000; i++) {
      const x = (rand() - 0.5) * 2 ** (rand() * 46 - 28);
      expect(f16BitsToNumber(numberToF16Bits(x))).toBe(roundF16(x));
      expect(bf16BitsToNumber(numberToBF16Bits(x))).toBe(roundBF16(x));
    }
  });
  it("handles the edges: ties to even, overflow, NaN", () => {
    expect(numberToF16Bits(65504)).toBe(0x7bff);
    expect(numberToF16Bits(65520)).toBe(0x7c00);
    expect(numberToF16Bits(-Infinity)).toBe(0xfc00);
    expect(numberToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10 goes to even
    expect(numberToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(f16BitsToNumber(numberToF16Bits(NaN)))).toBe(true);
    expect(numberToBF16Bits(1 + 2 ** -8)).toBe(0x3f80); // bf16 tie to even
    expect(Number.isNaN(bf16BitsToNumber(numberToBF16Bits(NaN)))).toBe(true);
  });
});
