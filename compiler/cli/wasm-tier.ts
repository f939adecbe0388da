// V8 compiles WebAssembly twice: a fast baseline (Liftoff) at first use, then its optimising
// compiler (TurboFan) for the functions that run hot. `mlc build` runs binaryen, a 10 MB
// WebAssembly module, once per process: recompiling its hot functions costs several times the
// time they then save (most of binaryen's share of a build), while the bundle binaryen writes is
// the same either way. Commands that run generated kernels (`mlc train`, `mlc eval`) keep both
// tiers: their kernels run for as long as the process does.

import v8 from "node:v8";

/** Runs WebAssembly compiled from now on with the baseline compiler only. */
export function baselineWasmOnly(): void {
  v8.setFlagsFromString("--liftoff-only");
}
