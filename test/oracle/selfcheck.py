#!/usr/bin/env python3
"""Self-check of the PyTorch oracle, before mlc has autodiff.

    /usr/bin/python3 test/oracle/selfcheck.py [--model NAME ...] [--skip-training] [--keep DIR]

For each case (every example at its default config, plus config overrides that change layer
counts, widths and the dropout step):
  1. weights from `mlc init-weights` (constant-initialised params perturbed, see fixtures.py) and
     random inputs with the twin's shapes;
  2. the twin's forward outputs and updated state against `mlc run` in the reference interpreter,
     float64 (to 1e-9, seen through mlc's f32 output file) and float32 (to 1e-4);
  3. run_twin.py end to end: finite-difference gradients, closed-form optimizer steps, f32 vs
     f64, two steps (check_training.py).
Also checks the numpy Philox against Random123's known answers and mlc's own dropout mask.
Exits 1 and lists every disagreement if anything fails.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import philox  # noqa: E402
from check_forward import check_forward  # noqa: E402
from check_safetensors import check_safetensors  # noqa: E402
from check_training import check_training  # noqa: E402
from fixtures import REPO, MlcError, make_inputs, make_weights  # noqa: E402
from twins import TWINS  # noqa: E402

# (model, config overrides, rng.step). The overrides exercise config plumbing in the twins: more
# layers (two dropouts, seeds 0 and 1), other head counts, widths and depths, odd batch sizes.
CASES = [
    ("mnist-mlp", {}, 0),
    ("cnn", {}, 0),
    ("lstm", {}, 0),
    ("transformer", {}, 0),
    ("recsys", {}, 0),
    ("resnet", {}, 0),
    ("mnist-mlp", {"batch": 5}, 0),
    ("cnn", {"batch": 3, "width": 4, "classes": 7}, 0),
    ("lstm", {"batch": 3, "steps": 3, "hidden": 8}, 0),
    ("transformer", {"layers": 2, "heads": 2, "seq": 8}, 7),
    ("transformer", {"dropout": 0}, 0),
    ("recsys", {"batch": 9, "users": 20, "items": 30, "factors": 4}, 0),
    ("resnet", {"depth": 2, "channels": 8, "size": 7, "batch": 3}, 0),
]


# (elements, rate, seed, step) of dropout masks compared bit for bit with mlc's rng.ts.
MASK_CASES = [(1001, 0.1, 0, 0), (64, 0.5, 1, 7), (333, 0.37, 3, -5), (17, 0.0, 2, 1), (9, 1.0, 0, 3)]


def check_philox(workdir):
    """Random123 known answers, then our dropout masks against mlc's dropoutMask (compiler/ir/rng.ts)."""
    philox.check_known_answers()
    script = (
        'import("./compiler/ir/rng.ts").then((rng) => {'
        f" for (const [n, rate, seed, step] of {json.dumps(MASK_CASES)})"
        ' console.log(Array.from(rng.dropoutMask(n, rate, seed, step)).join(""));'
        "});"
    )
    done = subprocess.run(["node", "--import", "tsx", "-e", script], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        return [f"could not run mlc's dropoutMask: {done.stderr.strip()}"], []
    theirs = done.stdout.split()
    problems = []
    for (n, rate, seed, step), mask in zip(MASK_CASES, theirs):
        ours = "".join("1" if k else "0" for k in philox.dropout_keep_mask(n, rate, seed, step))
        if ours != mask:
            problems.append(f"dropout mask (n={n}, rate={rate}, seed={seed}, step={step}) differs from mlc's")
    if len(theirs) != len(MASK_CASES):
        problems.append(f"mlc printed {len(theirs)} masks for {len(MASK_CASES)} cases")
    lines = ["  philox4x32-10: Random123 known-answer vectors ok",
             f"  dropout masks vs mlc's rng.ts ({len(MASK_CASES)} cases): {'ok' if not problems else 'DIFFERENT'}"]
    return problems, lines


def run_case(name, overrides, rng_step, args, root, index):
    twin = TWINS[name]
    cfg = twin.config(overrides)
    label = name + (" " + ",".join(f"{k}={v}" for k, v in overrides.items()) if overrides else "")
    if rng_step:
        label += f" step={rng_step}"
    workdir = os.path.join(root, f"{index:02d}-{name}")
    os.makedirs(workdir, exist_ok=True)
    rng = np.random.default_rng(1000 + index)
    weights_path = os.path.join(workdir, "weights.safetensors")
    inputs_path = os.path.join(workdir, "inputs.safetensors")
    weights = make_weights(twin, cfg, overrides, weights_path, rng, rng_step)
    inputs = make_inputs(twin, cfg, inputs_path, rng)
    problems, lines = check_forward(twin, cfg, overrides, label, weights_path, inputs_path, weights, inputs, workdir)
    if not args.skip_training:
        p, l = check_training(twin, cfg, label, weights_path, inputs_path, weights, inputs, workdir, rng)
        problems += p
        lines += l
    return problems, lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="only these models (repeatable)")
    parser.add_argument("--skip-training", action="store_true", help="only compare forward passes with mlc")
    parser.add_argument("--keep", help="write the files of every case under this directory and keep them")
    args = parser.parse_args(argv)
    root = args.keep or tempfile.mkdtemp(prefix="mlc-oracle-")
    os.makedirs(root, exist_ok=True)
    problems = []
    for check in (check_philox, check_safetensors):
        p, lines = check(root)
        problems += p
        print("\n".join(lines), flush=True)
    for index, (name, overrides, step) in enumerate(CASES):
        if args.model and name not in args.model:
            continue
        try:
            p, lines = run_case(name, overrides, step, args, root, index)
        except MlcError as e:  # report it and go on with the other cases
            p, lines = [f"{name} {overrides}: {e}"], [f"  {name} {overrides}: mlc failed"]
        problems += p
        print("\n".join(lines), flush=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    if problems:
        print(f"\n{len(problems)} problem(s):\n" + "\n".join(f"  - {x}" for x in problems))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
