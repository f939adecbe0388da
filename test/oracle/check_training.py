"""End-to-end checks of run_twin.py, independent of mlc's (future) autodiff.

For one model and one set of weights/inputs, run the oracle CLI as the lead's tests will and
check what it writes:
  * the file holds exactly `loss`, `grad/<trainable>` and `param/<trainable or float state>`, in
    the requested dtype;
  * `loss` is the twin's forward loss;
  * the gradients match central finite differences of the twin's float64 loss (a few coordinates
    per param: the largest-gradient ones and random ones, which are often exactly zero);
  * the params after one step equal the closed form of each optimizer's first step, and the
    running statistics equal the forward pass's update;
  * the f32 run agrees with the f64 run to 1e-4;
  * a two-step run's loss is the forward loss at the one-step params with the next dropout step.
"""

import json
import os
import subprocess
import sys

import numpy as np

import safetensors_io
from check_forward import relative_error, twin_outputs
from twins import RNG_STEP

RUN_TWIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_twin.py")
OPTIMIZERS = [
    {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weightDecay": 0},
    {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weightDecay": 1e-3},
    {"kind": "adam", "lr": 1e-3, "beta1": 0.8, "eps": 1e-7},
    {"kind": "adamw", "lr": 2e-3, "weightDecay": 0.05},
]
EXACT_REL = 1e-12  # same float64 computation on both sides, up to operation order
FD_REL = 1e-6
# A ReLU input within a step of its kink spoils a difference; the deep ResNet has ~10^5 of them,
# so a gradient passes when the difference at either step size agrees.
FD_STEPS = (1e-6, 1e-7)
FD_NOISE = 1e-8
# float32 against float64 PyTorch on the same weights: a sanity check of the f32 path (a wrong
# dtype or layout is off by far more). Deep nets need the slack: resnet's batch-norm gradients in
# the last block differ by ~1.4e-4 between PyTorch's own f32 and f64 runs.
F32_VS_F64_REL = 1e-3


def run_oracle(model, cfg, weights_path, inputs_path, out_path, dtype, optimizer, steps=1):
    cmd = [sys.executable, RUN_TWIN, "--model", model, "--config", json.dumps(cfg), "--weights", weights_path,
           "--inputs", inputs_path, "--out", out_path, "--dtype", dtype, "--optimizer", json.dumps(optimizer),
           "--steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"run_twin.py failed ({done.returncode}):\n{done.stderr}")
    return safetensors_io.load(out_path)


def first_step(p, g, opt):
    """Params after the first step of torch.optim's SGD / Adam / AdamW, in closed form: on step 1
    the momentum buffer is the gradient and Adam's bias-corrected moments are g and g^2."""
    lr, wd = opt["lr"], opt.get("weightDecay", 0.01 if opt["kind"] == "adamw" else 0.0)
    if opt["kind"] == "sgd":
        d = g + wd * p
        m = opt.get("momentum", 0.0)
        return p - lr * ((1 + m) * d if opt.get("nesterov") and m else d)
    eps = opt.get("eps", 1e-8)
    if opt["kind"] == "adam":
        d = g + wd * p
        return p - lr * d / (np.abs(d) + eps)
    return p * (1 - lr * wd) - lr * g / (np.abs(g) + eps)


def loss_at(twin, cfg, weights, inputs, name=None, index=None, delta=0.0):
    """The twin's float64 loss with weights[name].flat[index] moved by delta (state untouched)."""
    w = dict(weights)
    if name is not None:
        w[name] = weights[name].astype(np.float64).copy()
        w[name].flat[index] += delta
    return float(twin_outputs(twin, cfg, w, inputs, "f64")["loss"])


def central_difference(twin, cfg, weights, inputs, name, index, step):
    h = step * max(1.0, abs(float(weights[name].flat[index])))
    return (loss_at(twin, cfg, weights, inputs, name, index, h) - loss_at(twin, cfg, weights, inputs, name, index, -h)) / (2 * h)


def check_gradients(twin, cfg, weights, inputs, grads, rng):
    problems = []
    for spec in twin.params(cfg):
        if not spec.trainable:
            continue
        g = grads[f"grad/{spec.name}"]
        flat = np.abs(g).reshape(-1)
        picks = set(np.argsort(flat)[-2:].tolist()) | set(rng.integers(0, flat.size, 2).tolist())
        # Differences carry rounding noise of about 1e-16 |loss| / step, whatever the gradient.
        tolerance = FD_REL * float(flat.max()) + FD_NOISE * max(1.0, abs(float(grads["loss"])))
        for i in sorted(picks):
            fds = [central_difference(twin, cfg, weights, inputs, spec.name, i, h) for h in FD_STEPS]
            if min(abs(fd - g.flat[i]) for fd in fds) > tolerance:
                problems.append(f"grad/{spec.name}[{i}] = {g.flat[i]:.10g}, finite differences {fds}")
    return problems


def expected_keys(twin, cfg):
    keys = {"loss"}
    for spec in twin.params(cfg):
        if spec.trainable:
            keys |= {f"grad/{spec.name}", f"param/{spec.name}"}
        elif spec.name != RNG_STEP:
            keys.add(f"param/{spec.name}")
    return keys


def check_one_step(twin, cfg, weights, inputs, out, opt, forward):
    problems = []
    if set(out) != expected_keys(twin, cfg):
        problems.append(f"keys differ: missing {sorted(expected_keys(twin, cfg) - set(out))}, extra {sorted(set(out) - expected_keys(twin, cfg))}")
        return problems
    if relative_error(out["loss"], forward["loss"]) > EXACT_REL:
        problems.append(f"loss {out['loss']} is not the forward loss {forward['loss']}")
    for spec in twin.params(cfg):
        if spec.name == RNG_STEP:
            continue
        p = weights[spec.name].astype(np.float64)
        want = first_step(p, out[f"grad/{spec.name}"], opt) if spec.trainable else forward[f"param/{spec.name}"]
        err = relative_error(out[f"param/{spec.name}"], want)
        if err > EXACT_REL:
            problems.append(f"param/{spec.name} after one {opt['kind']} step is off by {err:.2e} relative")
    return problems


def check_training(twin, cfg, label, weights_path, inputs_path, weights, inputs, workdir, rng):
    """Returns (problems, report lines) for one model case."""
    problems, lines = [], []
    forward = twin_outputs(twin, cfg, weights, inputs, "f64")
    out_path = os.path.join(workdir, "oracle.safetensors")
    runs = {}
    for opt in OPTIMIZERS:
        out = run_oracle(twin.name, cfg, weights_path, inputs_path, out_path, "f64", opt)
        runs[json.dumps(opt)] = out
        p = check_one_step(twin, cfg, weights, inputs, out, opt, forward)
        problems += [f"{label} {opt['kind']}: {x}" for x in p]
        lines.append(f"  {label:<30} one {opt['kind']}{' nesterov' if opt.get('nesterov') else ''} step: {'ok' if not p else 'FAILED'}")
    first = runs[json.dumps(OPTIMIZERS[0])]
    p = check_gradients(twin, cfg, weights, inputs, first, rng)
    problems += [f"{label}: {x}" for x in p]
    lines.append(f"  {label:<30} gradients vs finite differences: {'ok' if not p else f'{len(p)} FAILED'}")
    p = check_f32_run(twin, cfg, weights_path, inputs_path, workdir, first)
    problems += [f"{label}: {x}" for x in p]
    lines.append(f"  {label:<30} f32 run vs f64 run: {'ok' if not p else 'FAILED'}")
    p = check_two_steps(twin, cfg, weights_path, inputs_path, weights, inputs, workdir, first)
    problems += [f"{label}: {x}" for x in p]
    lines.append(f"  {label:<30} two steps = step, then forward at step + 1: {'ok' if not p else 'FAILED'}")
    return problems, lines


def check_f32_run(twin, cfg, weights_path, inputs_path, workdir, f64_out):
    """Gradients are compared relative to the model's largest gradient: some are exactly zero in
    exact arithmetic (the attention key bias: softmax ignores a per-query constant), and their
    f32 and f64 values are both pure rounding noise."""
    out_path = os.path.join(workdir, "oracle-f32.safetensors")
    out = run_oracle(twin.name, cfg, weights_path, inputs_path, out_path, "f32", OPTIMIZERS[0])
    problems = [f"f32 run wrote {n} as {v.dtype}" for n, v in out.items() if v.dtype != np.float32]
    grad_scale = max(float(np.max(np.abs(v), initial=0)) for n, v in f64_out.items() if n.startswith("grad/"))
    for name, value in out.items():
        err = relative_error(value, f64_out[name], grad_scale if name.startswith("grad/") else None)
        if err > F32_VS_F64_REL:
            problems.append(f"f32 run's {name} is off the f64 run's by {err:.2e} relative")
    return problems


def check_two_steps(twin, cfg, weights_path, inputs_path, weights, inputs, workdir, one_step):
    out_path = os.path.join(workdir, "oracle-2.safetensors")
    two = run_oracle(twin.name, cfg, weights_path, inputs_path, out_path, "f64", OPTIMIZERS[0], steps=2)
    after_one = {n: one_step[f"param/{n}"] for n in weights if n != RNG_STEP}
    if RNG_STEP in weights:
        after_one[RNG_STEP] = np.array(int(weights[RNG_STEP]) + 1, dtype=np.int32)
    want = float(twin_outputs(twin, cfg, after_one, inputs, "f64")["loss"])
    err = relative_error(two["loss"], np.float64(want))
    return [] if err <= EXACT_REL else [f"second step's loss {float(two['loss'])} != forward at step-1 params {want}"]

