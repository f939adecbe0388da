// Initial values of params and state from their `init` spelling (ParamDecl.init).
//
// Spellings: `zeros`, `ones`, `fill(VALUE)` (every element VALUE: the optimizer's learning-rate
// state `opt/lr`), `normal(STD)` (N(0, STD^2)), `uniform(LIMIT)` (U[-LIMIT, LIMIT)),
// `he_normal` (N(0, 2/fanIn), untruncated, as PyTorch's kaiming_normal_), `glorot_uniform`
// (U[-sqrt(6/(fanIn+fanOut)), +...), as Keras). Integer and bool tensors take only zeros/ones.
//
// Fans follow PyTorch/Keras: a rank 0 or 1 tensor has fanIn = fanOut = its element count; for
// rank >= 2 the last axis is the output, the second-to-last the input, and the leading axes are
// the receptive field (conv weights [kh, kw, in, out]: fanIn = kh*kw*in, fanOut = kh*kw*out).
//
// Random values are reproducible and independent of everything but (param name, seed): the
// Philox key is [hashName(name), seed], and the counter of element pair p = floor(i / 2) is
// [p mod 2^32, floor(p / 2^32), 0, 0]. Its four words make two 53-bit uniforms u, v (words 0,1
// and 2,3; see rng.ts uniform01x53). A uniform init maps element 2p to u and 2p+1 to v; a normal
// init uses Box-Muller on the pair: r = sqrt(-2 ln(1 - u)), element 2p = r cos(2 pi v),
// element 2p+1 = r sin(2 pi v). The values are returned unrounded; callers store them through
// dtype-round.ts for the param's dtype. This runs on the host only (weights are written by the
// compiler), so the backends never need to reproduce it.

import type { ParamDecl } from "./graph.ts";
import { hashName, philox4x32Blocks, uniform01x53 } from "./rng.ts";
import { isFloat, numel, type Shape } from "./types.ts";

export const INIT_KINDS = ["zeros", "ones", "normal", "uniform", "he_normal", "glorot_uniform", "fill"] as const;
export type InitKind = (typeof INIT_KINDS)[number];

export interface InitSpec {
  readonly kind: InitKind;
  /** STD of `normal(STD)`, LIMIT of `uniform(LIMIT)`, VALUE of `fill(VALUE)`. */
  readonly arg?: number;
}

const VALID_SPELLINGS = "zeros, ones, he_normal, glorot_uniform, normal(STD), uniform(LIMIT), fill(VALUE)";
const PLAIN_KINDS: readonly InitKind[] = ["zeros", "ones", "he_normal", "glorot_uniform"];

/** Parses an initializer spelling, or throws an Error naming it and the valid spellings. */
export function parseInit(s: string): InitSpec {
  const text = s.trim();
  if ((PLAIN_KINDS as readonly string[]).includes(text)) return { kind: text as InitKind };
  const call = /^(normal|uniform|fill)\(([^()]*)\)$/.exec(text);
  if (call) {
    const argText = call[2].trim();
    const arg = argText === "" ? NaN : Number(argText);
    if (call[1] === "fill") {
      if (!Number.isFinite(arg)) throw new Error(`invalid initializer '${s}': VALUE must be a finite number (valid: ${VALID_SPELLINGS})`);
      return { kind: "fill", arg };
    }
    const argName = call[1] === "normal" ? "STD" : "LIMIT";
    if (!Number.isFinite(arg) || arg < 0) {
      throw new Error(`invalid initializer '${s}': ${argName} must be a finite number >= 0 (valid: ${VALID_SPELLINGS})`);
    }
    return { kind: call[1] as InitKind, arg };
  }
  throw new Error(`unknown initializer '${s}' (valid: ${VALID_SPELLINGS})`);
}

/** Fan-in and fan-out of a weight of this shape (see the header). */
export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    const n = numel(shape);
    return { fanIn: n, fanOut: n };
  }
  const receptive = numel(shape.slice(0, -2));
  return { fanIn: shape[shape.length - 2] * receptive, fanOut: shape[shape.length - 1] * receptive };
}

/** The initial value of a param or state tensor, seeded by (decl.name, seed). */
export function initParam(decl: ParamDecl, seed = 0): Float64Array {
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new Error(`init seed ${seed} must be an integer in [0, 2^32)`);
  }
  let spec: InitSpec;
  try {
    spec = parseInit(decl.init);
  } catch (e) {
    throw new Error(`param '${decl.name}': ${(e as Error).message}`);
  }
  const { dtype, shape } = decl.type;
  if (!isFloat(dtype) && spec.kind !== "zeros" && spec.kind !== "ones") {
    throw new Error(`param '${decl.name}': ${dtype} params take only zeros or ones, got '${decl.init}'`);
  }
  const out = new Float64Array(numel(shape));
  const key = [hashName(decl.name), seed];
  const { fanIn, fanOut } = fans(shape);
  switch (spec.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "fill":
      return out.fill(spec.arg!);
    case "normal":
      return fillNormal(out, key, spec.arg!);
    case "uniform":
      return fillUniform(out, key, spec.arg!);
    case "he_normal":
      return fillNormal(out, key, Math.sqrt(2 / fanIn));
    case "glorot_uniform":
      return fillUniform(out, key, Math.sqrt(6 / (fanIn + fanOut)));
  }
}

/** Pairs whose Philox words are drawn at once (the words of a chunk fit a small buffer). */
const PAIRS_PER_CHUNK = 4096;

/**
 * Calls `each(start, count, words)` for consecutive chunks of an `elements`-long tensor's element
 * pairs: `words` holds the four Philox words of pairs start .. start + count - 1 (counter [pair mod
 * 2^32, floor(pair / 2^32), 0, 0]), four per pair. The loops over a chunk's pairs are the callers'
 * own, so they run fast before V8 optimises them.
 */
function forEachChunk(elements: number, key: readonly number[], each: (start: number, count: number, words: Uint32Array) => void): void {
  const pairs = Math.ceil(elements / 2);
  const words = new Uint32Array(4 * Math.min(pairs, PAIRS_PER_CHUNK));
  for (let start = 0; start < pairs; ) {
    // A chunk never crosses a multiple of 2^32 pairs, so its counters' high words agree.
    const low = start % 2 ** 32;
    const count = Math.min(pairs - start, PAIRS_PER_CHUNK, 2 ** 32 - low);
    philox4x32Blocks(low, Math.floor(start / 2 ** 32), count, key, words);
    each(start, count, words);
    start += count;
  }
}

function fillUniform(out: Float64Array, key: readonly number[], limit: number): Float64Array {
  const n = out.length;
  forEachChunk(n, key, (start, count, w) => {
    for (let b = 0, i = 2 * start; b < count; b++, i += 2) {
      out[i] = limit * (2 * uniform01x53(w[4 * b], w[4 * b + 1]) - 1);
      if (i + 1 < n) out[i + 1] = limit * (2 * uniform01x53(w[4 * b + 2], w[4 * b + 3]) - 1);
    }
  });
  return out;
}

function fillNormal(out: Float64Array, key: readonly number[], std: number): Float64Array {
  const n = out.length;
  forEachChunk(n, key, (start, count, w) => {
    for (let b = 0, i = 2 * start; b < count; b++, i += 2) {
      // 1 - u lies in (0, 1], so the log is finite.
      const radius = std * Math.sqrt(-2 * Math.log(1 - uniform01x53(w[4 * b], w[4 * b + 1])));
      const angle = 2 * Math.PI * uniform01x53(w[4 * b + 2], w[4 * b + 3]);
      out[i] = radius * Math.cos(angle);
      if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
    }
  });
  return out;
}
