// The plan verifier: an independent check that a memory plan is sound, run on every build (a
// violation is a compiler error, never a silently corrupted arena). It trusts nothing the planner
// computed and shares no code with it, so a planner bug cannot hide itself.
//
// Checks: every offset is a non-negative integer and a multiple of the alignment; the arena is
// exactly max(offset + size); every buffer fits under the capacity (when one is given); and no two
// buffers live at the same time have overlapping byte ranges.
//
// The overlap check is a sweep over time in O((n + k) log n) for k reported overlaps. Every pair
// of buffers live together is seen exactly once: when the later-starting one starts, the other is
// still active. At that moment we ask for every active buffer whose byte range meets the new one.
// Active ranges may themselves overlap (in a bad plan), so the query cannot just look at the two
// neighbours; instead buffers get a fixed slot by offset, and a max-tree over the slots holds each
// active buffer's end. "Slots whose start is below my end and whose end is above my start" is then
// a prefix of the slots, searched only where the subtree's max end is high enough.
//
// It lives in compiler/ir because the IR verifier checks graphs' plans with it (memory-check.ts);
// compiler/passes/planner/verify.ts re-exports it for the planner.

import type { PlanProblem, PlanSolution } from "./plan-problem.ts";

export type PlanViolationKind = "offset-count" | "offset" | "arena" | "capacity" | "overlap" | "truncated";

export interface PlanViolation {
  readonly kind: PlanViolationKind;
  /** Indices (into problem.buffers) of the buffers involved. */
  readonly buffers: readonly number[];
  readonly message: string;
}

/** A plan where everything overlaps has n²/2 overlapping pairs; past this many we stop listing. */
export const MAX_REPORTED_OVERLAPS = 100;

const PAST_2_53 = "past 2^53 bytes: the buffers are too large for any arena (make the model's tensors smaller)";

export class PlanVerifyError extends Error {
  override name = "PlanVerifyError";
  constructor(readonly violations: readonly PlanViolation[]) {
    super(
      `invalid memory plan (${violations.length} violation${violations.length === 1 ? "" : "s"}):\n` + violations.map((v) => `  - ${v.message}`).join("\n") +
        // The CLI reports this as the user's error (a model too large to address); any other
        // violation of a plan mlc made is its own bug, and the message says so.
        (violations.every((v) => v.message.includes(PAST_2_53)) ? "" : "\n  (mlc verifies every plan it makes: unless this plan came from you, this is a bug in mlc, please report it)"),
    );
  }
}

/** Throws PlanVerifyError listing every violation, if there is any. */
export function assertPlan(problem: PlanProblem, solution: PlanSolution, capacity?: number): void {
  const violations = verifyPlan(problem, solution, capacity);
  if (violations.length > 0) throw new PlanVerifyError(violations);
}

export function verifyPlan(problem: PlanProblem, solution: PlanSolution, capacity?: number): PlanViolation[] {
  const { buffers, alignment } = problem;
  const { offsets } = solution;
  if (offsets.length !== buffers.length) {
    return [{ kind: "offset-count", buffers: [], message: `the plan has ${offsets.length} offsets for ${buffers.length} buffers` }];
  }
  const violations: PlanViolation[] = [];
  let arena = 0;
  let offsetsAreIntegers = true;
  for (let i = 0; i < buffers.length; i++) {
    const { id, size } = buffers[i];
    const offset = offsets[i];
    const bad = (kind: PlanViolationKind, why: string) =>
      violations.push({ kind, buffers: [i], message: `buffer '${id}' has offset ${offset}${why}` });
    if (!Number.isSafeInteger(offset)) {
      // Past 2^53 doubles skip integers: the model's buffers are larger than any arena can be.
      bad("offset", Math.abs(offset) > Number.MAX_SAFE_INTEGER ? `, ${PAST_2_53}` : ", which is not an integer");
      offsetsAreIntegers = false;
      continue;
    }
    if (offset < 0) bad("offset", ", which is negative");
    if (offset % alignment !== 0) bad("offset", `, which is not a multiple of the alignment ${alignment}`);
    if (capacity !== undefined && offset + size > capacity) {
      bad("capacity", ` and size ${size}: it ends at ${offset + size}, past the capacity ${capacity}`);
    }
    arena = Math.max(arena, offset + size);
  }
  if (offsetsAreIntegers && solution.arena !== arena) {
    violations.push({ kind: "arena", buffers: [], message: `the plan says the arena is ${solution.arena} bytes, but its buffers end at ${arena}` });
  }
  violations.push(...findOverlaps(problem, offsets));
  return violations;
}

function findOverlaps(problem: PlanProblem, offsets: readonly number[]): PlanViolation[] {
  const { buffers } = problem;
  const lower = Float64Array.from(buffers, (b) => b.lower);
  const upper = Float64Array.from(buffers, (b) => b.upper);
  const start = Float64Array.from(offsets);
  const end = Float64Array.from(buffers, (b, i) => offsets[i] + b.size);
  // Buffers that are never live or hold no bytes cannot overlap anything; bad offsets are reported above.
  const candidates = Int32Array.from(buffers.keys()).filter(
    (i) => upper[i] > lower[i] && end[i] > start[i] && Number.isSafeInteger(offsets[i]),
  );
  const bySlot = candidates.slice().sort((a, b) => start[a] - start[b] || a - b);
  const slotOf = new Int32Array(buffers.length);
  bySlot.forEach((buffer, slot) => (slotOf[buffer] = slot));
  const slotStarts = Float64Array.from(bySlot, (i) => start[i]);
  const activeEnds = new MaxTree(bySlot.length);
  const byLower = candidates.slice().sort((a, b) => lower[a] - lower[b]);
  const byUpper = candidates.slice().sort((a, b) => upper[a] - upper[b]);

  const overlaps: PlanViolation[] = [];
  let ended = 0;
  for (const j of byLower) {
    for (; ended < byUpper.length && upper[byUpper[ended]] <= lower[j]; ended++) {
      activeEnds.set(slotOf[byUpper[ended]], -Infinity);
    }
    const slotsStartingBelowEnd = firstAtLeast(slotStarts, end[j]);
    const room = MAX_REPORTED_OVERLAPS - overlaps.length;
    for (const slot of activeEnds.slotsAbove(start[j], slotsStartingBelowEnd, room + 1)) {
      if (overlaps.length === MAX_REPORTED_OVERLAPS) {
        overlaps.push({ kind: "truncated", buffers: [], message: `stopped after ${MAX_REPORTED_OVERLAPS} overlapping pairs; there are more` });
        return overlaps;
      }
      overlaps.push(describeOverlap(problem, offsets, bySlot[slot], j));
    }
    activeEnds.set(slotOf[j], end[j]);
  }
  return overlaps;
}

function describeOverlap(problem: PlanProblem, offsets: readonly number[], a: number, b: number): PlanViolation {
  const show = (i: number) => {
    const x = problem.buffers[i];
    return `'${x.id}' (live [${x.lower},${x.upper}), bytes [${offsets[i]},${offsets[i] + x.size}))`;
  };
  return { kind: "overlap", buffers: [a, b], message: `buffers ${show(a)} and ${show(b)} are live at the same time and overlap` };
}

/** Index of the first element >= value in an ascending array (its length if none). */
function firstAtLeast(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Fixed slots holding numbers (-Infinity = empty), with a max over every power-of-two block. */
class MaxTree {
  private readonly leaves: number;
  private readonly max: Float64Array;
  /** Scratch stack for slotsAbove: at most one pending sibling per level. */
  private readonly stack: Int32Array;

  constructor(slots: number) {
    let leaves = 1;
    while (leaves < slots) leaves *= 2;
    this.leaves = leaves;
    this.max = new Float64Array(2 * leaves).fill(-Infinity);
    this.stack = new Int32Array(2 * (Math.log2(leaves) + 1));
  }

  set(slot: number, value: number): void {
    let node = this.leaves + slot;
    this.max[node] = value;
    for (node >>= 1; node >= 1; node >>= 1) this.max[node] = Math.max(this.max[2 * node], this.max[2 * node + 1]);
  }

  /** Up to `limit` slots below `slotLimit` whose value is greater than `threshold`, in slot order. */
  slotsAbove(threshold: number, slotLimit: number, limit: number): number[] {
    const found: number[] = [];
    // Depth-first, left to right; a node is (index, first slot), its size follows from its depth.
    const stack = this.stack;
    let top = 0;
    stack[top++] = 1;
    while (top > 0 && found.length < limit) {
      const node = stack[--top];
      const depth = 31 - Math.clz32(node);
      const size = this.leaves >> depth;
      const first = (node - (1 << depth)) * size;
      if (first >= slotLimit || this.max[node] <= threshold) continue;
      if (size === 1) {
        found.push(first);
        continue;
      }
      stack[top++] = 2 * node + 1;
      stack[top++] = 2 * node;
    }
    return found;
  }
}
