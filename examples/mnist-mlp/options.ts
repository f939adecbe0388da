// The command line of `npm run mnist` (train.ts): --epochs, --seconds, --batch, --seed, --out,
// --json, checked up front so that a typo is a usage error (exit code 2), not a late crash.

import { parseArgs } from "node:util";

export interface Options { epochs: number; seconds: number; batch?: number; seed: number; out?: string; json: boolean }

export class UsageError extends Error {}

export function parseOptions(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        epochs: { type: "string", default: "10" }, seconds: { type: "string", default: "60" }, batch: { type: "string" },
        seed: { type: "string", default: "0" }, out: { type: "string" }, json: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const number = (flag: string, text: string, ok: (n: number) => boolean, what: string) => {
    const n = Number(text);
    if (text.trim() === "" || !ok(n)) throw new UsageError(`--${flag} must be ${what}, got '${text}'`);
    return n;
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  return {
    epochs: number("epochs", values.epochs, positiveInt, "a positive integer"),
    seconds: number("seconds", values.seconds, (n) => n > 0 && Number.isFinite(n), "a positive number of seconds"),
    ...(values.batch !== undefined ? { batch: number("batch", values.batch, positiveInt, "a positive integer") } : {}),
    seed: number("seed", values.seed, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer"),
    ...(values.out !== undefined ? { out: values.out } : {}),
    json: values.json,
  };
}
