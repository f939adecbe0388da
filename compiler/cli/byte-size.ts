// `--memory-budget` values: a byte count with an optional unit. Decimal units (kB/KB, MB, GB) are
// powers of 1000 and binary ones (KiB, MiB, GiB) powers of 1024, as in `ls --si` vs `ls -h`;
// "64MB" is 64,000,000 bytes and "64MiB" 67,108,864.

import { UsageError } from "./options.ts";

const UNITS: Readonly<Record<string, number>> = {
  "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

export function parseByteSize(text: string, flag = "--memory-budget"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${flag}: expected a size such as 1048576, 64MB or 1.5GiB, got '${text}'`);
  return Math.floor(Number(m[1]) * unit);
}
