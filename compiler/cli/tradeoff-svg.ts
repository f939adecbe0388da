// Auto checkpointing's memory-versus-recompute curve as a standalone SVG (`mlc mem --train
// --tradeoff --svg FILE`): recomputation overhead across (extra FLOPs, % of the step), planned
// arena up, one circle per budget joined in budget order, the sqrt policy as a square for
// comparison, and dashed lines at the smallest and largest budget. Each marker has a <title>, so
// a browser shows its budget, arena and overhead on hover. Same look as timeline-svg.ts.

import type { CheckpointRow, TradeoffReport } from "./memory-report.ts";
import { formatBytes } from "./timeline-svg.ts";

const WIDTH = 960;
const HEIGHT = 600;
const MARGIN = { left: 96, right: 40, top: 64, bottom: 64 };
const AUTO_COLOR = "#4e79a7";
const SQRT_COLOR = "#e15759";

export interface TradeoffSvgOptions {
  title: string;
  /** e.g. "training step, batch 8". */
  subtitle?: string;
  /** FLOPs of the un-checkpointed step, shown in the subtitle. */
  stepFlops?: number;
}

export function tradeoffSvg(t: TradeoffReport, opts: TradeoffSvgOptions): string {
  const all: CheckpointRow[] = [...t.points, t.sqrt];
  const maxX = niceCeil(Math.max(...all.map((r) => r.extraFlopsPercent), 1));
  // Bytes in the binary unit formatBytes shows them in, so the ticks read as round numbers.
  const top = Math.max(...all.map((r) => r.arena), ...t.points.map((p) => p.budgetBytes), 1);
  const unit = top < 1024 ? 1 : top < 1024 * 1024 ? 1024 : 1024 * 1024;
  const maxY = niceCeil(top / unit) * unit;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (pct: number) => MARGIN.left + (pct / maxX) * plotW;
  const y = (bytes: number) => MARGIN.top + plotH - (bytes / maxY) * plotH;
  const bottom = MARGIN.top + plotH;

  const info = [
    opts.subtitle,
    opts.stepFlops !== undefined ? `step ${(opts.stepFlops / 1e6).toFixed(1)} MFLOP without recomputation` : undefined,
    `budgets ${formatBytes(t.points[0]?.budgetBytes ?? 0)} to ${formatBytes(t.points[t.points.length - 1]?.budgetBytes ?? 0)} (--memory-budget)`,
  ].filter((s): s is string => s !== undefined);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="16" font-weight="bold">${escapeXml(opts.title)}</text>`,
    `<text x="${MARGIN.left}" y="42" fill="#444">${escapeXml(info.join(" · "))}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ccc"/>`,
  ];

  // Grid and ticks.
  for (const v of ticks(maxX)) {
    out.push(`<line x1="${num(x(v))}" x2="${num(x(v))}" y1="${MARGIN.top}" y2="${bottom}" stroke="#eee"/>`);
    out.push(`<text x="${num(x(v))}" y="${bottom + 18}" text-anchor="middle">${escapeXml(`${trimNumber(v)}%`)}</text>`);
  }
  for (const v of ticks(maxY / unit).map((k) => k * unit)) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${num(y(v))}" y2="${num(y(v))}" stroke="#eee"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${num(y(v) + 4)}" text-anchor="end">${escapeXml(formatBytes(v))}</text>`);
  }
  out.push(`<g stroke="#333"><line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${bottom}" y2="${bottom}"/><line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}"/></g>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${bottom + 42}" text-anchor="middle" font-size="13">extra FLOPs (recomputation, % of the step)</text>`);
  const midY = MARGIN.top + plotH / 2;
  out.push(`<text x="20" y="${midY}" text-anchor="middle" font-size="13" transform="rotate(-90 20 ${midY})">planned arena</text>`);

  // The budget range, as dashed horizontals.
  for (const [label, bytes] of [["smallest budget (least feasible)", t.points[0]?.budgetBytes], ["largest budget (no checkpointing)", t.points[t.points.length - 1]?.budgetBytes]] as const) {
    if (bytes === undefined) continue;
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${num(y(bytes))}" y2="${num(y(bytes))}" stroke="#999" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${MARGIN.left + plotW - 4}" y="${num(y(bytes) - 4)}" text-anchor="end" fill="#666">${escapeXml(`${label} ${formatBytes(bytes)}`)}</text>`);
  }

  // The curve: auto's points in budget order.
  const path = t.points.map((p, i) => `${i === 0 ? "M" : "L"}${num(x(p.extraFlopsPercent))},${num(y(p.arena))}`).join(" ");
  if (path) out.push(`<path d="${path}" fill="none" stroke="${AUTO_COLOR}" stroke-width="1.5"/>`);
  for (const p of t.points) {
    const title = `auto, budget ${formatBytes(p.budgetBytes)}${p.atSqrtPeak ? " (sqrt's estimated peak)" : ""}: arena ${formatBytes(p.arena)}, activation memory ${formatBytes(p.activationBytes)}, extra FLOPs ${p.extraFlopsPercent.toFixed(2)}%`;
    out.push(`<circle class="budget-point" cx="${num(x(p.extraFlopsPercent))}" cy="${num(y(p.arena))}" r="5" fill="${AUTO_COLOR}"><title>${escapeXml(title)}</title></circle>`);
  }
  const s = t.sqrt;
  const sqrtTitle = `sqrt policy: arena ${formatBytes(s.arena)}, activation memory ${formatBytes(s.activationBytes)}, extra FLOPs ${s.extraFlopsPercent.toFixed(2)}%`;
  out.push(`<rect class="sqrt-point" x="${num(x(s.extraFlopsPercent) - 5)}" y="${num(y(s.arena) - 5)}" width="10" height="10" fill="${SQRT_COLOR}"><title>${escapeXml(sqrtTitle)}</title></rect>`);

  // Legend, mid-right: the curve hugs the left edge (cheap budgets) and the bottom (tight ones).
  const left = MARGIN.left + plotW - 230;
  const row = MARGIN.top + plotH / 2 - 24;
  out.push(`<rect x="${left - 8}" y="${row - 14}" width="226" height="48" fill="white" stroke="#ccc"/>`);
  out.push(`<circle cx="${left}" cy="${row}" r="5" fill="${AUTO_COLOR}"/><text x="${left + 12}" y="${row + 4}">auto at one budget (${t.points.length} budgets)</text>`);
  out.push(`<rect x="${left - 5}" y="${row + 17}" width="10" height="10" fill="${SQRT_COLOR}"/><text x="${left + 12}" y="${row + 26}">sqrt policy</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** The axis end: the first multiple of the tick step (tickStep) at or above v. */
function niceCeil(v: number): number {
  const step = tickStep(v);
  return Math.ceil(v / step - 1e-9) * step;
}

/** A round step (1, 2 or 5 times a power of ten) giving about five ticks up to max. */
function tickStep(max: number): number {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? magnitude * 10;
}

/** The ticks from 0 to max (an axis end from niceCeil). */
function ticks(max: number): number[] {
  const step = tickStep(max);
  const out: number[] = [];
  for (let i = 0; i * step <= max * (1 + 1e-9); i++) out.push(i * step);
  return out;
}

function trimNumber(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}
