// Which errors are the user's (bad files, bad shapes, bad flags, a destination that cannot be
// written, a model too large for its target) and get a one-line message, as opposed to bugs in
// mlc, which get a stack trace. Known by name, so that recognising one loads nothing.
//
// A memory plan that fails verification (PlanVerifyError) counts as the user's: every plan mlc
// makes is verified, and the plans that fail are those of models whose sizes no arena can address
// (offsets past 2^53 bytes); the message lists the violations.

const USER_ERRORS = new Set([
  "TensorIOError", "SafetensorsError", "ShapeError", "InterpreterError", "IRParseError", "VerifyError", "UsageError", "InvalidPlanError", "TrainSpecError", "AutodiffError", "PlanCsvError", "CheckpointBudgetError",
  "UnsupportedTargetError", "UnsupportedKernelError", "DataError", "TrainError", "BuildFailed",
  "OutputError", "WeightsConflictError", "PlanVerifyError", "ArenaTooLargeError", "PruneSpecError", "PruneOptionsError",
]);

export function isUserError(e: unknown): boolean {
  return e instanceof Error && USER_ERRORS.has(e.name);
}
