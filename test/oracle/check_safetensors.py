"""safetensors_io against mlc's own codec (runtime/safetensors.ts), both directions, every dtype.

Python writes a file that mlc's decoder must read back bit for bit (16-bit floats compared as raw
bit patterns), and mlc's encoder writes a file that safetensors_io must read back, with the same
header bytes layout (8-byte aligned data section). The node side reads with a plain Uint8Array so
this checks the format, not file I/O.
"""

import json
import os
import subprocess

import numpy as np

import safetensors_io
from fixtures import REPO

# The last two BF16 values lie halfway between two bf16 numbers: round to nearest even picks
# 0x3f80 (1.0) and 0x3f82 (1 + 2^-6); BF16_BITS are the patterns the file must hold.
BF16_BITS = ["16256", "49216", "8", "16256", "16258"]
SAMPLES = {
    "f64": (np.arange(6, dtype=np.float64).reshape(2, 3) / 7, "F64"),
    "f32": (np.float32([1.5, -2.25, 1e-40]), "F32"),
    "f16": (np.float16([0.5, 65504, -6e-8]), "F16"),
    "bf16": (np.float32([1.0, -3.0, 2.0 ** -130, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8]), "BF16"),
    "i64": (np.int64([-(2 ** 40), 7]), "I64"),
    "i32": (np.int32([[-1], [2 ** 31 - 1]]), "I32"),
    "i16": (np.int16([-32768, 5]), "I16"),
    "i8": (np.int8([-128, 127]), "I8"),
    "u8": (np.uint8([0, 255]), "U8"),
    "bool": (np.array([True, False, True]), "BOOL"),
    "scalar": (np.float64(3.0), "F64"),
    "empty": (np.zeros((0, 4), dtype=np.float32), "F32"),
}

_NODE_DECODE = """
import("./runtime/safetensors.ts").then(({ decodeSafetensors }) => {
  const bytes = new Uint8Array(require("node:fs").readFileSync(process.argv[1]));
  const { tensors, metadata } = decodeSafetensors(bytes);
  const out = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = { dtype: t.dtype, shape: t.shape, data: Array.from(t.data, String) };
  console.log(JSON.stringify({ tensors: out, metadata }));
});
"""

_NODE_ENCODE = """
import("./runtime/safetensors.ts").then(({ encodeSafetensors }) => {
  const t = {
    a: { dtype: "F64", shape: [3], data: Float64Array.of(0.1, -2, 1e300) },
    b: { dtype: "I32", shape: [1, 2], data: Int32Array.of(-5, 9) },
    c: { dtype: "BF16", shape: [2], data: Uint16Array.of(0x3f80, 0xc040) },
    d: { dtype: "BOOL", shape: [2], data: Uint8Array.of(1, 0) },
  };
  require("node:fs").writeFileSync(process.argv[1], encodeSafetensors(t, { from: "mlc" }));
});
"""
_ENCODED_BY_MLC = {
    "a": np.float64([0.1, -2, 1e300]), "b": np.int32([[-5, 9]]), "c": np.float32([1.0, -3.0]), "d": np.array([True, False]),
}


def _node(script, path):
    done = subprocess.run(["node", "--import", "tsx", "-e", script, path], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"node failed: {done.stderr.strip()}")
    return done.stdout


def _raw_bits(value, dtype):
    """Stored element values as strings, the way the node side prints them."""
    a = np.asarray(value)
    if dtype == "F16":
        a = a.astype(np.float16).view(np.uint16)
    elif dtype == "BF16":
        return BF16_BITS
    elif dtype == "BOOL":
        a = a.astype(np.uint8)
    return [repr(float(x)) if a.dtype.kind == "f" else str(int(x)) for x in a.reshape(-1)]


def _same_number_text(ours, theirs, dtype):
    if dtype in ("F64", "F32"):
        return all(float(a) == float(b) for a, b in zip(ours, theirs)) and len(ours) == len(theirs)
    return ours == theirs


def check_safetensors(workdir):
    """(problems, report lines)."""
    problems = []
    path = os.path.join(workdir, "python-written.safetensors")
    safetensors_io.save(path, {n: v for n, (v, _) in SAMPLES.items()}, {"from": "python"},
                        dtypes={n: d for n, (_, d) in SAMPLES.items()})
    decoded = json.loads(_node(_NODE_DECODE, path))
    if decoded["metadata"] != {"from": "python"}:
        problems.append(f"mlc read metadata {decoded['metadata']}")
    for name, (value, dtype) in SAMPLES.items():
        got = decoded["tensors"].get(name)
        want = _raw_bits(value, dtype)
        if not got or got["dtype"] != dtype or got["shape"] != list(np.shape(value)) or not _same_number_text(want, got["data"], dtype):
            problems.append(f"mlc read our '{name}' as {got}, want {dtype}{list(np.shape(value))} {want}")

    path = os.path.join(workdir, "mlc-written.safetensors")
    _node(_NODE_ENCODE, path)
    tensors, metadata = safetensors_io.load_with_metadata(path)
    if metadata != {"from": "mlc"} or set(tensors) != set(_ENCODED_BY_MLC):
        problems.append(f"read mlc's file as {sorted(tensors)} with metadata {metadata}")
    for name, want in _ENCODED_BY_MLC.items():
        if name in tensors and (tensors[name].dtype != want.dtype or not np.array_equal(tensors[name], want)):
            problems.append(f"read mlc's '{name}' as {tensors[name]!r}, want {want!r}")
    lines = [f"  safetensors_io vs runtime/safetensors.ts, both directions, {len(SAMPLES)} tensors: {'ok' if not problems else 'FAILED'}"]
    return problems, lines
