// The loop nest behind every elementwise kernel: out[i] = fn(in_0[i'], in_1[i''], ...) with NumPy
// broadcasting, specialised at compile time to the node's shapes.
//
// The output's index space is simplified first: axes of size 1 are dropped and neighbouring axes
// merged wherever every operand steps through them as one (its stride on the outer axis is its
// stride on the inner one times the inner size, which includes being broadcast along both). Same
// shapes therefore become one flat loop, a bias add [64,256] + [256] two loops, and a scalar
// operand a stride of zero. The last axis runs innermost, four elements per step with f32x4/i32x4
// and a scalar tail; an operand broadcast along it (stride 0) is loaded once per row and splatted.
// Outer axes are plain loops that advance one address per operand.
//
// The output may be the very buffer of an operand of the same shape (in-place): each step reads
// its elements before it writes the same elements.

import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import { DTYPE_BYTES, numel, type DType } from "../../ir/types.ts";
import type { BufferRef } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { laneKind, loadLanes, loadScalar, splat, storeLanes } from "./access.ts";
import { Lanes, type V, type Width } from "./lanes.ts";

/** The element function: the output lanes from the operands' lanes. */
export type ElementFn = (L: Lanes, xs: readonly V[]) => Expr;

export interface MapOptions {
  /** Whether `fn` has a four-lane form (default true); false runs every element scalar. */
  readonly vector?: boolean;
}

export interface Axis {
  readonly size: number;
  /** Per operand (inputs, then the output), elements to step per index along this axis. */
  readonly strides: readonly number[];
}

/** The output's axes with size-1 axes dropped and mergeable neighbours merged (at least one axis). */
export function coalescedAxes(outShape: readonly number[], operandStrides: readonly (readonly number[])[]): Axis[] {
  const axes: Axis[] = [];
  outShape.forEach((size, d) => {
    if (size === 1) return;
    const strides = operandStrides.map((s) => s[d]);
    const last = axes[axes.length - 1];
    if (last && last.strides.every((outer, k) => outer === strides[k] * size)) {
      axes[axes.length - 1] = { size: last.size * size, strides };
    } else {
      axes.push({ size, strides });
    }
  });
  return axes.length ? axes : [{ size: 1, strides: operandStrides.map(() => 0) }];
}

interface Operand {
  readonly dtype: DType;
  readonly bytes: number;
}

/** Emits the loop nest computing `output` from `inputs` (broadcast to its shape) through `fn`. */
export function emitMap(f: FunctionBuilder, inputs: readonly BufferRef[], output: BufferRef, fn: ElementFn, opts: MapOptions = {}): Expr[] {
  const outShape = output.type.shape;
  if (numel(outShape) === 0) return [];
  const all = [...inputs, output];
  const strides = [...inputs.map((x) => broadcastStrides(x.type.shape, outShape)), contiguous(outShape)];
  const axes = coalescedAxes(outShape, strides);
  const operands: Operand[] = all.map((b) => ({ dtype: b.type.dtype, bytes: DTYPE_BYTES[b.type.dtype] }));
  const nest = new LoopNest(f, axes, operands, fn, opts.vector ?? true);
  return nest.level(0, all.map((b) => () => f.i32.const(b.offset)));
}

/**
 * The same loop nest over explicit `axes` (outermost first; each with every operand's element
 * stride, inputs then the output) from base addresses computed at run time, for kernels that map
 * over part of a buffer (a GEMM's block of rows): operand k has dtype `dtypes[k]`.
 */
export function emitMapAxes(f: FunctionBuilder, axes: readonly Axis[], dtypes: readonly DType[], bases: readonly V[], fn: ElementFn, opts: MapOptions = {}): Expr[] {
  if (axes.some((a) => a.size === 0)) return [];
  const operands: Operand[] = dtypes.map((dtype) => ({ dtype, bytes: DTYPE_BYTES[dtype] }));
  return new LoopNest(f, axes, operands, fn, opts.vector ?? true).level(0, bases);
}

function contiguous(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

class LoopNest {
  constructor(
    private readonly f: FunctionBuilder,
    private readonly axes: readonly Axis[],
    private readonly operands: readonly Operand[],
    private readonly fn: ElementFn,
    private readonly vector: boolean,
  ) {}

  /** Loops over axis `d` and inside it; `base` gives each operand's address at this level. */
  level(d: number, base: readonly V[]): Expr[] {
    if (d === this.axes.length - 1) return this.innermost(base);
    const f = this.f;
    const axis = this.axes[d];
    const pointers = base.map(() => f.local("i32"));
    const counter = f.local("i32");
    const read = pointers.map((p) => () => f.get(p));
    return [
      ...pointers.map((p, k) => f.set(p, base[k]())),
      f.forRange(counter, 0, axis.size, 1, [
        ...this.level(d + 1, read),
        ...pointers.map((p, k) => f.set(p, f.i32.add(f.get(p), f.i32.const(axis.strides[k] * this.operands[k].bytes)))),
      ]),
    ];
  }

  /** The innermost axis: four lanes per step while they last, then single elements. */
  private innermost(base: readonly V[]): Expr[] {
    const f = this.f;
    const axis = this.axes[this.axes.length - 1];
    const inputs = this.operands.length - 1;
    // Operands broadcast along this axis: one load per row (in the compute type), before the loops.
    const hoisted: (Local | null)[] = this.operands.slice(0, inputs).map((op, k) =>
      axis.strides[k] === 0 ? f.local(laneKind(op.dtype) === "float" ? "f32" : "i32") : null,
    );
    const stmts: Expr[] = hoisted.flatMap((local, k) => {
      if (!local) return [];
      const S = new Lanes(f, 1);
      const value = loadScalar(S, this.operands[k].dtype, base[k]());
      return [...S.body, f.set(local, value)];
    });
    const pointers = base.map((b) => {
      const p = f.local("i32");
      stmts.push(f.set(p, b()));
      return p;
    });
    const vectorEnd = this.vector ? axis.size - (axis.size % 4) : 0;
    // At width 4 a row-constant operand is splatted once, outside the vector loop.
    const splats: (Local | null)[] = hoisted.map((local, k) => {
      if (!local || vectorEnd === 0) return null;
      const v = f.local("v128");
      stmts.push(f.set(v, splat(new Lanes(f, 4), this.operands[k].dtype, f.get(local))));
      return v;
    });
    const i = f.local("i32");
    const step = (width: Width): Expr[] => {
      const L = new Lanes(f, width);
      const xs: V[] = this.operands.slice(0, inputs).map((op, k) => {
        const constant = width === 4 ? splats[k] : hoisted[k];
        if (constant) return () => f.get(constant);
        const value = loadLanes(L, op.dtype, this.address(pointers[k], i, op.bytes));
        return L.let(value, laneKind(op.dtype));
      });
      const out = this.operands[inputs];
      const result = this.fn(L, xs);
      // Built before L.body is read: narrowing to a 16-bit storage dtype appends statements.
      const store = storeLanes(L, out.dtype, this.address(pointers[inputs], i, out.bytes), result);
      return [...L.body, store];
    };
    return [
      ...stmts,
      f.forRange(i, 0, vectorEnd, 4, vectorEnd > 0 ? step(4) : []),
      vectorEnd < axis.size ? f.forRange(i, vectorEnd, axis.size, 1, step(1)) : f.nop(),
    ];
  }

  private address(pointer: Local, index: Local, bytes: number): Expr {
    const f = this.f;
    const scaled = bytes === 1 ? f.get(index) : f.i32.shl(f.get(index), f.i32.const(Math.log2(bytes)));
    return f.i32.add(f.get(pointer), scaled);
  }
}
