// The `mlc` command line. Each command is a small module under ./commands; this file wires them
// into yargs and turns user-facing errors into one clear message and exit code 1 (never a stack
// trace). Anything else is a bug in mlc and is reported as an internal error.

import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { CompileError } from "../frontend/index.ts";
import { buildCommand } from "./commands/build.ts";
import { irCommand } from "./commands/ir.ts";
import { runCommand } from "./commands/run.ts";
import { initWeightsCommand } from "./commands/init-weights.ts";
import { memCommand } from "./commands/mem.ts";
import { planCommand } from "./commands/plan.ts";
import { isUserError } from "./errors.ts";
import { UsageError } from "./options.ts";

export async function main(argv: string[]): Promise<number> {
  const cli = yargs(argv)
    .scriptName("mlc")
    .usage("$0 <command> [options]")
    .command(irCommand)
    .command(runCommand)
    .command(initWeightsCommand)
    .command(memCommand)
    .command(planCommand)
    .command(buildCommand)
    .demandCommand(1, "name a command: ir, run, init-weights, mem, plan, build")
    .strict()
    .help()
    .version(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  try {
    await cli.parseAsync();
    return 0;
  } catch (e) {
    if (e instanceof CompileError) {
      process.stderr.write(e.message.endsWith("\n") ? e.message : e.message + "\n");
      return 1;
    }
    if (e instanceof UsageError || isUserError(e)) {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      return exitCodeOf(e) ?? 1;
    }
    process.stderr.write(`internal compiler error (a bug in mlc, please report it):\n${(e as Error)?.stack ?? e}\n`);
    return 70;
  }
}

/** A user error may carry its own exit code (e.g. 2 for an invalid memory plan). */
function exitCodeOf(e: unknown): number | undefined {
  const code = (e as { exitCode?: unknown }).exitCode;
  return typeof code === "number" ? code : undefined;
}

process.exitCode = await main(hideBin(process.argv));
