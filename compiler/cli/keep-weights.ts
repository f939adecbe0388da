// `mlc build` never silently replaces a weights file that holds something the new bundle's would
// not. The bundle's weights file (name.safetensors) is where the bundle's load() reads weights,
// so it is where trained weights naturally end up (a bundle's saveWeights() written back); a
// rebuild into the same --out would otherwise put the initial weights over them.
//
// The existing file may be replaced when nothing in it would be lost: it is byte-identical to the
// new one, or every tensor it holds is in the new file with the same dtype, shape and bytes (a
// rebuild with the same seed, or --train over an inference bundle). Anything else — trained
// values, another seed or model, a file mlc cannot read — needs --force.

import { readFileSync } from "node:fs";
import { decodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

export class WeightsConflictError extends Error {
  override name = "WeightsConflictError";
}

/** Throws WeightsConflictError when writing `next` to `path` would lose what `path` holds. */
export function refuseToReplaceWeights(path: string, next: Uint8Array): void {
  let old: Uint8Array;
  try {
    old = readFileSync(path);
  } catch {
    return; // nothing there (or nothing readable): the write itself says what is wrong
  }
  if (Buffer.compare(old, next) === 0) return;
  const loss = whatWouldBeLost(old, next);
  if (loss === undefined) return;
  throw new WeightsConflictError(
    `${path} holds weights this build would not write (${loss}): trained weights?\n` +
      `  It was kept, and nothing was written. To build with those weights, pass --weights ${path} (with another --out, or here when it holds only this bundle's tensors);\n` +
      `  to replace them with the initial weights, pass --force; or build into another --out.`,
  );
}

/** What replacing `old` by `next` would lose, in words; undefined when nothing. */
function whatWouldBeLost(old: Uint8Array, next: Uint8Array): string | undefined {
  let before: Record<string, SafeTensor>;
  try {
    before = decodeSafetensors(old).tensors;
  } catch (e) {
    return `it is not a safetensors file mlc can read: ${(e as Error).message}`;
  }
  const after = decodeSafetensors(next).tensors;
  const names = Object.keys(before);
  const dropped = names.filter((n) => !Object.hasOwn(after, n));
  const changed = names.filter((n) => Object.hasOwn(after, n) && !sameTensor(before[n], after[n]));
  const parts = [
    ...(changed.length ? [`${count(changed.length, "tensor")} would change: ${list(changed)}`] : []),
    ...(dropped.length ? [`${count(dropped.length, "tensor")} would be dropped: ${list(dropped)}`] : []),
  ];
  return parts.length ? parts.join("; ") : undefined;
}

function sameTensor(a: SafeTensor, b: SafeTensor): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && Buffer.compare(bytesOf(a.data), bytesOf(b.data)) === 0;
}

function bytesOf(data: SafeTensor["data"]): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
const list = (names: readonly string[]) => names.slice(0, 3).map((n) => `'${n}'`).join(", ") + (names.length > 3 ? ", ..." : "");
