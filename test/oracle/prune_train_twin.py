"""PyTorch twin of mlc's pruning while training (compiler/passes/prune.ts) on the fixture
test/fixtures/small-mlp/model.ts: y = relu(x W1 + b1) W2 + b2, mean squared error, SGD with momentum.

torch.nn.utils.prune semantics: the module computes with weight = weight_orig * weight_mask, so
weight_orig's gradient is masked; at each scheduled step the mask is recomputed from the updated
weight_orig by prune's own compute_mask (L1Unstructured for element masks, LnStructured along the
output channel — the last axis of mlc's [in, out] layout — for channel masks) with the schedule's
count, and weight_orig and its momentum buffer are multiplied by it (TF-MOT's prune_low_magnitude
does the same). Runs in float64.

torch.nn.utils.prune has no block or N:M pruning: for them the masks are written here from mlc
prune's definition (compiler/ir/prune-masks.ts), independently of the compiled step's graph:
block:RxC ranks the blocks of the [rows, cols] matrix view (partial at the edges) by mean |w| (L1)
or root-mean-square (L2), the k smallest pruned, ties by lower block index (one ranking of every
weight's blocks with global scope); N:M keeps, in every m consecutive rows of a column, the n
largest |w| (ties: the lower row kept).

Reads a JSON object on stdin: params (name -> {shape, data}), batches ([{x, y}] flattened),
lr, momentum, structure ("element" | "channel" | "block" | "nm"), block ([R, C]), nm ([n, m]), norm, pruned (the pruned weights, default both), scope ("layer" | "global"), schedule
({start, end, every}), counts ({param: [k_0, ..., k_n]}, or {global: [...]}), steps. Writes per step: loss, grad/<w> (masked), <w>, <w>/mask and
opt/<w>/momentum for the pruned weights (masks at the weight's shape, block masks expanded), <w>/unmasked
(the updated weight before this step's masking), and the biases.
"""

import json
import sys

import torch
from torch.nn.utils import prune

torch.set_default_dtype(torch.float64)


def matrix(w):
    return w.reshape(-1, w.shape[-1])


def block_scores(w, r, c, norm):
    """Mean |w| (norm 1) or root-mean-square (norm 2) of each RxC block, row-major, partial blocks by their own size."""
    a = matrix(w).abs() if norm == 1 else matrix(w) ** 2
    rows, cols = a.shape
    br, bc = -(-rows // r), -(-cols // c)
    pad = lambda v: torch.nn.functional.pad(v, (0, bc * c - cols, 0, br * r - rows))
    sums = pad(a).reshape(br, r, bc, c).sum(dim=(1, 3))
    counts = pad(torch.ones_like(a)).reshape(br, r, bc, c).sum(dim=(1, 3))
    mean = sums / counts
    return mean if norm == 1 else mean.sqrt()


def expand_blocks(keep, w, r, c):
    rows, cols = matrix(w).shape
    return keep.repeat_interleave(r, 0).repeat_interleave(c, 1)[:rows, :cols].reshape(w.shape)


def smallest_k(scores, k):
    """1 but 0 at the k smallest of a flat tensor, ties: the lower index first."""
    keep = torch.ones_like(scores)
    keep[torch.sort(scores, stable=True).indices[:k]] = 0
    return keep


def nm_mask(w, n, m):
    a = matrix(w).abs()
    rows, cols = a.shape
    groups = a.reshape(rows // m, m, cols)
    order = torch.sort(-groups, dim=1, stable=True).indices
    keep = torch.zeros_like(groups)
    keep.scatter_(1, order[:, :n, :], 1.0)
    return keep.reshape(w.shape)


def main():
    spec = json.load(sys.stdin)
    params = {n: torch.tensor(p["data"], dtype=torch.float64).reshape(p["shape"]) for n, p in spec["params"].items()}
    pruned = spec.get("pruned", ["l1.w", "l2.w"])
    channel = spec["structure"] == "channel"
    block = spec["structure"] == "block"
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
            for n in pruned:
                record[f"{n}/unmasked"] = params[n].flatten().tolist()
            j, r = divmod(t - s["start"], s["every"])
            scheduled = s["start"] <= t <= s["end"] and r == 0
            if scheduled and block:
                rb, cb = spec["block"]
                scores = {n: block_scores(params[n], rb, cb, spec["norm"]) for n in pruned}
                if spec.get("scope") == "global":
                    keep = smallest_k(torch.cat([scores[n].flatten() for n in pruned]), spec["counts"]["global"][j])
                    at = 0
                    for n in pruned:
                        size = scores[n].numel()
                        masks[n] = expand_blocks(keep[at:at + size].reshape(scores[n].shape), params[n], rb, cb)
                        at += size
                else:
                    for n in pruned:
                        keep = smallest_k(scores[n].flatten(), spec["counts"][n][j]).reshape(scores[n].shape)
                        masks[n] = expand_blocks(keep, params[n], rb, cb)
                for n in pruned:
                    params[n] = params[n] * masks[n]
                    bufs[n] = bufs[n] * masks[n]
            elif scheduled and spec["structure"] == "nm":
                for n in pruned:
                    masks[n] = nm_mask(params[n], *spec["nm"])
                    params[n] = params[n] * masks[n]
                    bufs[n] = bufs[n] * masks[n]
            elif scheduled and spec.get("scope") == "global":
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
            elif scheduled:
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
