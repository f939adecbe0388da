// Loop scaffolding shared by the reduction, normalization, loss and gather kernels: pointers that
// walk the arena by constant byte strides, loop nests over them, and the blocked loop that keeps
// long float sums accurate.
//
// Every shape is known when the kernel is emitted, so loops have constant trip counts and
// pointers advance by constant byte strides (no index arithmetic in the loops). A loop of one
// trip is emitted as its body alone.

import type { Expr, FunctionBuilder, Local } from "../module.ts";

/** A byte address the emitter can read as often as it likes: a constant, or a local plus a constant. */
export interface Ptr {
  /** The address `bytes` past this one, as a fresh expression. */
  at(bytes?: number): Expr;
  plus(bytes: number): Ptr;
}

export function constPtr(f: FunctionBuilder, base: number): Ptr {
  return { at: (bytes = 0) => f.i32.const(base + bytes), plus: (bytes) => constPtr(f, base + bytes) };
}

export function localPtr(f: FunctionBuilder, l: Local, offset = 0): Ptr {
  return {
    at: (bytes = 0) => (offset + bytes === 0 ? f.get(l) : f.i32.add(f.get(l), f.i32.const(offset + bytes))),
    plus: (bytes) => localPtr(f, l, offset + bytes),
  };
}

/** A pointer and how far it moves (in bytes) per trip of a loop; 0 keeps it fixed. */
export interface Stride {
  readonly ptr: Ptr;
  readonly bytes: number;
}

/**
 * The pointers to use inside a loop, and the statements that start and advance them. A moving
 * pointer becomes a local the first time the body reads it, so a pass that uses only some of a
 * kernel's buffers carries no dead induction variables; `init` and `bump` are therefore called
 * after the body has been built.
 */
function movingPointers(f: FunctionBuilder, strides: readonly Stride[]): { cur: Ptr[]; init: () => Expr[]; bump: () => Expr[] } {
  const locals: (Local | null)[] = strides.map(() => null);
  const localOf = (k: number) => (locals[k] ??= f.local("i32"));
  const lazy = (k: number, offset: number): Ptr => ({
    at: (bytes = 0) => localPtr(f, localOf(k), offset).at(bytes),
    plus: (bytes) => lazy(k, offset + bytes),
  });
  const cur = strides.map(({ ptr, bytes }, k) => (bytes === 0 ? ptr : lazy(k, 0)));
  const used = () => strides.flatMap((s, k) => (locals[k] ? [{ ...s, local: locals[k] }] : []));
  return {
    cur,
    init: () => used().map(({ ptr, local }) => f.set(local, ptr.at())),
    bump: () => used().map(({ bytes, local }) => f.set(local, f.i32.add(f.get(local), f.i32.const(bytes)))),
  };
}

/** `count` trips of `body`, each seeing the pointers advanced by their strides so far. */
export function stepLoop(f: FunctionBuilder, count: number, strides: readonly Stride[], body: (cur: Ptr[]) => Expr[]): Expr[] {
  if (count <= 0) return [];
  if (count === 1) return body(strides.map((s) => s.ptr));
  const { cur, init, bump } = movingPointers(f, strides);
  const trip = body(cur);
  const loop = f.forRange(f.local("i32"), 0, count, 1, [...trip, ...bump()]);
  return [...init(), loop];
}

/** One level of a loop nest: `count` trips, moving each pointer by its entry of `strides` (bytes). */
export interface Level {
  readonly count: number;
  readonly strides: readonly number[];
}

/** Nested loops, outermost first; the body sees the pointers of the innermost trip. */
export function loopNest(f: FunctionBuilder, starts: readonly Ptr[], levels: readonly Level[], body: (cur: Ptr[]) => Expr[]): Expr[] {
  if (levels.length === 0) return body([...starts]);
  const [level, ...rest] = levels;
  const strides = starts.map((ptr, k) => ({ ptr, bytes: level.strides[k] }));
  return stepLoop(f, level.count, strides, (cur) => loopNest(f, cur, rest, body));
}

/** How blockedLoop emits a sum's trips (see there). */
export interface BlockedSum {
  /** One trip, accumulating into the block's partial sums when `inBlock`, else into the totals. */
  readonly step: (cur: Ptr[], inBlock: boolean) => Expr[];
  /** Resets the partial sums. */
  readonly open: () => Expr[];
  /** Adds the partial sums to the totals. */
  readonly close: () => Expr[];
}

/**
 * The trips of a long sum grouped into blocks of `block` trips: each block is summed on its own
 * and then added to the running total, so rounding error grows with block + count / block rather
 * than with count (two-level pairwise summation). Counts up to `block` run as one plain loop
 * into the totals.
 */
export function blockedLoop(f: FunctionBuilder, count: number, block: number, strides: readonly Stride[], sum: BlockedSum): Expr[] {
  if (count <= block) return stepLoop(f, count, strides, (cur) => sum.step(cur, false));
  const { cur, init, bump } = movingPointers(f, strides);
  const blockOf = (trips: number) => {
    const trip = sum.step(cur, true);
    return [...sum.open(), f.forRange(f.local("i32"), 0, trips, 1, [...trip, ...bump()]), ...sum.close()];
  };
  const full = Math.floor(count / block);
  const rest = count - full * block;
  const blocks = [f.forRange(f.local("i32"), 0, full, 1, blockOf(block)), ...(rest > 0 ? blockOf(rest) : [])];
  return [...init(), ...blocks];
}

/**
 * Trips per block of a blocked sum. Each trip adds one term to every lane's partial sum, so a
 * lane sums 64 terms per block and, for a 2^20-term row folded by 16 lanes, 1024 block sums:
 * both levels short enough to keep float32 error near 1e-7.
 */
export const SUM_BLOCK = 64;
