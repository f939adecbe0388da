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
 * The tensors of a safetensors file with the params they fill, all checked before the caller
 * writes any: each must be a param of this model with its exact dtype and shape, and finite
 * (unless `opts.allowNonFinite`); a file that fills no param is an error. Returns the writes and
 * the report loadWeights() returns: `loaded` (params the file fills), `missing` (params it does
 * not name: they keep their values) and `skipped` (training state this bundle does not have).
 */
function checkedWeights(bytes, opts = {}) {
  const tensors = decodeSafetensors(toBytes(bytes)).map(expandDeepCompressed);
  const byName = new Map(MANIFEST.params.map((p) => [p.name, p]));
  const skipped = tensors.filter((t) => !byName.has(t.name) && isTrainingState(t.name));
  if (skipped.length > 0 && !warnedTrainingState) {
    warnedTrainingState = true;
    console.warn(`${MANIFEST.name}: weights: ignoring ${skipped.length} training-state tensors (${skipped[0].name}${skipped.length > 1 ? ", ..." : ""}) that this bundle does not have`);
  }
  for (const t of tensors) {
    const p = byName.get(t.name);
    if (!p && isTrainingState(t.name)) continue;
    const what = t.from ? `'${t.name}' (decoded from '${t.from}')` : `'${t.name}'`;
    if (!p) throw new Error(`weights: ${what} is not a param of ${MANIFEST.name} (params: ${[...byName.keys()].join(", ")})`);
    if (t.dtype !== SAFE_OF[p.dtype] || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(`weights: ${what} must be ${p.dtype}[${p.shape.join(",")}] (safetensors ${SAFE_OF[p.dtype]}), got ${t.dtype}[${t.shape.join(",")}]`);
    }
  }
  const writes = tensors.filter((t) => byName.has(t.name)).map((t) => ({ param: byName.get(t.name), bytes: t.bytes }));
  if (writes.length === 0) {
    throw new Error(tensors.length === 0
      ? `weights: the file has no tensors: it would leave every param of ${MANIFEST.name} unset`
      : `weights: none of the file's ${tensors.length} tensors is a param of ${MANIFEST.name} (only training state it does not have: ${skipped.slice(0, 3).map((t) => t.name).join(", ")}${skipped.length > 3 ? ", ..." : ""})`);
  }
  if (!opts.allowNonFinite) for (const w of writes) checkFinite(w.param, w.bytes);
  for (const w of writes) if (w.param.indexRange) checkIndexParam(w.param, w.bytes);
  const loaded = new Set(writes.map((w) => w.param.name));
  return {
    writes,
    loaded: [...loaded],
    missing: MANIFEST.params.filter((p) => !loaded.has(p.name)).map((p) => p.name),
    skipped: skipped.map((t) => t.name),
  };
}

/**
 * A Deep Compression tensor `W/dc` (u8; written by `mlc build --compress`, format in
 * compiler/bundle/deep-compression.ts, whose decoder this one mirrors) as the dense f32 tensor `W`
 * it holds; any other tensor unchanged. Throws naming the tensor when it is malformed.
 */
function expandDeepCompressed(t) {
  if (!t.name.endsWith("/dc")) return t;
  const fail = (why) => {
    throw new Error(`weights: '${t.name}' is not a valid Deep Compression tensor: ${why}`);
  };
  if (t.dtype !== "U8" || t.shape.length !== 1) fail(`it must be a u8 vector, got ${t.dtype}[${t.shape.join(",")}]`);
  const bytes = t.bytes;
  if (bytes.length < 12) fail(`${bytes.length} bytes is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [version, bits, p, rank] = bytes.subarray(0, 4);
  if (version !== 1) fail(`version ${version} (this reader knows 1)`);
  if (bits < 1 || bits > 8 || p < 1 || p > 8) fail(`index bits ${bits} and position bits ${p} must be 1..8`);
  const symbols = view.getUint32(4, true);
  const nonzeros = view.getUint32(8, true);
  const head = 12 + 4 * rank;
  const entries = 2 ** bits;
  if (bytes.length < head + 4 * entries) fail(`${bytes.length} bytes is shorter than its header and codebook`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(12 + 4 * i, true));
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > 2 ** 28) fail(`its shape [${shape.join(",")}] is too large (over ${2 ** 28} elements)`);
  if (nonzeros > count) fail(`${nonzeros} nonzeros in ${count} elements`);
  if (symbols > count + nonzeros) fail(`${symbols} position symbols for ${count} elements`);
  const codebook = new Float32Array(entries);
  for (let i = 0; i < entries; i++) codebook[i] = view.getFloat32(head + 4 * i, true);
  const positions = readDeepCompressedStream(bytes, head + 4 * entries, symbols, p, "position", fail);
  const indices = readDeepCompressedStream(bytes, positions.end, nonzeros, bits, "index", fail);
  if (indices.end !== bytes.length) fail(`${bytes.length - indices.end} bytes after its streams`);
  const escape = 2 ** p - 1;
  const values = new Float32Array(count);
  let at = 0;
  let k = 0;
  for (let s = 0; s < symbols; s++) {
    const sym = positions.symbols[s];
    at += sym;
    if (sym === escape) continue;
    if (k >= nonzeros) fail(`its positions place more than its ${nonzeros} nonzeros`);
    if (at >= count) fail(`nonzero ${k} falls at element ${at}, past its ${count} elements`);
    values[at++] = codebook[indices.symbols[k++]];
  }
  if (k !== nonzeros) fail(`its positions place ${k} of its ${nonzeros} nonzeros`);
  return { name: t.name.slice(0, -3), from: t.name, dtype: "F32", shape, bytes: new Uint8Array(values.buffer) };
}

/** `n` symbols of `width` bits from a Deep Compression stream at `from` (fixed width or canonical Huffman), and where it ends. */
function readDeepCompressedStream(bytes, from, n, width, what, fail) {
  const MAX_CODE_LENGTH = 24;
  if (from >= bytes.length) fail(`its ${what} stream is missing`);
  const coding = bytes[from];
  if (coding === 0) {
    const end = from + 1 + Math.ceil((n * width) / 8);
    if (end > bytes.length) fail(`its ${what} stream of ${n} ${width}-bit symbols needs ${end - from} bytes, ${bytes.length - from} left`);
    const out = new Uint8Array(n);
    for (let i = 0, bit = 8 * (from + 1); i < n; i++) {
      let v = 0;
      for (let b = 0; b < width; b++, bit++) v |= ((bytes[bit >> 3] >> (bit & 7)) & 1) << b;
      out[i] = v;
    }
    return { symbols: out, end };
  }
  if (coding !== 1) fail(`its ${what} stream has coding ${coding} (0: fixed width, 1: Huffman)`);
  const alphabet = 2 ** width;
  if (from + 1 + alphabet + 4 > bytes.length) fail(`its ${what} stream's code lengths run past the end`);
  const lengths = bytes.subarray(from + 1, from + 1 + alphabet);
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(from + 1 + alphabet, true);
  const start = from + 1 + alphabet + 4;
  if (start + length > bytes.length) fail(`its ${what} stream's ${length} bytes run past the end`);
  if (n > 8 * length) fail(`its ${what} stream ends after ${8 * length} bits, too few for ${n} symbols`);
  const out = new Uint8Array(n);
  const perLength = new Uint32Array(MAX_CODE_LENGTH + 1);
  for (const l of lengths) {
    if (l > MAX_CODE_LENGTH) fail(`its ${what} stream has a code length ${l} (at most ${MAX_CODE_LENGTH})`);
    if (l > 0) perLength[l]++;
  }
  let left = 1;
  for (let l = 1; l <= MAX_CODE_LENGTH; l++) {
    left = left * 2 - perLength[l];
    if (left < 0) fail(`its ${what} stream's code lengths are over-subscribed`);
  }
  const order = [];
  for (let l = 1; l <= MAX_CODE_LENGTH; l++) for (let c = 0; c < alphabet; c++) if (lengths[c] === l) order.push(c);
  const data = bytes.subarray(start, start + length);
  let bit = 0;
  for (let i = 0; i < n; i++) {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let l = 1; ; l++) {
      if (l > MAX_CODE_LENGTH) fail(`its ${what} stream holds an invalid code at symbol ${i}`);
      if (bit >= 8 * length) fail(`its ${what} stream ends after ${i} of its ${n} symbols`);
      code |= (data[bit >> 3] >> (bit & 7)) & 1;
      bit++;
      const c = perLength[l];
      if (code - c < first) { out[i] = order[index + code - first]; break; }
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
  }
  return { symbols: out, end: start + length };
}

/** Element bytes and a reader of each integer dtype an index param may have. */
const INDEX_READS = {
  i32: [4, (v, k) => v.getInt32(k * 4, true)],
  u8: [1, (v, k) => v.getUint8(k)],
  i8: [1, (v, k) => v.getInt8(k)],
};

/**
 * Throws, naming the param and its first bad element, when an integer param that kernels read as
 * indices (a block-sparse weight's rows and column starts, a 2:4 weight's rows within its groups:
 * MANIFEST params[].indexRange) holds a
 * value outside [lo, hi): the kernels would read outside the tensors the structure indexes.
 */
function checkIndexParam(param, bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { lo, hi, what } = param.indexRange;
  const [size, read] = INDEX_READS[param.dtype];
  for (let k = 0; k < bytes.byteLength / size; k++) {
    const v = read(view, k);
    if (v >= lo && v < hi) continue;
    throw new Error(`weights: '${param.name}' holds ${v} at element ${k} (index [${unravel(k, param.shape).join(", ")}] of ${param.dtype}[${param.shape.join(",")}]), outside its valid range [${lo}, ${hi}) (${what}): the file does not hold this bundle's structure`);
  }
}

/**
 * Per float dtype: its element bytes and, from its raw little-endian bits, the name of a
 * non-finite value ("NaN", "Infinity", "-Infinity") or undefined for a finite one.
 */
const NON_FINITE = {
  f32: [4, (v, k) => { const x = v.getFloat32(k * 4, true); return Number.isFinite(x) ? undefined : String(x); }],
  f16: [2, (v, k) => halfNonFinite(v.getUint16(k * 2, true), 0x7c00)],
  bf16: [2, (v, k) => halfNonFinite(v.getUint16(k * 2, true), 0x7f80)],
};

/** A 16-bit float's non-finite name: exponent all ones (`exponent`), then the mantissa says NaN or ±Inf. */
function halfNonFinite(bits, exponent) {
  if ((bits & exponent) !== exponent) return undefined;
  if (bits & (0x7fff & ~exponent)) return "NaN";
  return bits & 0x8000 ? "-Infinity" : "Infinity";
}

/** Throws, naming the param and its first bad element, when a float param's bytes hold NaN or ±Inf. */
function checkFinite(param, bytes) {
  const rule = NON_FINITE[param.dtype];
  if (!rule) return;
  const [size, nonFinite] = rule;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / size;
  // Aligned f32 data (the usual case) is scanned as floats first, then element by element from the first bad one.
  const from = param.dtype === "f32" && bytes.byteOffset % 4 === 0 ? finitePrefix(new Float32Array(bytes.buffer, bytes.byteOffset, n)) : 0;
  for (let k = from; k < n; k++) {
    const word = nonFinite(view, k);
    if (word === undefined) continue;
    throw new Error(`weights: '${param.name}' holds ${word} at element ${k} (index [${unravel(k, param.shape).join(", ")}] of ${param.dtype}[${param.shape.join(",")}]); non-finite weights are rejected unless loaded with { allowNonFinite: true }`);
  }
}

/** How many leading elements of `floats` are finite (x - x is 0 exactly for finite x). */
function finitePrefix(floats) {
  const n = floats.length;
  let k = 0;
  while (k < n && floats[k] - floats[k] === 0) k++;
  return k;
}

/** The multi-dimensional index of flat element `k` of a row-major tensor of `shape`. */
function unravel(k, shape) {
  const index = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return index;
}

/**
 * Throws before entry `entry` runs (called as `call`, e.g. "trainStep") when an input its kernels
 * read as indices (MANIFEST inputs[].indexRange, derived by compiler/bundle/index-ranges.ts) holds
 * a value outside [lo, hi): a WASM kernel would trap half way through the call and a WGSL one read
 * 0. Nothing has run then, so the model's params and optimizer state are as before the call.
 * `arrayOf(input)`: the input's host array.
 */
function checkIndexInputs(entry, call, arrayOf) {
  for (const input of MANIFEST.inputs) {
    const range = input.indexRange;
    if (!range || !range.entries.includes(entry)) continue;
    const data = arrayOf(input);
    const { lo, hi } = range;
    for (let k = 0; k < data.length; k++) {
      const v = data[k];
      if (v >= lo && v < hi) continue;
      const at = `element ${k} (index [${unravel(k, input.shape).join(", ")}] of ${input.dtype}[${input.shape.join(",")}])`;
      throw new RangeError(`${MANIFEST.name}.${call}(): input '${input.name}' holds ${v} at ${at}, outside its valid range [${lo}, ${hi}) (${range.what}); nothing ran and the model's state is unchanged`);
    }
  }
}

/**
 * load()'s weights: `opts.weights` when given, else the bundle's own file. Params a given file
 * does not name take their initial values from the bundle's own file (read only then), so none
 * is left zero; a warning lists the model's params among them (fresh optimizer state, opt/* and
 * acc/*, is the usual case and goes unsaid). `opts.allowNonFinite` as in loadWeights().
 */
async function loadInitialWeights(model, opts) {
  const loadOpts = { allowNonFinite: opts.allowNonFinite === true };
  if (opts.weights === undefined) return model.loadWeights(await readNextToBundle(MANIFEST.files.weights), loadOpts);
  const given = checkedWeights(opts.weights, loadOpts);
  if (given.missing.length > 0) {
    let initial;
    try {
      initial = await readNextToBundle(MANIFEST.files.weights);
    } catch (e) {
      throw new Error(`weights: the given file leaves ${given.missing.length} params unset (${given.missing.slice(0, 5).join(", ")}${given.missing.length > 5 ? ", ..." : ""}) and their initial values (${MANIFEST.files.weights} next to the bundle) cannot be read: ${e.message}`);
    }
    model.loadWeights(initial, loadOpts);
    const params = given.missing.filter((name) => !isTrainingState(name));
    if (params.length > 0) console.warn(`${MANIFEST.name}: weights: ${params.length} params are not in the given file and keep their initial values: ${params.join(", ")}`);
  }
  return model.loadWeights(opts.weights, loadOpts);
}

/** Optimizer state, gradient accumulators, pruning masks and QAT ranges (opt/*, acc/*, prune/*, qat/*): in a training checkpoint, not in a forward bundle. */
function isTrainingState(name) {
  return name.startsWith("opt/") || name.startsWith("acc/") || name.startsWith("prune/") || name.startsWith("qat/");
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
