// The plan verifier moved to compiler/ir/plan-verify.ts (the IR verifier checks plans with it, and
// compiler/ir imports nothing from the passes); re-exported here for the planner and its users.

export * from "../../ir/plan-verify.ts";
