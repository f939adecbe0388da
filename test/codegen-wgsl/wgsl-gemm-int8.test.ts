// matmulInteger on webgpu with and without WGSL's packed 4×8-bit dot products
// (codegen-wgsl/kernels/gemm-int8.ts, chosen by WgslTarget.packedIntegerDot): both kernels give
// the interpreter's i32 products bit for bit on Dawn + SwiftShader, for every i8/u8 pair, over K
// and N that are not multiples of 4 (words read across u32 boundaries, masked last groups),
// leading axes folded into M, K = 0, and the extreme values (the mixed pairs' 128·Σ correction at
// its largest); the target follows the adapter's language features, and only a target with the
// feature gets the dot4 shader. convInteger likewise (channels around multiples of 4, groups,
// zero points), packed only where 4 adjacent output channels share a group.

import { describe, expect, it } from "vitest";
import { emitWgslEntries } from "../../compiler/codegen-wgsl/emit.ts";
import { DEFAULT_TARGET } from "../../compiler/codegen-wgsl/kernel.ts";
import { PACKED_DOT_FEATURE } from "../../compiler/codegen-wgsl/kernels/gemm-int8.ts";
import { targetOf } from "../../compiler/codegen-wgsl/runner.ts";
import { naivePlanAll } from "../../compiler/codegen-wasm/naive-plan.ts";
import type { DType } from "../../compiler/ir/types.ts";
import { convIntegerCases, matmulIntegerCases } from "../support/quant-cases.ts";
import { batchedCases, expectWgslMatchesInterpreter, wgslDevice, type OpCase } from "../support/wgsl-harness.ts";

const RANGE = { i8: [-128, 127], u8: [0, 255] } as const;
const PAIRS = [["u8", "i8"], ["i8", "i8"], ["u8", "u8"], ["i8", "u8"]] as const;

/** Integers in the dtype's range from a fixed pattern; `extreme` fills with the end of the range that maximises |a·b|. */
function values(count: number, dtype: "i8" | "u8", salt: number, extreme?: "low" | "high"): number[] {
  const [lo, hi] = RANGE[dtype];
  if (extreme) return new Array(count).fill(extreme === "low" ? lo : hi);
  return Array.from({ length: count }, (_, i) => lo + ((i * 7919 + salt * 104729) % (hi - lo + 1)));
}

/** Tail shapes: K and N around multiples of 4, a 3-d A, one row, K = 0, and a long K at the extremes. */
function tailCases(a: "i8" | "u8", b: "i8" | "u8"): OpCase[] {
  const shapes: [number[], number[], ("low" | "high")?, ("low" | "high")?][] = [
    [[1, 1], [1, 1]], [[3, 2], [2, 5]], [[2, 3], [3, 6]], [[5, 4], [4, 4]], [[4, 5], [5, 7]], [[2, 2, 9], [9, 3]],
    [[1, 13], [13, 1]], [[6, 8], [8, 9]], [[3, 0], [0, 5]], [[2, 301], [301, 6], "high", "low"], [[3, 299], [299, 5], "low", "low"],
  ];
  return shapes.map(([as, ws, ea, eb], k) => ({
    op: "matmulInteger",
    types: [{ dtype: a as DType, shape: as }, { dtype: b as DType, shape: ws }],
    data: [values(as.reduce((x, y) => x * y, 1), a, k, ea), values(ws.reduce((x, y) => x * y, 1), b, k + 50, eb)],
  }));
}

describe("matmulInteger on webgpu, packed dot4 and per-step kernels", () => {
  for (const packedIntegerDot of [true, false]) {
    for (const [a, b] of PAIRS) {
      it(`${a} x ${b}, tail shapes and extremes, packedIntegerDot ${packedIntegerDot}`, async () => {
        const { graph, inputs } = batchedCases(`mmi_${a}_${b}`, tailCases(a, b));
        await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0, target: { packedIntegerDot } });
      }, 60_000);
    }
    it(`the shared quantization cases, packedIntegerDot ${packedIntegerDot}`, async () => {
      const { graph, inputs } = matmulIntegerCases();
      await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0, target: { packedIntegerDot } });
    }, 60_000);
  }
});

/** convInteger over channel counts around multiples of 4, groups, padding, strides and zero points, every i8/u8 pair. */
function convCases(): OpCase[] {
  const shapes: [number[], number[], Record<string, number | string | number[]>][] = [
    [[2, 5, 4, 3], [3, 3, 3, 5], { padding: "same", inputZeroPoint: 7 }],
    [[1, 6, 5, 8], [3, 2, 8, 4], { padding: "explicit", pads: [1, 0, 2, 1], stride: [2, 1], dilation: [1, 2], inputZeroPoint: 0 }],
    [[1, 4, 4, 6], [3, 3, 3, 8], { padding: "same", groups: 2, inputZeroPoint: 1 }],
    [[1, 4, 4, 10], [1, 1, 5, 6], { groups: 2, inputZeroPoint: 3 }],
    [[1, 5, 5, 13], [2, 2, 13, 7], { padding: "valid", inputZeroPoint: 0 }],
  ];
  const cases: OpCase[] = [];
  shapes.forEach(([xs, ws, attrs], k) => {
    for (const [a, b] of PAIRS) {
      const z = attrs.inputZeroPoint === 0 ? 0 : a === "u8" ? 128 + (attrs.inputZeroPoint as number) : -(attrs.inputZeroPoint as number);
      cases.push({
        op: "convInteger",
        types: [{ dtype: a, shape: xs }, { dtype: b, shape: ws }],
        attrs: { ...attrs, inputZeroPoint: z },
        data: [values(xs.reduce((x, y) => x * y, 1), a, k), values(ws.reduce((x, y) => x * y, 1), b, k + 30)],
      });
    }
  });
  return cases;
}

describe("convInteger on webgpu, packed dot4 and per-step kernels", () => {
  for (const packedIntegerDot of [true, false]) {
    it(`channels around multiples of 4, groups, zero points, every pair, packedIntegerDot ${packedIntegerDot}`, async () => {
      const { graph, inputs } = batchedCases("convi", convCases());
      await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0, target: { packedIntegerDot } });
    }, 60_000);
    it(`the shared quantization cases, packedIntegerDot ${packedIntegerDot}`, async () => {
      const { graph, inputs } = convIntegerCases();
      await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0, target: { packedIntegerDot } });
    }, 60_000);
  }
});

describe("choosing the matmulInteger and convInteger kernels", () => {
  const { graph } = batchedCases("mmi_choice", tailCases("u8", "i8").slice(0, 2));
  const shaders = (packedIntegerDot: boolean) =>
    Object.values(emitWgslEntries([{ graph: naivePlanAll([graph], 16)[0], exportName: "forward" }], { target: { ...DEFAULT_TARGET, packedIntegerDot } }).passes).flat().map((p) => p.code).join("\n");

  it("packs a convolution whose groups keep 4 adjacent output channels together, and no other", () => {
    const code = (types: OpCase["types"], groups: number) => {
      const { graph: g } = batchedCases("conv_choice", [{ op: "convInteger", types, attrs: { groups } }]);
      return Object.values(emitWgslEntries([{ graph: naivePlanAll([g], 16)[0], exportName: "forward" }], { target: { ...DEFAULT_TARGET, packedIntegerDot: true } }).passes).flat().map((p) => p.code).join("\n");
    };
    expect(code([{ dtype: "u8", shape: [1, 4, 4, 6] }, { dtype: "i8", shape: [3, 3, 3, 8] }], 2)).toContain("dot4I8Packed(");
    expect(code([{ dtype: "u8", shape: [1, 4, 4, 6] }, { dtype: "i8", shape: [3, 3, 2, 6] }], 3)).not.toContain("dot4");
  });

  it("uses dot4I8Packed, and requires the language feature, only on a target with it", () => {
    expect(shaders(true)).toContain("dot4I8Packed(");
    expect(shaders(true)).toContain(`requires ${PACKED_DOT_FEATURE};`);
    expect(shaders(false)).not.toMatch(/dot4|requires/);
    expect(DEFAULT_TARGET.packedIntegerDot).toBe(false); // bundles built for any adapter keep the per-step kernel
  });

  it("takes packedIntegerDot from the adapter's WGSL language features", async () => {
    const gpu = await wgslDevice();
    expect(targetOf(gpu.device, gpu.features, gpu.software, new Set([PACKED_DOT_FEATURE])).packedIntegerDot).toBe(true);
    expect(targetOf(gpu.device, gpu.features, gpu.software, new Set()).packedIntegerDot).toBe(false);
    expect(targetOf(gpu.device, gpu.features, gpu.software).packedIntegerDot).toBe(false);
    const reported = new Set((gpu.gpu as GPU & { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures ?? []);
    expect(gpu.languageFeatures).toEqual(reported);
    expect(targetOf(gpu.device, gpu.features, gpu.software, gpu.languageFeatures).packedIntegerDot).toBe(reported.has(PACKED_DOT_FEATURE));
  });
});
