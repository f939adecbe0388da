// Every pass of the pipeline, registered in the order the driver runs them (phases.ts), with the
// phase it belongs to and when it runs. `mlc passes` prints this table; --print-ir-after=NAME
// checks its names against it. A new pass goes into its phase's list here and into that phase's
// function in phases.ts.

import { accumulate } from "../passes/accumulate.ts";
import { autodiff } from "../passes/autodiff.ts";
import { checkpoint } from "../passes/checkpoint.ts";
import { cse } from "../passes/cse.ts";
import { dce } from "../passes/dce.ts";
import { foldConstants } from "../passes/fold-constants.ts";
import { fuse } from "../passes/fuse.ts";
import { fuseEpilogues } from "../passes/fuse-epilogues.ts";
import { fuseReductions } from "../passes/fuse-reductions.ts";
import { inplace } from "../passes/inplace.ts";
import { lossScale } from "../passes/loss-scale.ts";
import { nonfiniteGuard } from "../passes/nonfinite-guard.ts";
import { optimizer } from "../passes/optimizer.ts";
import { prune } from "../passes/prune.ts";
import { qat } from "../passes/qat.ts";
import type { PassInfo } from "../passes/pass.ts";
import { planProgram } from "../passes/plan-entries.ts";
import { precision } from "../passes/precision.ts";
import { quantizeDense } from "../passes/quantize-dense.ts";
import { quantizeCodebook } from "../passes/quantize-codebook.ts";
import { foldBatchNorm } from "../passes/fold-batch-norm.ts";
import { schedule } from "../passes/schedule.ts";
import { sparsify } from "../passes/sparsify.ts";
import { blockSparse } from "../passes/block-sparse.ts";
import { sparse24 } from "../passes/sparse-24.ts";

export type Phase = "training" | "cleanup" | "precision" | "compression" | "fusion" | "memory";

export interface RegisteredPass {
  readonly pass: PassInfo<object>;
  readonly phase: Phase;
  /** When the driver runs it. */
  readonly when: string;
  /** What it runs on: the train step, each entry point, or all of them at once. */
  readonly scope: "forward" | "train_step" | "each entry" | "all entries";
}

/** The clean-up passes, in order (phases.ts cleanupPhase). */
export const CLEANUP_PASSES = [dce, cse, foldConstants] as const;

export const PIPELINE: readonly RegisteredPass[] = [
  { pass: qat, phase: "training", scope: "forward", when: "--train --quantize int8: the forward pass before autodiff (observers updated in train_step only)" },
  { pass: precision, phase: "precision", scope: "forward", when: "--train --mixed bf16|f16: the forward pass before autodiff (f32 master weights); inference --precision f16|bf16: every entry after the clean-up" },
  { pass: autodiff, phase: "training", scope: "train_step", when: "--train" },
  { pass: lossScale, phase: "training", scope: "train_step", when: "--train --mixed f16 (dynamic loss scaling)" },
  { pass: optimizer, phase: "training", scope: "train_step", when: "--train without --accumulate" },
  { pass: prune, phase: "training", scope: "train_step", when: "--train --prune (or train.prune in the model)" },
  { pass: accumulate, phase: "training", scope: "train_step", when: "--train --accumulate N (N > 1; adds the apply_update entry)" },
  { pass: nonfiniteGuard, phase: "training", scope: "train_step", when: "--train, unless --no-nonfinite-guard (on by default)" },
  ...CLEANUP_PASSES.map((pass): RegisteredPass => ({ pass, phase: "cleanup", scope: "each entry", when: "always" })),
  { pass: foldBatchNorm, phase: "compression", scope: "forward", when: "inference --quantize int8: after the clean-up, before quantize-dense (eval-mode batch norm into the conv/matmul before it)" },
  { pass: quantizeDense, phase: "compression", scope: "forward", when: "inference --quantize int8 --calibrate FILE: after the clean-up, with the ranges calibration observed (driver/calibrate.ts)" },
  { pass: quantizeCodebook, phase: "compression", scope: "forward", when: "inference --quantize codebook3..8: after the clean-up, with the k-means tables and indices of driver/codebook.ts" },
  { pass: sparsify, phase: "compression", scope: "forward", when: "inference --sparse --weights FILE: after the clean-up, removing the zero output channels the weights allow (driver/sparsify-weights.ts)" },
  { pass: blockSparse, phase: "compression", scope: "forward", when: "inference --sparse --weights FILE: after sparsify, dense layers whose weight keeps few enough 1x4 blocks to run faster block-sparse (driver/block-sparse-weights.ts)" },
  { pass: sparse24, phase: "compression", scope: "forward", when: "inference --sparse --weights FILE: after block-sparse, 2:4 weights left dense whose product has 4 to 64 rows (driver/block-sparse-weights.ts)" },
  { pass: checkpoint, phase: "training", scope: "train_step", when: "--train --checkpoint sqrt|auto (after the clean-up, which must not merge its recomputations)" },
  { pass: fuse, phase: "fusion", scope: "each entry", when: "for a backend (build, mem)" },
  { pass: fuseReductions, phase: "fusion", scope: "each entry", when: "for a backend" },
  { pass: fuseEpilogues, phase: "fusion", scope: "each entry", when: "for a backend" },
  { pass: schedule, phase: "memory", scope: "each entry", when: "for a backend" },
  { pass: inplace, phase: "memory", scope: "each entry", when: "for a backend" },
  { pass: planProgram, phase: "memory", scope: "all entries", when: "for a backend (the last pass: its IR is what the backend emits)" },
];

export const PASS_NAMES: readonly string[] = PIPELINE.map((p) => p.pass.name);

/** Throws (through `fail`) when a name is not a registered pass, listing the ones that are. */
export function checkPassNames(names: readonly string[], fail: (message: string) => Error): void {
  for (const n of names) {
    if (!PASS_NAMES.includes(n)) throw fail(`no pass named '${n}' (passes, in order: ${PASS_NAMES.join(", ")})`);
  }
}
