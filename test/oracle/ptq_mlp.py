"""PyTorch's own post-training quantization of mlc's MLP weights: the independent oracle of
`mlc build --quantize int8` (test/driver/quantize-pytorch.test.ts, bench/quant.ts).

    /usr/bin/python3 test/oracle/ptq_mlp.py WEIGHTS CALIB TEST [LAYERS]

WEIGHTS: an mlc weights file of a dense MLP (`<name>.w` [K, N] and `<name>.b` [N] f32, layers in
the order LAYERS names them, comma-separated; default fc256,fc128,out), ReLU between layers.
CALIB: `x` [S, K0] f32 calibration inputs. TEST: `x` [T, K0] f32 and `y` [T] i32 labels.

Builds the same network as torch.nn.Linear layers (weight = W transposed), fuses Linear+ReLU,
and quantizes it with torch.ao.quantization's eager-mode static PTQ (prepare, calibrate in
batches of 100, convert) under two qconfigs, both with per-output-channel symmetric int8 weights:

  fbgemm  get_default_qconfig("fbgemm"): HistogramObserver activations with reduce_range=True
          (7-bit u8, the x86 default); run on the onednn engine, because Debian's torch 1.13 is
          built without fbgemm (same u8 x s8 arithmetic)
  onednn  get_default_qconfig("onednn"): the same with reduce_range=False (8-bit u8)

Writes JSON on stdout: {"f32": acc, "fbgemm": acc, "onednn": acc, "predictions": {name: [...]}}
with accuracies as fractions of TEST.
"""

import copy
import json
import sys

import torch
from torch.ao import quantization as tq

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from safetensors_io import load  # noqa: E402


def network(weights, layers):
    mods = [tq.QuantStub()]
    for i, name in enumerate(layers):
        w = torch.tensor(weights[f"{name}.w"], dtype=torch.float32)
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w.t())
            lin.bias.copy_(torch.tensor(weights[f"{name}.b"], dtype=torch.float32))
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    mods.append(tq.DeQuantStub())
    return torch.nn.Sequential(*mods).eval()


def predictions(model, x):
    with torch.no_grad():
        return torch.cat([model(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])


def calibrated(m, calib, qconfig):
    """Eager static PTQ of the fused module m: observers from qconfig over calib, then convert."""
    m.qconfig = qconfig
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        for i in range(0, len(calib), 100):
            m(calib[i:i + 100])
    return tq.convert(m)


def quantized(f32, calib, qconfig):
    m = copy.deepcopy(f32)
    linears = [str(i) for i, mod in enumerate(m) if isinstance(mod, torch.nn.Linear)]
    pairs = [[k, str(int(k) + 1)] for k in linears if isinstance(m[int(k) + 1], torch.nn.ReLU)]
    return calibrated(tq.fuse_modules(m, pairs), calib, qconfig)


def accuracies(f32, quantize, x, y):
    """Test accuracy and predictions of f32 and of quantize(qconfig) under the fbgemm and onednn qconfigs."""
    out = {"f32": None, "predictions": {}}
    runs = {"f32": f32, "fbgemm": quantize(tq.get_default_qconfig("fbgemm")), "onednn": quantize(tq.get_default_qconfig("onednn"))}
    for name, model in runs.items():
        p = predictions(model, x)
        out[name] = (p == y).double().mean().item()
        out["predictions"][name] = p.tolist()
    return out


def main():
    weights_path, calib_path, test_path = sys.argv[1:4]
    layers = (sys.argv[4] if len(sys.argv) > 4 else "fc256,fc128,out").split(",")
    torch.backends.quantized.engine = "onednn"
    weights = load(weights_path)
    calib = torch.tensor(load(calib_path)["x"], dtype=torch.float32)
    test = load(test_path)
    x = torch.tensor(test["x"], dtype=torch.float32)
    y = torch.tensor(test["y"], dtype=torch.int64)
    f32 = network(weights, layers)
    json.dump(accuracies(f32, lambda qconfig: quantized(f32, calib, qconfig), x, y), sys.stdout)


if __name__ == "__main__":
    main()
