"""safetensors read/write for numpy and torch, exactly to the format's spec (no third-party package).

    [u64 little-endian N][N bytes of UTF-8 JSON header][data section]

The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
relative to the data section) plus an optional "__metadata__" map of strings. Tensors are
row-major and little-endian; the spans must tile the data section exactly (no holes, no overlaps).
The writer pads the header with spaces so the data section starts on an 8-byte boundary, as
mlc's runtime/safetensors.ts does.

numpy has no bfloat16, so BF16 tensors are read as float32 (exactly: bf16 is the top half of an
f32) and written from float32 with round-to-nearest-even (torch's conversion). BOOL is numpy bool.
"""

import json
import struct

import numpy as np

# safetensors dtype -> little-endian numpy dtype of the stored elements (BF16: raw 16-bit words).
_STORED = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# numpy dtype -> safetensors dtype, for arrays saved without an explicit dtype.
_FROM_NUMPY = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


class SafetensorsError(ValueError):
    pass


def _bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _f32_to_bf16_bits(values):
    import torch  # only BF16 writing needs torch (its conversion rounds to nearest even)

    t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16)


def _to_numpy(value):
    """A torch tensor or array-like as a numpy array; torch bfloat16 becomes float32 (exact)."""
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch for numpy-only callers
        import torch

        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            return value.to(torch.float32).numpy(), "BF16"
        return value.numpy(), None
    return np.asarray(value), None


def encode(tensors, metadata=None, dtypes=None):
    """Serialises {name: array or torch tensor} in insertion order.

    `dtypes` optionally names the safetensors dtype of some tensors (e.g. {"w": "BF16"}); values
    are converted to it. By default the array's own dtype decides (torch bfloat16 stays BF16).
    """
    dtypes = dtypes or {}
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("__metadata__ must map strings to strings")
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved and cannot name a tensor")
        array, implied = _to_numpy(value)
        dtype = dtypes.get(name) or implied or _FROM_NUMPY.get(array.dtype)
        if dtype not in _STORED:
            raise SafetensorsError(f"tensor '{name}': cannot store numpy dtype {array.dtype} as {dtype!r}")
        if dtype == "BF16":
            raw = _f32_to_bf16_bits(array)
        else:
            raw = np.ascontiguousarray(array, dtype=_STORED[dtype])
        data = raw.tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def decode(blob):
    """Parses and validates a safetensors blob: returns ({name: numpy array}, metadata)."""
    if len(blob) < 8:
        raise SafetensorsError(f"file is {len(blob)} bytes, too short for the 8-byte header length")
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    if header_len > len(blob) - 8:
        raise SafetensorsError(f"header length {header_len} exceeds the file size {len(blob)}")
    try:
        header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header must be a JSON object")
    data = memoryview(blob)[8 + header_len :]
    metadata = {}
    tensors = {}
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise SafetensorsError("__metadata__ must be an object of strings")
            metadata = entry
            continue
        tensors[name] = _decode_entry(name, entry, data)
        spans.append((entry["data_offsets"][0], entry["data_offsets"][1], name))
    _check_coverage(spans, len(data))
    return tensors, metadata


def _is_index(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _decode_entry(name, entry, data):
    if not isinstance(entry, dict):
        raise SafetensorsError(f"tensor '{name}': entry must be an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _STORED:
        raise SafetensorsError(f"tensor '{name}': unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_index(d) for d in shape):
        raise SafetensorsError(f"tensor '{name}': bad shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_index(d) for d in offsets):
        raise SafetensorsError(f"tensor '{name}': bad data_offsets {offsets!r}")
    begin, end = offsets
    want = int(np.prod(shape, dtype=np.int64)) * _STORED[dtype].itemsize
    if end < begin or end - begin != want:
        raise SafetensorsError(f"tensor '{name}': {dtype}{shape} needs {want} bytes, data_offsets span {end - begin}")
    if end > len(data):
        raise SafetensorsError(f"tensor '{name}': data_offsets end {end} is past the data section ({len(data)} bytes)")
    raw = np.frombuffer(data[begin:end], dtype=_STORED[dtype]).reshape(shape).copy()
    if dtype == "BOOL" and raw.size and raw.view(np.uint8).max() > 1:
        raise SafetensorsError(f"tensor '{name}': BOOL bytes must be 0 or 1")
    return _bf16_bits_to_f32(raw) if dtype == "BF16" else raw


def _check_coverage(spans, data_len):
    at = 0
    for begin, end, name in sorted(spans):
        if begin < at:
            raise SafetensorsError(f"tensor '{name}' overlaps the previous tensor's bytes")
        if begin > at:
            raise SafetensorsError(f"data section has a hole before tensor '{name}' (bytes {at}..{begin})")
        at = end
    if at != data_len:
        raise SafetensorsError(f"data section has {data_len - at} trailing bytes no tensor covers")


def dtypes_of(blob):
    """{name: safetensors dtype} from a blob's header (decode() alone loses BF16 vs F32)."""
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    return {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}


def load(path):
    """{name: numpy array} from a .safetensors file."""
    with open(path, "rb") as f:
        return decode(f.read())[0]


def load_with_metadata(path):
    with open(path, "rb") as f:
        return decode(f.read())


def save(path, tensors, metadata=None, dtypes=None):
    """Writes {name: numpy array or torch tensor} to a .safetensors file (see encode)."""
    blob = encode(tensors, metadata, dtypes)
    with open(path, "wb") as f:
        f.write(blob)
