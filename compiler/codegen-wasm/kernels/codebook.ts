// The wasm-simd kernel of codebookMatmul (ir/ops/codebook.ts): the blocked f32 GEMM with a B
// packing that decodes the weight's indices through its table, or for 1-3 rows and 4-bit indices
// a GEMM that decodes in registers without packing (gemm-codebook.ts). Leading axes of x fold
// into M.

import { attr } from "../../ir/op-def.ts";
import { signature } from "../../ir/dtypes.ts";
import { numel } from "../../ir/types.ts";
import type { Expr } from "../module.ts";
import { withWorkspace, type KernelArgs, type KernelRegistration } from "../kernel.ts";
import { callCodebookGemm, codebookGemmWorkspaceBytes } from "./gemm-codebook.ts";

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

export const CODEBOOK_KERNELS: readonly KernelRegistration[] = [
  { op: "codebookMatmul", dtypes: [signature(["f32", "u8", "f32"], "f32")], kernel: codebookMatmul },
];
