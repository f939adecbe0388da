"""PyTorch twins of the example models (examples/*/model.ts), for checking mlc's training steps.

Each twin is what a PyTorch user would write for the same model, in functional style over a dict
of named tensors whose names and shapes are mlc's params (`fc256.w` is [784, 256], used as
`x @ w`). Non-trainable state (batch-norm running statistics) sits in the same dict and is updated
in place by F.batch_norm, as module buffers would be. The twins use PyTorch's own ops (F.conv2d,
F.layer_norm, F.batch_norm, nn.LSTMCell, F.cross_entropy, ...), never a port of mlc's kernels.

A twin declares:
  defaults          the model's `export const config` (keep in sync with the model file)
  params(cfg)       [TensorSpec] of every param and state in mlc's declaration order
  inputs(cfg)       [TensorSpec] of every model input; integer inputs carry their valid range
  forward(cfg, p, x, rng_step) -> {output name: tensor}, always with "loss"
where `p` maps param names to tensors, `x` maps input names to tensors (integer inputs as int64),
and `rng_step` is the value of mlc's dropout step counter `rng.step` for this step.
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

from conventions import MlcDropout, conv2d_same, nchw_to_nhwc, nhwc_to_nchw

# mlc's i32 state that counts steps for dropout. Twins declare it (so weight files can be checked
# against their specs) but receive its value as `rng_step`, not as a tensor.
RNG_STEP = "rng.step"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple
    dtype: str = "f32"  # mlc dtype: f32 or i32
    trainable: bool = True  # params only
    high: int = 0  # i32 inputs: valid values are [0, high)


@dataclass(frozen=True)
class Twin:
    name: str
    defaults: dict
    params: Callable  # (cfg) -> [TensorSpec]
    inputs: Callable  # (cfg) -> [TensorSpec]
    forward: Callable  # (cfg, params, inputs, rng_step) -> {output name: tensor}

    def config(self, overrides=None):
        """The model's config with `overrides` applied; like mlc's --set, keys and kinds must match."""
        cfg = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in cfg:
                raise ValueError(f"{self.name}: unknown config key '{key}' (config keys: {', '.join(cfg)})")
            if _kind(value) != _kind(cfg[key]):
                raise ValueError(f"{self.name}: config.{key} is a {_kind(cfg[key])}, got {value!r}")
            cfg[key] = value
        return cfg


def _kind(value):
    """Config values are compared by JSON kind: 1 and 0.5 are both numbers, True is not."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def linear(p, name, x):
    return x @ p[f"{name}.w"] + p[f"{name}.b"]


def dense_specs(name, fan_in, units):
    return [TensorSpec(f"{name}.w", (fan_in, units)), TensorSpec(f"{name}.b", (units,))]


# ------------------------------------------------------------------------------------------------
# mnist-mlp: two ReLU layers and a 10-way classifier over flattened 28x28 images.

def mnist_params(cfg):
    return dense_specs("fc256", 784, 256) + dense_specs("fc128", 256, 128) + dense_specs("out", 128, 10)


def mnist_inputs(cfg):
    return [TensorSpec("x", (cfg["batch"], 784)), TensorSpec("y", (cfg["batch"],), "i32", high=10)]


def mnist_forward(cfg, p, x, rng_step):
    h = F.relu(linear(p, "fc256", x["x"]))
    h = F.relu(linear(p, "fc128", h))
    logits = linear(p, "out", h)
    return {"logits": logits, "loss": F.cross_entropy(logits, x["y"])}


# ------------------------------------------------------------------------------------------------
# cnn: two conv(3x3, same)-bias-ReLU-maxpool(2) stages on 28x28x1 NHWC images, then a classifier.

def cnn_params(cfg):
    width, flat = cfg["width"], 7 * 7 * 2 * cfg["width"]
    return [
        TensorSpec("conv1.w", (3, 3, 1, width)), TensorSpec("conv1.b", (width,)),
        TensorSpec("conv2.w", (3, 3, width, 2 * width)), TensorSpec("conv2.b", (2 * width,)),
        *dense_specs("fc", flat, cfg["classes"]),
    ]


def cnn_inputs(cfg):
    return [TensorSpec("images", (cfg["batch"], 28, 28, 1)), TensorSpec("labels", (cfg["batch"],), "i32", high=cfg["classes"])]


def cnn_forward(cfg, p, x, rng_step):
    h = nhwc_to_nchw(x["images"])
    for name in ("conv1", "conv2"):
        h = conv2d_same(h, p[f"{name}.w"]) + p[f"{name}.b"].view(1, -1, 1, 1)
        h = F.max_pool2d(F.relu(h), kernel_size=2)
    # mlc flattens the NHWC activation, so fc.w's rows are in (h, w, c) order.
    flat = nchw_to_nhwc(h).reshape(h.shape[0], -1)
    logits = linear(p, "fc", flat)
    return {"logits": logits, "loss": F.cross_entropy(logits, x["labels"])}


# ------------------------------------------------------------------------------------------------
# lstm: one LSTM layer unrolled over `steps`, classifying from the last hidden state.

def lstm_params(cfg):
    d, h = cfg["features"], cfg["hidden"]
    return [TensorSpec("lstm.w", (d + h, 4 * h)), TensorSpec("lstm.b", (4 * h,)), *dense_specs("head", h, cfg["classes"])]


def lstm_inputs(cfg):
    b = cfg["batch"]
    return [TensorSpec("x", (b, cfg["steps"], cfg["features"])), TensorSpec("labels", (b,), "i32", high=cfg["classes"])]


def lstm_forward(cfg, p, x, rng_step):
    d, hidden = cfg["features"], cfg["hidden"]
    w, b = p["lstm.w"], p["lstm.b"]
    # mlc multiplies [x_t, h] by one fused [D+H, 4H] weight; nn.LSTMCell keeps the input and
    # recurrent weights apart, transposed ([4H, D], [4H, H]). The gate order (i, f, g, o) is the
    # same, and mlc's single bias plays bias_ih with bias_hh zero.
    cell = torch.nn.LSTMCell(d, hidden, device="meta")
    weights = {"weight_ih": w[:d].t(), "weight_hh": w[d:].t(), "bias_ih": b, "bias_hh": torch.zeros_like(b)}
    xs = x["x"]
    h = xs.new_zeros(xs.shape[0], hidden)
    c = xs.new_zeros(xs.shape[0], hidden)
    for t in range(cfg["steps"]):
        h, c = functional_call(cell, weights, (xs[:, t], (h, c)))
    logits = linear(p, "head", h)
    return {"logits": logits, "loss": F.cross_entropy(logits, x["labels"])}


# ------------------------------------------------------------------------------------------------
# transformer: pre-norm causal GPT blocks over token ids, GELU MLP, optional dropout, next-token loss.

def transformer_params(cfg):
    v, t, d = cfg["vocab"], cfg["seq"], cfg["dim"]

    def norm(name):
        return [TensorSpec(f"{name}.gamma", (d,)), TensorSpec(f"{name}.beta", (d,))]

    specs = [TensorSpec("embed", (v, d)), TensorSpec("pos", (t, d))]
    for layer in range(cfg["layers"]):
        block = f"block{layer}"
        specs += norm(f"{block}.ln1")
        for proj in ("q", "k", "v"):  # no bias, as in the mlc model
            specs.append(TensorSpec(f"{block}.attn.{proj}.w", (d, d)))
        specs += dense_specs(f"{block}.attn.proj", d, d)
        specs += norm(f"{block}.ln2") + dense_specs(f"{block}.fc1", d, 4 * d) + dense_specs(f"{block}.fc2", 4 * d, d)
        if layer == 0 and cfg["dropout"] > 0:  # the first dropout declares the step counter
            specs.append(TensorSpec(RNG_STEP, (), "i32", trainable=False))
    return specs + norm("ln_f") + dense_specs("head", d, v)


def transformer_inputs(cfg):
    shape = (cfg["batch"], cfg["seq"])
    return [TensorSpec("tokens", shape, "i32", high=cfg["vocab"]), TensorSpec("targets", shape, "i32", high=cfg["vocab"])]


def layer_norm(p, name, x):
    return F.layer_norm(x, (x.shape[-1],), p[f"{name}.gamma"], p[f"{name}.beta"], eps=1e-5)


def causal_self_attention(cfg, p, name, x):
    b, t, d, heads = x.shape[0], x.shape[1], x.shape[2], cfg["heads"]
    head_dim = d // heads

    def split_heads(y):  # [B, T, D] -> [B, NH, T, hd]
        return y.reshape(b, t, heads, head_dim).transpose(1, 2)

    q, k, v = (split_heads(x @ p[f"{name}.{proj}.w"]) for proj in ("q", "k", "v"))
    scores = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(head_dim))
    future = torch.ones(t, t, dtype=torch.bool).triu(diagonal=1)  # key after query
    probs = F.softmax(scores.masked_fill(future, -1e9), dim=-1)
    mixed = (probs @ v).transpose(1, 2).reshape(b, t, d)
    return linear(p, f"{name}.proj", mixed)


def transformer_forward(cfg, p, x, rng_step):
    dropout = MlcDropout(rng_step)
    h = p["embed"][x["tokens"]] + p["pos"]
    for layer in range(cfg["layers"]):
        block = f"block{layer}"
        h = h + causal_self_attention(cfg, p, f"{block}.attn", layer_norm(p, f"{block}.ln1", h))
        m = linear(p, f"{block}.fc2", F.gelu(linear(p, f"{block}.fc1", layer_norm(p, f"{block}.ln2", h))))
        if cfg["dropout"] > 0:
            m = dropout(m, cfg["dropout"])
        h = h + m
    logits = linear(p, "head", layer_norm(p, "ln_f", h))
    loss = F.cross_entropy(logits.reshape(-1, cfg["vocab"]), x["targets"].reshape(-1))
    return {"logits": logits, "loss": loss}


# ------------------------------------------------------------------------------------------------
# recsys: matrix factorisation with user/item biases and a global offset, mean squared error.

def recsys_params(cfg):
    users, items, k = cfg["users"], cfg["items"], cfg["factors"]
    return [
        TensorSpec("user.embed", (users, k)), TensorSpec("item.embed", (items, k)),
        TensorSpec("user.bias", (users, 1)), TensorSpec("item.bias", (items, 1)), TensorSpec("offset", (1,)),
    ]


def recsys_inputs(cfg):
    b = cfg["batch"]
    return [
        TensorSpec("user", (b,), "i32", high=cfg["users"]), TensorSpec("item", (b,), "i32", high=cfg["items"]),
        TensorSpec("rating", (b,)),
    ]


def recsys_forward(cfg, p, x, rng_step):
    user, item = x["user"], x["item"]
    dot = (p["user.embed"][user] * p["item.embed"][item]).sum(dim=1)
    bias = (p["user.bias"][user] + p["item.bias"][item]).reshape(-1)
    prediction = dot + bias + p["offset"]
    return {"prediction": prediction, "loss": F.mse_loss(prediction, x["rating"])}


# ------------------------------------------------------------------------------------------------
# resnet: stem conv-BN-ReLU, `depth` residual blocks (conv-BN-ReLU-conv-BN + identity), global
# average pooling and a classifier. Batch norm runs in training mode and updates running stats.

def resnet_params(cfg):
    c = cfg["channels"]

    def conv(name, cin):
        return [TensorSpec(f"{name}.w", (3, 3, cin, c))]

    def bn(name):
        return [
            TensorSpec(f"{name}.gamma", (c,)), TensorSpec(f"{name}.beta", (c,)),
            TensorSpec(f"{name}.running_mean", (c,), trainable=False),
            TensorSpec(f"{name}.running_var", (c,), trainable=False),
        ]

    specs = conv("stem.conv", 3) + bn("stem.bn")
    for i in range(cfg["depth"]):
        specs += conv(f"block{i}.conv1", c) + bn(f"block{i}.bn1") + conv(f"block{i}.conv2", c) + bn(f"block{i}.bn2")
    return specs + dense_specs("fc", c, cfg["classes"])


def resnet_inputs(cfg):
    b, s = cfg["batch"], cfg["size"]
    return [TensorSpec("images", (b, s, s, 3)), TensorSpec("labels", (b,), "i32", high=cfg["classes"])]


def batch_norm(p, name, x):
    return F.batch_norm(
        x, p[f"{name}.running_mean"], p[f"{name}.running_var"], p[f"{name}.gamma"], p[f"{name}.beta"],
        training=True, momentum=0.1, eps=1e-5,
    )


def resnet_forward(cfg, p, x, rng_step):
    h = F.relu(batch_norm(p, "stem.bn", conv2d_same(nhwc_to_nchw(x["images"]), p["stem.conv.w"])))
    for i in range(cfg["depth"]):
        block = f"block{i}"
        r = F.relu(batch_norm(p, f"{block}.bn1", conv2d_same(h, p[f"{block}.conv1.w"])))
        h = F.relu(h + batch_norm(p, f"{block}.bn2", conv2d_same(r, p[f"{block}.conv2.w"])))
    pooled = h.mean(dim=(2, 3))
    logits = linear(p, "fc", pooled)
    return {"logits": logits, "loss": F.cross_entropy(logits, x["labels"])}


TWINS = {
    "mnist-mlp": Twin("mnist-mlp", {"batch": 64}, mnist_params, mnist_inputs, mnist_forward),
    "cnn": Twin("cnn", {"batch": 32, "classes": 10, "width": 8}, cnn_params, cnn_inputs, cnn_forward),
    "lstm": Twin(
        "lstm", {"batch": 16, "steps": 8, "features": 12, "hidden": 32, "classes": 4}, lstm_params, lstm_inputs, lstm_forward
    ),
    "transformer": Twin(
        "transformer",
        {"batch": 4, "seq": 16, "vocab": 64, "dim": 32, "heads": 4, "layers": 1, "dropout": 0.1},
        transformer_params, transformer_inputs, transformer_forward,
    ),
    "recsys": Twin(
        "recsys", {"batch": 128, "users": 1000, "items": 500, "factors": 16}, recsys_params, recsys_inputs, recsys_forward
    ),
    "resnet": Twin(
        "resnet", {"batch": 8, "size": 16, "channels": 16, "depth": 8, "classes": 10}, resnet_params, resnet_inputs, resnet_forward
    ),
}


def get_twin(name):
    if name not in TWINS:
        raise ValueError(f"no twin for model '{name}' (twins: {', '.join(TWINS)})")
    return TWINS[name]
