// The process `mlc train` trains in (commands/train.ts spawns it): `node worker.js ARGS_JSON`.
// It imports neither yargs nor the compiler (a child `mlc build` compiles), so its peak memory is
// Node, the bundle's arena and the batch buffers. Errors are reported as mlc's are (main.ts): a
// user error is one line `error: ...` and exit code 1 (or its own: 130 when interrupted), anything
// else an internal error with its stack, exit code 70. When the `mlc train` process that started it
// dies (kill -9), it stops at once, as if killed with it.

import { isUserError } from "../errors.ts";
import { runTraining, type TrainArgs } from "./run.ts";

const parent = process.ppid;
const watchdog = setInterval(() => {
  if (process.ppid !== parent) process.exit(137);
}, 200);
watchdog.unref();

try {
  await runTraining(JSON.parse(process.argv[2] ?? "{}") as TrainArgs);
  process.exitCode = 0;
} catch (e) {
  if (isUserError(e) || (e instanceof Error && e.name === "UsageError")) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    const code = (e as { exitCode?: unknown }).exitCode;
    process.exitCode = typeof code === "number" ? code : 1;
  } else {
    process.stderr.write(`internal compiler error (a bug in mlc, please report it):\n${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 70;
  }
}
