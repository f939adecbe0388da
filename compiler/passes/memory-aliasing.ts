// The aliasing rules moved to compiler/ir/aliasing.ts (the IR's arena layout and verifier need them,
// and compiler/ir imports nothing from the passes). Re-exported here for older importers.

export { aliasClasses, isPureAlias, mayReuseOperand, type AliasClasses } from "../ir/aliasing.ts";
