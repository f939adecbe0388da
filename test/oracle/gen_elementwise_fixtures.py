#!/usr/bin/env python3
"""Generates reference values for the elementwise special functions (test/ir/ops-elementwise.test.ts).

Run from the repository root:  /usr/bin/python3 test/oracle/gen_elementwise_fixtures.py

Writes test/fixtures/ops/elementwise.json with two kinds of reference:

  * "mp": mpmath at 60 significant digits, rounded once to float64 -- the exact answer, used to
    hold erf/erfc to ~1e-15 relative and the GELUs/sigmoid to 1e-14 over the WHOLE real line,
    tails included. (PyTorch's float64 kernels are not exact in the tails: its exact GELU is
    0.5*x*(1+erf(x/sqrt2)), which cancels to 0 for x < -8 where the true value is ~1e-15.)
  * "torch": PyTorch's float64 results on moderate inputs (|x| <= 6), where its formulas are
    accurate, to show mlc's ops agree with what PyTorch users get.

Inputs come from fixed grids and a fixed seed, so regenerating gives byte-identical files.
"""

import json
import os
import random

import mpmath
import torch
import torch.nn.functional as F

mpmath.mp.dps = 60
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "ops", "elementwise.json")
rng = random.Random(20240612)


def f64(v):
    return float(mpmath.mpf(v))


def mp_gelu_exact(x):
    x = mpmath.mpf(x)
    return x * mpmath.erfc(-x / mpmath.sqrt(2)) / 2


def mp_gelu_tanh(x):
    # 0.5 x (1 + tanh u) through the identity 1 + tanh(u) = 2 / (1 + exp(-2u)): for u << 0 the
    # sum cancels to far below 60 digits (u = -2300 at x = -40), the identity does not.
    x = mpmath.mpf(x)
    u = mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x**3)
    return x / (1 + mpmath.exp(-2 * u))


def mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-mpmath.mpf(x)))


# erf/erfc: a fine grid across both expansions' ranges and their switch points, random points,
# tiny arguments (erf(x) ~ 2x/sqrt(pi)) and the far tail where erfc underflows toward 0.
erf_xs = [i / 32 for i in range(-32 * 7, 32 * 7 + 1)]
erf_xs += [rng.uniform(-10, 10) for _ in range(300)] + [rng.uniform(6, 27) for _ in range(60)]
erf_xs += [1e-300, -1e-300, 1e-20, 1e-8, -3e-5, 0.9999999, 1.0000001, 1.9999999, 2.0000001, 26.0, 27.2]
erf = [[x, f64(mpmath.erf(x)), f64(mpmath.erfc(x))] for x in erf_xs]

# GELU and sigmoid, including far tails where cancellation-prone formulas lose everything.
act_xs = [i / 8 for i in range(-8 * 12, 8 * 12 + 1)] + [rng.uniform(-40, 40) for _ in range(200)]
act_xs += [-38.0, -30.0, -20.0, -12.5, 1e-10, -1e-10, 30.0]
gelu = [[x, f64(mp_gelu_exact(x)), f64(mp_gelu_tanh(x))] for x in act_xs]
sig_xs = act_xs + [-745.0, -700.0, -100.0, 100.0, 700.0]
sigmoid = [[x, f64(mp_sigmoid(x))] for x in sig_xs]

# PyTorch on moderate inputs.
tx = torch.tensor([i / 16 for i in range(-96, 97)], dtype=torch.float64)
torch_ref = {
    "x": tx.tolist(),
    "gelu_none": F.gelu(tx, approximate="none").tolist(),
    "gelu_tanh": F.gelu(tx, approximate="tanh").tolist(),
    "sigmoid": torch.sigmoid(tx).tolist(),
    "tanh": torch.tanh(tx).tolist(),
    "erf": torch.erf(tx).tolist(),
    "exp": torch.exp(tx).tolist(),
}
pos = torch.tensor([rng.uniform(1e-3, 50) for _ in range(64)], dtype=torch.float64)
torch_ref["positive_x"] = pos.tolist()
torch_ref["log"] = torch.log(pos).tolist()
torch_ref["sqrt"] = torch.sqrt(pos).tolist()
torch_ref["rsqrt"] = torch.rsqrt(pos).tolist()
torch_ref["pow_base"] = pos.tolist()
pow_exp = torch.tensor([rng.uniform(-3, 3) for _ in range(64)], dtype=torch.float64)
torch_ref["pow_exponent"] = pow_exp.tolist()
torch_ref["pow"] = torch.pow(pos, pow_exp).tolist()

with open(OUT, "w") as f:
    json.dump({"mp": {"erf": erf, "gelu": gelu, "sigmoid": sigmoid}, "torch": torch_ref}, f)
    f.write("\n")
print(f"wrote {OUT}: {len(erf)} erf, {len(gelu)} gelu, {len(sigmoid)} sigmoid points")
