// The memory half of the IR verifier moved to compiler/ir/memory-check.ts (compiler/ir imports
// nothing from the passes). Re-exported here for older importers.

export { memoryProblems } from "../ir/memory-check.ts";
