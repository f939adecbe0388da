"""Weights and inputs for the self-check, with names and shapes taken from mlc itself.

Weights start from `mlc init-weights`; params that mlc initialises to a constant (biases, layer
and batch norm gamma/beta, running statistics) are then perturbed, so a twin that mishandles a
bias or a running statistic cannot hide behind zeros and ones. Inputs are random with the twin's
shapes, integer inputs in their valid range.
"""

import json
import os
import subprocess

import numpy as np

import safetensors_io
from run_twin import check_file_against_specs
from twins import RNG_STEP

# The checkout whose `bin/mlc.js` is run; MLC_REPO points the check at another one.
REPO = os.environ.get("MLC_REPO") or os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class MlcError(RuntimeError):
    pass


def mlc(*args):
    """Runs `node bin/mlc.js ARGS` in the repository; returns stdout or raises MlcError with stderr."""
    done = subprocess.run(["node", "bin/mlc.js", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise MlcError(f"mlc {' '.join(args)} exited with {done.returncode}:\n{done.stderr.strip()}")
    return done.stdout


def model_file(name):
    return os.path.join("examples", name, "model.ts")


def set_flags(overrides):
    """mlc's --set flags for config overrides (values as JSON, which mlc parses)."""
    flags = []
    for key, value in overrides.items():
        flags += ["--set", f"{key}={json.dumps(value)}"]
    return flags


def make_weights(twin, cfg, overrides, path, rng, rng_step=0):
    """Writes mlc's initial weights, perturbed, to `path`; returns them as {name: numpy array}."""
    mlc("init-weights", model_file(twin.name), "--out", path, *set_flags(overrides))
    weights = safetensors_io.load(path)
    check_file_against_specs(path, weights, twin.params(cfg), "param")
    for name, value in weights.items():
        if name == RNG_STEP:
            weights[name] = np.array(rng_step, dtype=np.int32)
        elif value.size and np.all(value == value.flat[0]):
            # 0.1 keeps running variances (init 1) positive and gammas near 1.
            weights[name] = (value + rng.normal(0, 0.1, value.shape)).astype(np.float32)
    safetensors_io.save(path, weights)
    return weights


def make_inputs(twin, cfg, path, rng):
    """Writes random inputs for the twin's input specs to `path`; returns them."""
    inputs = {}
    for spec in twin.inputs(cfg):
        if spec.dtype == "i32":
            inputs[spec.name] = rng.integers(0, spec.high, spec.shape).astype(np.int32)
        else:
            inputs[spec.name] = rng.normal(0, 1, spec.shape).astype(np.float32)
    safetensors_io.save(path, inputs)
    return inputs
