// `mlc passes [--json]` — the driver's pipeline in the order it runs: each pass's name (what
// --print-ir-after takes), phase, when it runs, summary, options with defaults and statistics.

import type { CommandModule } from "yargs";
import { PIPELINE } from "../../driver/pipeline.ts";

interface PassesArgs { json: boolean }

export const passesCommand: CommandModule<object, PassesArgs> = {
  command: "passes",
  describe: "list the compiler's passes in pipeline order",
  builder: (y) => y.option("json", { type: "boolean", default: false, describe: "print the list as JSON" }) as never,
  handler: (args) => {
    const rows = PIPELINE.map(({ pass, phase, scope, when }) => ({
      name: pass.name, phase, scope, when, summary: pass.summary, options: pass.defaults, statistics: pass.statistics ?? {},
    }));
    if (args.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
      return;
    }
    const width = Math.max(...rows.map((r) => r.name.length));
    const lines = rows.map((r, i) => {
      const options = Object.entries(r.options).filter(([, v]) => typeof v !== "function" && typeof v !== "object").map(([k, v]) => `${k}=${v}`).join(" ");
      const stats = Object.keys(r.statistics).join(", ");
      return `${String(i + 1).padStart(2)}. ${r.name.padEnd(width)}  [${r.phase}] ${r.summary}\n` +
        `    ${"".padEnd(width)}  runs: ${r.when}, on ${r.scope}` +
        (options ? `\n    ${"".padEnd(width)}  options: ${options}` : "") +
        (stats ? `\n    ${"".padEnd(width)}  statistics: ${stats}` : "");
    });
    process.stdout.write(lines.join("\n") + "\n");
  },
};
