// Reading files next to a generated bundle, the safetensors codec and the checks of a weights
// file against the MANIFEST's params, shared by every bundle runtime (runtime/bundle-runtime.js
// for wasm-simd, compiler/codegen-wgsl/bundle-runtime.js for WebGPU). Plain functions with no
// imports or exports: each bundle writer inlines this file after its runtime (which defines
// MANIFEST), so a bundle stays one self-contained module.

/**
 * Each IR dtype's safetensors code and the typed array a bundle holds it in (f16/bf16: their raw
 * 16-bit patterns). A literal copy of those two columns of compiler/ir/dtypes.ts's DTYPE_INFO,
 * since a bundle imports nothing; test/ir/dtypes.test.ts keeps the two equal.
 */
const DTYPE_TABLE = { f32: ["F32", Float32Array], f16: ["F16", Uint16Array], bf16: ["BF16", Uint16Array], i32: ["I32", Int32Array], i8: ["I8", Int8Array], u8: ["U8", Uint8Array], bool: ["BOOL", Uint8Array] };

/** Safetensors dtype names of the IR dtypes. */
const SAFE_OF = Object.fromEntries(Object.entries(DTYPE_TABLE).map(([dtype, [code]]) => [dtype, code]));

/** The typed array constructor holding `dtype`'s elements. */
function typedArrayOf(dtype) {
  return DTYPE_TABLE[dtype][1];
}

/**
 * The tensors of a safetensors file with the params they fill; each must be a param of this
 * model with its exact dtype and shape, all checked before the caller writes any.
 */
function checkedWeights(bytes) {
  const tensors = decodeSafetensors(toBytes(bytes));
  const byName = new Map(MANIFEST.params.map((p) => [p.name, p]));
  const skipped = tensors.filter((t) => !byName.has(t.name) && isTrainingState(t.name));
  if (skipped.length > 0 && !warnedTrainingState) {
    warnedTrainingState = true;
    console.warn(`${MANIFEST.name}: weights: ignoring ${skipped.length} training-state tensors (${skipped[0].name}${skipped.length > 1 ? ", ..." : ""}) that this bundle does not have`);
  }
  for (const t of tensors) {
    const p = byName.get(t.name);
    if (!p && isTrainingState(t.name)) continue;
    if (!p) throw new Error(`weights: '${t.name}' is not a param of ${MANIFEST.name} (params: ${[...byName.keys()].join(", ")})`);
    if (t.dtype !== SAFE_OF[p.dtype] || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(`weights: '${t.name}' must be ${p.dtype}[${p.shape.join(",")}] (safetensors ${SAFE_OF[p.dtype]}), got ${t.dtype}[${t.shape.join(",")}]`);
    }
  }
  return tensors.filter((t) => byName.has(t.name)).map((t) => ({ param: byName.get(t.name), bytes: t.bytes }));
}

/** Optimizer state and gradient accumulators (opt/*, acc/*): in a training checkpoint, not in a forward bundle. */
function isTrainingState(name) {
  return name.startsWith("opt/") || name.startsWith("acc/");
}

let warnedTrainingState = false;

/** A file next to this module: with fs in Node (imported only when needed), fetch elsewhere. */
async function readNextToBundle(file) {
  const url = new URL(file, import.meta.url);
  if (url.protocol === "file:") {
    const { readFile } = await import("fs/promises");
    return new Uint8Array(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function toBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new TypeError("weights must be a Uint8Array or an ArrayBuffer");
}

/** [u64 header length][JSON header, space-padded to 8 bytes][data]; tensors in the given order. */
function encodeSafetensors(tensors) {
  // Null prototype: a param named `__proto__` must be a key of the header, not its prototype.
  const header = Object.create(null);
  let end = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [end, end + t.data.byteLength] };
    end += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + end);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.fill(0x20, 8, 8 + headerBytes);
  out.set(json, 8);
  let at = 8 + headerBytes;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** The tensors of a safetensors file as { name, dtype, shape, bytes }, checked against the format. */
function decodeSafetensors(bytes) {
  const fail = (why) => {
    throw new Error(`weights: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short`);
  const headerBytes = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerBytes > BigInt(bytes.length - 8)) fail(`the header length ${headerBytes} exceeds the file`);
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + Number(headerBytes))));
  } catch (e) {
    fail(`the header is not UTF-8 JSON (${e.message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("the header is not a JSON object");
  const data = bytes.subarray(8 + Number(headerBytes));
  const tensors = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: span } = entry ?? {};
    if (typeof dtype !== "string" || !Object.hasOwn(SAFE_BYTES, dtype)) fail(`'${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`'${name}' has a bad shape`);
    if (!Array.isArray(span) || span.length !== 2 || !span.every((d) => Number.isInteger(d) && d >= 0)) fail(`'${name}' has bad data_offsets`);
    const want = shape.reduce((a, b) => a * b, 1) * SAFE_BYTES[dtype];
    if (span[1] - span[0] !== want || span[1] > data.length) fail(`'${name}' (${dtype}[${shape.join(",")}]) needs ${want} bytes inside the data section`);
    tensors.push({ name, dtype, shape, begin: span[0], bytes: data.subarray(span[0], span[1]) });
  }
  // The format forbids holes and overlaps: the spans tile the data section exactly.
  let at = 0;
  for (const t of [...tensors].sort((a, b) => a.begin - b.begin)) {
    if (t.begin !== at) fail(`the data section has a hole or an overlap at '${t.name}'`);
    at += t.bytes.length;
  }
  if (at !== data.length) fail("the data section has trailing bytes");
  return tensors;
}

/**
 * A frozen object of `list`'s tensors by name, `valueOf(t)` each: with a null prototype, so a
 * tensor may be named `__proto__`, and `constructor` or `toString` is not there unless a tensor
 * is named so (the API's inputs, outputs and params).
 */
function byName(list, valueOf) {
  const out = Object.create(null);
  for (const t of list) out[t.name] = valueOf(t);
  return Object.freeze(out);
}
