// Every file mlc writes goes through here, so a failure or a kill at any moment leaves the old file
// or the new one, never a half-written one:
//
//   1. each file is written to a temp name in the target's own directory (`.NAME.tmp-PID`, so the
//      rename below stays on one file system) and fsynced;
//   2. only when every file of the set is written are the temps renamed over their targets (a
//      bundle's files all or none: an error before the renames removes the temps and replaces
//      nothing);
//   3. the directories are fsynced, so the renames themselves survive a crash.
//
// A kill during step 1 leaves temps behind (nothing can remove them then); the next write of the
// same target removes those of processes that no longer run. A kill during step 2 (a few renames,
// microseconds) can leave some targets renamed and others not.
//
// Failures of the destination (a missing or unwritable directory, a path that is a file, a full
// disk, a file-size limit) are OutputErrors: user errors with one clear line (cli/errors.ts).

import { createHash } from "node:crypto";
import { closeSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

export class OutputError extends Error {
  override name = "OutputError";
}

export interface OutputFile {
  readonly path: string;
  readonly data: Uint8Array | string;
}

/** Writes one file atomically (temp file, fsync, rename, directory fsync). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  writeFilesAtomic([{ path, data }]);
}

/**
 * Writes a set of files all or none: every temp file first, then the renames. On an error before
 * the renames no target is touched and no temp file is left.
 */
export function writeFilesAtomic(files: readonly OutputFile[]): void {
  const modes = files.map((f) => existingMode(f.path));
  removeStaleTemps(files.map((f) => f.path));
  const written: { tmp: string; path: string }[] = [];
  try {
    files.forEach((f, i) => {
      const tmp = tempPath(f.path);
      written.push({ tmp, path: f.path });
      writeAndSync(tmp, typeof f.data === "string" ? Buffer.from(f.data, "utf8") : f.data, modes[i]);
    });
  } catch (e) {
    for (const w of written) removeQuietly(w.tmp);
    throw asOutputError(e, `cannot write ${written.at(-1)?.path ?? files[0]?.path}`, files.length > 1 ? "; none of the files was replaced" : "; nothing was replaced");
  }
  let renamed = 0;
  try {
    for (; renamed < written.length; renamed++) renameSync(written[renamed].tmp, written[renamed].path);
  } catch (e) {
    for (const w of written.slice(renamed)) removeQuietly(w.tmp);
    throw asOutputError(e, `cannot replace ${written[renamed].path}`, renamed > 0 ? `; ${renamed} of ${written.length} files were replaced` : "; nothing was replaced");
  }
  for (const dir of new Set(files.map((f) => dirname(f.path)))) syncDirectory(dir);
}

/**
 * Creates `dir` and its missing parents; a destination that cannot be a directory is an
 * OutputError. Returns the first directory it created (undefined when `dir` existed), so a caller
 * whose write then fails can remove what it made.
 */
export function ensureDirectory(dir: string): string | undefined {
  // One level at a time from the nearest existing ancestor: Node's mkdirSync({ recursive }) never
  // returns where the file system refuses every new entry (it retries /proc/x forever).
  const missing: string[] = [];
  let created: string | undefined;
  for (let d = resolve(dir); !existsAsAnything(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  if (missing.length === 0) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(dir).isDirectory();
    } catch (e) {
      throw asOutputError(e, `cannot use the directory ${dir}`); // a dangling link, a loop
    }
    if (!isDirectory) throw new OutputError(`cannot use ${dir} as a directory: it is not one`);
    return undefined;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
      created ??= d;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && existsAsDirectory(d)) continue; // made meanwhile, by another
      removeCreatedDirectory(created);
      throw asOutputError(e, `cannot create the directory ${dir}`);
    }
  }
  return created;
}

function existsAsDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function existsAsAnything(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes a directory ensureDirectory created (and what is in it), ignoring failures. */
export function removeCreatedDirectory(created: string | undefined): void {
  if (created !== undefined) rmSync(created, { recursive: true, force: true });
}

/** fsync a directory (its entries: a rename in it); a no-op where directories cannot be opened. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // some platforms cannot fsync a directory
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The most bytes a file name may have on the file systems mlc writes to (NAME_MAX). */
const NAME_MAX = 255;
const TEMP_SUFFIX = ".tmp-";

/** Where `path` is written before its rename: a hidden name in the same directory, this process's. */
export function tempPath(path: string, pid = process.pid): string {
  return join(dirname(path), `${tempPrefix(basename(path))}${pid}`);
}

/** `.NAME.tmp-`, or a hashed stand-in when NAME is so long that the temp name would not fit. */
function tempPrefix(name: string): string {
  const plain = `.${name}${TEMP_SUFFIX}`;
  if (Buffer.byteLength(plain) + 10 <= NAME_MAX) return plain;
  return `.mlc-${createHash("sha256").update(name).digest("hex").slice(0, 16)}${TEMP_SUFFIX}`;
}

/**
 * The permission bits of the file `path` replaces (kept by the new one), or undefined when there
 * is none. A target that exists and is not a file (a directory, a device) would fail at the
 * rename: said here, before anything is written.
 */
function existingMode(path: string): number | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined; // missing (to be created) or unreachable: the write itself will say what is wrong
  }
  if (st.isDirectory()) throw new OutputError(`cannot write ${path}: it is a directory`);
  if (!st.isFile() && !st.isSymbolicLink()) throw new OutputError(`cannot write ${path}: it is not a regular file`);
  return st.isFile() ? st.mode & 0o7777 : undefined;
}

/** Temp files of these targets left by processes that no longer run (killed mid-write). */
function removeStaleTemps(paths: readonly string[]): void {
  const byDir = new Map<string, string[]>();
  for (const p of paths) byDir.set(dirname(p), [...(byDir.get(dirname(p)) ?? []), tempPrefix(basename(p))]);
  for (const [dir, prefixes] of byDir) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const prefix = prefixes.find((p) => entry.startsWith(p));
      if (!prefix) continue;
      const pid = entry.slice(prefix.length);
      if (/^[0-9]+$/.test(pid) && !isRunning(Number(pid))) removeQuietly(join(dir, entry));
    }
  }
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function writeAndSync(path: string, bytes: Uint8Array, mode: number | undefined): void {
  const fd = openSync(path, "w");
  try {
    if (mode !== undefined) fchmodSync(fd, mode);
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or never created
  }
}

/** What an errno means for a destination, in words. */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is a file, not a directory",
  EEXIST: "it exists and is not a directory",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large (a file-size limit, ulimit -f?)",
  ENAMETOOLONG: "file name too long",
  EIO: "input/output error",
  ELOOP: "too many symbolic links",
  EMFILE: "too many open files",
  EINVAL: "invalid argument (the file system does not allow this file)",
};

/** A file-system error as an OutputError saying what failed; any other error as it is. */
function asOutputError(e: unknown, what: string, outcome = ""): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string" || !code.startsWith("E")) return e;
  const words = ERRNO_WORDS[code];
  return new OutputError(`${what}: ${code}${words ? ` (${words})` : ""}${outcome}`);
}
