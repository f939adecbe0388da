// Kernels of the fused ops. `fused`: ONE broadcasting loop (map.ts: f32x4 steps and a scalar tail,
// with same-shape, scalar and broadcast operands as for any elementwise op) whose element function
// runs the node's body program. Each step is the element function of the op it names, taken from
// the elementwise kernels (elementwise.ts), so a fused chain computes exactly what the unfused
// kernels would, in registers instead of through intermediate buffers. A body that uses `pow`
// (scalar only) runs every element scalar.
//
// `fusedMatmul` / `fusedConv2d`: the head's own kernel (matmul.ts, conv.ts) writes the product
// into the output buffer, then the epilogue program runs over it in place, as a map whose operand
// x0 is the output itself and x1, x2, ... the extra operands. The output is written once by the
// GEMM and updated once while still in cache; the product needs no buffer of its own. The fused
// node takes the head's workspace. The padded direct convolution (conv-padded.ts) applies a bias-
// like epilogue to its accumulators before storing them instead, with no pass of its own.

import type { Node } from "../../ir/graph.ts";
import { attr } from "../../ir/op-def.ts";
import { parseBody, type BodyArg } from "../../ir/ops/fused-body.ts";
import { FUSED_SIGNATURES } from "../../ir/ops/fused.ts";
import { headAttrs } from "../../ir/ops/fused-contraction.ts";
import type { TensorType } from "../../ir/types.ts";
import { signedTable } from "../../ir/dtypes.ts";
import { UnsupportedKernelError, withWorkspace, type BufferRef, type KernelArgs, type KernelEmitter, type KernelTable } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { convKernel, emitConv, emitConvWithEpilogueInRegisters } from "./conv.ts";
import { FLOATS, isHalf } from "../../ir/dtypes.ts";
import { floatElementFunction } from "./elementwise.ts";
import type { V } from "./lanes.ts";
import { emitMap, type ElementFn } from "./map.ts";
import { emitMatmul, matmulKernel, type Epilogue } from "./matmul.ts";

/**
 * The element function of a body program over `operandCount` operands: each step is the element
 * function of the op it names (elementwise.ts); `vector` is false when a step runs scalar only.
 */
export function bodyElementFunction(a: KernelArgs, bodyText: string, operandCount: number): { fn: ElementFn; vector: boolean } {
  const steps = parseBody(bodyText, operandCount).map((s) => {
    const element = floatElementFunction(s.op, { attrs: s.approximate ? { approximate: s.approximate } : {}, helper: a.helper });
    if (!element) throw new UnsupportedKernelError(`wasm-simd: fused step '${s.op}' has no f32 kernel (node %${a.node.id})`);
    return { args: s.args, ...element };
  });
  const fn: ElementFn = (L, xs) => {
    const temps: V[] = [];
    const arg = (x: BodyArg): V => (x.kind === "operand" ? xs[x.index] : x.kind === "temp" ? temps[x.index] : () => L.c(x.value));
    steps.forEach((s, k) => {
      const value = s.fn(L, s.args.map(arg));
      if (k < steps.length - 1) temps.push(L.letF(value));
      else temps.push(() => value);
    });
    return temps[steps.length - 1]();
  };
  return { fn, vector: steps.every((s) => s.vector) };
}

/** output[i] = body(inputs[0][i'], inputs[1][i''], ...), one loop; `output` may be an input's buffer. */
function emitBodyMap(a: KernelArgs, bodyText: string, inputs: readonly BufferRef[], output: BufferRef): Expr[] {
  const { fn, vector } = bodyElementFunction(a, bodyText, inputs.length);
  return emitMap(a.f, inputs, output, fn, { vector });
}

const fused: KernelEmitter = (a) => emitBodyMap(a, attr.str(a.node.attrs, "body"), a.inputs, a.output);

/** The head's view of a fused contraction node: its op, first two operands and own attributes. */
function headNode(node: Node, headOp: string): Node {
  return { ...node, op: headOp, inputs: node.inputs.slice(0, 2), attrs: headAttrs(node.attrs) };
}

/**
 * `head` computes the product into the output and the epilogue then runs over it in place; a
 * 16-bit output instead goes to `headWithEpilogue`, which applies the epilogue to the f32 product
 * as it stores it (so the result is rounded once, not once for the product and again after). An
 * f32 output goes to `inRegisters` first, when given: a head that can apply the epilogue before
 * its stores (the padded direct convolution) returns its kernel, else undefined.
 */
function withEpilogue(
  headOp: string, head: KernelEmitter, headWithEpilogue: (a: KernelArgs, e: Epilogue) => Expr[],
  inRegisters?: (a: KernelArgs, e: Epilogue) => Expr[] | undefined,
): KernelEmitter {
  const emit = (a: KernelArgs): Expr[] => {
    const args = { ...a, node: headNode(a.node, headOp), inputs: a.inputs.slice(0, 2) };
    if (isHalf(a.output.type.dtype)) {
      const { fn, vector } = bodyElementFunction(a, attr.str(a.node.attrs, "epilogue"), a.inputs.length - 1);
      return headWithEpilogue(args, { fn, vector, extras: a.inputs.slice(2) });
    }
    if (inRegisters) {
      const { fn, vector } = bodyElementFunction(a, attr.str(a.node.attrs, "epilogue"), a.inputs.length - 1);
      const fusedStore = inRegisters(args, { fn, vector, extras: a.inputs.slice(2) });
      if (fusedStore) return fusedStore;
    }
    const product = head(args);
    const epilogue = emitBodyMap(a, attr.str(a.node.attrs, "epilogue"), [a.output, ...a.inputs.slice(2)], a.output);
    return [...product, ...epilogue];
  };
  const scratch = head.workspaceBytes;
  if (!scratch) return emit;
  return withWorkspace(emit, (node: Node, inputs: readonly TensorType[], output: TensorType) => scratch(headNode(node, headOp), inputs.slice(0, 2), output));
}

/**
 * Bodies and epilogues are chains of the elementwise ops' f32 element functions, over operands
 * and results of one float dtype (16-bit ones widened on load, the result rounded once).
 */
export const FUSED_KERNELS: KernelTable = signedTable("wasm fused kernels", {
  fused: [
    { op: "fused", dtypes: FUSED_SIGNATURES, kernel: fused },
    { op: "fusedMatmul", dtypes: FLOATS, kernel: withEpilogue("matmul", matmulKernel, (a, e) => emitMatmul(a, e)) },
    { op: "fusedConv2d", dtypes: FLOATS, kernel: withEpilogue("conv2d", convKernel.conv2d, (a, e) => emitConv("conv2d", a, e), emitConvWithEpilogueInRegisters) },
  ],
});
