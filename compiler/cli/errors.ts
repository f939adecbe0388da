// Which errors are the user's (bad files, bad shapes, bad flags) and get a one-line message,
// as opposed to bugs in mlc, which get a stack trace.

const USER_ERRORS = new Set([
  "TensorIOError", "SafetensorsError", "ShapeError", "InterpreterError", "IRParseError", "VerifyError", "UsageError", "InvalidPlanError", "TrainSpecError", "AutodiffError", "PlanCsvError", "CheckpointBudgetError",
  "UnsupportedTargetError", "UnsupportedKernelError", "DataError", "TrainError", "BuildFailed",
]);

export function isUserError(e: unknown): boolean {
  return e instanceof Error && USER_ERRORS.has(e.name);
}
