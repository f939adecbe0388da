// Building blocks for VJP rules. A rule emits ordinary IR nodes through the builder; these helpers
// cover what many rules share: undoing broadcasting, scalar constants, and the "transpose" of
// linear and bilinear ops so that each is written once.

import type { GraphBuilder } from "./builder.ts";
import type { VjpContext, VjpRule } from "./op-def.ts";
import type { DType, Shape } from "./types.ts";
import { sameShape } from "./types.ts";

const scalarMemo = new WeakMap<GraphBuilder, Map<string, string>>();

/**
 * A scalar constant of `dtype` (broadcasts against anything). One node per (value, dtype) and
 * builder: a constant defined once stays visible to every later node.
 */
export function scalar(b: GraphBuilder, value: number, dtype: DType): string {
  let memo = scalarMemo.get(b);
  if (!memo) scalarMemo.set(b, (memo = new Map()));
  const key = `${dtype}:${Object.is(value, -0) ? "-0" : value}`;
  let id = memo.get(key);
  if (!id) memo.set(key, (id = b.op("const", [], { value, dtype, shape: [] })));
  return id;
}

/** A zero tensor of the given type. */
export function zeros(b: GraphBuilder, shape: Shape, dtype: DType): string {
  return b.op("const", [], { value: 0, dtype, shape: [...shape] });
}

/**
 * The cotangent of an operand of shape `target` that was broadcast to `g`'s shape: sums over the
 * axes broadcasting added or stretched, then restores `target`'s exact shape.
 */
export function unbroadcast(b: GraphBuilder, g: string, target: Shape): string {
  const shape = b.typeOf(g).shape;
  if (sameShape(shape, target)) return g;
  const lead = shape.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    // Axes broadcasting added or stretched; a size-1 axis needs no sum, the reshape drops it.
    if (shape[i] !== 1 && (i < lead || target[i - lead] === 1)) axes.push(i);
  }
  const summed = axes.length ? b.op("sum", [g], { axes, keepDims: true }) : g;
  return sameShape(b.typeOf(summed).shape, target) ? summed : b.op("reshape", [summed], { shape: [...target] });
}

/** Shapes of the node's operands. */
export function operandShapes(ctx: VjpContext): Shape[] {
  return ctx.node.inputs.map((v) => ctx.b.typeOf(v).shape);
}

/**
 * VJP of an elementwise op given d(out)/d(operand_i) as a function of the node: multiplies the
 * cotangent by each partial and undoes broadcasting. `partials[i]` returns the partial's value
 * (already broadcast-compatible with the output) or null when the operand takes no cotangent.
 */
export function elementwiseVjp(
  partials: ReadonlyArray<((ctx: VjpContext) => string) | null>,
): VjpRule {
  return (ctx) =>
    ctx.node.inputs.map((v, i) => {
      const partial = partials[i];
      if (!ctx.needs[i] || !partial) return null;
      const g = ctx.b.op("mul", [ctx.dy, partial(ctx)]);
      return unbroadcast(ctx.b, g, ctx.b.typeOf(v).shape);
    });
}

/**
 * For an op linear in operand 0 (with the other operands as fixed parameters), the transpose
 * maps the cotangent back: `transpose(b, dy, node)`. Used by reshape/transpose/slice/pad-like
 * ops, whose backward is another layout op.
 */
export function linearVjp(transpose: (ctx: VjpContext) => string): VjpRule {
  return (ctx) => ctx.node.inputs.map((_, i) => (i === 0 && ctx.needs[0] ? transpose(ctx) : null));
}

/**
 * For a bilinear op f(a, b) (matmul, conv2d): the cotangent of each operand is the op's
 * transpose with respect to that operand, applied to (dy, other operand).
 */
export function bilinearVjp(
  wrtA: (ctx: VjpContext) => string,
  wrtB: (ctx: VjpContext) => string,
): VjpRule {
  return (ctx) => [ctx.needs[0] ? wrtA(ctx) : null, ctx.needs[1] ? wrtB(ctx) : null];
}

/**
 * The rule of an op whose result carries no gradient back to any operand (comparisons, oneHot,
 * const): a null per operand. Such an op is differentiable in the sense that autodiff may pass
 * through it; its operands simply receive nothing.
 */
export function noCotangents(ctx: VjpContext): null[] {
  return ctx.node.inputs.map(() => null);
}
