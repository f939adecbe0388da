// The arena timeline of a planned graph as a standalone SVG (`mlc mem --svg`): steps across,
// arena offsets up, one rectangle per buffer (alias class) coloured by category, a dashed line at
// the max-live lower bound, axes with labels, and a legend. Each rectangle has a <title>, so a
// browser shows the buffer's values, size and lifetime on hover.

import type { Graph } from "../ir/graph.ts";
import { memoryProblem, type WorkspaceBytes } from "../passes/liveness.ts";
import { maxLiveLowerBound } from "../passes/planner/lower-bound.ts";
import type { Category } from "./memory-report.ts";
import { CATEGORIES } from "./memory-report.ts";

const COLORS: Record<Category, string> = {
  params: "#4e79a7",
  "optimizer state": "#9c755f",
  "other state": "#bab0ac",
  inputs: "#59a14f",
  activations: "#f28e2b",
  gradients: "#e15759",
  workspace: "#76b7b2",
};

const WIDTH = 1200;
const HEIGHT = 720;
const MARGIN = { left: 96, right: 230, top: 56, bottom: 64 };

export interface TimelineOptions {
  categoryOf: (value: string) => Category;
  /** Shown in the title, e.g. "batch 64". */
  subtitle?: string;
  /** The backend's scratch bytes per node, so its kernels' workspaces are drawn too. */
  workspaceBytes?: WorkspaceBytes;
}

export function timelineSvg(g: Graph, opts: TimelineOptions): string {
  if (!g.memory) throw new Error(`timelineSvg: graph '${g.name}' has no memory plan`);
  const { problem, classes, workspaces } = memoryProblem(g, g.memory.alignment, opts.workspaceBytes);
  const workspaceOf = new Map(workspaces.map((w) => [w.buffer, w.node]));
  const arena = Math.max(g.memory.arena, 1);
  const steps = problem.buffers.reduce((most, b) => Math.max(most, b.upper), 1);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (step: number) => MARGIN.left + (step / steps) * plotW;
  const y = (offset: number) => MARGIN.top + plotH - (offset / arena) * plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="16" font-weight="bold">${escapeXml(`${g.name}: arena timeline`)}</text>`,
    `<text x="${MARGIN.left}" y="42" fill="#444">${escapeXml(
      `${opts.subtitle ? opts.subtitle + " · " : ""}arena ${formatBytes(g.memory.arena)} · max-live lower bound ${formatBytes(maxLiveLowerBound(problem))} · ${problem.buffers.length} buffers over ${steps} steps`,
    )}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ccc"/>`,
  ];

  const totals = new Map<Category, number>();
  out.push(`<g stroke="white" stroke-width="0.3">`);
  problem.buffers.forEach((b, i) => {
    const scratchOf = workspaceOf.get(i);
    const root = scratchOf ?? classes[i].root;
    const category = scratchOf !== undefined ? "workspace" : opts.categoryOf(root);
    totals.set(category, (totals.get(category) ?? 0) + b.size);
    const offset = (scratchOf !== undefined ? g.memory!.workspaces?.[scratchOf] : g.memory!.slots[root])?.offset ?? 0;
    const top = y(offset + b.size);
    // Tiny buffers (scalars) still get a visible sliver.
    const h = Math.max(y(offset) - top, 0.8);
    const members = scratchOf !== undefined ? [] : classes[i].members;
    const what = scratchOf !== undefined ? `scratch of %${scratchOf}` : members.map((m) => "%" + m).join(" → ");
    const title = `${what} (${category}): ${formatBytes(b.size)} at offset ${offset}, steps [${b.lower}, ${b.upper})`;
    out.push(
      `<rect x="${num(x(b.lower))}" y="${num(top)}" width="${num(Math.max(x(b.upper) - x(b.lower), 0.8))}" height="${num(h)}" fill="${COLORS[category]}"><title>${escapeXml(title)}</title></rect>`,
    );
  });
  out.push(`</g>`);

  const bound = maxLiveLowerBound(problem);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${num(y(bound))}" y2="${num(y(bound))}" stroke="#222" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${MARGIN.left + plotW - 4}" y="${num(y(bound) - 4)}" text-anchor="end" fill="#222">max-live lower bound</text>`);
  out.push(...axes(steps, arena, x, y, plotW, plotH));
  out.push(...legend(totals));
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

function axes(steps: number, arena: number, x: (s: number) => number, y: (o: number) => number, plotW: number, plotH: number): string[] {
  const out: string[] = [`<g stroke="#333">`];
  const bottom = MARGIN.top + plotH;
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${bottom}" y2="${bottom}"/>`);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}"/>`);
  out.push(`</g>`);
  for (const s of ticks(steps)) {
    out.push(`<line x1="${num(x(s))}" x2="${num(x(s))}" y1="${bottom}" y2="${bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${num(x(s))}" y="${bottom + 18}" text-anchor="middle">${s}</text>`);
  }
  for (const o of ticks(arena, byteUnit(arena))) {
    out.push(`<line x1="${MARGIN.left - 5}" x2="${MARGIN.left}" y1="${num(y(o))}" y2="${num(y(o))}" stroke="#333"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${num(y(o) + 4)}" text-anchor="end">${escapeXml(formatBytes(o))}</text>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${bottom + 42}" text-anchor="middle" font-size="13">schedule step (node index)</text>`);
  const midY = MARGIN.top + plotH / 2;
  out.push(`<text x="20" y="${midY}" text-anchor="middle" font-size="13" transform="rotate(-90 20 ${midY})">arena offset</text>`);
  return out;
}

function legend(totals: ReadonlyMap<Category, number>): string[] {
  const left = WIDTH - MARGIN.right + 20;
  const out = [`<text x="${left}" y="${MARGIN.top + 4}" font-weight="bold">buffers by category (summed sizes)</text>`];
  CATEGORIES.forEach((c, i) => {
    const top = MARGIN.top + 18 + i * 22;
    out.push(`<rect x="${left}" y="${top}" width="14" height="14" fill="${COLORS[c]}"/>`);
    out.push(`<text x="${left + 20}" y="${top + 11}">${escapeXml(`${c} (${formatBytes(totals.get(c) ?? 0)})`)}</text>`);
  });
  return out;
}

/** About six round tick values from 0 to max, round in multiples of `unit`. */
function ticks(max: number, unit = 1): number[] {
  const raw = max / unit / 6;
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? magnitude * 10;
  const out: number[] = [];
  for (let t = 0; t * unit <= max; t += step) out.push(t * unit);
  return out;
}

/** The binary unit (B, KiB, MiB) that formatBytes shows `n` in, so byte ticks read as round numbers. */
function byteUnit(n: number): number {
  return n < 1024 ? 1 : n < 1024 * 1024 ? 1024 : 1024 * 1024;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const trim = (x: number) => x.toFixed(2).replace(/\.?0+$/, "");
  if (n < 1024 * 1024) return `${trim(n / 1024)} KiB`;
  return `${trim(n / (1024 * 1024))} MiB`;
}

function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}
