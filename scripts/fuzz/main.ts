// `npm run fuzz -- --count N --seed S [--jobs J] [--timeout MS] [--out DIR]`: runs the frontend
// fuzzer (fuzz.ts) and prints the counts by outcome; exits 1 when any case hung, crashed or ended
// in an internal error (their reproducers are in DIR).

import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runFuzz } from "./fuzz.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    jobs: { type: "string", default: String(Math.max(1, availableParallelism() - 1)) },
    timeout: { type: "string", default: "60000" },
    out: { type: "string", default: join(tmpdir(), "mlc-fuzz") },
    quiet: { type: "boolean", default: false },
  },
});
const int = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative integer, got '${v}'\n`);
    process.exit(2);
  }
  return n;
};

const count = int("count", values.count!);
let done = 0;
const report = await runFuzz({
  count,
  seed: int("seed", values.seed!),
  jobs: int("jobs", values.jobs!),
  timeoutMs: int("timeout", values.timeout!),
  outDir: values.out!,
  onCase: (index, r) => {
    done++;
    if (r.outcome === "hang" || r.outcome === "crash" || r.outcome === "internal") process.stdout.write(`case ${index}: ${r.outcome}: ${(r.message ?? "").split("\n")[0]}\n`);
    else if (!values.quiet && done % 500 === 0) process.stdout.write(`${done}/${count}\n`);
  },
});
const c = report.counts;
process.stdout.write(
  `${count} cases in ${report.seconds.toFixed(1)} s: ${c.compiled} compiled, ${c.diagnostic} diagnostic, ${c.hang} hang, ${c.crash} crash, ${c.internal} internal error\n` +
    `slowest case: ${report.slowest.index} (${(report.slowest.ms / 1000).toFixed(1)} s)\n` +
    `diagnostic codes: ${Object.entries(report.codes).sort().map(([k, n]) => `${k} ${n}`).join(", ")}\n` +
    (report.reproducers.length ? `reproducers in ${values.out}\n` : ""),
);
process.exit(c.hang + c.crash + c.internal > 0 ? 1 : 0);
