// The GEMM kernel of matmul and fusedMatmul: C[b] = op(A[b]) op(B[b]) for every batch b (batch
// dimensions broadcast, transposes folded into the loads), then fusedMatmul's epilogue per element.
//
// On GPUs (WgslTarget.workgroupTiles) the workgroup-tiled core of gemm-tiled.ts runs it, reading
// the stored matrices through a_at / b_at. On SwiftShader the same 4 x 4 register blocks are
// computed without workgroup memory (registerBlocked below): emulated workgroup memory makes a
// tiled shader take 0.3-0.5 s to compile there, for no gain on a CPU.
//
// Not done yet: vec4 loads from the arena (it is bound once, as array<u32>; a vec4<f32> view
// would be a second binding of the same buffer, usable only where a row's offset and length are
// multiples of 16 bytes), double buffering, subgroup shuffles, and per-adapter tuning beyond the
// choice between the two tile sizes.

import { attr } from "../../ir/op-def.ts";
import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import { parseBody } from "../../ir/ops/fused-body.ts";
import { numel } from "../../ir/types.ts";
import { signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelTable } from "../kernel.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { baseIndex, flatLaunch, load, pass, stridedIndex, u32 } from "../wgsl.ts";
import { bodyProgram } from "./elementwise.ts";
import { broadcastRead } from "./map.ts";
import { tiledGemmPass } from "./gemm-tiled.ts";
import { mathLibrary } from "./math.ts";
import { staged } from "./stage.ts";

/** The epilogue function `epi(e, v)` storing element e of C after the fused body (or as is). */
export function epilogue(a: WgslKernelArgs, text: string | undefined): { code: string; math: Set<string> } {
  const out = a.output;
  const store = (value: string) => `st_f32(${u32(baseIndex(out.offset, "f32"))} + e, ${value});`;
  if (text === undefined) return { code: `fn epi(e: u32, v: f32) { ${store("v")} }\n`, math: new Set() };
  const extras = a.inputs.slice(2);
  const steps = parseBody(text, extras.length + 1);
  const program = bodyProgram(steps, ["v", ...extras.map((x) => broadcastRead(x, out.type.shape, "e"))]);
  return { code: `fn epi(e: u32, v: f32) {\n${program.stmts}\n  ${store(program.result)}\n}\n`, math: program.math };
}

function gemm(a: WgslKernelArgs, epilogueText?: string) {
  const [x, y] = a.inputs;
  const ta = attr.bool(a.node.attrs, "transposeA");
  const tb = attr.bool(a.node.attrs, "transposeB");
  const outShape = a.output.type.shape;
  const m = outShape[outShape.length - 2];
  const n = outShape[outShape.length - 1];
  const xs = x.type.shape;
  const k = ta ? xs[xs.length - 2] : xs[xs.length - 1];
  const outBatch = outShape.slice(0, -2);
  const batches = numel(outBatch);
  const aBatch = stridedIndex("batch", outBatch, broadcastStrides(xs.slice(0, -2), outBatch));
  const bBatch = stridedIndex("batch", outBatch, broadcastStrides(y.type.shape.slice(0, -2), outBatch));
  // Element (i, p) of op(A) and (p, j) of op(B), as strides into the stored matrices.
  const [aRow, aCol] = ta ? [1, m] : [k, 1];
  const [bRow, bCol] = tb ? [1, k] : [n, 1];
  const epi = epilogue(a, epilogueText);
  if (!a.target.workgroupTiles) return [registerBlocked(a, { m, n, k, batches, aBatch, bBatch, aRow, aCol, bRow, bCol }, epi)];
  const code = `${mathLibrary(epi.math)}${epi.code}
fn a_at(batch: u32, i: u32, p: u32) -> f32 { return ${load(x.offset, x.type.dtype, `${aBatch} * ${u32(m * k)} + i * ${u32(aRow)} + p * ${u32(aCol)}`)}; }
fn b_at(batch: u32, p: u32, j: u32) -> f32 { return ${load(y.offset, y.type.dtype, `${bBatch} * ${u32(k * n)} + p * ${u32(bRow)} + j * ${u32(bCol)}`)}; }
`;
  return [tiledGemmPass(a, { m, n, k, batches, code, aAlongK: aCol === 1, bAlongN: bCol === 1 })];
}

interface Gemm {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly batches: number;
  readonly aBatch: string;
  readonly bBatch: string;
  readonly aRow: number;
  readonly aCol: number;
  readonly bRow: number;
  readonly bCol: number;
}

/**
 * The GEMM without workgroup memory (WgslTarget.workgroupTiles false: SwiftShader): one
 * invocation per 4 x 4 block of C, reading op(A)'s four rows and op(B)'s four columns straight
 * from the arena (indices clamped into the matrix at its edges; those lanes are not stored).
 */
function registerBlocked(a: WgslKernelArgs, g: Gemm, epi: { code: string; math: Set<string> }) {
  const [x, y] = a.inputs;
  const { m, n, k } = g;
  const blocksN = Math.ceil(n / 4);
  const blocks = Math.ceil(m / 4) * blocksN;
  const launch = flatLaunch(g.batches * blocks, a.target);
  const rowAt = (r: number) => `min(row + ${r}u, ${u32(m - 1)}) * ${u32(g.aRow)}`;
  const colAt = (c: number) => `min(col + ${c}u, ${u32(n - 1)}) * ${u32(g.bCol)}`;
  // Operand elements by index within the tensor (load() adds its base and widens 16-bit storage).
  const aAt = (index: string) => load(x.offset, x.type.dtype, `ap + ${index}`);
  const bAt = (index: string) => load(y.offset, y.type.dtype, `bp + ${index}`);
  const code = `${mathLibrary(epi.math)}${epi.code}${launch.header}
  let batch = t / ${u32(blocks)};
  let block = t % ${u32(blocks)};
  let row = (block / ${u32(blocksN)}) * 4u;
  let col = (block % ${u32(blocksN)}) * 4u;
  let a0 = ${g.aBatch} * ${u32(m * k)};
  let b0 = ${g.bBatch} * ${u32(k * n)};
  let o0 = batch * ${u32(m * n)};
  var acc: array<vec4<f32>, 4>;
  for (var p = 0u; p < ${u32(k)}; p++) {
    let bp = b0 + p * ${u32(g.bRow)};
    let b = vec4<f32>(${bAt(colAt(0))}, ${bAt(colAt(1))}, ${bAt(colAt(2))}, ${bAt(colAt(3))});
    let ap = a0 + p * ${u32(g.aCol)};
    acc[0] += ${aAt(rowAt(0))} * b;
    acc[1] += ${aAt(rowAt(1))} * b;
    acc[2] += ${aAt(rowAt(2))} * b;
    acc[3] += ${aAt(rowAt(3))} * b;
  }
  for (var r = 0u; r < 4u; r++) {
    for (var c = 0u; c < 4u; c++) {
      if (row + r < ${u32(m)} && col + c < ${u32(n)}) { epi(o0 + (row + r) * ${u32(n)} + col + c, acc[r][c]); }
    }
  }
}
`;
  return pass(`${a.node.op} %${a.node.id}`, code, launch.workgroups);
}

export const matmulKernel: WgslKernel = (a) => gemm(a);

/** Every float dtype; C is stored element by element from 4 x 4 blocks, so a 16-bit C is staged (stage.ts). */
export const MATMUL_KERNELS: WgslKernelTable = signedTable("wgsl matmul kernels", {
  matmul: [
    { op: "matmul", dtypes: FLOATS, kernel: staged(matmulKernel) },
    { op: "fusedMatmul", dtypes: FLOATS, kernel: staged((a) => gemm(a, attr.str(a.node.attrs, "epilogue"))) },
  ],
});
