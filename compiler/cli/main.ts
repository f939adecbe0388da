// The `mlc` command line. Each command is a small module under ./commands; this file wires them
// into yargs and turns user-facing errors into one clear message and exit code 1 (never a stack
// trace). Anything else is a bug in mlc and is reported as an internal error.
//
// Start-up is kept short: this file imports only yargs and light modules. A command's module (and
// with it ts-morph, binaryen or webgpu) is imported when that command runs, or when its own
// --help is asked for; `mlc --help` reads only the table below. Adding a command is one line of
// it: the usage string and description yargs lists, and the module exporting its CommandModule
// (test/cli/startup.test.ts checks that both match the module's).

import yargs, { type Argv, type CommandModule } from "yargs";
import { hideBin } from "yargs/helpers";
import { isUserError } from "./errors.ts";
import { UsageError } from "./options.ts";

export interface CommandEntry {
  /** yargs' usage string, e.g. "ir <model>"; its first word is the command's name. */
  readonly command: string;
  readonly describe: string;
  /** The module that exports the command's CommandModule. */
  readonly load: () => Promise<object>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { command: "ir <model>", describe: "compile a model and print its IR", load: () => import("./commands/ir.ts") },
  { command: "run <model>", describe: "run a model's forward pass in the reference interpreter", load: () => import("./commands/run.ts") },
  { command: "init-weights <model>", describe: "write the model's initial params (seeded) to a safetensors file", load: () => import("./commands/init-weights.ts") },
  { command: "mem <model>", describe: "plan a model's arena and report its memory (by category, vs naive and the lower bound)", load: () => import("./commands/mem.ts") },
  { command: "plan <problem>", describe: "lay out buffers from a MiniMalloc CSV (id,lower,upper,size) in one arena", load: () => import("./commands/plan.ts") },
  { command: "build <model>", describe: "compile a model into an embeddable bundle (.wasm + .js + .d.ts + weights + plan)", load: () => import("./commands/build.ts") },
  { command: "passes", describe: "list the compiler's passes in pipeline order", load: () => import("./commands/passes.ts") },
  { command: "train <model>", describe: "train a model on data streamed from disk (resumable runs, evaluation, checkpoints)", load: () => import("./commands/train.ts") },
  { command: "prune <model>", describe: "zero the smallest weights of a trained weights file (element, channel, block or N:M magnitude pruning)", load: () => import("./commands/prune.ts") },
  { command: "eval <model>", describe: "evaluate a model's weights on a dataset (loss, and accuracy for classifiers)", load: () => import("./commands/eval.ts") },
];

/** The CommandModule a command's module exports (the one export with a handler). */
export async function loadCommand(entry: CommandEntry): Promise<CommandModule> {
  const exports = Object.values(await entry.load()) as unknown[];
  const found = exports.filter((v): v is CommandModule => typeof v === "object" && v !== null && typeof (v as CommandModule).handler === "function");
  if (found.length !== 1) throw new Error(`the module of '${entry.command}' exports ${found.length} command modules, not one`);
  return found[0]!;
}

/** A yargs command that imports its module when yargs first needs its options or its handler. */
function lazyCommand(entry: CommandEntry): CommandModule {
  let loaded: Promise<CommandModule> | undefined;
  const load = () => (loaded ??= loadCommand(entry));
  return {
    command: entry.command,
    describe: entry.describe,
    builder: async (y: Argv) => {
      const { builder } = await load();
      if (typeof builder === "function") return (await builder(y)) as Argv;
      return builder ? y.options(builder) : y;
    },
    handler: async (args) => {
      await (await load()).handler(args);
    },
  };
}

/** Runs the command line; returns the exit code. bin/mlc.js calls it. */
export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  const names = COMMANDS.map((c) => c.command.split(" ")[0]);
  let cli = yargs(argv).scriptName("mlc").usage("$0 <command> [options]");
  for (const entry of COMMANDS) cli = cli.command(lazyCommand(entry));
  cli = cli
    .demandCommand(1, `name a command: ${names.join(", ")}`)
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
    // By name, so that recognising it does not load the frontend (and ts-morph).
    if (e instanceof Error && e.name === "CompileError") {
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
