// Static preorders for the search's tie-breaking (MiniMalloc's "preordering heuristics"). A
// heuristic is a string of keys, each sorted descending, compared left to right:
//   W  lifetime width (upper - lower)        A  area (size x width)
//   T  largest current total among the buffer's sections (how contended its stretch of time is)
//   Z  size        L  lower        U  upper        C  sections spanned        O  overlaps
// Remaining ties go to the lower buffer index, so orders are deterministic.

import type { SearchModel } from "./search-model.ts";

/** `members` sorted by `heuristic`, using `total` (current per-section totals) for the T key. */
export function preorder(
  model: SearchModel,
  members: readonly number[],
  total: Float64Array,
  heuristic: string,
): Int32Array {
  const keys: Float64Array[] = [];
  for (const key of heuristic) keys.push(keyValues(model, members, total, key, heuristic));
  const positions = Int32Array.from({ length: members.length }, (_, p) => p);
  positions.sort((a, b) => {
    for (const values of keys) {
      const d = values[b] - values[a];
      if (d !== 0) return d;
    }
    return members[a] - members[b];
  });
  return positions.map((p) => members[p]);
}

function keyValues(
  model: SearchModel,
  members: readonly number[],
  total: Float64Array,
  key: string,
  heuristic: string,
): Float64Array {
  const values = new Float64Array(members.length);
  for (let p = 0; p < members.length; p++) {
    const b = members[p];
    const width = model.width[b];
    switch (key) {
      case "W":
        values[p] = width;
        break;
      case "A":
        values[p] = width * model.size[b];
        break;
      case "T": {
        let most = 0;
        for (let s = model.sectionFirst[b]; s < model.sectionLast[b]; s++) most = Math.max(most, total[s]);
        values[p] = most;
        break;
      }
      case "Z":
        values[p] = model.size[b];
        break;
      case "L":
        values[p] = model.lower[b];
        break;
      case "U":
        values[p] = model.upper[b];
        break;
      case "C":
        values[p] = model.sectionLast[b] - model.sectionFirst[b];
        break;
      case "O":
        values[p] = model.overlapStart[b + 1] - model.overlapStart[b];
        break;
      default:
        throw new Error(`unknown preorder key '${key}' in heuristic '${heuristic}'`);
    }
  }
  return values;
}
