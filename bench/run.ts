// `npm run bench [-- NAME...]`: runs every benchmark module in bench/ (each exports
// `run(): Promise<BenchReport>`), or only the named ones, one after another in this process, and
// records each as bench/results/<name>.json plus a markdown section of docs/BENCHMARKS.md between
// `<!-- <name>:begin -->` and `<!-- <name>:end -->` (text outside the markers is left alone).

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface BenchReport {
  /** File-name-safe name: bench/results/<name>.json and the markers in docs/BENCHMARKS.md. */
  readonly name: string;
  /** Section heading in docs/BENCHMARKS.md. */
  readonly title: string;
  /** Everything measured, as JSON. */
  readonly results: unknown;
  /** The section's body: tables and notes. */
  readonly markdown: string;
}

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = dirname(benchDir);
const resultsDir = join(benchDir, "results");
const benchmarksDoc = join(repoRoot, "docs", "BENCHMARKS.md");

const DOC_INTRO = `# Benchmarks

Measured by \`npm run bench\` (\`bench/run.ts\`), which runs every benchmark module in \`bench/\`
and rewrites the section of this page between its markers; the raw numbers are in
\`bench/results/<name>.json\`. Timings depend on the machine, which each section names.
`;

async function main(selected: readonly string[]): Promise<void> {
  const available = readdirSync(benchDir)
    .filter((f) => f.endsWith(".ts") && f !== "run.ts")
    .map((f) => basename(f, ".ts"))
    .sort();
  const unknown = selected.filter((name) => !available.includes(name));
  if (unknown.length > 0) throw new Error(`no benchmark named ${unknown.join(", ")} (available: ${available.join(", ")})`);
  let ran = 0;
  for (const name of selected.length > 0 ? selected : available) {
    const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as { run?: () => Promise<BenchReport> };
    if (typeof module.run !== "function") {
      // A helper module (shared code for benchmarks), not a benchmark itself.
      if (selected.includes(name)) throw new Error(`bench/${name}.ts is not a benchmark: it exports no run()`);
      continue;
    }
    process.stderr.write(`bench: ${name}\n`);
    const report = await module.run();
    record(report);
    ran++;
  }
  if (ran === 0) throw new Error("no benchmark modules found in bench/");
}

function record(report: BenchReport): void {
  mkdirSync(resultsDir, { recursive: true });
  const machine = { node: process.version, cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, platform: process.platform };
  const json = { name: report.name, date: new Date().toISOString(), machine, results: report.results };
  const jsonPath = join(resultsDir, `${report.name}.json`);
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + "\n");

  const body = `${report.markdown.trimEnd()}\n\n_${json.date.slice(0, 10)}, Node ${machine.node}, ${machine.cpu} (${machine.cores} cores)._`;
  const doc = existsSync(benchmarksDoc) ? readFileSync(benchmarksDoc, "utf8") : DOC_INTRO;
  writeFileSync(benchmarksDoc, replaceSection(doc, report.name, report.title, body));
  process.stderr.write(`bench: wrote ${jsonPath} and the '${report.name}' section of ${benchmarksDoc}\n`);
}

/** Replaces the text between a name's markers, or appends a new titled section with them. */
export function replaceSection(doc: string, name: string, title: string, body: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from >= 0 && to > from) return doc.slice(0, from + begin.length) + `\n${body}\n` + doc.slice(to);
  return `${doc.trimEnd()}\n\n## ${title}\n\n${begin}\n${body}\n${end}\n`;
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bench: ${(e as Error)?.stack ?? e}\n`);
  process.exitCode = 1;
}
