// vitest globalSetup: compiles the CLI into dist/ (scripts/build.mjs, under a second) before any
// test runs, so the tests that spawn `node bin/mlc.js` exercise the code they were run against,
// never an older build. Tests themselves import the TypeScript sources directly.
//
// A failed build (a syntax error somewhere in compiler/) does not stop the suite: tests that do
// not spawn the CLI still run, and each spawn of bin/mlc.js retries the build and reports the error.

import { build } from "../../scripts/build.mjs";

export default async function setup(): Promise<void> {
  try {
    await build();
  } catch (e) {
    process.stderr.write(`global-setup: building dist/ failed, so CLI tests will fail:\n${(e as Error)?.message ?? e}\n`);
  }
}
