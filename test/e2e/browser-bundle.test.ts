// The generated bundles in a real browser: Debian's Chromium (/usr/bin/chromium), headless and
// kept off the network, driven by playwright-core, loads a page served from localhost that
// imports the MNIST MLP's wasm-simd bundle and its WebGPU bundle (WebGPU on SwiftShader), sets
// the same inputs in both, runs their forward passes, and reports the logits and loss. Both must
// match the reference interpreter run on the bundles' own weights file. The bundles are exactly
// what `mlc build` writes; the page fetches the .wasm and .safetensors files next to them, as an
// app would.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { compareTensors, graphTolerance } from "../support/wasm-harness.ts";

const CHROMIUM = "/usr/bin/chromium";
/** Headless, sandbox off (containers), nothing that reaches the network; WebGPU on SwiftShader. */
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader",
];
const MIME: Record<string, string> = {
  ".html": "text/html", ".js": "text/javascript", ".json": "application/json",
  ".wasm": "application/wasm", ".safetensors": "application/octet-stream",
};

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  const inputs = await (await fetch("./inputs.json")).json();
  const result = {};
  const run = async (kind, load, read) => {
    try {
      const m = await load();
      for (const [name, values] of Object.entries(inputs)) m.inputs[name].set(values);
      m.forward();
      result[kind] = {};
      for (const name of Object.keys(m.outputs)) result[kind][name] = Array.from(await read(m, name));
    } catch (e) {
      result[kind] = { error: String(e && e.stack || e) };
    }
  };
  await run("wasm", async () => (await import("./wasm/MODEL.js")).load(), async (m, name) => m.outputs[name]);
  await run("webgpu", async () => (await import("./webgpu/MODEL.wgsl.js")).load(), (m, name) => m.outputs[name]());
  window.__result = result;
</script>`;

/** Serves `root` on an ephemeral localhost port. */
function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const asked = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname));
    const path = asked === "/" ? "/index.html" : asked;
    try {
      const body = readFileSync(join(root, path));
      res.writeHead(200, { "content-type": MIME[extname(path)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    resolve({ server, url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/` });
  }));
}

describe("the MNIST MLP bundles in Chromium", () => {
  const root = mkdtempSync(join(tmpdir(), "mlc-browser-"));
  const model = compileModelFile("examples/mnist-mlp/model.ts");
  const inputs = randomInputs(model.graph, 3);
  let browser: Browser | undefined;
  let server: Server | undefined;
  let result: Record<string, Record<string, number[] | string>> = {};

  beforeAll(async () => {
    const wasm = build(model.graph, { backend: wasmBackend });
    const webgpu = build(model.graph, { backend: wgslBackend() });
    for (const [dir, files] of [["wasm", wasm.files], ["webgpu", webgpu.files]] as const) {
      mkdirSync(join(root, dir));
      for (const [file, contents] of Object.entries(files)) writeFileSync(join(root, dir, file), contents);
    }
    writeFileSync(join(root, "inputs.json"), JSON.stringify(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Array.from(v)]))));
    writeFileSync(join(root, "index.html"), PAGE.replaceAll("MODEL", wasm.name));
    const served = await serve(root);
    server = served.server;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(served.url);
    await page.waitForFunction(() => (globalThis as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 90_000 })
      .catch((e: Error) => { throw new Error(`the page did not finish: ${e.message}; page errors: ${errors.join("; ")}`); });
    result = await page.evaluate(() => (globalThis as unknown as { __result: typeof result }).__result);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it.each(["wasm", "webgpu"])("%s: the forward pass in the page matches the interpreter on the bundle's weights", (kind) => {
    const outputs = result[kind];
    expect(outputs?.error, String(outputs?.error)).toBeUndefined();
    const weights = decodeSafetensors(readFileSync(join(root, kind, `${model.graph.name.replace(/[^A-Za-z0-9_-]/g, "_")}.safetensors`))).tensors;
    const params = Object.fromEntries(model.graph.params.map((p) => [p.name, Float64Array.from(weights[p.name].data as Float32Array)]));
    const reference = interpret(model.graph, inputs, { params });
    for (const [name, expected] of Object.entries(reference.outputs) as [string, Tensor][]) {
      const actual: Tensor = { type: expected.type, data: Float64Array.from(outputs[name] as number[]) };
      expect(compareTensors(actual, expected, { tolerance: graphTolerance(model.graph), floor: 0.05 }), `${kind} ${name}`).toBeNull();
    }
  });
});
