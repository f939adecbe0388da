// What the planner's search budget is measured in. The wall clock (`timeLimitMs`) gives the
// search as much as the machine does in that time, so a busy machine can end it earlier with a
// worse plan. The work clock (`workLimit`) counts search work instead — each search node weighs the
// number of buffers it chooses among, which is roughly what visiting it costs — so the same
// problem always gets the same plan, whatever the load. The driver plans with it, so `mlc mem` and `mlc build`
// of one model agree to the byte.

export interface SearchClock {
  /** Milliseconds (wall clock) or units of search work so far (work clock). */
  now(): number;
  /** Search work done: a node among `units` buffers. */
  tick(units: number): void;
  /** Whether `now` counts work rather than time. */
  readonly counted: boolean;
}

export function wallClock(): SearchClock {
  return { now: () => performance.now(), tick() {}, counted: false };
}

export function workClock(): SearchClock {
  let work = 0;
  return { now: () => work, tick: (units) => void (work += units), counted: true };
}
