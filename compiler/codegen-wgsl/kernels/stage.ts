// 16-bit results of kernels that store f32 elements one at a time from cooperating invocations
// (GEMM blocks, workgroup folds, normalized rows): two f16/bf16 elements share a 32-bit word of
// the arena and WGSL has no 16-bit stores, so two invocations must never write one word. Such a
// kernel runs as it does for f32 into an f32 copy of its result in its workspace (the numel * 4
// bytes `workspaceBytes` asks the planner for), and one more pass (map.ts's elementMap, one
// invocation per word) rounds that copy to nearest even into the result: every element is
// computed in f32 and rounded once, as the interpreter rounds it. Operands are read in their own
// dtypes by the kernel itself (wgsl.ts load()).

import type { Node } from "../../ir/graph.ts";
import { numel, type TensorType } from "../../ir/types.ts";
import type { BufferRef, WgslKernel } from "../kernel.ts";
import { baseIndex, u32 } from "../wgsl.ts";
import { isHalf } from "../../ir/dtypes.ts";
import { elementMap } from "./map.ts";

/** `kernel` as it is for f32 results; for a 16-bit result, staged through f32 scratch (see above). */
export function staged(kernel: WgslKernel): WgslKernel {
  const run: WgslKernel = (a) => {
    if (!isHalf(a.output.type.dtype)) return kernel(a);
    if (a.workspace === undefined) throw new Error(`webgpu: ${a.node.op} %${a.node.id} stages its 16-bit result in a workspace and the plan gave none`);
    const scratch: BufferRef = { offset: a.workspace, type: { dtype: "f32", shape: a.output.type.shape } };
    const round = elementMap(`${a.node.op} %${a.node.id} (round to ${a.output.type.dtype})`, a.output, { body: `  return ld_f32(${u32(baseIndex(scratch.offset, "f32"))} + i);` }, a.target);
    return [...kernel({ ...a, output: scratch }), round];
  };
  run.workspaceBytes = (node: Node, inputs: readonly TensorType[], output: TensorType) =>
    (isHalf(output.dtype) ? numel(output.shape) * 4 : 0) + (kernel.workspaceBytes?.(node, inputs, output) ?? 0);
  return run;
}
