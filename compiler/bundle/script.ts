// The generated name.js / name.wgsl.js: a comment line, the constants the runtime reads (MANIFEST,
// and for WebGPU SHADERS), then the backend's hand-written runtime and runtime/bundle-io.js (file
// reads, the safetensors codec) inlined verbatim, so the bundle imports nothing.

import { readFileSync } from "node:fs";

const BUNDLE_IO_URL = new URL("../../runtime/bundle-io.js", import.meta.url);

export function bundleScript(comment: string, constants: Readonly<Record<string, unknown>>, runtimeUrl: URL): string {
  const runtime = readFileSync(runtimeUrl, "utf8");
  const io = readFileSync(BUNDLE_IO_URL, "utf8");
  const decls = Object.entries(constants).map(([k, v]) => `const ${k} = ${JSON.stringify(v)};\n`).join("");
  return `// ${comment}\n${decls}\n${runtime}\n${io}`;
}
