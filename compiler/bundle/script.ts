// The generated name.js / name.wgsl.js: a comment line, the constants the runtime reads (MANIFEST,
// and for WebGPU SHADERS), then the backend's hand-written runtime and runtime/bundle-io.js (file
// reads, the safetensors codec) inlined verbatim, so the bundle imports nothing.
//
// A constant is written as JSON.parse of a string literal, never as an object literal: in a
// literal, a key `"__proto__"` (a param named so) would set the object's prototype instead of
// making a property, and the JSON inside one string is also what tools read back
// (manifestOfScript).

import { readFileSync } from "node:fs";

const BUNDLE_IO_URL = new URL("../../runtime/bundle-io.js", import.meta.url);

export function bundleScript(comment: string, constants: Readonly<Record<string, unknown>>, runtimeUrl: URL): string {
  const runtime = readFileSync(runtimeUrl, "utf8");
  const io = readFileSync(BUNDLE_IO_URL, "utf8");
  const decls = Object.entries(constants).map(([k, v]) => `const ${k} = ${constantExpression(v)};\n`).join("");
  return `// ${comment}\n${decls}\n${runtime}\n${io}`;
}

function constantExpression(value: unknown): string {
  return `JSON.parse(${JSON.stringify(JSON.stringify(value))})`;
}

/** The MANIFEST of a generated script (the line bundleScript writes), e.g. for `mlc train`. */
export function manifestOfScript(script: string): unknown {
  const prefix = "const MANIFEST = JSON.parse(";
  const line = script.split("\n").find((l) => l.startsWith(prefix));
  if (!line) return undefined;
  return JSON.parse(JSON.parse(line.slice(prefix.length, line.lastIndexOf(")"))) as string);
}
