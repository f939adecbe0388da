// `mlc mem --fit` on the other half of the examples (see fit-batch.test.ts).
import { EXAMPLES } from "../support/example-graphs.ts";
import { fitExamples } from "../support/fit-examples.ts";
import { expect, it } from "vitest";

const first = ["cnn", "mnist-mlp", "recsys"];
const rest = EXAMPLES.filter((e) => !first.includes(e));

it("the two files cover every example", () => {
  expect([...first, ...rest].sort()).toEqual(EXAMPLES);
  expect(rest.length).toBeGreaterThan(0);
});

fitExamples(rest);
