// The wasm-simd kernels of codebookMatmul and codebookConv2d (ir/ops/codebook.ts): the blocked
// f32 GEMM with a B packing that decodes the weight's indices through its table, or for 1-3 rows
// and 4-bit indices a GEMM that decodes in registers without packing (gemm-codebook.ts). Leading
// axes of x fold into M. codebookConv2d is conv2d's im2col path (conv-plan.ts, conv-im2col.ts):
// a block of output pixels' windows into the column buffer, then that GEMM of the block's rows
// against the filter's [kh*kw*C, O] indices, straight into the output (every strategy, 1x1
// included, takes this path).

import { attr } from "../../ir/op-def.ts";
import { signature } from "../../ir/dtypes.ts";
import { numel } from "../../ir/types.ts";
import type { Expr } from "../module.ts";
import { withWorkspace, type KernelArgs, type KernelRegistration } from "../kernel.ts";
import { callCodebookGemm, callPackedCodebookGemm, codebookGemmWorkspaceBytes } from "./gemm-codebook.ts";
import { columnBytes, convPlan, type ConvPlan } from "./conv-plan.ts";
import { emitIm2col, type BlockLocals } from "./conv-im2col.ts";
import type { Node } from "../../ir/graph.ts";
import type { TensorType } from "../../ir/types.ts";

const shapeOf = (xShape: readonly number[], n: number) => ({ m: numel(xShape.slice(0, -1)), n, k: xShape[xShape.length - 1] });

const codebookMatmul = withWorkspace(
  ({ f, node, inputs: [x, indices, table], output, helper, workspace }: KernelArgs): Expr[] => {
    const { m, n, k } = shapeOf(x.type.shape, attr.num(node.attrs, "n"));
    if (m * n === 0) return [];
    if (k === 0) return [f.fill(output.offset, 0, m * n * 4)];
    const bits = attr.num(node.attrs, "bits");
    const needs = codebookGemmWorkspaceBytes(m, n, k, bits) > 0;
    if (needs && workspace === undefined) throw new Error(`codebookMatmul %${node.id} needs a workspace and the plan gave none`);
    return [callCodebookGemm(f, helper, bits, { a: x.offset, indices: indices.offset, table: table.offset, c: output.offset, m, n, k, workspace: workspace ?? 0 })];
  },
  (node, [x]) => {
    const { m, n, k } = shapeOf(x.shape, attr.num(node.attrs, "n"));
    return codebookGemmWorkspaceBytes(m, n, k, attr.num(node.attrs, "bits"));
  },
);

/** The conv plan of a codebookConv2d: conv2d's, with the filter it decodes. */
function planOf(node: Node, x: TensorType): ConvPlan {
  const [kh, kw] = attr.ints(node.attrs, "kernel");
  return convPlan(x.shape, [kh, kw, x.shape[3], attr.num(node.attrs, "n")], node.attrs);
}

/** Workspace: [column buffer of one block][the codebook GEMM's packing]. */
function convWorkspace(p: ConvPlan, bits: number): { column: number; total: number } {
  const column = columnBytes(p);
  return { column, total: p.pixels === 0 || p.outChannels === 0 ? 0 : column + codebookGemmWorkspaceBytes(Math.max(p.blockRows, 4), p.outChannels, p.depth, bits) };
}

const codebookConv2d = withWorkspace(
  ({ f, node, inputs: [x, indices, table], output, helper, workspace }: KernelArgs): Expr[] => {
    const p = planOf(node, x.type);
    const O = p.outChannels;
    if (p.pixels === 0 || O === 0) return [];
    if (p.depth === 0) return [f.fill(output.offset, 0, p.pixels * O * 4)];
    const bits = attr.num(node.attrs, "bits");
    const ws = convWorkspace(p, bits);
    if (workspace === undefined) throw new Error(`codebookConv2d %${node.id} needs a workspace and the plan gave none`);
    const c = (v: number) => f.i32.const(v);
    const b: BlockLocals = { p0: f.local("i32"), rows: f.local("i32"), group: f.local("i32") };
    const block = f.local("i32");
    const blocks = Math.ceil(p.pixels / p.blockRows);
    return [
      f.set(b.group, c(0)),
      f.forRange(block, 0, blocks, 1, [
        f.set(b.p0, f.i32.mul(f.get(block), c(p.blockRows))),
        f.set(b.rows, f.i32.sub(c(p.pixels), f.get(b.p0))),
        f.set(b.rows, f.select(f.i32.lt_s(f.get(b.rows), c(p.blockRows)), f.get(b.rows), c(p.blockRows))),
        emitIm2col(f, p, x.offset, () => c(workspace), b),
        callPackedCodebookGemm(f, helper, bits, {
          a: c(workspace), indices: c(indices.offset), table: c(table.offset),
          c: f.i32.add(c(output.offset), f.i32.mul(f.get(b.p0), c(4 * O))),
          m: f.get(b.rows), n: c(O), k: c(p.depth), workspace: c(workspace + ws.column),
        }),
      ]),
    ];
  },
  (node, [x]) => convWorkspace(planOf(node, x), attr.num(node.attrs, "bits")).total,
);

const F32_U8_F32 = [signature(["f32", "u8", "f32"], "f32")];

export const CODEBOOK_KERNELS: readonly KernelRegistration[] = [
  { op: "codebookMatmul", dtypes: F32_U8_F32, kernel: codebookMatmul },
  { op: "codebookConv2d", dtypes: F32_U8_F32, kernel: codebookConv2d },
];
