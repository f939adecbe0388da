// Codebook quantization for the driver (`--quantize codebookN`, docs/IR.md "Codebook
// quantization"): k-means over each dense layer's weight values (passes/quantize/kmeans.ts), the
// indices packed as the codebookMatmul op stores them (ir/ops/codebook.ts), and the report. It
// needs no calibration data: only the weights are quantized, activations stay f32.

import type { Graph } from "../ir/graph.ts";
import { initParam } from "../ir/init.ts";
import { packCodebookIndices } from "../ir/ops/codebook.ts";
import { numel, type TensorType } from "../ir/types.ts";
import { kmeansCodebook } from "../passes/quantize/kmeans.ts";
import { codebookLayers, codebookParamNames } from "../passes/quantize-codebook.ts";
import type { KeptWeight } from "../passes/quantize-dense.ts";

export interface CodebookSpec {
  /** Bits per index: 2^bits centroids per weight tensor. */
  readonly bits: number;
  /** Params to keep f32 (--quantize-skip). */
  readonly skip?: readonly string[];
  /** Values of the graph's f32 params (a weights file's); the others take their seeded init. */
  readonly params?: Readonly<Record<string, ArrayLike<number>>>;
  readonly seed?: number;
}

export interface CodebookLayerReport {
  readonly weight: string;
  readonly shape: readonly number[];
  readonly bits: number;
  /** The table's smallest and largest centroid. */
  readonly range: readonly [number, number];
  readonly iterations: number;
  readonly converged: boolean;
  /** The weight's relative RMS error after decoding. */
  readonly relativeRms: number;
}

export interface CodebookReport {
  readonly bits: number;
  readonly quantized: readonly CodebookLayerReport[];
  readonly kept: readonly KeptWeight[];
  /** Param bytes of the f32 graph and of the codebook one. */
  readonly paramBytes: { readonly f32: number; readonly quantized: number };
}

export interface Codebooks {
  /** The quantize-codebook pass's options: bits by weight. */
  readonly layers: Readonly<Record<string, number>>;
  /** The new params' values (W/indices, W/codebook), by name, with their types. */
  readonly tensors: Readonly<Record<string, { type: TensorType; data: ArrayLike<number> }>>;
  /** The params the pass removes (the f32 weights). */
  readonly removed: readonly string[];
  readonly report: CodebookReport;
}

/** Codebooks for the dense layers of `graph` (a cleaned f32 inference graph). */
export function codebookModel(graph: Graph, spec: CodebookSpec): Codebooks {
  const { layers, kept } = codebookLayers(graph, spec.skip ?? []);
  const out: Record<string, number> = Object.create(null);
  const tensors: Record<string, { type: TensorType; data: ArrayLike<number> }> = Object.create(null);
  const quantized: CodebookLayerReport[] = [];
  for (const l of layers) {
    const p = graph.params.find((q) => q.name === l.weight)!;
    const values = spec.params && Object.hasOwn(spec.params, l.weight) ? spec.params[l.weight] : initParam(p, spec.seed ?? 0);
    const cb = kmeansCodebook(values, spec.bits);
    const names = codebookParamNames(l.weight);
    const packed = packCodebookIndices(cb.indices, l.k, l.n, spec.bits);
    tensors[names.indices] = { type: { dtype: "u8", shape: [l.k, packed.length / l.k] }, data: packed };
    tensors[names.table] = { type: { dtype: "f32", shape: [2 ** spec.bits] }, data: cb.table };
    out[l.weight] = spec.bits;
    quantized.push({ weight: l.weight, shape: l.shape, bits: spec.bits, range: [cb.table[0], cb.table[cb.table.length - 1]], iterations: cb.iterations, converged: cb.converged, relativeRms: cb.relativeRms });
  }
  const removed = layers.map((l) => l.weight);
  const f32 = graph.params.reduce((s, p) => s + bytesOf(p.type), 0);
  const after = f32 - removed.reduce((s, n) => s + bytesOf(graph.params.find((p) => p.name === n)!.type), 0)
    + Object.values(tensors).reduce((s, t) => s + bytesOf(t.type), 0);
  return { layers: out, tensors, removed, report: { bits: spec.bits, quantized, kept, paramBytes: { f32, quantized: after } } };
}

const BYTES: Readonly<Record<string, number>> = { f32: 4, i32: 4, f16: 2, bf16: 2, i8: 1, u8: 1, bool: 1 };
function bytesOf(t: TensorType): number {
  return numel(t.shape) * BYTES[t.dtype];
}

/** The report as text lines: one per quantized tensor, the kept ones, and the sizes. */
export function formatCodebookReport(r: CodebookReport): string {
  const g = (x: number) => Number(x.toPrecision(3)).toString();
  const lines = [`codebook quantization (${r.bits}-bit indices, k-means per tensor):`];
  for (const q of r.quantized) {
    lines.push(
      `  ${q.weight} [${q.shape.join(",")}] ${2 ** q.bits} centroids ${g(q.range[0])}..${g(q.range[1])}, ` +
        `${q.iterations} Lloyd iteration${q.iterations === 1 ? "" : "s"}${q.converged ? "" : " (cap reached)"}; weight rel. RMS error ${g(q.relativeRms)}`,
    );
  }
  for (const k of r.kept) lines.push(`  kept f32: ${k.param} (${k.reason})`);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  lines.push(`  params ${kib(r.paramBytes.f32)} f32 -> ${kib(r.paramBytes.quantized)} (${(r.paramBytes.f32 / r.paramBytes.quantized).toFixed(2)}x smaller)`);
  return lines.join("\n");
}
