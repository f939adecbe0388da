// The IR text round trip as tests check it on both levels: the printed text is stable and the
// parsed graph comes back equal to the one printed.
import { expect } from "vitest";
import type { Graph } from "../../compiler/ir/graph.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";

/** Prints `g`, parses it back, and expects the same graph and the same text; returns both. */
export function expectRoundTrip(g: Graph): { text: string; parsed: Graph } {
  const text = printGraph(g);
  const parsed = parseGraph(text, "test.ir");
  expect(parsed).toEqual(g);
  expect(printGraph(parsed)).toBe(text);
  return { text, parsed };
}
