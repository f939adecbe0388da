// The lexer of the IR text format: a scanner over ONE line (the format is line-oriented and no
// token spans lines). The parser asks for the token it expects next (a value reference, a word,
// a number, ...), because the same characters mean different things in different places: `1.5`
// is a number in an attribute but `a.1` is part of a name.

import { printNumber } from "./printer.ts";

export class IRParseError extends Error {
  override name = "IRParseError";
  constructor(
    readonly reason: string,
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly sourceLine = "",
  ) {
    super(`${file}:${line}:${col}: ${reason}` + (sourceLine ? `\n  ${sourceLine}\n  ${" ".repeat(Math.max(col - 1, 0))}^` : ""));
  }
}

const NAME_CHAR = /[A-Za-z0-9_.\/-]/;
const NAME_RUN = /[A-Za-z0-9_.\/-]+/y;
const NAME_RUN_FROM_START = /^[A-Za-z0-9_.\/-]+/;
const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:inf|nan|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/y;
const JSON_STRING = /"(?:[^"\\]|\\.)*"/y;

export class LineScanner {
  pos = 0;

  constructor(
    readonly text: string,
    readonly lineNo: number,
    readonly file: string,
  ) {}

  /** 1-based column of the current position (after skipping blanks). */
  get col(): number {
    this.skipSpace();
    return this.pos + 1;
  }

  error(reason: string, col = this.col): IRParseError {
    return new IRParseError(reason, this.file, this.lineNo, col, this.text);
  }

  skipSpace(): void {
    while (this.pos < this.text.length && (this.text[this.pos] === " " || this.text[this.pos] === "\t")) this.pos++;
  }

  /** True at the end of the line or at a trailing `#` comment. */
  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length || this.text[this.pos] === "#";
  }

  peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? "";
  }

  eat(punct: string): boolean {
    if (this.peek() !== punct) return false;
    this.pos++;
    return true;
  }

  expect(punct: string, context: string): void {
    if (!this.eat(punct)) throw this.error(`expected '${punct}' ${context}, found ${this.describeNext()}`);
  }

  /** An identifier such as a keyword, an op name, a dtype or an attribute key. */
  word(what: string): string {
    const w = this.match(WORD);
    if (w === undefined) throw this.error(`expected ${what}, found ${this.describeNext()}`);
    return w;
  }

  tryWord(): string | undefined {
    return this.match(WORD);
  }

  /** `%name`. Quoted names (what the printer shows for names it cannot carry) are rejected. */
  valueRef(what = "a value (%name)"): string {
    const col = this.col;
    if (!this.eat("%")) throw this.error(`expected ${what}, found ${this.describeNext()}`);
    const name = this.matchAt(NAME_RUN);
    if (name === undefined) {
      throw this.error("a value name after '%' may only contain letters, digits and _ . / -", col);
    }
    return name;
  }

  /** A bare name (letters, digits, `_ . / -`) or, when `quotedOk`, a JSON string. */
  name(what: string, quotedOk: boolean): string {
    if (quotedOk && this.peek() === '"') return this.string();
    const n = this.match(NAME_RUN);
    if (n === undefined) throw this.error(`expected ${what}, found ${this.describeNext()}`);
    return n;
  }

  /** A JSON string literal. */
  string(): string {
    const col = this.col;
    const raw = this.match(JSON_STRING);
    if (raw === undefined) {
      throw this.error(this.peek() === '"' ? "unterminated string" : `expected a string, found ${this.describeNext()}`, col);
    }
    try {
      return JSON.parse(raw) as string;
    } catch {
      throw this.error(`bad string literal ${raw}`, col);
    }
  }

  /** A number as the printer writes it: `String(n)`, `-0`, `inf`, `-inf`, `nan`. */
  number(what = "a number"): number {
    const col = this.col;
    const raw = this.match(NUMBER);
    if (raw === undefined) throw this.error(`expected ${what}, found ${this.describeNext()}`);
    if (this.pos < this.text.length && NAME_CHAR.test(this.text[this.pos])) {
      throw this.error(`bad number '${raw}${this.text.slice(this.pos).match(NAME_RUN_FROM_START)?.[0] ?? ""}'`, col);
    }
    if (raw === "inf") return Infinity;
    if (raw === "-inf") return -Infinity;
    if (raw === "nan") return NaN;
    if (raw === "-nan") throw this.error("bad number '-nan' (write nan)", col);
    return Number(raw);
  }

  /** A non-negative integer, e.g. a dimension or a line number. */
  integer(what: string): number {
    const col = this.col;
    const n = this.number(what);
    if (!Number.isInteger(n) || n < 0 || Object.is(n, -0)) throw this.error(`expected ${what}, got ${printNumber(n)}`, col);
    return n;
  }

  /** The raw text up to the next blank or `#`. */
  rawToken(): string {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length && !/[\s#]/.test(this.text[this.pos])) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** The text of a trailing `# comment` (without the `#`), if any; the line must end here. */
  endOfLine(context: string): { text: string; col: number } | undefined {
    if (!this.atEnd()) throw this.error(`unexpected ${this.describeNext()} ${context}`);
    if (this.pos >= this.text.length) return undefined;
    return { text: this.text.slice(this.pos + 1).trim(), col: this.pos + 1 };
  }

  describeNext(): string {
    if (this.atEnd()) return "end of line";
    const rest = this.text.slice(this.pos);
    const token = rest.match(/^(?:"(?:[^"\\]|\\.)*"?|[A-Za-z0-9_.\/%-]+|\S)/)![0];
    return `'${token.length > 24 ? token.slice(0, 24) + "…" : token}'`;
  }

  private match(re: RegExp): string | undefined {
    this.skipSpace();
    return this.matchAt(re);
  }

  private matchAt(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }
}
