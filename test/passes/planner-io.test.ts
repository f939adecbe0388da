// The planner's CSV format (MiniMalloc's `id,lower,upper,size[,offset]`) and the max-live lower
// bound, on hand-made cases whose answers are worked out in the comments.
import { describe, expect, it } from "vitest";
import { formatPlanCsv, parsePlanCsv, PlanCsvError } from "../../compiler/passes/planner/csv.ts";
import { liveProfile, maxLiveLowerBound } from "../../compiler/passes/planner/lower-bound.ts";
import type { PlanBuffer, PlanProblem } from "../../compiler/passes/planner/problem.ts";

/** google/minimalloc benchmarks/examples/input.12.csv (Apache-2.0), also in bench/data/memplan. */
const INPUT_12_CSV = "id,lower,upper,size\nb1,0,3,4\nb2,3,9,4\nb3,0,9,4\nb4,9,21,4\nb5,0,21,4\n";

const problemOf = (alignment: number, ...rows: [number, number, number][]): PlanProblem => ({
  alignment,
  buffers: rows.map(([lower, upper, size], i) => ({ id: `b${i}`, lower, upper, size })),
});

describe("parsePlanCsv / formatPlanCsv", () => {
  it("reads input.12.csv", () => {
    const { problem, offsets } = parsePlanCsv(INPUT_12_CSV);
    expect(offsets).toBeUndefined();
    expect(problem.alignment).toBe(1);
    expect(problem.buffers).toEqual([
      { id: "b1", lower: 0, upper: 3, size: 4 },
      { id: "b2", lower: 3, upper: 9, size: 4 },
      { id: "b3", lower: 0, upper: 9, size: 4 },
      { id: "b4", lower: 9, upper: 21, size: 4 },
      { id: "b5", lower: 0, upper: 21, size: 4 },
    ]);
  });

  it("round-trips problems and solutions, including offsets and ids that are not numbers", () => {
    const buffers: PlanBuffer[] = [
      { id: "0", lower: 0, upper: 5, size: 64 },
      { id: "%fc1.w/grad", lower: 2, upper: 3, size: 1 },
      { id: "big", lower: 7, upper: 497261190115, size: 5530099775 },
    ];
    const problem: PlanProblem = { buffers, alignment: 1 };
    const text = formatPlanCsv(problem);
    expect(text).toBe("id,lower,upper,size\n0,0,5,64\n%fc1.w/grad,2,3,1\nbig,7,497261190115,5530099775\n");
    expect(parsePlanCsv(text)).toEqual({ problem });
    const solved = formatPlanCsv(problem, [0, 64, 0]);
    expect(solved.split("\n")[0]).toBe("id,lower,upper,size,offset");
    expect(parsePlanCsv(solved)).toEqual({ problem, offsets: [0, 64, 0] });
  });

  it("tolerates CRLF, spaces around fields, header case and blank lines at the end", () => {
    const text = " ID , Lower,upper , SIZE ,Offset\r\n a , 1 , 4 , 16 , 32 \r\nb,0,1,8,0\r\n\r\n  \n";
    expect(parsePlanCsv(text)).toEqual({
      problem: { alignment: 1, buffers: [{ id: "a", lower: 1, upper: 4, size: 16 }, { id: "b", lower: 0, upper: 1, size: 8 }] },
      offsets: [32, 0],
    });
  });

  it("accepts a header with no buffers (an empty problem)", () => {
    expect(parsePlanCsv("id,lower,upper,size\n").problem.buffers).toEqual([]);
  });

  const HEADER = "id,lower,upper,size\n";
  it.each([
    ["an empty file", "", "p.csv:1: missing header: expected 'id,lower,upper,size[,offset]', the file is empty"],
    ["data where the header should be", "b1,0,3,4\n", "p.csv:1: missing header: expected 'id,lower,upper,size[,offset]', got 'b1,0,3,4'"],
    ["a header with the columns out of order", "id,upper,lower,size\n", "p.csv:1: missing header"],
    ["a header with an unknown fifth column", "id,lower,upper,size,align\n", "p.csv:1: missing header"],
    ["too few columns", HEADER + "a,0,3,4\nb,0,3\n", "p.csv:3: expected 4 columns (id,lower,upper,size), got 3"],
    ["too many columns", HEADER + "a,0,3,4,0\n", "p.csv:2: expected 4 columns (id,lower,upper,size), got 5"],
    ["a missing offset", "id,lower,upper,size,offset\na,0,3,4\n", "p.csv:2: expected 5 columns (id,lower,upper,size,offset), got 4"],
    ["a fraction", HEADER + "a,0,3.5,4\n", "p.csv:2: upper is not an integer: '3.5'"],
    ["exponent notation", HEADER + "a,0,3,1e3\n", "p.csv:2: size is not an integer: '1e3'"],
    ["a word", HEADER + "a,zero,3,4\n", "p.csv:2: lower is not an integer: 'zero'"],
    ["an empty field", HEADER + "a,0,,4\n", "p.csv:2: upper is empty"],
    ["a negative size", HEADER + "a,0,3,-4\n", "p.csv:2: size is negative: -4"],
    ["a negative lower", HEADER + "a,-1,3,4\n", "p.csv:2: lower is negative: -1"],
    ["a negative offset", "id,lower,upper,size,offset\na,0,3,4,-8\n", "p.csv:2: offset is negative: -8"],
    ["a fractional offset", "id,lower,upper,size,offset\na,0,3,4,0.5\n", "p.csv:2: offset is not an integer: '0.5'"],
    ["upper equal to lower", HEADER + "a,0,3,4\nb,5,5,4\n", "p.csv:3: upper (5) must be greater than lower (5)"],
    ["upper below lower", HEADER + "a,6,5,4\n", "p.csv:2: upper (5) must be greater than lower (6)"],
    ["a duplicate id", HEADER + "a,0,3,4\nb,0,3,4\na,4,5,4\n", "p.csv:4: duplicate id 'a' (first on line 2)"],
    ["an empty id", HEADER + " ,0,3,4\n", "p.csv:2: empty id"],
    ["a blank line in the middle", HEADER + "a,0,3,4\n\nb,0,3,4\n", "p.csv:3: empty line in the middle of the file"],
    ["a number past 2^53", HEADER + "a,0,3,9007199254740993\n", "p.csv:2: size is too large to represent exactly"],
  ])("rejects %s, naming the line", (_what, text, message) => {
    expect(() => parsePlanCsv(text, "p.csv")).toThrow(PlanCsvError);
    expect(() => parsePlanCsv(text, "p.csv")).toThrow(message);
  });

  it("refuses to write ids that would not read back", () => {
    for (const id of ["a,b", "line\nbreak", " padded", ""]) {
      expect(() => formatPlanCsv({ alignment: 1, buffers: [{ id, lower: 0, upper: 1, size: 1 }] })).toThrow(PlanCsvError);
    }
    expect(() => formatPlanCsv(problemOf(1, [0, 1, 1]), [0, 0])).toThrow("2 offsets for 1 buffers");
  });
});

describe("maxLiveLowerBound", () => {
  it("is 12 on input.12.csv (b3 and b5 live through [0,9), with b1 or b2 beside them)", () => {
    expect(maxLiveLowerBound(parsePlanCsv(INPUT_12_CSV).problem)).toBe(12);
  });

  it("is 0 for no buffers", () => {
    expect(maxLiveLowerBound({ buffers: [], alignment: 16 })).toBe(0);
  });

  it("treats lifetimes as half-open: a buffer ending at t and one starting at t never coexist", () => {
    expect(maxLiveLowerBound(problemOf(1, [0, 2, 5], [2, 4, 7]))).toBe(7);
  });

  it("takes the peak, not the sum", () => {
    // t=1: 4 + 6 = 10; t=2: 4 + 3 = 7; t=3,4: 3.
    expect(maxLiveLowerBound(problemOf(1, [0, 3, 4], [1, 2, 6], [2, 5, 3]))).toBe(10);
  });

  it("rounds every live buffer but the topmost up to the alignment", () => {
    // One 1-byte buffer fits in 1 byte whatever the alignment.
    expect(maxLiveLowerBound(problemOf(16, [0, 1, 1]))).toBe(1);
    // 1 and 20 bytes together, alignment 16: 20 at 0 then 1 at 32 ends at 33 (1 at 0 then 20 at 16
    // ends at 36); the bound is (16 + 32) - max(15, 12) = 33.
    expect(maxLiveLowerBound(problemOf(16, [0, 4, 1], [0, 4, 20]))).toBe(33);
    // Sizes that are already multiples of the alignment need no padding.
    expect(maxLiveLowerBound(problemOf(16, [0, 4, 32], [1, 3, 48]))).toBe(80);
    // Once the padded buffer has ended, the next peak counts in full.
    expect(maxLiveLowerBound(problemOf(16, [0, 2, 17], [0, 2, 16], [2, 3, 32], [2, 3, 33]))).toBe(32 + 33);
  });

  it("ignores buffers with an empty lifetime (never live)", () => {
    expect(maxLiveLowerBound(problemOf(1, [3, 3, 100], [0, 5, 8]))).toBe(8);
  });
});

describe("liveProfile", () => {
  it("is the live-bytes step function, ending at 0", () => {
    expect(liveProfile(problemOf(1, [0, 3, 4], [1, 2, 6], [2, 5, 3], [7, 9, 1]))).toEqual([
      { time: 0, bytes: 4 },
      { time: 1, bytes: 10 },
      { time: 2, bytes: 7 },
      { time: 3, bytes: 3 },
      { time: 5, bytes: 0 },
      { time: 7, bytes: 1 },
      { time: 9, bytes: 0 },
    ]);
  });

  it("counts sizes rounded up to the alignment", () => {
    expect(liveProfile(problemOf(16, [0, 2, 1], [1, 3, 17]))).toEqual([
      { time: 0, bytes: 16 },
      { time: 1, bytes: 48 },
      { time: 2, bytes: 32 },
      { time: 3, bytes: 0 },
    ]);
  });
});
