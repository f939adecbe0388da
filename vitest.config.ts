import { defineConfig } from "vitest/config";

// `npm run test:quick` (MLC_QUICK_TESTS=1) leaves out the end-to-end suites: the CLI and `mlc
// train` run as processes, every example built and run on both backends, checkpointing searches,
// PyTorch twins, the browser, the benchmarks' peers. `npm test` (what CI runs) runs everything.
const SLOW_SUITES = [
  "test/e2e/**",
  "test/bench/**",
  "test/cli/**",
  "test/train/**",
  "test/codegen-wasm/bundle.test.ts",
  "test/bundle/hostile-names.test.ts",
  "test/driver/ir-dumps.test.ts",
  "test/**/*-examples.test.ts",
  "test/passes/checkpoint*.test.ts",
  "test/codegen-wasm/checkpoint-*.test.ts",
  "test/cli/mem-checkpoint-cli.test.ts",
  "test/driver/mem-matches-build.test.ts",
];
const quick = process.env.MLC_QUICK_TESTS === "1";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", ...(quick ? SLOW_SUITES : [])],
    // Every pass's result verified, not only each phase's (driver/pass-runner.ts); the CLI processes
    // tests spawn inherit it.
    env: { MLC_VERIFY: "each" },
    // Builds dist/ (the compiled CLI that tests spawn through bin/mlc.js) before the suite.
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
