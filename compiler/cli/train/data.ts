// Datasets for `mlc train` and `mlc eval`, streamed from disk: a batch is read sample by sample
// with positioned reads (pread) into one preallocated buffer per input, so memory does not grow
// with the dataset and nothing is ever loaded whole. Samples are in the leading dimension.
//
// --data forms:
//   data.safetensors            tensors named like the model's inputs
//   dir/                        one NAME.npy per model input (NumPy .npy, C order, v1-v3)
//   x=a.gz,y=b.idx,...          files mapped to inputs: each a .npy, an MNIST-style IDX file
//                               (idx1/idx3-ubyte, big-endian), or a safetensors file (its tensor
//                               named like the input, or `file.safetensors:TENSOR`)
// Any file may be gzip-compressed (as Debian's dataset-fashion-mnist ships IDX files): it is
// decompressed once, streaming, to a cache file (--cache-dir, default $TMPDIR/mlc-data-cache, keyed
// by the source's path, size and mtime, written to a temp name and renamed when complete) and
// then read like an uncompressed one.
//
// Conversions to the input's dtype: f32 inputs take f32/f64 and integers; u8 data is scaled to
// [0, 1] (divided by 255) unless `scaleU8` is false. Integer inputs (i32: labels, ids) take
// integer data only. A file is checked when opened: every model input present, samples of the
// input's size (the per-sample element count must match; 28x28 fills a [B, 784] input), equal
// sample counts, and a file long enough for its header (a truncated file is an error naming it).
//
// A column whose samples total at most SMALL_COLUMN_BYTES (the labels of an image set: one byte
// a sample) is read whole once, at its first batch, and served from memory: a positioned read per
// sample costs a system call for a few bytes. Memory stays bounded: a larger column is streamed.

import { closeSync, createReadStream, createWriteStream, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, statSync, unlinkSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { createHash } from "node:crypto";

/** Columns up to this many bytes of samples are read once and kept, by default (see the header). */
export const SMALL_COLUMN_BYTES = 1 << 20;

/** u8 values scaled to [0, 1] as f32: k / 255 computed in float64 and rounded once, as a multiply by 1/255 would. */
const SCALED_U8 = Float32Array.from({ length: 256 }, (_, k) => k * (1 / 255));

export class DataError extends Error {
  override name = "DataError";
}

/** A model input a dataset fills, from the bundle's manifest. */
export interface InputSpec {
  readonly name: string;
  readonly dtype: string;
  /** The input's full shape; shape[0] is the batch. */
  readonly shape: readonly number[];
  /** Inputs the bundle reads as indices: their valid range (compiler/bundle/index-ranges.ts). */
  readonly indexRange?: { readonly lo: number; readonly hi: number; readonly what: string };
}

/** Element types a data file may hold. */
type FileDtype = "f64" | "f32" | "i64" | "i32" | "i16" | "u16" | "i8" | "u8" | "bool";
const FILE_BYTES: Record<FileDtype, number> = { f64: 8, f32: 4, i64: 8, i32: 4, i16: 2, u16: 2, i8: 1, u8: 1, bool: 1 };

/** One tensor of a dataset: where its samples lie in which file. */
interface Column {
  readonly input: InputSpec;
  /** The file as the user named it (messages). */
  readonly source: string;
  /** The file read (the cache file for gzip). */
  readonly path: string;
  readonly dtype: FileDtype;
  readonly bigEndian: boolean;
  readonly count: number;
  readonly sampleShape: readonly number[];
  readonly offset: number;
  readonly sampleBytes: number;
  readonly sampleElements: number;
}

export interface DatasetOptions {
  /** Divide u8 data by 255 for f32 inputs (default true). */
  readonly scaleU8?: boolean;
  /** Where gzip files are decompressed (default $TMPDIR/mlc-data-cache). */
  readonly cacheDir?: string;
  /** Columns up to this many bytes of samples are read once and kept (default SMALL_COLUMN_BYTES). */
  readonly smallColumnBytes?: number;
}

/** Typed views of the bundle's inputs, by name (what a batch is read into). */
export type InputViews = Readonly<Record<string, Float32Array | Int32Array | Uint8Array | Int8Array | Uint16Array>>;

export class Dataset {
  private readonly fds: number[];
  private readonly scratch: Buffer[];
  /** A small column's samples, once read (SMALL_COLUMN_BYTES). */
  private readonly whole: (Buffer | undefined)[];
  private readonly scale: boolean;

  private constructor(
    readonly spec: string,
    private readonly columns: readonly Column[],
    readonly count: number,
    readonly batch: number,
    scaleU8: boolean,
    private readonly smallColumnBytes: number,
  ) {
    this.fds = columns.map((c) => openSync(c.path, "r"));
    this.scratch = columns.map((c) => Buffer.alloc(c.sampleBytes * batch));
    this.whole = columns.map(() => undefined);
    this.scale = scaleU8;
  }

  /** Opens `spec` (see the header) for `inputs`, checking everything a batch read relies on. */
  static async open(spec: string, inputs: readonly InputSpec[], opts: DatasetOptions = {}): Promise<Dataset> {
    if (inputs.length === 0) throw new DataError("the model has no inputs to feed");
    const batch = inputs[0].shape[0];
    for (const i of inputs) {
      if (i.shape.length === 0 || i.shape[0] !== batch) {
        throw new DataError(`input '${i.name}' is ${i.dtype}[${i.shape.join(",")}]: mlc train feeds samples along every input's leading (batch) dimension, ${batch}`);
      }
    }
    const sources = await resolveSources(spec, inputs, opts.cacheDir ?? join(tmpdir(), "mlc-data-cache"));
    const columns = inputs.map((input) => {
      const src = sources.get(input.name)!;
      return checkColumn(input, src);
    });
    const count = columns[0].count;
    for (const c of columns) {
      if (c.count !== count) throw new DataError(`${c.source}: '${c.input.name}' has ${c.count} samples but '${columns[0].input.name}' (${columns[0].source}) has ${count}`);
    }
    if (count === 0) throw new DataError(`${columns[0].source}: the dataset has no samples`);
    return new Dataset(spec, columns, count, batch, opts.scaleU8 ?? true, opts.smallColumnBytes ?? SMALL_COLUMN_BYTES);
  }

  /** What each input is read from, for the log. */
  describe(): string {
    return this.columns.map((c) => `${c.input.name} <- ${c.source} (${c.dtype}${c.sampleShape.length ? `[${c.sampleShape.join(",")}]` : ""})`).join(", ");
  }

  /**
   * Reads samples `indices[0..rows)` into the inputs' views (row r of the batch); rows from `rows`
   * to the batch size are zeroed (padding).
   */
  read(indices: ArrayLike<number>, rows: number, views: InputViews): void {
    for (let c = 0; c < this.columns.length; c++) {
      const col = this.columns[c];
      const buf = this.scratch[c];
      const fd = this.fds[c];
      if (col.count * col.sampleBytes <= this.smallColumnBytes) {
        const whole = (this.whole[c] ??= readWhole(fd, col));
        for (let r = 0; r < rows; r++) whole.copy(buf, r * col.sampleBytes, indices[r] * col.sampleBytes, (indices[r] + 1) * col.sampleBytes);
      } else {
        for (let r = 0; r < rows; r++) readExactly(fd, col, buf, r * col.sampleBytes, col.offset + indices[r] * col.sampleBytes, col.sampleBytes, indices[r]);
      }
      const view = views[col.input.name];
      if (!view) throw new DataError(`the bundle has no input '${col.input.name}'`);
      convert(col, buf, rows * col.sampleElements, view, this.scale);
      if (col.input.indexRange) checkIndices(col, view, rows, indices);
      if (rows * col.sampleElements < view.length) view.fill(0, rows * col.sampleElements);
    }
  }

  close(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds.length = 0;
  }
}

/**
 * Reads `bytes` bytes at file position `at` into buf[into..]; a short file is an error naming
 * `sample` (or, for -1, the whole column). Nothing is allocated unless it fails: it runs for
 * every sample of every batch.
 */
function readExactly(fd: number, col: Column, buf: Buffer, into: number, at: number, bytes: number, sample: number): void {
  let done = 0;
  while (done < bytes) {
    const n = readSync(fd, buf, into + done, bytes - done, at + done);
    if (n === 0) throw new DataError(`${col.source}: the file ended early reading ${sample < 0 ? `its ${col.count} samples` : `sample ${sample}`} of '${col.input.name}' (truncated while in use?)`);
    done += n;
  }
}

/** Every sample of a small column. */
function readWhole(fd: number, col: Column): Buffer {
  const buf = Buffer.alloc(col.count * col.sampleBytes);
  readExactly(fd, col, buf, 0, col.offset, buf.length, -1);
  return buf;
}

/**
 * An index input's values must lie in its range before the bundle sees them (the bundle would
 * refuse the batch too, but could not name the file and the sample): the first one outside is an
 * error naming the file, the tensor, the sample, the element within it and the value.
 */
function checkIndices(col: Column, view: InputViews[string], rows: number, indices: ArrayLike<number>): void {
  const { lo, hi, what } = col.input.indexRange!;
  const n = rows * col.sampleElements;
  for (let k = 0; k < n; k++) {
    const v = view[k];
    if (v >= lo && v < hi) continue;
    const sample = indices[Math.floor(k / col.sampleElements)];
    const within = col.sampleElements > 1 ? ` (element ${k % col.sampleElements} of the sample)` : "";
    throw new DataError(`${col.source}: sample ${sample} of '${col.input.name}' holds ${v}${within}, outside [${lo}, ${hi}), the valid range of input '${col.input.name}' (${what})`);
  }
}

/** Converts `n` elements of a column's raw bytes into the input's typed view. */
function convert(col: Column, buf: Buffer, n: number, view: InputViews[string], scaleU8: boolean): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const le = !col.bigEndian;
  const scale = col.dtype === "u8" && view instanceof Float32Array && scaleU8 ? 1 / 255 : 1;
  if (!col.bigEndian && view instanceof Float32Array && col.dtype === "f32") {
    view.set(new Float32Array(buf.buffer, buf.byteOffset, n));
    return;
  }
  if (!col.bigEndian && view instanceof Int32Array && col.dtype === "i32") {
    view.set(new Int32Array(buf.buffer, buf.byteOffset, n));
    return;
  }
  if (col.dtype === "u8" || col.dtype === "bool" || col.dtype === "i8") {
    // Byte data: u8 scaled to [0, 1] through a table of the 256 values (each k * (1/255) in
    // float64, rounded to f32); otherwise the typed-array copy converts natively.
    if (scale !== 1) {
      for (let i = 0; i < n; i++) view[i] = SCALED_U8[buf[i]];
      return;
    }
    view.set(col.dtype === "i8" ? new Int8Array(buf.buffer, buf.byteOffset, n) : buf.subarray(0, n));
    return;
  }
  for (let i = 0; i < n; i++) {
    let v: number;
    switch (col.dtype) {
      case "f64": v = dv.getFloat64(i * 8, le); break;
      case "f32": v = dv.getFloat32(i * 4, le); break;
      case "i64": v = Number(dv.getBigInt64(i * 8, le)); break;
      case "i32": v = dv.getInt32(i * 4, le); break;
      case "i16": v = dv.getInt16(i * 2, le); break;
      case "u16": v = dv.getUint16(i * 2, le); break;
    }
    view[i] = v;
  }
}

/** A file (after decompression) with what its header says. */
interface Source {
  readonly source: string;
  readonly path: string;
  readonly dtype: FileDtype;
  readonly bigEndian: boolean;
  readonly shape: readonly number[];
  readonly offset: number;
}

function checkColumn(input: InputSpec, src: Source): Column {
  const what = `'${input.name}'`;
  const isFloatInput = input.dtype === "f32" || input.dtype === "f64";
  const isFloatData = src.dtype === "f32" || src.dtype === "f64";
  if (!isFloatInput && isFloatData) throw new DataError(`${src.source}: ${what} holds ${src.dtype} values but input ${what} is ${input.dtype} (integers needed)`);
  if (!["f32", "i32", "u8", "i8", "bool"].includes(input.dtype)) throw new DataError(`${src.source}: input ${what} is ${input.dtype}, which mlc train does not feed yet`);
  if (src.shape.length === 0) throw new DataError(`${src.source}: ${what} is a scalar; samples must be along its leading dimension`);
  const count = src.shape[0];
  const sampleShape = src.shape.slice(1);
  const sampleElements = sampleShape.reduce((a, b) => a * b, 1);
  const want = input.shape.slice(1).reduce((a, b) => a * b, 1);
  if (sampleElements !== want) {
    throw new DataError(`${src.source}: ${what} has samples of shape [${sampleShape.join(",")}] (${sampleElements} values) but input ${what} is ${input.dtype}[${input.shape.join(",")}] (${want} values per sample)`);
  }
  const sampleBytes = sampleElements * FILE_BYTES[src.dtype];
  const size = statSync(src.path).size;
  const need = src.offset + count * sampleBytes;
  if (size < need) throw new DataError(`${src.source}: ${what} is truncated: ${count} samples of ${sampleBytes} bytes need ${need} bytes, the file has ${size}`);
  return { input, source: src.source, path: src.path, dtype: src.dtype, bigEndian: src.bigEndian, count, sampleShape, offset: src.offset, sampleBytes, sampleElements };
}

// ---- sources ---------------------------------------------------------------------------------

async function resolveSources(spec: string, inputs: readonly InputSpec[], cacheDir: string): Promise<Map<string, Source>> {
  const out = new Map<string, Source>();
  if (spec.includes("=")) {
    const seen = new Set<string>();
    for (const part of spec.split(",")) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw new DataError(`--data: expected INPUT=FILE[,INPUT=FILE...], got '${part}'`);
      const name = part.slice(0, eq).trim();
      let file = part.slice(eq + 1).trim();
      if (!inputs.some((i) => i.name === name)) throw new DataError(`--data: '${name}' is not an input of the model (inputs: ${inputs.map((i) => i.name).join(", ")})`);
      if (seen.has(name)) throw new DataError(`--data: '${name}' is mapped twice`);
      seen.add(name);
      let tensor = name;
      const colon = /^(.*\.safetensors):([^/\\]+)$/.exec(file);
      if (colon) [file, tensor] = [colon[1], colon[2]];
      out.set(name, await openSource(file, tensor, cacheDir));
    }
    const missing = inputs.filter((i) => !out.has(i.name));
    if (missing.length > 0) throw new DataError(`--data ${spec}: missing tensor for input ${missing.map((m) => `'${m.name}' (${m.dtype}[${m.shape.join(",")}])`).join(", ")}`);
    return out;
  }
  let st;
  try {
    st = statSync(spec);
  } catch (e) {
    throw new DataError(`cannot read ${spec}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (st.isDirectory()) {
    const files = readdirSync(spec);
    for (const i of inputs) {
      const file = [`${i.name}.npy`, `${i.name}.npy.gz`].find((f) => files.includes(f));
      if (!file) throw new DataError(`${spec}: missing tensor '${i.name}' (${i.dtype}[${i.shape.join(",")}]): no ${i.name}.npy in the directory`);
      out.set(i.name, await openSource(join(spec, file), i.name, cacheDir));
    }
    return out;
  }
  const kind = sniff(await maybeDecompressed(spec, cacheDir));
  if (kind !== "safetensors") {
    if (inputs.length > 1) throw new DataError(`${spec}: a ${kind} file holds one tensor; map files to the model's inputs: --data ${inputs.map((i) => `${i.name}=FILE`).join(",")}`);
  }
  for (const i of inputs) out.set(i.name, await openSource(spec, i.name, cacheDir));
  return out;
}

type Kind = "safetensors" | "npy" | "idx";

/** The decompressed path of `file` (itself unless gzip). */
async function maybeDecompressed(file: string, cacheDir: string): Promise<string> {
  let head: Buffer;
  try {
    head = readHead(file, 2);
  } catch (e) {
    throw new DataError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (head.length === 2 && head[0] === 0x1f && head[1] === 0x8b) return gunzipToCache(file, cacheDir);
  return file;
}

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function sniff(path: string): Kind {
  const head = readHead(path, 16);
  if (head.length >= 6 && head[0] === 0x93 && head.subarray(1, 6).toString("latin1") === "NUMPY") return "npy";
  if (head.length >= 4 && head[0] === 0 && head[1] === 0 && IDX_TYPES[head[2]] !== undefined) return "idx";
  if (head.length >= 9 && head[8] === 0x7b /* { */) return "safetensors";
  throw new DataError(`${path}: not a safetensors, .npy or IDX file (gzip-compressed or not)`);
}

async function openSource(file: string, tensor: string, cacheDir: string): Promise<Source> {
  const path = await maybeDecompressed(file, cacheDir);
  const kind = sniff(path);
  const parsed = kind === "npy" ? parseNpy(path) : kind === "idx" ? parseIdx(path) : parseSafetensors(path, tensor);
  return { source: file, path, ...parsed };
}

const IDX_TYPES: Record<number, FileDtype | undefined> = { 0x08: "u8", 0x09: "i8", 0x0b: "i16", 0x0c: "i32", 0x0d: "f32", 0x0e: "f64" };

function parseIdx(path: string): Omit<Source, "source" | "path"> {
  const head = readHead(path, 4);
  const dtype = IDX_TYPES[head[2]]!;
  const dims = head[3];
  const all = readHead(path, 4 + 4 * dims);
  if (all.length < 4 + 4 * dims) throw new DataError(`${path}: IDX header is truncated`);
  const shape = Array.from({ length: dims }, (_, i) => all.readUInt32BE(4 + 4 * i));
  return { dtype, bigEndian: true, shape, offset: 4 + 4 * dims };
}

const NPY_DTYPES: Record<string, FileDtype> = { f8: "f64", f4: "f32", i8: "i64", i4: "i32", i2: "i16", u2: "u16", i1: "i8", u1: "u8", b1: "bool" };

function parseNpy(path: string): Omit<Source, "source" | "path"> {
  const head = readHead(path, 12);
  const major = head[6];
  const lenBytes = major === 1 ? 2 : 4;
  if (head.length < 8 + lenBytes) throw new DataError(`${path}: .npy header is truncated`);
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const offset = 8 + lenBytes + headerLen;
  const all = readHead(path, offset);
  if (all.length < offset) throw new DataError(`${path}: .npy header is truncated`);
  const header = all.subarray(8 + lenBytes).toString("latin1");
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText) throw new DataError(`${path}: cannot read the .npy header ${JSON.stringify(header.trim())}`);
  const dtype = NPY_DTYPES[descr[2]];
  if (!dtype) throw new DataError(`${path}: .npy dtype '${descr[1]}${descr[2]}' is not supported (f8, f4, i8, i4, i2, u2, i1, u1, b1)`);
  const shape = shapeText[1].split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (fortran[1] === "True" && shape.length > 1) throw new DataError(`${path}: Fortran-order .npy arrays are not supported (save with np.ascontiguousarray)`);
  return { dtype, bigEndian: descr[1] === ">", shape, offset };
}

const SAFE_DTYPES: Record<string, FileDtype> = { F64: "f64", F32: "f32", I64: "i64", I32: "i32", I16: "i16", U16: "u16", I8: "i8", U8: "u8", BOOL: "bool" };

function parseSafetensors(path: string, tensor: string): Omit<Source, "source" | "path"> {
  const head = readHead(path, 8);
  if (head.length < 8) throw new DataError(`${path}: not a valid safetensors file: ${head.length} bytes is too short`);
  const headerLen = Number(head.readBigUInt64LE(0));
  const size = statSync(path).size;
  if (headerLen > size - 8) throw new DataError(`${path}: truncated: the safetensors header length ${headerLen} exceeds the file (${size} bytes)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(readHead(path, 8 + headerLen).subarray(8).toString("utf8"));
  } catch (e) {
    throw new DataError(`${path}: not a valid safetensors file: the header is not JSON (${(e as Error).message})`);
  }
  // Own keys only: an input may be named `constructor`, which every parsed object inherits.
  const entry = Object.hasOwn(header, tensor) ? header[tensor] : undefined;
  if (!entry || tensor === "__metadata__") {
    const names = Object.keys(header).filter((n) => n !== "__metadata__");
    throw new DataError(`${path}: missing tensor '${tensor}' (the file has ${names.join(", ") || "none"})`);
  }
  const dtype = Object.hasOwn(SAFE_DTYPES, entry.dtype) ? SAFE_DTYPES[entry.dtype] : undefined;
  if (!dtype) throw new DataError(`${path}: tensor '${tensor}' has dtype ${entry.dtype}, which mlc train does not read (F64, F32, I64, I32, I16, U16, I8, U8, BOOL)`);
  const [begin, end] = entry.data_offsets;
  const bytes = entry.shape.reduce((a, b) => a * b, 1) * FILE_BYTES[dtype];
  if (end - begin !== bytes) throw new DataError(`${path}: tensor '${tensor}' (${entry.dtype}[${entry.shape.join(",")}]) spans ${end - begin} bytes, not ${bytes}`);
  const offset = 8 + headerLen + begin;
  if (offset + bytes > size) throw new DataError(`${path}: tensor '${tensor}' is truncated: it needs bytes up to ${offset + bytes}, the file has ${size}`);
  return { dtype, bigEndian: false, shape: entry.shape, offset };
}

// ---- gzip cache ------------------------------------------------------------------------------

/** Decompresses `file` once into the cache (streaming; temp name, fsync, rename); returns its path. */
export async function gunzipToCache(file: string, cacheDir: string): Promise<string> {
  const st = statSync(file);
  const key = createHash("sha256").update(`${resolve(file)}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 16);
  const target = join(cacheDir, `${basename(file).replace(/\.gz$/i, "")}.${key}`);
  if (existsSync(target)) return target;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await pipeline(createReadStream(file), createGunzip(), createWriteStream(tmp));
    const fd = openSync(tmp, "r+");
    try {
      fsyncSync(fd);
      if (fstatSync(fd).size === 0) throw new Error("it decompresses to nothing");
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // not written
    }
    throw new DataError(`${file}: cannot decompress: ${(e as Error).message} (a truncated or corrupt gzip file?)`);
  }
  return target;
}
