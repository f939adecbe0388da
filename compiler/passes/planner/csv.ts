// MiniMalloc's CSV format for planning problems and their solutions, so the planner can be run on
// public benchmarks and its plans compared with other tools':
//
//   id,lower,upper,size[,offset]
//   b1,0,3,4[,0]
//
// One buffer per line, live during the half-open interval [lower, upper). The parser is strict:
// a file that is almost right would give a plan for a different problem, so every malformed line
// is an error that names the file, the line and what is wrong. It tolerates only what editors and
// other tools produce for free: CRLF line ends, blank lines at the end, spaces around fields.

import { readFileSync } from "node:fs";
import type { PlanProblem, PlanBuffer } from "./problem.ts";

export class PlanCsvError extends Error {
  override name = "PlanCsvError";
}

export interface ParsedPlanCsv {
  /** The problem, with alignment 1 (the CSV format has none; callers overlay their own). */
  readonly problem: PlanProblem;
  /** Present when the file has an `offset` column: offsets by buffer index. */
  readonly offsets?: number[];
}

const PROBLEM_COLUMNS = ["id", "lower", "upper", "size"] as const;
const HEADER_HINT = "id,lower,upper,size[,offset]";

export function parsePlanCsv(text: string, file = "<csv>"): ParsedPlanCsv {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  const fail = (lineIndex: number, problem: string): never => {
    throw new PlanCsvError(`${file}:${lineIndex + 1}: ${problem}`);
  };

  if (lines.length === 0) fail(0, `missing header: expected '${HEADER_HINT}', the file is empty`);
  const header = splitFields(lines[0]);
  const hasOffsets = header.length === 5 && header[4].toLowerCase() === "offset";
  const headerOk = (header.length === 4 || hasOffsets) && PROBLEM_COLUMNS.every((c, i) => header[i].toLowerCase() === c);
  if (!headerOk) fail(0, `missing header: expected '${HEADER_HINT}', got '${lines[0].trim()}'`);

  const buffers: PlanBuffer[] = [];
  const offsets: number[] = [];
  const lineOfId = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const fields = splitFields(lines[i]);
    if (lines[i].trim() === "") fail(i, "empty line in the middle of the file");
    if (fields.length !== header.length) {
      fail(i, `expected ${header.length} columns (${header.join(",")}), got ${fields.length}`);
    }
    const [id, lowerText, upperText, sizeText] = fields;
    if (id === "") fail(i, "empty id");
    const earlier = lineOfId.get(id);
    if (earlier !== undefined) fail(i, `duplicate id '${id}' (first on line ${earlier + 1})`);
    lineOfId.set(id, i);
    const lower = parseCount(lowerText, "lower", (m) => fail(i, m));
    const upper = parseCount(upperText, "upper", (m) => fail(i, m));
    const size = parseCount(sizeText, "size", (m) => fail(i, m));
    if (upper <= lower) fail(i, `upper (${upper}) must be greater than lower (${lower}): the lifetime [lower, upper) is empty`);
    buffers.push({ id, lower, upper, size });
    if (hasOffsets) offsets.push(parseCount(fields[4], "offset", (m) => fail(i, m)));
  }
  const problem: PlanProblem = { buffers, alignment: 1 };
  return hasOffsets ? { problem, offsets } : { problem };
}

/** The problem as CSV; with `offsets`, a solution (an `offset` column). Ends with a newline. */
export function formatPlanCsv(problem: PlanProblem, offsets?: readonly number[]): string {
  if (offsets && offsets.length !== problem.buffers.length) {
    throw new PlanCsvError(`formatPlanCsv: ${offsets.length} offsets for ${problem.buffers.length} buffers`);
  }
  const rows = [offsets ? "id,lower,upper,size,offset" : "id,lower,upper,size"];
  problem.buffers.forEach((b, i) => {
    // An id the parser would read back differently must not be written silently.
    if (b.id === "" || /[,\r\n]/.test(b.id) || b.id.trim() !== b.id) {
      throw new PlanCsvError(`buffer id '${b.id}' cannot be written to CSV (empty, a comma, a line break or outer spaces)`);
    }
    const fields = [b.id, b.lower, b.upper, b.size];
    if (offsets) fields.push(offsets[i]);
    rows.push(fields.join(","));
  });
  return rows.join("\n") + "\n";
}

function splitFields(line: string): string[] {
  return line.split(",").map((f) => f.trim());
}

/** A non-negative integer that a double holds exactly (benchmark arenas reach 5e11 bytes). */
function parseCount(text: string, column: string, fail: (message: string) => never): number {
  if (text === "") return fail(`${column} is empty`);
  if (/^-\d+$/.test(text)) return fail(`${column} is negative: ${text}`);
  if (!/^\+?\d+$/.test(text)) return fail(`${column} is not an integer: '${text}'`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) return fail(`${column} is too large to represent exactly: ${text}`);
  return value;
}

/** Reads and parses a CSV file; an unreadable file is a PlanCsvError too (a user error). */
export function readPlanCsvFile(path: string): ParsedPlanCsv {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new PlanCsvError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parsePlanCsv(text, path);
}
