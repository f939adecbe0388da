// The nesting limit (MLC113): how deep a model's source may nest, checked before anything recurses
// over it. TypeScript's parser overflows Node's stack below 1,000 nested parentheses and its
// checker and the evaluator recurse once per level of the syntax tree, so a deep expression
// would end as "Maximum call stack size exceeded" instead of a diagnostic.
//
// Two checks: the brackets of the source text before parsing (a location even when the parser
// could not cope), and the depth of the parsed syntax tree (deep nesting without brackets, such
// as `1+1+...+1` or `- - - x`), both walked without recursion.

import { ts } from "ts-morph";
import { CODES, displayPath, type Diagnostic } from "./diagnostics.ts";
import { raiseHint, type EvalLimits } from "./limits.ts";

function nestingDiagnostic(fileName: string, text: string, offset: number, what: string, limits: EvalLimits): Diagnostic {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return {
    code: CODES.nestingLimit,
    message: `${what} nest deeper than ${limits.maxNesting} levels (${raiseHint("maxNesting", limits.maxNesting)})`,
    file: displayPath(fileName),
    line,
    col: offset - lineStart + 1,
  };
}

/**
 * The first bracket `( [ {` of `text` that nests past the limit, skipping strings and comments
 * (template literals are skipped whole, `${...}` included: the syntax-tree check sees those).
 */
export function bracketNesting(fileName: string, text: string, limits: EvalLimits): Diagnostic | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(" || c === "[" || c === "{") {
      if (++depth > limits.maxNesting) return nestingDiagnostic(fileName, text, i, "brackets", limits);
    } else if (c === ")" || c === "]" || c === "}") {
      depth = Math.max(0, depth - 1);
    } else if (c === '"' || c === "'" || c === "`") {
      for (i++; i < text.length && text[i] !== c && !(c !== "`" && text[i] === "\n"); i++) if (text[i] === "\\") i++;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
    }
  }
  return undefined;
}

/** The first node of the syntax tree deeper than the limit. */
export function syntaxNesting(sf: ts.SourceFile, limits: EvalLimits): Diagnostic | undefined {
  const stack: [ts.Node, number][] = [[sf, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (depth > limits.maxNesting) return nestingDiagnostic(sf.fileName, sf.text, node.getStart(sf), "expressions and statements", limits);
    ts.forEachChild(node, (child) => {
      stack.push([child, depth + 1]);
    });
  }
  return undefined;
}

/** The diagnostic for a stack overflow of TypeScript's parser or checker in `fileName`. */
export function stackOverflow(fileName: string, text: string, limits: EvalLimits): Diagnostic {
  return nestingDiagnostic(fileName, text, 0, "the model's expressions", limits);
}

export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}
