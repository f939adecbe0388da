"""PyTorch twin of mlc's quantization-aware training (compiler/passes/qat.ts) on the fixture
test/fixtures/small-mlp/model.ts: y = relu(x W1 + b1) W2 + b2, mean squared error, SGD with momentum.

An explicit float64 re-implementation of torch.ao.quantization's QAT modules, with torch's own
fake-quantization ops (and their straight-through gradients):
  - weights: torch.fake_quantize_per_channel_affine over the output channel (the last axis of
    mlc's [in, out] layout), symmetric, [-127, 127], scale = max(max|W[:, n]| / 127, eps) from the
    current weights, detached (PerChannelMinMaxObserver with qscheme per_channel_symmetric and
    quant_min -127, as FakeQuantize recomputes it each forward);
  - each layer's input: torch.fake_quantize_per_tensor_affine over [0, 255] with the range of a
    MovingAverageMinMaxObserver (averaging constant 0.01, the first batch taken as is), observed
    before quantizing, and MinMaxObserver.calculate_qparams' scale and zero point:
    lo = min(min, 0), hi = max(max, 0), scale = max((hi - lo) / 255, eps),
    zero point = clamp(round(-lo / scale), 0, 255) (round half to even, as torch.round).
The explicit observer runs in float64; a float32 torch.ao.quantization.MovingAverageMinMaxObserver
fed the same activations runs beside it and its min/max are written too (torch/...), so the test
also checks the explicit one against torch's module.

Reads a JSON object on stdin: params (name -> {shape, data}), batches ([{x, y}] flattened), lr,
momentum, steps. Writes per step: loss, grad/<param>, <param> after the update,
qat/<w>/min and qat/<w>/max after the step, and torch/qat/<w>/min|max from torch's observer.
"""

import json
import sys

import torch
from torch.ao.quantization import MovingAverageMinMaxObserver

torch.set_default_dtype(torch.float64)
EPS = torch.finfo(torch.float32).eps
AVERAGING = 0.01
LAYERS = ["l1.w", "l2.w"]


def fake_weight(w):
    scale = torch.clamp(w.detach().abs().amax(dim=0) / 127, min=EPS)
    zero = torch.zeros(w.shape[1], dtype=torch.int32)
    # The per-channel op takes f32 scales (the f64 kernel asserts in this torch); f32 is what mlc's
    # fakeQuant rounds its reciprocal to anyway.
    return torch.fake_quantize_per_channel_affine(w, scale.float(), zero, 1, -127, 127)


def main():
    spec = json.load(sys.stdin)
    params = {n: torch.tensor(p["data"], dtype=torch.float64).reshape(p["shape"]) for n, p in spec["params"].items()}
    ranges = {n: None for n in LAYERS}
    observers = {n: MovingAverageMinMaxObserver(averaging_constant=AVERAGING, dtype=torch.quint8, qscheme=torch.per_tensor_affine) for n in LAYERS}
    bufs = {n: None for n in params}
    out = []

    def fake_act(x, layer):
        xd = x.detach()
        bmin, bmax = xd.min(), xd.max()
        if ranges[layer] is None:
            ranges[layer] = (bmin, bmax)
        else:
            lo, hi = ranges[layer]
            ranges[layer] = (lo + AVERAGING * (bmin - lo), hi + AVERAGING * (bmax - hi))
        observers[layer](xd.float())
        lo = min(ranges[layer][0].item(), 0.0)
        hi = max(ranges[layer][1].item(), 0.0)
        scale = max((hi - lo) / 255, EPS)
        zero = int(min(max(torch.round(torch.tensor(-lo / scale)).item(), 0), 255))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)

    for t in range(spec["steps"]):
        batch = spec["batches"][t]
        x = torch.tensor(batch["x"]).reshape(4, 6)
        y = torch.tensor(batch["y"]).reshape(4, 3)
        p = {n: v.clone().requires_grad_(True) for n, v in params.items()}
        h = torch.relu(fake_act(x, "l1.w") @ fake_weight(p["l1.w"]) + p["l1.b"])
        pred = fake_act(h, "l2.w") @ fake_weight(p["l2.w"]) + p["l2.b"]
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        record = {"loss": loss.item()}
        with torch.no_grad():
            for n, v in p.items():
                g = v.grad
                record[f"grad/{n}"] = g.flatten().tolist()
                # torch.optim.SGD: buf = g on the first step, then momentum * buf + g.
                bufs[n] = g.clone() if bufs[n] is None else spec["momentum"] * bufs[n] + g
                params[n] = v - spec["lr"] * bufs[n]
                record[n] = params[n].flatten().tolist()
        for n in LAYERS:
            record[f"qat/{n}/min"] = ranges[n][0].item()
            record[f"qat/{n}/max"] = ranges[n][1].item()
            record[f"torch/qat/{n}/min"] = observers[n].min_val.item()
            record[f"torch/qat/{n}/max"] = observers[n].max_val.item()
        out.append(record)
    json.dump(out, sys.stdout)


main()
