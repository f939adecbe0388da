// Which mlc compiled something: the package's version and, when the compiled JavaScript in dist/
// runs (as installed packages do), a digest of dist/'s build stamp, which changes whenever dist/
// is rebuilt from changed sources. `mlc train --resume` compares it with the one that built
// RUN/bundle/: a bundle from another compiler is rebuilt rather than reused (kernels may have
// changed). Run from the sources (MLC_FROM_SOURCE) there is no stamp, and only the version counts.
//
// Reads two small files; loads nothing of the compiler.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

export function compilerIdentity(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromDist = here.split(sep).includes("dist");
  for (let dir = here; dirname(dir) !== dir; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (!existsSync(pkg)) continue;
    const { name, version } = JSON.parse(readFileSync(pkg, "utf8")) as { name?: string; version?: string };
    if (name !== "mlc") continue;
    const stamp = join(dir, "dist", "build-stamp.json");
    const build = fromDist && existsSync(stamp) ? createHash("sha256").update(readFileSync(stamp)).digest("hex").slice(0, 12) : "source";
    return `mlc ${version ?? "?"} (${build === "source" ? "from source" : `build ${build}`})`;
  }
  return "mlc (unknown build)";
}
