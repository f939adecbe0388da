// A fuzzer worker thread: compiles each source it is sent with the frontend and answers with the
// outcome. The parent terminates it when a case takes too long (a hang); an exception that escapes
// or the thread dying (out of memory) is a crash.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import { compileModelFile, type Diagnostic } from "../../compiler/frontend/index.ts";

export type Outcome = "compiled" | "diagnostic" | "hang" | "crash" | "internal";

export interface CaseResult {
  id: number;
  outcome: Outcome;
  /** The first diagnostic's code, for diagnostics and internal errors. */
  code?: string;
  message?: string;
}

const dir = mkdtempSync(join(tmpdir(), "mlc-fuzz-"));
const file = join(dir, "model.ts");

function classify(diagnostics: readonly Diagnostic[]): Pick<CaseResult, "outcome" | "code" | "message"> {
  // An internal error, or a diagnostic without a location, is a bug in the compiler.
  const bad = diagnostics.find((d) => d.code === "MLC900" || /internal compiler error/.test(d.message) || !d.file || !(d.line >= 1) || !(d.col >= 1));
  const d = bad ?? diagnostics[0];
  return { outcome: bad ? "internal" : "diagnostic", code: d?.code, message: d ? `${d.code} ${d.file}:${d.line}:${d.col} ${d.message}`.slice(0, 2000) : "no diagnostics" };
}

parentPort!.on("message", ({ id, src }: { id: number; src: string }) => {
  writeFileSync(file, src);
  let result: CaseResult;
  try {
    compileModelFile(file);
    result = { id, outcome: "compiled" };
  } catch (e) {
    const diagnostics = (e as { diagnostics?: Diagnostic[] }).diagnostics;
    if (e instanceof Error && e.name === "CompileError" && diagnostics) result = { id, ...classify(diagnostics) };
    else result = { id, outcome: "crash", message: String(e instanceof Error ? e.stack : e).slice(0, 2000) };
  }
  parentPort!.postMessage(result);
});
