// Names derived from a model's name: the .d.ts interface name is a valid identifier for any model
// name, and the file stem stays short enough for any file system, stably.
import { describe, expect, it } from "vitest";
import { apiTypeName } from "../../compiler/bundle/declarations.ts";
import { bundleFileStem, MAX_STEM_BYTES } from "../../compiler/bundle/file-names.ts";

describe("apiTypeName", () => {
  it.each([
    ["mnist_mlp", "MnistMlp"],
    ["_1", "Model1"],
    ["_9lives", "Model9lives"],
    ["9lives", "Model9lives"],
    ["class", "Class"],
    ["default", "Default"],
    ["delete", "Delete"],
    ["ñandú", "And"],
    ["模型", "Model"],
    ["", "Model"],
    ["promise", "PromiseModel"],
    ["float32_array", "Float32ArrayModel"],
    ["web_assembly", "WebAssemblyModel"],
    ["load_options", "LoadOptionsModel"],
  ])("%j → %s", (name, type) => {
    expect(apiTypeName(name)).toBe(type);
    expect(type).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
  });
});

describe("bundleFileStem", () => {
  it("keeps a name that fits", () => {
    expect(bundleFileStem("mnist_mlp")).toBe("mnist_mlp");
    expect(bundleFileStem("a".repeat(MAX_STEM_BYTES))).toBe("a".repeat(MAX_STEM_BYTES));
  });

  it("shortens a long name to a prefix and a hash of the whole name: stable, distinct, within the limit", () => {
    const long = "m" + "x".repeat(299);
    const stem = bundleFileStem(long);
    expect(stem).toBe(bundleFileStem(long));
    expect(stem).toMatch(/^mx+-[0-9a-f]{16}$/);
    expect(stem.length).toBe(MAX_STEM_BYTES);
    expect(bundleFileStem(long + "y")).not.toBe(stem);
    expect(bundleFileStem(long + "y").slice(0, 80)).toBe(stem.slice(0, 80));
  });

  it("counts UTF-8 bytes and never splits a character", () => {
    const stem = bundleFileStem("é".repeat(120));
    expect(Buffer.byteLength(stem, "utf8")).toBeLessThanOrEqual(MAX_STEM_BYTES);
    expect(stem).toMatch(/^(é)+-[0-9a-f]{16}$/);
  });
});
