// safetensors, read and written exactly to the format's spec, with no dependencies so that it can
// be inlined into generated bundles:
//
//   [u64 little-endian N][N bytes of UTF-8 JSON header, space-padded][data bytes]
//
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative
// to the start of the data section) plus an optional "__metadata__" string map. Tensors are
// row-major and little-endian; the data section must be covered exactly, with no holes and no
// overlaps. We pad the header so the data section starts on an 8-byte boundary.
//
// Tensor names are the user's: every object keyed by them has a null prototype, so `__proto__` is
// an ordinary key and `constructor` or `toString` is never found by inheritance.

export type SafeDType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export type SafeData = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  /** F16 and BF16 hold raw 16-bit patterns; BOOL holds 0/1 bytes. */
  data: SafeData;
}

const ELEMENT_BYTES: Record<SafeDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function viewAs(dtype: SafeDType, bytes: Uint8Array): SafeData {
  // Copy into a fresh, aligned buffer: the source offset may not be aligned for the element size.
  // (Not bytes.slice(): on a Node Buffer that is a view into a shared pool, not a copy.)
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const buf = copy.buffer;
  switch (dtype) {
    case "F64": return new Float64Array(buf);
    case "F32": return new Float32Array(buf);
    case "F16": case "BF16": return new Uint16Array(buf);
    case "I64": return new BigInt64Array(buf);
    case "I32": return new Int32Array(buf);
    case "I16": return new Int16Array(buf);
    case "I8": return new Int8Array(buf);
    case "U8": case "BOOL": return new Uint8Array(buf);
  }
}

/** Serialises tensors (in the given order) and optional string metadata. */
export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new SafetensorsError("'__metadata__' is the format's metadata key, not a tensor name");
    if (!isSafeDType(t.dtype)) throw new SafetensorsError(`tensor '${name}': unknown dtype ${t.dtype}`);
    const bytes = numelOf(t.shape) * ELEMENT_BYTES[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new SafetensorsError(
        `tensor '${name}': ${t.dtype}[${t.shape.join(",")}] needs ${bytes} bytes, data has ${t.data.byteLength}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Record<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Parses and validates a safetensors file; every violation of the format is a SafetensorsError. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (bytes.length < 8) throw new SafetensorsError(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) throw new SafetensorsError(`header length ${n} exceeds the file size ${bytes.length}`);
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new SafetensorsError(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError("header must be a JSON object");
  }
  const data = bytes.subarray(8 + headerLen);
  const tensors: Record<string, SafeTensor> = Object.create(null);
  let metadata: Record<string, string> = Object.create(null);
  const spans: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(entry);
      continue;
    }
    const { dtype, shape, data_offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isSafeDType(dtype)) throw new SafetensorsError(`tensor '${name}': unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor '${name}': bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor '${name}': bad data_offsets ${JSON.stringify(data_offsets)}`);
    }
    const [begin, end] = data_offsets as [number, number];
    const want = numelOf(shape) * ELEMENT_BYTES[dtype as SafeDType];
    if (end < begin || end - begin !== want) {
      throw new SafetensorsError(`tensor '${name}': ${dtype}[${shape.join(",")}] needs ${want} bytes, data_offsets span ${end - begin}`);
    }
    if (end > data.length) throw new SafetensorsError(`tensor '${name}': data_offsets end ${end} is past the data section (${data.length} bytes)`);
    spans.push([begin, end, name]);
    tensors[name] = { dtype: dtype as SafeDType, shape: shape as number[], data: viewAs(dtype as SafeDType, data.subarray(begin, end)) };
  }
  checkCoverage(spans, data.length);
  return { tensors, metadata };
}

function checkMetadata(entry: unknown): Record<string, string> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new SafetensorsError("__metadata__ must be an object of strings");
  const metadata: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== "string") throw new SafetensorsError(`__metadata__.${k} must be a string`);
    metadata[k] = v;
  }
  return metadata;
}

/** An own key of the table: `"constructor" in ELEMENT_BYTES` is true. */
function isSafeDType(dtype: unknown): dtype is SafeDType {
  return typeof dtype === "string" && Object.hasOwn(ELEMENT_BYTES, dtype);
}

/** The spec forbids holes and overlaps: sorted spans must tile [0, dataLength) exactly. */
function checkCoverage(spans: Array<[number, number, string]>, dataLength: number): void {
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin < at) throw new SafetensorsError(`tensor '${name}' overlaps the previous tensor's bytes`);
    if (begin > at) throw new SafetensorsError(`data section has a hole before tensor '${name}' (bytes ${at}..${begin})`);
    at = end;
  }
  if (at !== dataLength) throw new SafetensorsError(`data section has ${dataLength - at} trailing bytes no tensor covers`);
}
