// The file names of a bundle: a stem shared by every file, then its extension (`.wasm`, `.js`,
// `.d.ts`, `.safetensors`, `.plan.json`, `.wgsl.js`). The stem is the model's name unless that is
// too long for a file system (most allow 255 bytes per name): then a prefix of it and a hash of
// the whole name, stable across builds and machines, so that two long names that share a prefix
// still get different files. Headroom is left for the longest extension and a temporary suffix
// (a file written next to its final name and renamed). The manifest keeps the model's own name
// and records the file names, so nothing has to derive one from the other.

import { createHash } from "node:crypto";

/** The longest stem, in UTF-8 bytes. */
export const MAX_STEM_BYTES = 100;
const HASH_CHARS = 16;

export function bundleFileStem(name: string): string {
  if (Buffer.byteLength(name, "utf8") <= MAX_STEM_BYTES) return name;
  const hash = createHash("sha256").update(name, "utf8").digest("hex").slice(0, HASH_CHARS);
  let prefix = "";
  for (const ch of name) {
    if (Buffer.byteLength(prefix + ch, "utf8") > MAX_STEM_BYTES - HASH_CHARS - 1) break;
    prefix += ch;
  }
  return `${prefix}-${hash}`;
}
