// `--compress codebookN` (mlc build): Deep Compression of the bundle's weights file
// (docs/COMPRESSION.md "Deep Compression"): pruned weights stored as their nonzeros' positions and
// N-bit indices into a k-means codebook of the nonzeros. Only the file changes (the bundle decodes
// it when it loads), so it is for inference bundles of f32 weights, and not combined with the
// flags that change the weights' form in the bundle (--quantize, --sparse, --precision f16|bf16).

import type { Argv } from "yargs";
import { UsageError } from "./options.ts";

export const COMPRESS_SCHEMES = ["codebook2", "codebook3", "codebook4", "codebook5", "codebook6", "codebook7", "codebook8"] as const;

export interface CompressArgs {
  compress?: (typeof COMPRESS_SCHEMES)[number];
}

export function withCompressOptions<T>(y: Argv<T>): Argv<T & CompressArgs> {
  return y.option("compress", { choices: COMPRESS_SCHEMES, describe: "inference: Deep Compression of the weights file (with --weights, pruned): each weight's nonzeros as relative positions + N-bit indices into a k-means codebook of the nonzeros; the bundle decodes it to dense f32 when it loads" }) as Argv<T & CompressArgs>;
}

/** The index bits --compress asks for (undefined without it), refusing what it does not combine with. */
export function compressBits(args: CompressArgs & { train?: boolean; precision?: string; quantize?: string; sparse?: boolean; weights?: string }): number | undefined {
  if (!args.compress) return undefined;
  const flag = `--compress ${args.compress}`;
  if (args.train) throw new UsageError(`${flag} compresses an inference bundle's weights file: build it without --train (fine-tune the pruned weights first)`);
  if (!args.weights) throw new UsageError(`${flag} needs --weights FILE.safetensors: the pruned weights to compress (e.g. from mlc prune or mlc train --prune)`);
  if (args.quantize) throw new UsageError(`${flag} and --quantize ${args.quantize} do not combine (--compress already stores codebook indices)`);
  if (args.sparse) throw new UsageError(`${flag} and --sparse do not combine yet`);
  if (args.precision === "f16" || args.precision === "bf16") throw new UsageError(`${flag} and --precision ${args.precision} do not combine: it compresses f32 weights`);
  return Number(args.compress.slice("codebook".length));
}
