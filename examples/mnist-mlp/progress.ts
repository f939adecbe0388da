// Training progress on stderr: on a terminal one line redrawn in place with \r (at most ten times
// a second, so drawing costs nothing next to training); otherwise (a pipe, a CI log) one line per
// finished epoch, so logs stay readable.

export interface ProgressState {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean loss over the steps of the epoch so far. */
  loss: number;
  samplesPerSecond: number;
}

export class Progress {
  private readonly tty: boolean;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY);
  }

  /** After every step. */
  update(s: ProgressState): void {
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && s.step < s.stepsPerEpoch) return;
    this.lastDraw = now;
    const width = 20;
    const filled = Math.round((width * s.step) / s.stepsPerEpoch);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    this.stream.write(`\r\x1b[2K${line(s)} ${bar}`);
    this.drawn = true;
  }

  /** After every epoch. */
  epochDone(s: ProgressState): void {
    if (!this.tty) this.stream.write(line(s) + "\n");
  }

  /** Ends the redrawn line so that what follows starts on its own line. */
  finish(): void {
    if (this.drawn) this.stream.write("\n");
    this.drawn = false;
  }
}

function line(s: ProgressState): string {
  const epoch = `epoch ${String(s.epoch).padStart(String(s.epochs).length)}/${s.epochs}`;
  const step = `step ${String(s.step).padStart(String(s.stepsPerEpoch).length)}/${s.stepsPerEpoch}`;
  return `${epoch}  ${step}  loss ${s.loss.toFixed(4)}  ${Math.round(s.samplesPerSecond).toLocaleString("en-US")} samples/s`;
}
