"""PyTorch's affine quantization as an independent oracle for mlc's quantization ops.

Reads a JSON list of cases on stdin and writes a JSON list of results (same order) on stdout.
Every float is an f32 value written as a JSON number (exact both ways). Cases:

  {"kind": "quantize", "x": [...], "shape": [...], "scale": [...], "zeroPoint": [...],
   "axis": null | int, "dtype": "i8" | "u8"}
      -> {"q": [...]}  torch.quantize_per_tensor / quantize_per_channel, then int_repr()
  {"kind": "fakeQuant", "x", "shape", "scale", "zeroPoint", "axis", "qmin": int, "qmax": int,
   "dy": [...]}
      -> {"y": [...], "dx": [...]}  torch.fake_quantize_per_{tensor,channel}_affine and its
      gradient for the cotangent dy
  {"kind": "matmulInteger", "a": [...], "aShape": [M, K], "w": [...], "wShape": [K, N]}
      -> {"y": [...]}  int8/uint8 values multiplied with int32 accumulation (torch.matmul on int32)
  {"kind": "convInteger", "x": [...], "xShape": [N, H, W, C], "w": [...], "wShape": [kh, kw, C/g, O],
   "zeroPoint": int, "pads": [top, bottom, left, right], "stride": [sh, sw], "dilation": [dh, dw],
   "groups": int}
      -> {"y": [...]}  ONNX ConvInteger's definition: x padded with its zero point, minus the zero
      point, convolved with w (torch.nn.functional.conv2d in float64, exact at these sizes), NHWC

Debian's python3-torch (1.13) on the CPU; nothing else.
"""

import json
import sys

import torch

QDTYPES = {"i8": torch.qint8, "u8": torch.quint8}


def quantize(c):
    x = torch.tensor(c["x"], dtype=torch.float32).reshape(c["shape"])
    qdtype = QDTYPES[c["dtype"]]
    if c["axis"] is None:
        q = torch.quantize_per_tensor(x, float(c["scale"][0]), int(c["zeroPoint"][0]), qdtype)
    else:
        scales = torch.tensor(c["scale"], dtype=torch.float64)
        zero_points = torch.tensor(c["zeroPoint"], dtype=torch.int64)
        q = torch.quantize_per_channel(x, scales, zero_points, c["axis"], qdtype)
    return {"q": q.int_repr().reshape(-1).tolist()}


def fake_quant(c):
    x = torch.tensor(c["x"], dtype=torch.float32).reshape(c["shape"]).requires_grad_(True)
    if c["axis"] is None:
        y = torch.fake_quantize_per_tensor_affine(x, float(c["scale"][0]), int(c["zeroPoint"][0]), c["qmin"], c["qmax"])
    else:
        scales = torch.tensor(c["scale"], dtype=torch.float32)
        zero_points = torch.tensor(c["zeroPoint"], dtype=torch.int32)
        y = torch.fake_quantize_per_channel_affine(x, scales, zero_points, c["axis"], c["qmin"], c["qmax"])
    y.backward(torch.tensor(c["dy"], dtype=torch.float32).reshape(c["shape"]))
    return {"y": y.detach().reshape(-1).tolist(), "dx": x.grad.reshape(-1).tolist()}


def matmul_integer(c):
    a = torch.tensor(c["a"], dtype=torch.int32).reshape(c["aShape"])
    w = torch.tensor(c["w"], dtype=torch.int32).reshape(c["wShape"])
    return {"y": torch.matmul(a, w).reshape(-1).tolist()}


def conv_integer(c):
    x = torch.tensor(c["x"], dtype=torch.float64).reshape(c["xShape"]).permute(0, 3, 1, 2)
    w = torch.tensor(c["w"], dtype=torch.float64).reshape(c["wShape"]).permute(3, 2, 0, 1)
    top, bottom, left, right = c["pads"]
    padded = torch.nn.functional.pad(x, (left, right, top, bottom), value=float(c["zeroPoint"]))
    y = torch.nn.functional.conv2d(padded - c["zeroPoint"], w, stride=c["stride"], dilation=c["dilation"], groups=c["groups"])
    return {"y": [int(v) for v in y.permute(0, 2, 3, 1).reshape(-1).tolist()]}


KINDS = {"quantize": quantize, "fakeQuant": fake_quant, "matmulInteger": matmul_integer, "convInteger": conv_integer}


def main():
    cases = json.load(sys.stdin)
    json.dump([KINDS[c["kind"]](c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
