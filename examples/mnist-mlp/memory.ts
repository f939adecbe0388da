// What occupies the bundle's arena, from its name.plan.json and the build's layout: params,
// optimizer state and other state and the inputs each have their own bytes for the bundle's whole
// life; the rest of the arena is shared, by lifetime, among the forward activations, the gradients,
// the backward temporaries and the kernels' scratch space (each also summed as if it had its own
// buffer, which is what planning saves). Categories follow compiler/cli/memory-report.ts.

import type { WasmLayout } from "../../compiler/codegen-wasm/emit.ts";

/** The parts of name.plan.json read here (compiler/codegen-wasm/bundle.ts writes it). */
export interface PlanFile {
  arena: number;
  memoryBytes: number;
  entries: Record<string, { slots: Record<string, { size: number }>; workspaces: Record<string, { size: number }> }>;
}

export interface MemoryBreakdown {
  arena: number;
  memoryBytes: number;
  /** Bytes held for the bundle's life. */
  params: number;
  optimizerState: number;
  otherState: number;
  inputs: number;
  /** arena − the above: the region the entries' transient values share. */
  shared: number;
  /** The largest entry's transient values, each counted as if it had its own buffer. */
  sharedNaive: { entry: string; activations: number; gradients: number; temporaries: number; scratch: number };
}

export function memoryBreakdown(layout: WasmLayout, plan: PlanFile): MemoryBreakdown {
  const b = { params: 0, optimizerState: 0, otherState: 0, inputs: 0 };
  for (const p of layout.params) {
    if (p.trainable) b.params += p.bytes;
    else if (p.name.startsWith("opt/")) b.optimizerState += p.bytes;
    else b.otherState += p.bytes;
  }
  const inputs = new Map(Object.values(layout.entries).flatMap((e) => e.inputs.map((i) => [i.name, i.bytes] as const)));
  for (const bytes of inputs.values()) b.inputs += bytes;
  const persistent = new Set([...layout.params.map((p) => p.name), ...inputs.keys()]);
  const forwardValues = new Set(Object.keys(plan.entries.forward?.slots ?? {}));
  const naive = Object.entries(plan.entries).map(([entry, { slots, workspaces }]) => {
    const sums = { entry, activations: 0, gradients: 0, temporaries: 0, scratch: 0 };
    for (const [value, { size }] of Object.entries(slots)) {
      if (persistent.has(value)) continue;
      if (value.startsWith("grad/")) sums.gradients += size;
      else if (forwardValues.has(value)) sums.activations += size;
      else sums.temporaries += size;
    }
    for (const { size } of Object.values(workspaces)) sums.scratch += size;
    return sums;
  });
  const total = (s: (typeof naive)[number]) => s.activations + s.gradients + s.temporaries + s.scratch;
  const sharedNaive = naive.reduce((most, s) => (total(s) > total(most) ? s : most));
  const held = b.params + b.optimizerState + b.otherState + b.inputs;
  return { arena: plan.arena, memoryBytes: plan.memoryBytes, ...b, shared: plan.arena - held, sharedNaive };
}

export function formatMemory(m: MemoryBreakdown, wasmMemoryBytes: number): string {
  const kib = (n: number) => `${(n / 1024).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })} KiB`;
  const row = (what: string, n: number, note = "") => (n > 0 ? `  ${what.padEnd(18)}${kib(n).padStart(14)}${note && "  " + note}\n` : "");
  const s = m.sharedNaive;
  const naive = s.activations + s.gradients + s.temporaries + s.scratch;
  return (
    `memory: arena ${kib(m.arena)}; the module's wasm memory is ${kib(wasmMemoryBytes)} (the arena rounded up to 64 KiB pages${wasmMemoryBytes === m.memoryBytes ? "" : `; the plan says ${kib(m.memoryBytes)}`})\n` +
    row("params", m.params) +
    row("optimizer state", m.optimizerState) +
    row("other state", m.otherState) +
    row("inputs", m.inputs) +
    row("shared by lifetime", m.shared, `activations, gradients, temporaries, kernel scratch of ${s.entry}`) +
    `  ${"".padEnd(18)}${"".padStart(14)}  (each in its own buffer: ${kib(naive)} = activations ${kib(s.activations)} + gradients ${kib(s.gradients)} + temporaries ${kib(s.temporaries)} + scratch ${kib(s.scratch)})\n`
  );
}
