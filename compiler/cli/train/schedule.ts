// Learning-rate schedules of `mlc train`: the rate for optimizer step t (0-based) of T, computed in
// float64 and written into the bundle's `opt/lr` state (setLearningRate) before the step. Pure
// functions of (t, T), so a resumed run sets the same rates as an uninterrupted one.
//
//   constant        lr
//   step            lr * gamma^floor(t / every)       (--lr-gamma 0.1, --lr-every: T/3 steps)
//   cosine          lr * (1 + cos(pi t / T)) / 2       (needs T: --epochs or --steps)
//   warmup-cosine   lr * (t + 1) / W for t < W, then cosine over the remaining T - W steps
//                   (--warmup W, default 5% of T)

export const SCHEDULES = ["constant", "step", "cosine", "warmup-cosine"] as const;
export type ScheduleKind = (typeof SCHEDULES)[number];

export interface ScheduleSpec {
  readonly kind: ScheduleKind;
  /** The base rate. */
  readonly lr: number;
  /** step: the factor applied every `every` steps. */
  readonly gamma?: number;
  readonly every?: number;
  /** warmup-cosine: warm-up steps. */
  readonly warmup?: number;
}

/** The rate of step `t` of `total` (total undefined: the run's length is a time budget). */
export function learningRate(s: ScheduleSpec, t: number, total: number | undefined): number {
  switch (s.kind) {
    case "constant":
      return s.lr;
    case "step": {
      const every = s.every ?? Math.max(1, Math.ceil((total ?? 0) / 3));
      return s.lr * (s.gamma ?? 0.1) ** Math.floor(t / every);
    }
    case "cosine":
      return s.lr * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, total!)) / total!));
    case "warmup-cosine": {
      const w = s.warmup ?? Math.max(1, Math.round(0.05 * total!));
      if (t < w) return (s.lr * (t + 1)) / w;
      const rest = Math.max(1, total! - w);
      return s.lr * 0.5 * (1 + Math.cos((Math.PI * Math.min(t - w, rest)) / rest));
    }
  }
}

/** Whether the schedule needs the run's length in steps. */
export function needsTotal(s: ScheduleSpec): boolean {
  return s.kind === "cosine" || s.kind === "warmup-cosine" || (s.kind === "step" && s.every === undefined);
}
