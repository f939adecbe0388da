// Exact search: can every buffer be placed in an arena of `capacity` bytes? A depth-first branch
// and bound over "canonical" solutions, after MiniMalloc (Moffitt, ASPLOS 2023):
//
//   - Buffers are placed in non-decreasing offset order, each at its lowest feasible offset: the
//     highest top among already-placed buffers it overlaps in time (or 0). Every packing can be
//     pushed down into such a form, so searching only these loses nothing.
//   - Branching picks which buffer goes next, lowest offset first, ties broken by a static
//     preorder (e.g. "WAT": longest-lived, then largest area, then most contended section).
//   - Dominance: a buffer is never placed at or above the point where another unplaced buffer
//     would fit entirely below it; and when a placed buffer has nothing unplaced overlapping it
//     ("hatless"), its alternatives are not explored.
//   - Section inference (search-state.ts): in every section the unplaced buffers must stack above
//     the section's floor and above the current offset. Placing any buffer at offset o leaves each
//     section needing o + its unplaced total, so one bound per node, o <= capacity - max total,
//     prunes whole runs of candidates without placing them.
//   - Dynamic decomposition: once no unplaced buffer crosses the boundary between two sections,
//     the sides are independent "pieces", solved one after the other.
//
// The depth-first search runs on an explicit stack (problems have tens of thousands of buffers),
// counts nodes and watches a deadline. `run` round-robins over several preorders with doubling
// node limits, as MiniMalloc does, so one bad ordering cannot stall it.

import type { SearchModel } from "./search-model.ts";
import { wallClock, type SearchClock } from "./clock.ts";
import { preorder } from "./search-preorder.ts";
import { SearchState } from "./search-state.ts";

export type SearchStatus = "found" | "infeasible" | "aborted";

export interface SearchOptions {
  /** Preorders to round-robin over (see search-preorder.ts). */
  readonly heuristics?: readonly string[];
  /** Give up after this many rounds (each heuristic once, at a node limit doubling per round). */
  readonly rounds?: number;
  /** What `deadline` is measured on (default: the wall clock). */
  readonly clock?: SearchClock;
}

/** MiniMalloc's default preorders: longest-lived first, most contended first. */
const DEFAULT_HEURISTICS = ["WAT", "TAW", "TWA"];

export interface SearchRun {
  readonly status: SearchStatus;
  /** Offsets by buffer (complete when status is "found"). */
  readonly offsets: Float64Array;
  readonly nodes: number;
}

const FOUND = 0;
const NOT_FOUND = 1;
const ABORTED = 2;

/**
 * A set of buffers (in preorder; position = rank) and the sections they live in. The ranks still
 * unplaced form a doubly linked list (head and tail sentinel at index list.length), unlinked on
 * placement and relinked on backtracking, so nodes deep in the search scan only what is left.
 */
class Piece {
  readonly next: Int32Array;
  readonly prev: Int32Array;

  constructor(
    readonly list: Int32Array,
    readonly firstSection: number,
    readonly lastSection: number,
  ) {
    const n = list.length;
    this.next = Int32Array.from({ length: n + 1 }, (_, r) => (r === n ? 0 : r + 1));
    this.prev = Int32Array.from({ length: n + 1 }, (_, r) => (r === 0 ? n : r - 1));
    if (n === 0) this.next[0] = 0;
  }

  unlink(rank: number): void {
    this.next[this.prev[rank]] = this.next[rank];
    this.prev[this.next[rank]] = this.prev[rank];
  }

  /** Undoes unlink(rank); must come in reverse order of the unlinks (as backtracking does). */
  relink(rank: number): void {
    this.next[this.prev[rank]] = rank;
    this.prev[this.next[rank]] = rank;
  }
}

/** One level of the depth-first search: either a branching node or a run of pieces. */
class Frame {
  isNode = true;
  // Branching node.
  piece!: Piece;
  floorOffset = 0;
  floorRank = 0;
  candidateBase = 0;
  candidateEnd = 0;
  next = 0;
  placed = -1;
  placedRank = 0;
  mark = 0;
  hatless = false;
  // Pieces.
  pieces: Piece[] = [];
  pieceIndex = 0;
}

export class CapacitySearch {
  private readonly model: SearchModel;
  private readonly state: SearchState;
  private deadline = Infinity;
  private clock: SearchClock = wallClock();
  private nodesLeft = 0;
  private nodes = 0;
  private heuristic = "WAT";
  private readonly frames: Frame[] = [];
  private depth = 0;
  // Candidate stack shared by all frames: a node's candidates sit in [candidateBase, candidateEnd).
  private candidates = new Int32Array(1024);
  private candidateRanks = new Int32Array(1024);
  private candidateTop = 0;

  constructor(model: SearchModel) {
    this.model = model;
    this.state = new SearchState(model);
  }

  /**
   * Searches for a packing within `capacity`, trying each preorder heuristic in turn with a node
   * limit that doubles every round, until one finishes, `options.rounds` rounds have passed, or the
   * deadline (performance.now() ms) passes. "infeasible" is a proof: some heuristic exhausted its
   * search space.
   */
  run(capacity: number, deadline: number, options: SearchOptions = {}): SearchRun {
    const { heuristics = DEFAULT_HEURISTICS, rounds = Infinity } = options;
    this.state.capacity = capacity;
    this.deadline = deadline;
    this.clock = options.clock ?? wallClock();
    let nodes = 0;
    let limit = Math.max(64, this.model.count);
    for (let round = 0; round < rounds; round++) {
      limit *= 2;
      for (const heuristic of heuristics) {
        this.heuristic = heuristic;
        this.nodesLeft = heuristics.length === 1 && rounds === Infinity ? Infinity : limit;
        this.nodes = 0;
        const status = this.searchAll();
        nodes += this.nodes;
        const offsets = this.state.solution.slice();
        if (status === FOUND) return { status: "found", offsets, nodes };
        if (status === NOT_FOUND) return { status: "infeasible", offsets, nodes };
        if (this.clock.now() > this.deadline) return { status: "aborted", offsets, nodes };
      }
    }
    return { status: "aborted", offsets: this.state.solution.slice(), nodes };
  }

  private searchAll(): number {
    const all = Int32Array.from({ length: this.model.count }, (_, i) => i);
    this.depth = 0;
    this.pushPieces(new Piece(all, 0, this.model.sectionCount));
    let result = FOUND;
    let returning = false;
    const state = this.state;
    while (this.depth > 0) {
      const frame = this.frames[this.depth - 1];
      if (!frame.isNode) {
        if (returning) {
          if (result !== FOUND) {
            this.depth--;
            continue;
          }
          frame.pieceIndex++;
        }
        if (frame.pieceIndex >= frame.pieces.length) {
          result = FOUND;
          returning = true;
          this.depth--;
          continue;
        }
        this.pushNode(frame.pieces[frame.pieceIndex], 0, 0);
        returning = false;
        continue;
      }
      if (returning) {
        state.unplace(frame.placed, frame.mark);
        frame.piece.relink(frame.placedRank);
        frame.placed = -1;
        if (result !== NOT_FOUND || frame.hatless) {
          this.candidateTop = frame.candidateBase;
          this.depth--;
          continue;
        }
      } else {
        const entered = this.enterNode(frame);
        if (entered !== NOT_FOUND) {
          result = entered;
          returning = true;
          this.depth--;
          continue;
        }
      }
      // Try the frame's next candidate that survives placement.
      let pushed = false;
      while (frame.next < frame.candidateEnd) {
        const k = frame.next++;
        const b = this.candidates[k];
        const rank = this.candidateRanks[k];
        const mark = state.mark;
        const o = state.minOffset[b];
        if (state.place(b)) {
          frame.placed = b;
          frame.placedRank = rank;
          frame.mark = mark;
          frame.hatless = state.hatless;
          frame.piece.unlink(rank);
          if (state.split) this.pushPieces(frame.piece);
          else this.pushNode(frame.piece, o, rank);
          pushed = true;
          break;
        }
        const hatless = state.hatless;
        state.unplace(b, mark);
        if (hatless) break;
      }
      if (pushed) {
        returning = false;
        continue;
      }
      result = NOT_FOUND;
      returning = true;
      this.candidateTop = frame.candidateBase;
      this.depth--;
    }
    return result;
  }

  /**
   * Counts the node and collects its candidates. Returns FOUND when the piece is complete,
   * ABORTED past the node limit or deadline, otherwise NOT_FOUND (meaning: go on branching).
   */
  private enterNode(frame: Frame): number {
    if (--this.nodesLeft < 0) return ABORTED;
    this.clock.tick(this.model.count);
    if ((this.nodes++ & 31) === 0 && this.clock.now() > this.deadline) {
      this.nodesLeft = 0;
      return ABORTED;
    }
    const { list, next, firstSection, lastSection } = frame.piece;
    const end = list.length; // the list's sentinel
    const { minOffset, total } = this.state;
    const size = this.model.size;

    // The lowest top any unplaced buffer could reach: nothing may be placed at or above it.
    let minHeight = Infinity;
    for (let r = next[end]; r !== end; r = next[r]) {
      const b = list[r];
      const h = minOffset[b] + size[b];
      if (h < minHeight) minHeight = h;
    }
    if (minHeight === Infinity) return FOUND;

    let maxTotal = 0;
    for (let s = firstSection; s < lastSection; s++) if (total[s] > maxTotal) maxTotal = total[s];
    const offsetLimit = this.state.capacity - maxTotal + this.model.maxPad;

    const base = this.candidateTop;
    this.reserveCandidates(base + list.length);
    const candidates = this.candidates;
    const ranks = this.candidateRanks;
    const { floorOffset, floorRank } = frame;
    let top = base;
    for (let r = next[end]; r !== end; r = next[r]) {
      const b = list[r];
      const o = minOffset[b];
      if (o < floorOffset || (o === floorOffset && r < floorRank)) continue; // not canonical
      if (o >= minHeight || o > offsetLimit) continue; // dominated, or bound to overflow
      // Insertion by offset; ranks arrive ascending, so equal offsets stay in rank order.
      let k = top++;
      while (k > base && minOffset[candidates[k - 1]] > o) {
        candidates[k] = candidates[k - 1];
        ranks[k] = ranks[k - 1];
        k--;
      }
      candidates[k] = b;
      ranks[k] = r;
    }
    frame.candidateBase = base;
    frame.candidateEnd = top;
    frame.next = base;
    this.candidateTop = top;
    return NOT_FOUND;
  }

  private pushNode(piece: Piece, floorOffset: number, floorRank: number): void {
    const frame = this.nextFrame();
    frame.isNode = true;
    frame.piece = piece;
    frame.floorOffset = floorOffset;
    frame.floorRank = floorRank;
    frame.placed = -1;
  }

  /** Splits `parent`'s unplaced buffers at boundaries no unplaced buffer crosses. */
  private pushPieces(parent: Piece): void {
    const { sectionFirst } = this.model;
    const { offset, cuts, total } = this.state;
    const starts = [parent.firstSection];
    for (let s = parent.firstSection; s + 1 < parent.lastSection; s++) if (cuts[s] === 0) starts.push(s + 1);
    const members: number[][] = starts.map(() => []);
    for (const b of parent.list) {
      if (offset[b] >= 0) continue;
      // The piece whose first section is the last start at or before b's first section.
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= sectionFirst[b]) lo = mid;
        else hi = mid - 1;
      }
      members[lo].push(b);
    }
    const pieces: Piece[] = [];
    for (let p = 0; p < starts.length; p++) {
      if (members[p].length === 0) continue;
      const list = preorder(this.model, members[p], total, this.heuristic);
      pieces.push(new Piece(list, starts[p], p + 1 < starts.length ? starts[p + 1] : parent.lastSection));
    }
    const frame = this.nextFrame();
    frame.isNode = false;
    frame.pieces = pieces;
    frame.pieceIndex = 0;
  }

  private nextFrame(): Frame {
    if (this.depth === this.frames.length) this.frames.push(new Frame());
    return this.frames[this.depth++];
  }

  private reserveCandidates(needed: number): void {
    if (needed <= this.candidates.length) return;
    let length = this.candidates.length;
    while (length < needed) length *= 2;
    const candidates = new Int32Array(length);
    candidates.set(this.candidates);
    const ranks = new Int32Array(length);
    ranks.set(this.candidateRanks);
    this.candidates = candidates;
    this.candidateRanks = ranks;
  }
}
