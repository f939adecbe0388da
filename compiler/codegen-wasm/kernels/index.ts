// Every WASM kernel, by op name: the group tables gathered into one map (the op table's
// counterpart for this backend). Adding a kernel touches its group file only; two groups claiming
// one op is an error at load time.

import type { KernelEmitter, KernelTable } from "../kernel.ts";
import { CONTRACTION_KERNELS } from "./contraction.ts";
import { DROPOUT_KERNELS } from "./dropout.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { FUSED_KERNELS } from "./fused.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { REDUCTION_KERNELS } from "./reduction.ts";
import { SOURCE_KERNELS } from "./source.ts";

function mergeTables(tables: Readonly<Record<string, KernelTable>>): KernelTable {
  const merged = new Map<string, KernelEmitter>();
  const owner = new Map<string, string>();
  for (const [group, table] of Object.entries(tables)) {
    for (const [op, kernel] of table) {
      if (merged.has(op)) throw new Error(`wasm kernel '${op}' is defined by both ${owner.get(op)} and ${group}`);
      merged.set(op, kernel);
      owner.set(op, group);
    }
  }
  return merged;
}

export const WASM_KERNELS: KernelTable = mergeTables({
  elementwise: ELEMENTWISE_KERNELS,
  layout: LAYOUT_KERNELS,
  source: SOURCE_KERNELS,
  dropout: DROPOUT_KERNELS,
  reduction: REDUCTION_KERNELS,
  contraction: CONTRACTION_KERNELS,
  fused: FUSED_KERNELS,
});
