// `export const config = {...}` and `--set key=value`.
//
// The config object is a model's compile-time knobs. `--set` replaces top-level keys before any
// other top-level code reads them; a value is parsed as JSON when it parses (`128`, `true`,
// `[1,2]`, `"text"`), else taken as a string (`--set act=gelu`). It must keep the kind of the
// value it replaces, so a typo cannot silently change the model.

import { Node } from "ts-morph";
import { CODES, FrontendError } from "./diagnostics.ts";
import { describe, fromPlainData, isPlainData, isPlainObject, type PlainObject, type Value } from "./values.ts";

/** `--set` values as given on the command line; parsed when applied. */
export type SetOverrides = Readonly<Record<string, string>>;

export function parseSetValue(raw: string): Value {
  try {
    return fromPlainData(JSON.parse(raw));
  } catch {
    return raw;
  }
}

function kindOf(v: Value): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (isPlainObject(v)) return "object";
  return typeof v;
}

/**
 * Checks the config object and applies the overrides in place (so every alias of the object sees
 * them). `declaration` is the `config` variable declaration, for diagnostics.
 */
export function applyConfigOverrides(config: Value, overrides: SetOverrides, declaration: Node): PlainObject {
  const nameNode = Node.isVariableDeclaration(declaration) ? declaration.getNameNode() : declaration;
  if (!isPlainObject(config) || !isPlainData(config)) {
    throw new FrontendError(CODES.notPlainData, `config must be an object of compile-time constants, got ${describe(config)}`, nameNode);
  }
  let literal = Node.isVariableDeclaration(declaration) ? declaration.getInitializer() : undefined;
  while (literal && (Node.isAsExpression(literal) || Node.isSatisfiesExpression(literal) || Node.isParenthesizedExpression(literal))) {
    literal = literal.getExpression();
  }
  const propertyNode = (key: string): Node => {
    const prop = literal && Node.isObjectLiteralExpression(literal) ? literal.getProperty(key) : undefined;
    return prop ?? nameNode;
  };
  for (const [key, raw] of Object.entries(overrides)) {
    if (!Object.prototype.hasOwnProperty.call(config, key)) {
      const known = Object.keys(config);
      const list = known.length ? ` (config keys: ${known.join(", ")})` : " (config is empty)";
      throw new FrontendError(CODES.badSet, `--set ${key}=${raw}: unknown config key '${key}'${list}`, nameNode);
    }
    const value = parseSetValue(raw);
    const current = config[key];
    if (current !== null && kindOf(value) !== kindOf(current)) {
      throw new FrontendError(
        CODES.badSet,
        `--set ${key}=${raw}: config.${key} is a ${kindOf(current)}, got ${describe(value)}`,
        propertyNode(key),
      );
    }
    config[key] = value;
  }
  return config;
}
