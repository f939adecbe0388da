"""PyTorch's own post-training quantization of mlc's CNN weights (examples/cnn): the twin of
`mlc build --quantize int8` for bench/quant.ts's Fashion-MNIST part, as ptq_mlp.py is for the MLP.

    /usr/bin/python3 test/oracle/ptq_cnn.py WEIGHTS CALIB TEST

WEIGHTS: an mlc weights file of examples/cnn (conv1.w [3,3,1,C], conv1.b, conv2.w [3,3,C,2C],
conv2.b, fc.w [7*7*2C, 10], fc.b). CALIB: `x` [S, 784] f32 images. TEST: `x` [T, 784] f32 and `y`
[T] i32 labels.

Builds the same network from torch.nn modules (NCHW: conv weights HWIO -> OIHW, padding 1 for
the 3x3 "same" convolutions; fc.w's rows are in mlc's NHWC flattening order (h, w, c), so they
are permuted to torch's (c, h, w) once here), fuses Conv2d+ReLU, and quantizes it with
torch.ao.quantization's eager static PTQ under the fbgemm and onednn qconfigs (ptq_mlp.py says
how they differ), on the onednn engine. Writes the same JSON as ptq_mlp.py.
"""

import json
import sys

import torch
from torch.ao import quantization as tq

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from safetensors_io import load  # noqa: E402
from ptq_mlp import accuracies, calibrated  # noqa: E402


def conv(weights, name):
    w = torch.tensor(weights[f"{name}.w"], dtype=torch.float32)  # [kh, kw, C, O]
    m = torch.nn.Conv2d(w.shape[2], w.shape[3], kernel_size=(w.shape[0], w.shape[1]), padding=(w.shape[0] // 2, w.shape[1] // 2))
    with torch.no_grad():
        m.weight.copy_(w.permute(3, 2, 0, 1))
        m.bias.copy_(torch.tensor(weights[f"{name}.b"], dtype=torch.float32))
    return m


def network(weights):
    fc_w = torch.tensor(weights["fc.w"], dtype=torch.float32)  # [(h, w, c), classes]
    channels = torch.tensor(weights["conv2.w"]).shape[3]
    side = int(round((fc_w.shape[0] // channels) ** 0.5))
    rows = fc_w.reshape(side, side, channels, -1).permute(2, 0, 1, 3).reshape(fc_w.shape[0], -1)
    fc = torch.nn.Linear(fc_w.shape[0], fc_w.shape[1])
    with torch.no_grad():
        fc.weight.copy_(rows.t())
        fc.bias.copy_(torch.tensor(weights["fc.b"], dtype=torch.float32))
    return torch.nn.Sequential(
        tq.QuantStub(),
        conv(weights, "conv1"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        conv(weights, "conv2"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), fc, tq.DeQuantStub(),
    ).eval()


def quantized(f32, calib, qconfig):
    import copy
    return calibrated(tq.fuse_modules(copy.deepcopy(f32), [["1", "2"], ["4", "5"]]), calib, qconfig)


def main():
    weights_path, calib_path, test_path = sys.argv[1:4]
    torch.backends.quantized.engine = "onednn"
    weights = load(weights_path)
    images = lambda t: torch.tensor(t, dtype=torch.float32).reshape(-1, 1, 28, 28)  # noqa: E731
    calib = images(load(calib_path)["x"])
    test = load(test_path)
    x = images(test["x"])
    y = torch.tensor(test["y"], dtype=torch.int64)
    f32 = network(weights)
    json.dump(accuracies(f32, lambda qconfig: quantized(f32, calib, qconfig), x, y), sys.stdout)


if __name__ == "__main__":
    main()
