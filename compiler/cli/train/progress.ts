// The progress display of `mlc train`, on stdout: on a terminal one line redrawn in place (at most
// ten times a second) with a bar, the step, the running loss, samples/s and the ETA; when stdout is
// not a terminal (a pipe, a CI log) plain lines, one every `plainEverySeconds` and one per epoch.

export interface ProgressState {
  /** Optimizer steps done, and the run's total when known. */
  step: number;
  totalSteps?: number;
  epoch: number;
  epochs?: number;
  /** Mean loss of the epoch so far. */
  loss: number;
  samplesPerSecond: number;
  /** Seconds left, when known. */
  etaSeconds?: number;
  lr: number;
  /** Steps (micro-batches) the non-finite guard skipped so far, in the whole run. */
  skipped?: number;
}

export class Progress {
  private readonly tty: boolean;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout, private readonly plainEverySeconds = 10) {
    this.tty = Boolean(stream.isTTY);
    this.lastDraw = performance.now();
  }

  update(s: ProgressState): void {
    const now = performance.now();
    if (this.tty) {
      if (now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = 24;
      const done = s.totalSteps ? Math.min(1, s.step / s.totalSteps) : 0;
      const bar = s.totalSteps ? ` [${"#".repeat(Math.round(width * done)).padEnd(width, ".")}]` : "";
      this.stream.write(`\r\x1b[2K${line(s)}${bar}`);
      this.drawn = true;
    } else if (now - this.lastDraw >= this.plainEverySeconds * 1000) {
      this.lastDraw = now;
      this.stream.write(line(s) + "\n");
    }
  }

  /** A line that stays (an epoch's end, an evaluation, a save). */
  print(text: string): void {
    this.clear();
    this.stream.write(text + "\n");
  }

  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }
}

function line(s: ProgressState): string {
  const step = s.totalSteps ? `step ${String(s.step).padStart(String(s.totalSteps).length)}/${s.totalSteps}` : `step ${s.step}`;
  const epoch = s.epochs ? `epoch ${s.epoch + 1}/${s.epochs}` : `epoch ${s.epoch + 1}`;
  const eta = s.etaSeconds !== undefined && Number.isFinite(s.etaSeconds) ? `  ETA ${duration(s.etaSeconds)}` : "";
  const skipped = s.skipped ? `  skipped ${grouped(s.skipped)}` : "";
  return `${epoch}  ${step}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toPrecision(3)}${skipped}  ${grouped(s.samplesPerSecond)} samples/s${eta}`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * An integer with thousands separators (12,345), without Intl: the first toLocaleString call
 * initializes ICU's number formatting, 7 MB of the training process's peak RSS.
 */
export function grouped(n: number): string {
  const s = String(Math.round(Math.abs(n)));
  return (n < 0 ? "-" : "") + s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
