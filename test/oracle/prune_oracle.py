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
  {"kind": "block", "tensors": [...], "amount": float, "rows": R, "cols": C, "n": 1 | 2}
      -> {"masks": [...]}          the round(amount * blocks) RxC blocks (R input rows by C output
                                   channels, partial at the edges) of smallest mean |w| (n = 1) or
                                   root-mean-square (n = 2) zeroed, in float64 NumPy
  {"kind": "nm", "tensors": [...], "n": N, "m": M}
      -> {"masks": [...]}          in each group of M consecutive input rows of an output channel,
                                   all but the N largest |w| zeroed (NumPy's stable argsort)

PyTorch has no block or N:M pruning function: those two are NumPy restatements of the definitions
(docs/COMPRESSION.md), written apart from compiler/ir/prune-masks.ts. Equal scores: the block
whose first element has the lower flat index goes first; in an N:M group the lower index is kept.

Debian's python3-torch (1.13) on the CPU; nothing else.
"""

import json
import sys

import numpy as np

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


def matrix_of(t):
    """mlc's matrix view: rows are every axis but the last (the output channels) together."""
    w = np.asarray(t["data"], dtype=np.float64)
    shape = t["shape"]
    return w.reshape(int(np.prod(shape[:-1])) if len(shape) > 1 else 1, shape[-1])


def block_mask(t, amount, br, bc, n):
    w = np.abs(matrix_of(t))
    rows, cols = w.shape
    blocks = []
    for r0 in range(0, rows, br):
        for c0 in range(0, cols, bc):
            b = w[r0:r0 + br, c0:c0 + bc]
            score = b.mean() if n == 1 else np.sqrt((b * b).mean())
            blocks.append((score, r0 * cols + c0, r0, c0))
    blocks.sort(key=lambda x: (x[0], x[1]))
    mask = np.ones_like(w)
    for _, _, r0, c0 in blocks[:round(amount * len(blocks))]:
        mask[r0:r0 + br, c0:c0 + bc] = 0
    return mask.reshape(-1).astype(int).tolist()


def nm_mask(t, n, m):
    w = np.abs(matrix_of(t))
    rows, cols = w.shape
    mask = np.zeros_like(w)
    for c in range(cols):
        for r0 in range(0, rows, m):
            group = w[r0:r0 + m, c]
            keep = np.argsort(-group, kind="stable")[:n]
            mask[r0 + keep, c] = 1
    return mask.reshape(-1).astype(int).tolist()


def run(c):
    if c["kind"] == "block":
        return {"masks": [block_mask(t, c["amount"], c["rows"], c["cols"], c["n"]) for t in c["tensors"]]}
    if c["kind"] == "nm":
        return {"masks": [nm_mask(t, c["n"], c["m"]) for t in c["tensors"]]}
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
