// Kernels that work along one axis — reductions, softmax, layer and batch norm, losses — view x
// as [outer, len, inner] around that axis and run the same short algorithm (a few folds over the
// axis, then a pass that writes) at every (outer, inner) position. This file emits the loops; a
// kernel supplies only the algorithm, written against `AxisWalk` with the shared `Lanes`.
//
// Two ways to vectorize, chosen by the layout:
//   inner == 1  the axis is contiguous: SIMD runs ALONG it (four elements of a row per vector,
//               then a scalar tail), and each statistic is one scalar per row;
//   inner > 1   positions along `inner` are contiguous: SIMD runs ACROSS them in panels of up to
//               four vectors (one 64-byte cache line of f32) plus scalar columns for the rest,
//               each lane walking the axis with stride inner; statistics are kept per lane.
//
// Sums over long axes are blocked (reduction-loops.ts) so float32 error stays near one ulp.

import type { DType } from "../../ir/types.ts";
import { DTYPE_BYTES } from "../../ir/types.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { loadLanes, loadScalar, splat, storeLanes } from "./access.ts";
import { Lanes, type Width } from "./lanes.ts";
import type { FoldArith, FoldKind } from "./reduction-fold.ts";
import { blockedLoop, constPtr, loopNest, stepLoop, SUM_BLOCK, type Ptr, type Stride } from "./reduction-loops.ts";

/** x viewed around the walked axis: element (o, j, i) sits at (o * len + j) * inner + i. */
export interface AxisView {
  readonly outer: number;
  readonly len: number;
  readonly inner: number;
}

/**
 * How a buffer lies relative to the view:
 *   along   shaped like x, element (o, j, i)                     e.g. softmax's input and output
 *   axis    one element per j, shared by every (o, i)            e.g. layer norm's gamma
 *   across  one element per (o, i), fixed along the axis         e.g. a reduction's result, batch norm's gamma
 */
export type Layout = "along" | "axis" | "across";

export interface WalkBuffer {
  readonly layout: Layout;
  /** The element type stored (loads widen it to the walk's compute type, stores narrow to it). */
  readonly dtype: DType;
  /** Address of the buffer's element (0, 0, 0): an arena offset, or a pointer of an enclosing loop. */
  readonly start: Ptr;
}

/** A buffer of `dtype` elements at a constant arena offset. */
export function arenaBuffer(f: FunctionBuilder, layout: Layout, offset: number, dtype: DType): WalkBuffer {
  return { layout, dtype, start: constPtr(f, offset) };
}

/** A per-lane statistic (a mean, a max, ...): one local per column of the walk. */
export interface Stat {
  readonly locals: readonly Local[];
}

/** One group of lanes at one step of the walk: arithmetic at its width, and its operands. */
export interface Lane {
  readonly L: Lanes;
  load(buf: WalkBuffer): Expr;
  store(buf: WalkBuffer, v: Expr): Expr;
  /** A statistic's value in these lanes. */
  stat(s: Stat): Expr;
  /**
   * The byte address of these lanes' first element of `buf`; outside the axis loop (`let`,
   * `final`) an along buffer gives its element at j = 0 (how a loss finds a row to index into).
   */
  address(buf: WalkBuffer): Expr;
}

export interface AxisWalk {
  /**
   * Folds `value(lane)` over the axis into a statistic. `after`, when given, runs at each step
   * with the value just folded (softmax stores exp(x - max) as it sums it).
   */
  fold(kind: FoldKind, value: (lane: Lane) => Expr, after?: (lane: Lane, v: Expr) => Expr[]): Stat;
  /** Statements at every step along the axis. */
  each(body: (lane: Lane) => Expr[]): void;
  /** A statistic computed from others (and from `across` buffers), once per column. */
  let(value: (lane: Lane) => Expr): Stat;
  /** Statements once per column, outside the axis loop (e.g. a store into an `across` buffer). */
  final(body: (lane: Lane) => Expr[]): void;
}

/** Emits a group of statements built with a fresh Lanes, its `let` statements first. */
function withLanes(f: FunctionBuilder, width: Width, build: (L: Lanes) => Expr[]): Expr[] {
  const L = new Lanes(f, width);
  const stmts = build(L);
  return [...L.body, ...stmts];
}

interface Column {
  readonly width: Width;
  /** Elements from the panel's first inner position to the column's first lane. */
  readonly offset: number;
}

/** Lanes across `inner` per SIMD panel: four vectors, one 64-byte cache line of f32. */
const PANEL_VECTORS = 4;

/** Independent accumulators of a fold along a contiguous row (see ContiguousWalk.fold). */
const FOLD_CHAINS = 4;

/**
 * Runs `algorithm` at every position of `view`. `buffers` are the kernel's operands and results,
 * each of its own element type, all computing in `arith`'s lanes (f32 for the float dtypes, i32
 * for the integers); the algorithm refers to them by these same objects.
 */
export function walkAxis(f: FunctionBuilder, view: AxisView, arith: FoldArith, buffers: readonly WalkBuffer[], algorithm: (walk: AxisWalk) => void): Expr[] {
  const { outer, len, inner } = view;
  const eb = (b: WalkBuffer) => DTYPE_BYTES[b.dtype];
  const rowStride = (b: WalkBuffer) => (b.layout === "along" ? len * inner * eb(b) : b.layout === "across" ? inner * eb(b) : 0);
  const rows = { count: outer, strides: buffers.map(rowStride) };
  const starts = buffers.map((b) => b.start);
  const ctx: WalkContext = { f, dtype: arith.dtype, buffers, arith };
  if (inner === 1) {
    return loopNest(f, starts, [rows], (row) => {
      const walk = new ContiguousWalk(ctx, len, row);
      algorithm(walk);
      return walk.code;
    });
  }
  const panel = (columns: Column[], at: Ptr[]) => {
    const walk = new StridedWalk(ctx, len, inner, at, columns);
    algorithm(walk);
    return walk.code;
  };
  const perPanel = PANEL_VECTORS * 4;
  const fullPanels = Math.floor(inner / perPanel);
  const rest = inner - fullPanels * perPanel;
  const vectors = (count: number): Column[] => Array.from({ length: count }, (_, k) => ({ width: 4, offset: 4 * k }));
  const tail = rest - (rest % 4);
  const restColumns = [...vectors(tail / 4), ...Array.from({ length: rest % 4 }, (_, k): Column => ({ width: 1, offset: tail + k }))];
  const moving = (b: WalkBuffer) => (b.layout === "axis" ? 0 : perPanel * eb(b));
  return loopNest(f, starts, [rows], (row) => [
    ...stepLoop(f, fullPanels, row.map((ptr, k) => ({ ptr, bytes: moving(buffers[k]) })), (at) => panel(vectors(PANEL_VECTORS), at)),
    ...(rest > 0 ? panel(restColumns, row.map((ptr, k) => ptr.plus(fullPanels * moving(buffers[k])))) : []),
  ]);
}

interface WalkContext {
  readonly f: FunctionBuilder;
  /** A dtype of the compute lanes' kind (statistics are splatted as it says: float or int). */
  readonly dtype: DType;
  readonly buffers: readonly WalkBuffer[];
  readonly arith: FoldArith;
}

function indexOf(ctx: WalkContext, buf: WalkBuffer): number {
  const k = ctx.buffers.indexOf(buf);
  if (k < 0) throw new Error("AxisWalk: buffer was not given to walkAxis");
  return k;
}

/** One step of a fold: value into a local, combined into the accumulator, then `after`. */
function foldStep(
  ctx: WalkContext,
  kind: FoldKind,
  width: Width,
  lane: (L: Lanes) => Lane,
  into: Local,
  value: (lane: Lane) => Expr,
  after?: (lane: Lane, v: Expr) => Expr[],
): Expr[] {
  const { f, arith } = ctx;
  const L = new Lanes(f, width);
  const l = lane(L);
  const v = f.local(arith.type(L));
  const setValue = f.set(v, value(l));
  const valueLets = L.body.splice(0);
  const later = after ? after(l, f.get(v)) : [];
  const laterLets = L.body.splice(0);
  return [...valueLets, setValue, f.set(into, arith.combine(L, kind, into, v)), ...laterLets, ...later];
}

/** inner == 1: one row at a time, SIMD along the row, one scalar per statistic. */
class ContiguousWalk implements AxisWalk {
  readonly code: Expr[] = [];
  private readonly vectors: number;

  constructor(
    private readonly ctx: WalkContext,
    private readonly len: number,
    private readonly row: readonly Ptr[],
  ) {
    this.vectors = Math.floor(len / 4);
  }

  /** Lanes at one step: `ptrs` hold each along/axis buffer's address at the step. */
  private lane(L: Lanes, ptrs: readonly Ptr[]): Lane {
    const { f, dtype } = this.ctx;
    return {
      L,
      load: (buf) => {
        const k = indexOf(this.ctx, buf);
        return buf.layout === "across" ? splat(L, dtype, loadScalar(L, buf.dtype, this.row[k].at())) : loadLanes(L, buf.dtype, ptrs[k].at());
      },
      store: (buf, v) => {
        if (buf.layout !== "along") throw new Error("AxisWalk: inside the axis loop only along buffers are written");
        return storeLanes(L, buf.dtype, ptrs[indexOf(this.ctx, buf)].at(), v);
      },
      stat: (s) => splat(L, dtype, f.get(s.locals[0])),
      address: (buf) => {
        const k = indexOf(this.ctx, buf);
        return (buf.layout === "across" ? this.row[k] : ptrs[k]).at();
      },
    };
  }

  /** The row pointers moved `elements` along the axis (across buffers stay). */
  private shifted(ptrs: readonly Ptr[], elements: number): Ptr[] {
    const { buffers } = this.ctx;
    return ptrs.map((ptr, k) => (buffers[k].layout === "across" ? ptr : ptr.plus(elements * DTYPE_BYTES[buffers[k].dtype])));
  }

  /** Per-trip byte strides of the row pointers for trips of `elements` elements. */
  private strides(elements: number): Stride[] {
    const { buffers } = this.ctx;
    return this.row.map((ptr, k) => ({ ptr, bytes: buffers[k].layout === "across" ? 0 : elements * DTYPE_BYTES[buffers[k].dtype] }));
  }

  /** The scalar steps after the last whole vector, unrolled (at most three). */
  private tail(step: (ptrs: Ptr[]) => Expr[]): Expr[] {
    const stmts: Expr[] = [];
    for (let t = this.vectors * 4; t < this.len; t++) stmts.push(...step(this.shifted(this.row, t)));
    return stmts;
  }

  /**
   * Vectors fold into FOLD_CHAINS accumulators in turn, so consecutive additions (or maxima) do
   * not wait on each other, and the row's sum has 4 x FOLD_CHAINS lane partials; leftover vectors
   * and the scalar tail follow, then everything combines pairwise.
   */
  fold(kind: FoldKind, value: (lane: Lane) => Expr, after?: (lane: Lane, v: Expr) => Expr[]): Stat {
    const { f, arith } = this.ctx;
    const vector = new Lanes(f, 4);
    const scalar = new Lanes(f, 1);
    const chains = Math.min(FOLD_CHAINS, this.vectors);
    const accs = Array.from({ length: chains }, () => f.local("v128"));
    const partials = accs.map(() => f.local("v128"));
    const tailAcc = f.local(arith.type(scalar));
    const step = (width: Width, ptrs: Ptr[], into: Local) => foldStep(this.ctx, kind, width, (L) => this.lane(L, ptrs), into, value, after);
    const trips = Math.floor(this.vectors / FOLD_CHAINS);
    this.code.push(...accs.map((acc) => f.set(acc, arith.identity(vector, kind))), f.set(tailAcc, arith.identity(scalar, kind)));
    this.code.push(
      ...blockedLoop(f, trips, kind === "sum" ? SUM_BLOCK : Infinity, this.strides(4 * FOLD_CHAINS), {
        step: (cur, inBlock) => accs.flatMap((acc, c) => step(4, this.shifted(cur, 4 * c), inBlock ? partials[c] : acc)),
        open: () => partials.map((partial) => f.set(partial, arith.identity(vector, kind))),
        close: () => accs.map((acc, c) => f.set(acc, arith.combine(vector, kind, acc, partials[c]))),
      }),
    );
    for (let v = trips * FOLD_CHAINS; v < this.vectors; v++) this.code.push(...step(4, this.shifted(this.row, 4 * v), accs[v % FOLD_CHAINS]));
    this.code.push(...this.tail((ptrs) => step(1, ptrs, tailAcc)));
    // Pairwise: (a0 ∘ a1) ∘ (a2 ∘ a3), then across the lanes, then the tail.
    for (let width = 1; width < chains; width *= 2) {
      for (let c = 0; c + width < chains; c += 2 * width) this.code.push(f.set(accs[c], arith.combine(vector, kind, accs[c], accs[c + width])));
    }
    if (chains === 0) return { locals: [tailAcc] };
    const result = f.local(arith.type(scalar));
    this.code.push(f.set(result, arith.acrossLanes(f, kind, accs[0])));
    if (this.len % 4 !== 0) this.code.push(f.set(result, arith.combine(scalar, kind, result, tailAcc)));
    return { locals: [result] };
  }

  each(body: (lane: Lane) => Expr[]): void {
    const { f } = this.ctx;
    const step = (width: Width, ptrs: Ptr[]) => withLanes(f, width, (L) => body(this.lane(L, ptrs)));
    this.code.push(...stepLoop(f, this.vectors, this.strides(4), (cur) => step(4, cur)), ...this.tail((ptrs) => step(1, ptrs)));
  }

  /** Scalar lanes outside the axis loop: statistics and across buffers only. */
  private columnLane(L: Lanes): Lane {
    const { f } = this.ctx;
    const across = (buf: WalkBuffer) => {
      if (buf.layout !== "across") throw new Error("AxisWalk: outside the axis loop only across buffers are used");
      return this.row[indexOf(this.ctx, buf)].at();
    };
    return {
      L,
      load: (buf) => loadScalar(L, buf.dtype, across(buf)),
      store: (buf, v) => storeLanes(L, buf.dtype, across(buf), v),
      stat: (s) => f.get(s.locals[0]),
      address: (buf) => this.row[indexOf(this.ctx, buf)].at(),
    };
  }

  let(value: (lane: Lane) => Expr): Stat {
    const { f, arith } = this.ctx;
    const local = f.local(arith.type(new Lanes(f, 1)));
    this.code.push(...withLanes(f, 1, (L) => [f.set(local, value(this.columnLane(L)))]));
    return { locals: [local] };
  }

  final(body: (lane: Lane) => Expr[]): void {
    this.code.push(...withLanes(this.ctx.f, 1, (L) => body(this.columnLane(L))));
  }
}

/** inner > 1: a panel of columns across `inner`, each walking the axis with stride `inner`. */
class StridedWalk implements AxisWalk {
  readonly code: Expr[] = [];

  constructor(
    private readonly ctx: WalkContext,
    private readonly len: number,
    /** Elements from one step along the axis to the next in an along buffer. */
    private readonly inner: number,
    /** Each buffer at the panel's first inner position (axis buffers at their element 0). */
    private readonly at: readonly Ptr[],
    private readonly columns: readonly Column[],
  ) {}

  private lane(L: Lanes, c: number, ptrs: readonly Ptr[], inLoop: boolean): Lane {
    const { f, dtype } = this.ctx;
    const { offset } = this.columns[c];
    const address = (buf: WalkBuffer) => {
      const ptr = ptrs[indexOf(this.ctx, buf)];
      return buf.layout === "axis" ? ptr.at() : ptr.at(offset * DTYPE_BYTES[buf.dtype]);
    };
    const operand = (buf: WalkBuffer) => {
      if (!inLoop && buf.layout !== "across") throw new Error("AxisWalk: outside the axis loop only across buffers are used");
      return address(buf);
    };
    return {
      L,
      load: (buf) => (buf.layout === "axis" ? splat(L, dtype, loadScalar(L, buf.dtype, operand(buf))) : loadLanes(L, buf.dtype, operand(buf))),
      store: (buf, v) => storeLanes(L, buf.dtype, operand(buf), v),
      stat: (s) => f.get(s.locals[c]),
      address,
    };
  }

  /** Bytes each buffer moves per step along the axis. */
  private strides(): Stride[] {
    return this.at.map((ptr, k) => {
      const { layout, dtype } = this.ctx.buffers[k];
      const eb = DTYPE_BYTES[dtype];
      return { ptr, bytes: layout === "along" ? this.inner * eb : layout === "axis" ? eb : 0 };
    });
  }

  fold(kind: FoldKind, value: (lane: Lane) => Expr, after?: (lane: Lane, v: Expr) => Expr[]): Stat {
    const { f, arith } = this.ctx;
    const { columns } = this;
    const lanesOf = columns.map((c) => new Lanes(f, c.width));
    const accs = lanesOf.map((L) => f.local(arith.type(L)));
    const partials = lanesOf.map((L) => f.local(arith.type(L)));
    this.code.push(...lanesOf.map((L, k) => f.set(accs[k], arith.identity(L, kind))));
    this.code.push(
      ...blockedLoop(f, this.len, kind === "sum" ? SUM_BLOCK : Infinity, this.strides(), {
        step: (cur, inBlock) =>
          columns.flatMap((c, k) =>
            foldStep(this.ctx, kind, c.width, (L) => this.lane(L, k, cur, true), inBlock ? partials[k] : accs[k], value, after),
          ),
        open: () => lanesOf.map((L, k) => f.set(partials[k], arith.identity(L, kind))),
        close: () => lanesOf.map((L, k) => f.set(accs[k], arith.combine(L, kind, accs[k], partials[k]))),
      }),
    );
    return { locals: accs };
  }

  each(body: (lane: Lane) => Expr[]): void {
    const { f } = this.ctx;
    this.code.push(
      ...stepLoop(f, this.len, this.strides(), (cur) =>
        this.columns.flatMap((c, k) => withLanes(f, c.width, (L) => body(this.lane(L, k, cur, true)))),
      ),
    );
  }

  let(value: (lane: Lane) => Expr): Stat {
    const { f, arith } = this.ctx;
    const locals = this.columns.map((c, k) => {
      const local = f.local(arith.type(new Lanes(f, c.width)));
      this.code.push(...withLanes(f, c.width, (L) => [f.set(local, value(this.lane(L, k, this.at, false)))]));
      return local;
    });
    return { locals };
  }

  final(body: (lane: Lane) => Expr[]): void {
    const { f } = this.ctx;
    this.columns.forEach((c, k) => this.code.push(...withLanes(f, c.width, (L) => body(this.lane(L, k, this.at, false)))));
  }
}
