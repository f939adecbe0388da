#!/usr/bin/env python3
"""Runs one or more training steps of an example model's PyTorch twin and writes what mlc's
training graph must reproduce.

    /usr/bin/python3 test/oracle/run_twin.py --model transformer --config '{"batch":4}' \\
        --weights w.safetensors --inputs in.safetensors --out out.safetensors --dtype f64 \\
        --optimizer '{"kind":"adamw","lr":1e-3,"weightDecay":0.01}' [--steps 1]

--weights holds every param and state of the model with mlc's names, shapes and dtypes (what
`mlc init-weights` writes); --inputs every model input (f32 / i32). --out receives, in --dtype:

    loss           the loss of the last step (computed before that step's update)
    grad/<name>    the gradient of that loss for every trainable param
    param/<name>   every trainable param and batch-norm running statistic after all steps

The dropout step counter `rng.step` is read from --weights (0 when absent: the first step), is
advanced once per step, and is not written. Optimizers are torch.optim's; see README.md for the
keys and defaults.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import safetensors_io  # noqa: E402
from twins import RNG_STEP, get_twin  # noqa: E402

TORCH_DTYPE = {"f64": torch.float64, "f32": torch.float32}
NUMPY_DTYPE = {"f32": np.float32, "i32": np.int32}

_REQUIRED = object()
# mlc optimizer JSON key -> (torch.optim keyword, default). Defaults are PyTorch's; note that
# PyTorch's AdamW decays by default (weight_decay=0.01): pass weightDecay to say otherwise.
_ADAM_ARGS = {"lr": ("lr", 1e-3), "beta1": ("beta1", 0.9), "beta2": ("beta2", 0.999), "eps": ("eps", 1e-8)}
OPTIMIZER_ARGS = {
    "sgd": {
        "lr": ("lr", _REQUIRED), "momentum": ("momentum", 0.0), "nesterov": ("nesterov", False),
        "weightDecay": ("weight_decay", 0.0),
    },
    "adam": {**_ADAM_ARGS, "weightDecay": ("weight_decay", 0.0)},
    "adamw": {**_ADAM_ARGS, "weightDecay": ("weight_decay", 1e-2)},
}
OPTIMIZER_CLASS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


class OracleError(Exception):
    """A problem with the arguments or files the caller gave (reported without a traceback)."""


def check_file_against_specs(path, tensors, specs, what):
    """Every spec present with its shape and dtype, and nothing else in the file."""
    expected = {s.name: s for s in specs}
    missing = [n for n in expected if n not in tensors]
    extra = [n for n in tensors if n not in expected]
    if missing or extra:
        raise OracleError(f"{path}: {what}s differ from the model's: missing {missing}, unexpected {extra}")
    for spec in specs:
        array = tensors[spec.name]
        want = NUMPY_DTYPE[spec.dtype]
        if array.dtype != want or tuple(array.shape) != tuple(spec.shape):
            raise OracleError(
                f"{path}: {what} '{spec.name}' must be {spec.dtype}{list(spec.shape)}, got {array.dtype}{list(array.shape)}"
            )


def load_weights(path, twin, cfg, dtype):
    """(params: {name: tensor}, rng_step: int). Trainable params require grad; state does not."""
    tensors = safetensors_io.load(path)
    specs = twin.params(cfg)
    if RNG_STEP not in tensors:  # a file without the counter means the first step
        specs = [s for s in specs if s.name != RNG_STEP]
    check_file_against_specs(path, tensors, specs, "param")
    params = {}
    rng_step = 0
    for spec in specs:
        if spec.name == RNG_STEP:
            rng_step = int(tensors[spec.name])
            continue
        params[spec.name] = torch.tensor(tensors[spec.name], dtype=TORCH_DTYPE[dtype], requires_grad=spec.trainable)
    return params, rng_step


def load_inputs(path, twin, cfg, dtype):
    """{name: tensor}: float inputs in `dtype`, integer inputs as int64 (what torch indexes with)."""
    tensors = safetensors_io.load(path)
    specs = twin.inputs(cfg)
    check_file_against_specs(path, tensors, specs, "input")
    inputs = {}
    for spec in specs:
        array = tensors[spec.name]
        if spec.dtype == "i32":
            if spec.high and array.size and (array.min() < 0 or array.max() >= spec.high):
                raise OracleError(f"{path}: input '{spec.name}' has values outside [0, {spec.high})")
            inputs[spec.name] = torch.from_numpy(array.astype(np.int64))
        else:
            inputs[spec.name] = torch.tensor(array, dtype=TORCH_DTYPE[dtype])
    return inputs


def make_optimizer(spec, params):
    """A torch.optim optimizer from mlc's optimizer JSON ({"kind": ..., "lr": ..., ...})."""
    kind = spec.get("kind")
    if kind not in OPTIMIZER_ARGS:
        raise OracleError(f"optimizer kind {kind!r} is not one of {', '.join(OPTIMIZER_ARGS)}")
    known = OPTIMIZER_ARGS[kind]
    unknown = [k for k in spec if k != "kind" and k not in known]
    if unknown:
        raise OracleError(f"{kind} optimizer: unknown keys {unknown} (known: {', '.join(known)})")
    kwargs = {}
    for key, (keyword, default) in known.items():
        kwargs[keyword] = spec.get(key, default)
        if kwargs[keyword] is _REQUIRED:
            raise OracleError(f"{kind} optimizer: '{key}' is required")
    if "beta1" in kwargs:
        kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
    return OPTIMIZER_CLASS[kind](params, **kwargs)


def train(twin, cfg, params, inputs, rng_step, optimizer_spec, steps):
    """Runs `steps` training steps in place on `params`; returns (last loss, its gradients)."""
    trainable = {n: t for n, t in params.items() if t.requires_grad}
    optimizer = make_optimizer(optimizer_spec, list(trainable.values()))
    loss, grads = None, None
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = twin.forward(cfg, params, inputs, rng_step + step)["loss"]
        loss.backward()
        grads = {n: t.grad.detach().clone() for n, t in trainable.items()}
        optimizer.step()
    return loss.detach(), grads


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="example name: mnist-mlp, cnn, lstm, transformer, recsys, resnet")
    parser.add_argument("--config", default="{}", help="JSON object of config overrides (as mlc's --set)")
    parser.add_argument("--weights", required=True, help="safetensors with every param and state")
    parser.add_argument("--inputs", required=True, help="safetensors with every model input")
    parser.add_argument("--out", required=True, help="safetensors to write")
    parser.add_argument("--dtype", choices=sorted(TORCH_DTYPE), default="f64", help="precision of the computation and output")
    parser.add_argument("--optimizer", required=True, help='JSON, e.g. {"kind":"sgd","lr":0.1,"momentum":0.9}')
    parser.add_argument("--steps", type=int, default=1, help="training steps to run (>= 1)")
    return parser.parse_args(argv)


def run(args):
    if args.steps < 1:
        raise OracleError(f"--steps must be >= 1, got {args.steps}")
    try:
        overrides, optimizer_spec = json.loads(args.config), json.loads(args.optimizer)
    except json.JSONDecodeError as e:
        raise OracleError(f"--config and --optimizer must be JSON: {e}") from None
    twin = get_twin(args.model)
    cfg = twin.config(overrides)
    params, rng_step = load_weights(args.weights, twin, cfg, args.dtype)
    inputs = load_inputs(args.inputs, twin, cfg, args.dtype)
    loss, grads = train(twin, cfg, params, inputs, rng_step, optimizer_spec, args.steps)
    out = {"loss": loss}
    out.update({f"grad/{n}": g for n, g in grads.items()})
    out.update({f"param/{n}": t.detach() for n, t in params.items()})
    out = {n: t.to(TORCH_DTYPE[args.dtype]) for n, t in out.items()}
    metadata = {"producer": "test/oracle/run_twin.py", "model": args.model, "config": json.dumps(cfg),
                "optimizer": json.dumps(optimizer_spec), "steps": str(args.steps), "dtype": args.dtype}
    safetensors_io.save(args.out, out, metadata)


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except (OracleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
