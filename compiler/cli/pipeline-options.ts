// Flags every command that runs the driver's pipeline shares: which backend to compile for
// (--target) and the IR dumps (--print-ir-after-all, --print-ir-after=NAME[,NAME],
// --print-ir-before=NAME, --dump-dir DIR).

import { join } from "node:path";
import type { Argv } from "yargs";
import { checkPassNames } from "../driver/pipeline.ts";
import type { IrDumpOptions } from "../driver/pass-runner.ts";
import { TARGETS, type Target } from "../driver/backends.ts";
import { UsageError } from "./options.ts";
import { ensureDirectory, writeFileAtomic } from "./atomic-write.ts";

export interface PipelineArgs {
  target: Target;
  "print-ir-after-all": boolean;
  "print-ir-after"?: string[];
  "print-ir-before"?: string[];
  "dump-dir"?: string;
}

export function withPipelineOptions<T>(y: Argv<T>) {
  return y
    .option("target", { choices: TARGETS, default: "wasm-simd" as Target, describe: "code generator whose pipeline (fusion, workspaces, plan) to run" })
    .option("print-ir-after-all", { type: "boolean", default: false, describe: "print the IR after every pass (`mlc passes` lists them), to stderr or --dump-dir" })
    .option("print-ir-after", { type: "string", array: true, describe: "print the IR after these passes: --print-ir-after=fuse,plan" })
    .option("print-ir-before", { type: "string", array: true, describe: "print the IR before these passes" })
    .option("dump-dir", { type: "string", describe: "write each IR dump to its own numbered file in this directory instead of stderr" });
}

/** The dumps asked for, or undefined; unknown pass names are usage errors. */
export function irDumps(args: PipelineArgs): IrDumpOptions | undefined {
  const list = (v: string[] | undefined) => (v ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  const after = list(args["print-ir-after"]);
  const before = list(args["print-ir-before"]);
  checkPassNames([...after, ...before], (m) => new UsageError(m));
  if (!args["print-ir-after-all"] && after.length === 0 && before.length === 0) {
    if (args["dump-dir"] !== undefined) throw new UsageError("--dump-dir needs --print-ir-after-all, --print-ir-after or --print-ir-before");
    return undefined;
  }
  const dir = args["dump-dir"];
  if (dir !== undefined) ensureDirectory(dir);
  return {
    after: args["print-ir-after-all"] ? "all" : after,
    before,
    write: (s) => {
      if (dir === undefined) process.stderr.write(s.text.endsWith("\n") ? s.text : s.text + "\n");
      else writeFileAtomic(join(dir, `${String(s.index).padStart(2, "0")}-${s.when}-${s.pass}.ir`), s.text);
    },
  };
}
