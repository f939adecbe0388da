// The dtype descriptor table (compiler/ir/dtypes.ts) and the dtype signatures kernels are
// registered and looked up by: the table agrees with itself, with the typed arrays and the
// safetensors codec, and with the literal copy generated bundles carry (runtime/bundle-io.js);
// signatures match, overlap and print as documented; a table rejects two registrations of one
// signature.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { roundTo } from "../../compiler/ir/dtype-round.ts";
import {
  DTYPE_INFO, DTYPES, dtypeOfSafetensors, findSigned, formatApplication, formatSignature, fromTypedArray, missingKernelMessage,
  signature, signatureMatches, signaturesOverlap, signedTable, toTypedArray, uniformSignature, type DType,
} from "../../compiler/ir/dtypes.ts";
import { DTYPE_BYTES, isDType, isFloat, isInteger } from "../../compiler/ir/types.ts";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";

describe("the dtype table", () => {
  it("has one row per dtype, named by its key, sized like its typed array", () => {
    expect(Object.keys(DTYPE_INFO)).toEqual([...DTYPES]);
    for (const d of DTYPES) {
      const info = DTYPE_INFO[d];
      expect(info.name).toBe(d);
      expect(info.array.BYTES_PER_ELEMENT).toBe(info.bytes);
      expect(DTYPE_BYTES[d]).toBe(info.bytes);
      expect(info.compute).toBe(info.kind === "float" ? "f32" : "i32");
      expect(info.wasm.bits).toBe(8 * info.bytes);
      expect(info.wgsl.perWord * info.bytes).toBe(4);
      expect(isDType(d)).toBe(true);
    }
    expect(DTYPES.filter(isFloat)).toEqual(["f32", "f16", "bf16"]);
    expect(DTYPES.filter(isInteger)).toEqual(["i32", "i8", "u8"]);
    expect(isDType("f64")).toBe(false);
  });

  it("names each dtype's safetensors code once, and the codec takes it", () => {
    const codes = DTYPES.map((d) => DTYPE_INFO[d].safetensors);
    expect(new Set(codes).size).toBe(DTYPES.length);
    for (const d of DTYPES) {
      expect(dtypeOfSafetensors(DTYPE_INFO[d].safetensors)).toBe(d);
      const bytes = encodeSafetensors({ t: { dtype: DTYPE_INFO[d].safetensors, shape: [3], data: new DTYPE_INFO[d].array(3) } });
      expect(decodeSafetensors(bytes).tensors.t.data).toBeInstanceOf(DTYPE_INFO[d].array);
    }
    expect(dtypeOfSafetensors("F64")).toBeUndefined();
  });

  it("stores the interpreter's values in typed arrays and reads them back exactly", () => {
    const raw = [0, -0, 1, -1.5, 2.75, 65504, 1e-6, 300, -129, 127.9, NaN, Infinity, -Infinity, 2 ** 31 - 1];
    for (const d of DTYPES) {
      const values = raw.map((x) => roundTo(d, x));
      const back = Array.from(fromTypedArray(d, toTypedArray(d, values)));
      expect(back.map((x) => (Number.isNaN(x) ? "NaN" : Object.is(x, -0) ? "-0" : x)), d).toEqual(values.map((x) => (Number.isNaN(x) ? "NaN" : Object.is(x, -0) ? "-0" : x)));
    }
  });

  it("is what generated bundles carry (runtime/bundle-io.js's DTYPE_TABLE literal)", () => {
    const text = readFileSync(new URL("../../runtime/bundle-io.js", import.meta.url), "utf8");
    const literal = /^const DTYPE_TABLE = (\{.*\});$/m.exec(text);
    expect(literal, "bundle-io.js declares `const DTYPE_TABLE = {...};` on one line").not.toBeNull();
    const table = new Function("Float32Array", "Uint16Array", "Int32Array", "Int8Array", "Uint8Array", `return ${literal![1]};`)(
      Float32Array, Uint16Array, Int32Array, Int8Array, Uint8Array,
    ) as Record<string, [string, unknown]>;
    expect(table).toEqual(Object.fromEntries(DTYPES.map((d) => [d, [DTYPE_INFO[d].safetensors, DTYPE_INFO[d].array]])));
  });
});

describe("dtype signatures", () => {
  const where = signature(["bool", "f32", "f32"], "f32");
  const allF32 = uniformSignature("f32");

  it("match exact operand lists, and uniform ones any number of operands", () => {
    expect(signatureMatches(where, ["bool", "f32", "f32"], "f32")).toBe(true);
    expect(signatureMatches(where, ["bool", "f32"], "f32")).toBe(false);
    expect(signatureMatches(where, ["bool", "f32", "f32"], "f16")).toBe(false);
    expect(signatureMatches(allF32, ["f32", "f32", "f32"], "f32")).toBe(true);
    expect(signatureMatches(allF32, [], "f32")).toBe(true);
    expect(signatureMatches(allF32, ["f32", "i32"], "f32")).toBe(false);
  });

  it("overlap when one operand list has both", () => {
    expect(signaturesOverlap(allF32, signature(["f32", "f32"], "f32"))).toBe(true);
    expect(signaturesOverlap(allF32, where)).toBe(false);
    expect(signaturesOverlap(signature(["i32"], "f32"), signature(["i32"], "i32"))).toBe(false);
    expect(signaturesOverlap({ operands: ["i32"], rest: "f32", result: "f32" }, { operands: ["i32", "f32"], result: "f32" })).toBe(true);
    expect(signaturesOverlap({ operands: ["i32"], rest: "f32", result: "f32" }, allF32)).toBe(false);
  });

  it("print as errors and listings name them", () => {
    expect(formatApplication("matmul", ["f16", "f16"], "f16")).toBe("matmul(f16, f16) -> f16");
    expect(formatSignature("where", where)).toBe("where(bool, f32, f32) -> f32");
    expect(formatSignature("concat", allF32)).toBe("concat(f32...) -> f32");
  });
});

describe("signed tables", () => {
  const table = signedTable<string>("test kernels", {
    a: [{ op: "add", dtypes: ["f32", "i32"], kernel: "add" }, { op: "cast", dtypes: signature(["f32"], "i32"), kernel: "f2i" }],
    b: [{ op: "cast", dtypes: [signature(["i32"], "f32")], kernel: "i2f" }],
  });

  it("find an entry by op and dtypes, across groups", () => {
    expect(findSigned(table, "add", ["i32", "i32"], "i32")).toBe("add");
    expect(findSigned(table, "cast", ["i32"], "f32")).toBe("i2f");
    expect(findSigned(table, "cast", ["f32"], "i32")).toBe("f2i");
    expect(findSigned(table, "cast", ["f32"], "f32")).toBeUndefined();
    expect(findSigned(table, "mul", ["f32", "f32"], "f32")).toBeUndefined();
  });

  it("reject one signature registered twice, naming both groups", () => {
    expect(() =>
      signedTable<number>("test kernels", { a: [{ op: "matmul", dtypes: "f32", kernel: 1 }], b: [{ op: "matmul", dtypes: signature(["f32", "f32"], "f32"), kernel: 2 }] }),
    ).toThrow("test kernels: matmul(f32, f32) -> f32 is registered twice (a and b; overlaps matmul(f32...) -> f32)");
  });

  it("say what is missing and what there is", () => {
    const node = { id: "3", op: "cast", loc: { file: "m.ts", line: 4, col: 5 } };
    expect(missingKernelMessage("test", table, node, ["f32"], "f32" as DType)).toBe(
      "test has no kernel for cast(f32) -> f32 (node %3 at m.ts:4:5; it has cast(f32) -> i32, cast(i32) -> f32)",
    );
    expect(missingKernelMessage("test", table, { id: "0", op: "exp" }, ["f32"], "f32")).toBe("test has no kernel for op 'exp' (node %0)");
  });
});
