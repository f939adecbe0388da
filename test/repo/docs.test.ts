// Listings in the docs are the compiler's real output, so they cannot drift from the code.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

it("docs/AUTODIFF.md shows exactly what mlc ir --train prints for its worked example", () => {
  const doc = readFileSync("docs/AUTODIFF.md", "utf8");
  const marker = "<!-- begin: mlc ir docs/examples/two-layer-mlp.ts --train --no-locations -->\n```\n";
  const start = doc.indexOf(marker);
  expect(start).toBeGreaterThan(0);
  const listing = doc.slice(start + marker.length, doc.indexOf("```\n<!-- end -->", start));
  const r = spawnSync(process.execPath, ["bin/mlc.js", "ir", "docs/examples/two-layer-mlp.ts", "--train", "--no-locations"], { encoding: "utf8" });
  expect(r.status).toBe(0);
  expect(listing).toBe(r.stdout);
});
