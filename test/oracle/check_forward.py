"""Forward pass of a twin against mlc's reference interpreter (`mlc run`), on identical weights.

`mlc run --precision f64` computes in float64 but writes f32 tensors as f32, so its outputs are
float64 results rounded once to float32. A float64 agreement to `rel` is checked exactly through
that rounding: if mlc's float64 value v satisfies |v - t| <= rel * scale (t the twin's float64
value, scale the largest |t| of the tensor), then round_f32(v) lies between round_f32(t - rel *
scale) and round_f32(t + rel * scale), because rounding is monotone. `mlc run --precision native`
rounds every op to float32; it is compared with the twin run in float32 to `F32_REL`.
"""

import os

import numpy as np
import torch

import safetensors_io
from fixtures import mlc, model_file, set_flags
from twins import RNG_STEP

F64_REL = 1e-9
F32_REL = 1e-4
TORCH_DTYPE = {"f64": torch.float64, "f32": torch.float32}


def run_mlc(twin, overrides, weights_path, inputs_path, out_path, precision):
    mlc("run", model_file(twin.name), "--weights", weights_path, "--inputs", inputs_path,
        "--out", out_path, "--precision", precision, *set_flags(overrides))
    return safetensors_io.load(out_path)


def twin_outputs(twin, cfg, weights, inputs, dtype):
    """The twin's outputs and end-of-step state, named as `mlc run --out` names them."""
    torch_dtype = TORCH_DTYPE[dtype]
    params = {n: torch.tensor(v, dtype=torch_dtype) for n, v in weights.items() if n != RNG_STEP}
    x = {n: torch.from_numpy(v.astype(np.int64)) if v.dtype == np.int32 else torch.tensor(v, dtype=torch_dtype)
         for n, v in inputs.items()}
    step = int(weights.get(RNG_STEP, 0))
    with torch.no_grad():
        outputs = twin.forward(cfg, params, x, step)
    result = {n: t.numpy() for n, t in outputs.items()}
    for spec in twin.params(cfg):
        if spec.name == RNG_STEP:
            result[f"param/{RNG_STEP}"] = np.array(step + 1, dtype=np.int32)
        elif not spec.trainable:  # updated in place by the forward pass (batch-norm running stats)
            result[f"param/{spec.name}"] = params[spec.name].numpy()
    return result


def f64_window_violation(mlc_f32, twin_f64, rel):
    """How far (in units of rel * scale) mlc's f32 values fall outside the window of the header;
    0 when every element is inside."""
    t = np.asarray(twin_f64, dtype=np.float64)
    scale = max(float(np.max(np.abs(t))) if t.size else 0.0, 1e-300)
    lo = (t - rel * scale).astype(np.float32)
    hi = (t + rel * scale).astype(np.float32)
    m = np.asarray(mlc_f32)
    outside = np.maximum(lo.astype(np.float64) - m, m - hi.astype(np.float64)).clip(min=0)
    return float(np.max(outside) / (rel * scale)) if outside.size else 0.0


def relative_error(a, b, scale=None):
    """max |a - b| over `scale`, by default the largest |b| of the tensor."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not b.size:
        return 0.0
    if scale is None:
        scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b)) / max(scale, 1e-300))


def compare(mlc_out, twin_out, label, precision):
    """(problems, report lines) over every tensor mlc wrote and every one the twin produces."""
    problems = []
    lines = []
    for name, m in mlc_out.items():
        if name not in twin_out:
            problems.append(f"{label}: mlc wrote '{name}', which the twin does not produce")
            continue
        t = twin_out[name]
        if tuple(np.shape(m)) != tuple(np.shape(t)):
            problems.append(f"{label}: '{name}' is {np.shape(m)} in mlc, {np.shape(t)} in the twin")
            continue
        if m.dtype == np.int32:
            ok = np.array_equal(m, t)
            lines.append(f"  {label:<30} {name:<28} {'equal' if ok else 'DIFFERENT'}")
            if not ok:
                problems.append(f"{label}: '{name}' is {m} in mlc, {t} in the twin")
            continue
        err = relative_error(m, t)
        if precision == "f64":
            over = f64_window_violation(m, t, F64_REL)
            ok = over == 0
            detail = f"rel {err:.2e} (f32 output of a float64 run; window {F64_REL:g} {'ok' if ok else f'exceeded {over:.1f}x'})"
        else:
            ok = err <= F32_REL
            detail = f"rel {err:.2e} (limit {F32_REL:g})"
        lines.append(f"  {label:<30} {name:<28} {detail}")
        if not ok:
            problems.append(f"{label}: '{name}' differs: {detail}")
    for name in twin_out:
        if name not in mlc_out:
            problems.append(f"{label}: the twin produces '{name}', which mlc did not write")
    return problems, lines


def check_forward(twin, cfg, overrides, label, weights_path, inputs_path, weights, inputs, workdir):
    """Runs mlc in both precisions and the twin in both dtypes; returns (problems, report lines)."""
    problems, lines = [], []
    for precision, dtype in (("f64", "f64"), ("native", "f32")):
        out_path = os.path.join(workdir, f"mlc-{precision}.safetensors")
        mlc_out = run_mlc(twin, overrides, weights_path, inputs_path, out_path, precision)
        twin_out = twin_outputs(twin, cfg, weights, inputs, dtype)
        p, l = compare(mlc_out, twin_out, f"{label} [{precision}]", precision)
        problems += p
        lines += l
    return problems, lines
