// name.plan.json, written by every backend's bundle: the arena's size and every value's and
// workspace's slot per entry, so a user can see where each byte of the bundle's memory goes.

import type { ProgramEntry } from "./backend.ts";

export interface PlanFileExtras {
  /** Bytes the module's memory reserves (WASM pages), when it differs from the arena. */
  readonly memoryBytes?: number;
}

export function planFile(name: string, arena: number, alignment: number, entries: readonly ProgramEntry[], extras: PlanFileExtras = {}): string {
  const plan = {
    name,
    arena,
    ...(extras.memoryBytes !== undefined ? { memoryBytes: extras.memoryBytes } : {}),
    alignment,
    entries: Object.fromEntries(entries.map(({ exportName, graph: g }) => [exportName, { slots: g.memory!.slots, workspaces: g.memory!.workspaces ?? {} }])),
  };
  return JSON.stringify(plan, null, 2) + "\n";
}
