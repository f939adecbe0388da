// The frontend's public API: compile a model file (TypeScript DSL) into an IR graph.
//
//   const { graph, config, train } = compileModelFile("model.ts", { set: { batch: "128" } });
//
// Problems are thrown as a CompileError whose `diagnostics` carry stable codes (docs/DSL.md) and
// whose message is the rustc-style rendering with code frames.

export { compileModelFile, type CompileOptions, type CompiledModel } from "./compile.ts";
export { CODES, CompileError, formatDiagnostic, type Diagnostic } from "./diagnostics.ts";
export { DEFAULT_LIMITS, LIMIT_KEYS, parseLimitSpec, setDefaultLimits, type EvalLimits } from "./limits.ts";
export { DSL_PATH } from "./project.ts";
