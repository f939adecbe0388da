// The options of the training passes, read from a model's `export const train = {...}` and the
// command line (--optimizer, --lr, --accumulate). Bad values are errors that say where they came
// from and what is allowed.

import { OPTIMIZER_DEFAULTS, type OptimizerKind, type OptimizerOptions } from "./optimizer.ts";

export class TrainSpecError extends Error {
  override name = "TrainSpecError";
}

export interface TrainingSpec {
  loss: string;
  optimizer: OptimizerOptions;
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
  return { loss, optimizer };
}
