"""PyTorch twin of mlc's pruning while training (compiler/passes/prune.ts) on the fixture
test/fixtures/small-mlp/model.ts: y = relu(x W1 + b1) W2 + b2, mean squared error, SGD with momentum.

torch.nn.utils.prune semantics: the module computes with weight = weight_orig * weight_mask, so
weight_orig's gradient is masked; at each scheduled step the mask is recomputed from the updated
weight_orig by prune's own compute_mask (L1Unstructured for element masks, LnStructured along the
output channel — the last axis of mlc's [in, out] layout — for channel masks) with the schedule's
count, and weight_orig and its momentum buffer are multiplied by it (TF-MOT's prune_low_magnitude
does the same). Runs in float64.

Reads a JSON object on stdin: params (name -> {shape, data}), batches ([{x, y}] flattened),
lr, momentum, structure ("element" | "channel"), norm, scope ("layer" | "global"), schedule
({start, end, every}), counts ({param: [k_0, ..., k_n]}, or {global: [...]}), steps. Writes per step: loss, grad/<w> (masked), <w>, <w>/mask and
opt/<w>/momentum for the pruned weights, and the biases.
"""

import json
import sys

import torch
from torch.nn.utils import prune

torch.set_default_dtype(torch.float64)


def main():
    spec = json.load(sys.stdin)
    params = {n: torch.tensor(p["data"], dtype=torch.float64).reshape(p["shape"]) for n, p in spec["params"].items()}
    pruned = ["l1.w", "l2.w"]
    channel = spec["structure"] == "channel"
    masks = {n: torch.ones(params[n].shape[-1] if channel else params[n].shape) for n in pruned}
    bufs = {n: None for n in params}
    s = spec["schedule"]
    out = []
    for t in range(spec["steps"]):
        batch = spec["batches"][t]
        x = torch.tensor(batch["x"], dtype=torch.float64).reshape(4, 6)
        y = torch.tensor(batch["y"], dtype=torch.float64).reshape(4, 3)
        orig = {n: p.clone().requires_grad_(True) for n, p in params.items()}
        w = {n: orig[n] * masks[n] if n in masks else orig[n] for n in orig}
        pred = torch.relu(x @ w["l1.w"] + w["l1.b"]) @ w["l2.w"] + w["l2.b"]
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        record = {"loss": loss.item()}
        with torch.no_grad():
            for n, p in orig.items():
                g = p.grad
                record[f"grad/{n}"] = g.flatten().tolist()
                # torch.optim.SGD: buf = g on the first step, then momentum * buf + g.
                bufs[n] = g.clone() if bufs[n] is None else spec["momentum"] * bufs[n] + g
                params[n] = p - spec["lr"] * bufs[n]
            j, r = divmod(t - s["start"], s["every"])
            if s["start"] <= t <= s["end"] and r == 0 and spec.get("scope") == "global":
                # torch.nn.utils.prune.global_unstructured: one L1 ranking over every weight.
                flat = torch.cat([params[n].flatten() for n in pruned])
                whole = prune.L1Unstructured(amount=spec["counts"]["global"][j]).compute_mask(flat, default_mask=torch.ones_like(flat))
                at = 0
                for n in pruned:
                    size = params[n].numel()
                    masks[n] = whole[at:at + size].reshape(params[n].shape)
                    at += size
                    params[n] = params[n] * masks[n]
                    bufs[n] = bufs[n] * masks[n]
            elif s["start"] <= t <= s["end"] and r == 0:
                for n in pruned:
                    k = spec["counts"][n][j]
                    if channel:
                        method = prune.LnStructured(amount=k, n=spec["norm"], dim=-1)
                        full = method.compute_mask(params[n], default_mask=torch.ones_like(params[n]))
                        masks[n] = full[0]
                    else:
                        masks[n] = prune.L1Unstructured(amount=k).compute_mask(params[n], default_mask=torch.ones_like(params[n]))
                    params[n] = params[n] * masks[n]
                    bufs[n] = bufs[n] * masks[n]
            for n in params:
                record[n] = params[n].flatten().tolist()
            for n in pruned:
                record[f"{n}/mask"] = masks[n].flatten().tolist()
                record[f"opt/{n}/momentum"] = bufs[n].flatten().tolist()
        out.append(record)
    json.dump(out, sys.stdout)


main()
