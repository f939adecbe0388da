"""torch.nn.utils.prune as an independent oracle for mlc's pruning masks (compiler/ir/prune-masks.ts).

Reads a JSON list of cases on stdin and writes a JSON list of results (same order) on stdout.
Weights are given in mlc's layout (the last axis is the output channel: a dense layer's [in, out],
a convolution's HWIO); PyTorch's modules hold them output channel first, so they are moved there
(Linear: transposed; Conv2d: HWIO -> OIHW) before pruning and the masks moved back. Cases:

  {"kind": "l1_unstructured", "tensors": [{"shape": [...], "data": [...]}], "amount": float}
      -> {"masks": [[0|1, ...]]}  prune.l1_unstructured on each tensor alone
  {"kind": "global_unstructured", "tensors": [...], "amount": float}
      -> {"masks": [...]}          prune.global_unstructured(L1Unstructured) over all of them
  {"kind": "ln_structured", "tensors": [...], "amount": float, "n": 1 | 2}
      -> {"masks": [...]}          prune.ln_structured(dim=0: output channels) on each

Debian's python3-torch (1.13) on the CPU; nothing else.
"""

import json
import sys

import torch
from torch.nn.utils import prune


def module_of(t):
    w = torch.tensor(t["data"], dtype=torch.float32).reshape(t["shape"])
    if w.dim() == 2:
        m = torch.nn.Linear(w.shape[0], w.shape[1], bias=False)
        with torch.no_grad():
            m.weight.copy_(w.t())
        return m, lambda mask: mask.t()
    if w.dim() == 4:
        kh, kw, cin, cout = w.shape
        m = torch.nn.Conv2d(cin, cout, (kh, kw), bias=False)
        with torch.no_grad():
            m.weight.copy_(w.permute(3, 2, 0, 1))
        return m, lambda mask: mask.permute(2, 3, 1, 0)
    raise ValueError(f"rank {w.dim()} weights are not covered")


def masks_of(modules):
    return [back(m.weight_mask).reshape(-1).int().tolist() for m, back in modules]


def run(c):
    modules = [module_of(t) for t in c["tensors"]]
    if c["kind"] == "l1_unstructured":
        for m, _ in modules:
            prune.l1_unstructured(m, "weight", amount=c["amount"])
    elif c["kind"] == "global_unstructured":
        prune.global_unstructured([(m, "weight") for m, _ in modules], pruning_method=prune.L1Unstructured, amount=c["amount"])
    elif c["kind"] == "ln_structured":
        for m, _ in modules:
            prune.ln_structured(m, "weight", amount=c["amount"], n=c["n"], dim=0)
    else:
        raise ValueError(c["kind"])
    return {"masks": masks_of(modules)}


print(json.dumps([run(c) for c in json.load(sys.stdin)]))
