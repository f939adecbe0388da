// The options of the training passes, read from a model's `export const train = {...}` and the
// command line (--optimizer, --lr, --accumulate). Bad values are errors that say where they came
// from and what is allowed.

import { OPTIMIZER_DEFAULTS, type OptimizerKind, type OptimizerOptions } from "./optimizer.ts";
import { checkPruneOptions, PruneOptionsError, type PruneOptions, type PruneStructureKind } from "./prune.ts";

export class TrainSpecError extends Error {
  override name = "TrainSpecError";
}

export interface TrainingSpec {
  loss: string;
  optimizer: OptimizerOptions;
  /** train.prune: magnitude pruning while training (prune.ts). */
  prune?: PruneOptions;
}

const KINDS: readonly OptimizerKind[] = ["sgd", "adam", "adamw"];
const NUMERIC_KEYS = ["lr", "momentum", "weightDecay", "beta1", "beta2", "eps"] as const;

export interface TrainOverrides {
  optimizer?: string;
  lr?: number;
}

/** Validates `train` (the model's export, plain data) and applies command-line overrides. */
export function trainingSpec(train: unknown, overrides: TrainOverrides = {}): TrainingSpec {
  const spec = (train ?? {}) as Record<string, unknown>;
  if (typeof spec !== "object" || Array.isArray(spec)) throw new TrainSpecError("`train` export must be an object like { loss: \"loss\", optimizer: { kind: \"adam\", lr: 1e-3 } }");
  const loss = spec.loss ?? "loss";
  if (typeof loss !== "string") throw new TrainSpecError(`train.loss must name an output (a string), got ${JSON.stringify(loss)}`);
  const given = (spec.optimizer ?? {}) as Record<string, unknown>;
  if (typeof given !== "object" || Array.isArray(given)) throw new TrainSpecError("train.optimizer must be an object");
  for (const key of Object.keys(given)) {
    if (key !== "kind" && key !== "nesterov" && !(NUMERIC_KEYS as readonly string[]).includes(key)) {
      throw new TrainSpecError(`train.optimizer has no option '${key}' (known: kind, ${NUMERIC_KEYS.join(", ")}, nesterov)`);
    }
  }
  const kind = overrides.optimizer ?? given.kind ?? "sgd";
  if (!KINDS.includes(kind as OptimizerKind)) throw new TrainSpecError(`optimizer kind must be one of ${KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
  const optimizer: OptimizerOptions = { ...OPTIMIZER_DEFAULTS, kind: kind as OptimizerKind };
  for (const key of NUMERIC_KEYS) {
    const v = given[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new TrainSpecError(`train.optimizer.${key} must be a finite number, got ${JSON.stringify(v)}`);
    optimizer[key] = v;
  }
  if (given.nesterov !== undefined) {
    if (typeof given.nesterov !== "boolean") throw new TrainSpecError("train.optimizer.nesterov must be true or false");
    optimizer.nesterov = given.nesterov;
  }
  if (overrides.lr !== undefined) optimizer.lr = overrides.lr;
  if (!(optimizer.lr > 0)) throw new TrainSpecError(`learning rate must be positive, got ${optimizer.lr}`);
  if (optimizer.nesterov && optimizer.momentum <= 0) throw new TrainSpecError("nesterov needs momentum > 0");
  const prune = spec.prune === undefined ? undefined : pruneSpec(spec.prune);
  return { loss, optimizer, ...(prune ? { prune } : {}) };
}

const PRUNE_KEYS = ["sparsity", "initialSparsity", "structure", "norm", "scope", "schedule", "params"];

/**
 * `train.prune` of a model: { sparsity, structure?: "element" | "channel" | "block:RxC" | "N:M", norm?: 1 | 2,
 * scope?: "layer" | "global", schedule?: "START:END:EVERY", initialSparsity?, params?: [names] }
 * (docs/COMPRESSION.md).
 */
export function pruneSpec(given: unknown, name: (key?: string) => string = (key) => (key ? `train.prune.${key}` : "train.prune")): PruneOptions {
  const where = name();
  if (typeof given !== "object" || given === null || Array.isArray(given)) throw new TrainSpecError(`${where} must be an object like { sparsity: 0.9, schedule: "0:1000:100" }`);
  const g = given as Record<string, unknown>;
  for (const key of Object.keys(g)) if (!PRUNE_KEYS.includes(key)) throw new TrainSpecError(`${where} has no option '${key}' (known: ${PRUNE_KEYS.join(", ")})`);
  const num = (key: string, fallback: number) => {
    const v = g[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new TrainSpecError(`${name(key)} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  if (g.sparsity === undefined) throw new TrainSpecError(`${name("sparsity")} is required (the final fraction of weights pruned)`);
  const structure = g.structure ?? "element";
  if (typeof structure !== "string" || !/^(element|channel|block:\d+x\d+|\d+:\d+)$/.test(structure)) {
    throw new TrainSpecError(`${name("structure")} must be "element", "channel", "block:RxC" (e.g. "block:4x1") or "N:M" (e.g. "2:4"), got ${JSON.stringify(structure)}`);
  }
  const norm = num("norm", 1);
  if (norm !== 1 && norm !== 2) throw new TrainSpecError(`${name("norm")} must be 1 or 2, got ${norm}`);
  const scope = g.scope ?? "layer";
  if (scope !== "layer" && scope !== "global") throw new TrainSpecError(`${name("scope")} must be "layer" or "global", got ${JSON.stringify(scope)}`);
  const params = g.params;
  if (params !== undefined && !(Array.isArray(params) && params.every((p) => typeof p === "string"))) throw new TrainSpecError(`${name("params")} must be a list of param names`);
  const options: PruneOptions = {
    sparsity: num("sparsity", 0), initialSparsity: num("initialSparsity", 0), structure: structure as PruneStructureKind, norm, scope,
    ...parseSchedule(g.schedule ?? "0:0:1", name("schedule")),
    ...(params !== undefined ? { params: params as string[] } : {}),
  };
  try {
    checkPruneOptions(options);
  } catch (e) {
    if (e instanceof PruneOptionsError) throw new TrainSpecError(`${where}: ${e.message.replace(/^prune: /, "")}`);
    throw e;
  }
  return options;
}

/** "START:END:EVERY" (train steps, from 0). */
export function parseSchedule(text: unknown, where: string): { start: number; end: number; every: number } {
  const m = typeof text === "string" ? /^(\d+):(\d+):(\d+)$/.exec(text) : null;
  if (!m) throw new TrainSpecError(`${where} must be "START:END:EVERY" (train steps from 0, e.g. "0:2000:100"), got ${JSON.stringify(text)}`);
  return { start: Number(m[1]), end: Number(m[2]), every: Number(m[3]) };
}
