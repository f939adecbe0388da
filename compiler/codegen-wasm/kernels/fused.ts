// Kernel of the `fused` op: ONE broadcasting loop (map.ts: f32x4 steps and a scalar tail, with
// same-shape, scalar and broadcast operands as for any elementwise op) whose element function runs
// the node's body program. Each step is the element function of the op it names, taken from the
// elementwise kernels (elementwise.ts), so a fused chain computes exactly what the unfused kernels
// would, in registers instead of through intermediate buffers. A body that uses `pow` (scalar
// only) runs every element scalar.

import { attr } from "../../ir/op-def.ts";
import { parseBody, type BodyArg } from "../../ir/ops/fused-body.ts";
import { UnsupportedKernelError, type KernelEmitter, type KernelTable } from "../kernel.ts";
import { floatElementFunction } from "./elementwise.ts";
import type { V } from "./lanes.ts";
import { emitMap, type ElementFn } from "./map.ts";

const fused: KernelEmitter = (a) => {
  if (a.inputs.some((x) => x.type.dtype !== "f32") || a.output.type.dtype !== "f32") {
    throw new UnsupportedKernelError(`wasm-simd: fused has an f32 kernel only (node %${a.node.id})`);
  }
  const steps = parseBody(attr.str(a.node.attrs, "body"), a.inputs.length).map((s) => {
    const element = floatElementFunction(s.op, { attrs: s.approximate ? { approximate: s.approximate } : {}, helper: a.helper });
    if (!element) throw new UnsupportedKernelError(`wasm-simd: fused step '${s.op}' has no f32 kernel (node %${a.node.id})`);
    return { args: s.args, ...element };
  });
  const body: ElementFn = (L, xs) => {
    const temps: V[] = [];
    const arg = (x: BodyArg): V => (x.kind === "operand" ? xs[x.index] : x.kind === "temp" ? temps[x.index] : () => L.c(x.value));
    steps.forEach((s, k) => {
      const value = s.fn(L, s.args.map(arg));
      if (k < steps.length - 1) temps.push(L.letF(value));
      else temps.push(() => value);
    });
    return temps[steps.length - 1]();
  };
  return emitMap(a.f, a.inputs, a.output, body, { vector: steps.every((s) => s.vector) });
};

export const FUSED_KERNELS: KernelTable = new Map([["fused", fused]]);
