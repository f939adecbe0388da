// fusedReduce: a sum, mean or max of a body program's values (ir/ops/fused-reduce.ts). The same
// walk as the plain reductions (reduction-axes.ts: the shape simplified to [outer, len, inner]
// around its one reduced block, SIMD along or across it), with the folded value computed from the
// operands by the body's element functions (fused.ts) instead of loaded from a buffer. Operands
// lie along the shape, across it (one value per result) or along the reduced axis only, which is
// what `fuseReductions` admits; each step runs in f32 as the unfused kernels would, so the result
// equals the unfused pair's.

import { attr } from "../../ir/op-def.ts";
import { broadcastAll } from "../../ir/ops/broadcast.ts";
import { operandLayout, reducedAxisFlags, reducesOneBlock } from "../../ir/ops/fused-reduce.ts";
import { UnsupportedKernelError, type KernelArgs, type KernelEmitter, type KernelRegistration } from "../kernel.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import type { Expr } from "../module.ts";
import { bodyElementFunction } from "./fused.ts";
import { reductionGroups } from "./reduction-axes.ts";
import { arenaBuffer, walkAxis } from "./reduction-axis-walk.ts";
import { foldArith } from "./reduction-fold.ts";

const fusedReduce: KernelEmitter = (a: KernelArgs): Expr[] => {
  const { f, node, inputs, output } = a;
  const shape = broadcastAll(inputs.map((x) => x.type.shape));
  const reduced = reducedAxisFlags(shape, attr.ints(node.attrs, "axes"));
  const unsupported = (why: string) => new UnsupportedKernelError(`wasm-simd: fusedReduce %${node.id} ${why}`);
  if (!reducesOneBlock(shape, reduced)) throw unsupported("needs one block of reduced axes folding at least two values");
  const layouts = inputs.map((x) => operandLayout(x.type.shape, shape, reduced));
  if (layouts.some((l) => l === undefined)) throw unsupported("has an operand that is neither full-shaped nor constant along the reduced or the kept axes");
  const { fn, vector } = bodyElementFunction(a, attr.str(node.attrs, "body"), inputs.length);
  if (!vector) throw unsupported("has a scalar-only body step");

  const groups = reductionGroups(shape, reduced);
  const last = groups.map((g) => g.reduced).lastIndexOf(true);
  const view = {
    outer: groups.slice(0, last).reduce((n, g) => n * g.size, 1),
    len: groups[last].size,
    inner: groups.slice(last + 1).reduce((n, g) => n * g.size, 1),
  };
  const reduce = attr.str(node.attrs, "reduce");
  const kind = reduce === "max" ? "max" : "sum";
  const divisor = reduce === "mean" ? view.len : 1;
  const operands = inputs.map((x, k) => arenaBuffer(f, layouts[k]!, x.offset, x.type.dtype));
  const out = arenaBuffer(f, "across", output.offset, output.type.dtype);
  return walkAxis(f, view, foldArith("f32", kind), [...operands, out], (walk) => {
    const s = walk.fold(kind, (lane) => fn(lane.L, operands.map((b) => () => lane.load(b))));
    walk.final(({ L, stat, store }) => [store(out, divisor === 1 ? stat(s) : L.div(stat(s), L.c(divisor)))]);
  });
};

export const FUSED_REDUCE_KERNELS: readonly KernelRegistration[] = [{ op: "fusedReduce", dtypes: FLOATS, kernel: fusedReduce }];
