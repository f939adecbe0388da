#!/usr/bin/env python3
"""Generates the PyTorch reference fixtures for the reduction, normalization, loss, contraction
and pooling ops (test/ir/ops-reduction.test.ts, test/ir/ops-nn.test.ts).

Run from the repository root:  /usr/bin/python3 test/oracle/gen_op_fixtures.py

Writes test/fixtures/ops/reduction.json and test/fixtures/ops/nn.json. Every case records the op,
the attributes that differ from the IR defaults (docs/IR.md), the inputs, and PyTorch's float64
result. This file maps mlc's conventions onto PyTorch's explicitly:

  * images are NHWC in mlc and NCHW in PyTorch (permute in and out);
  * conv weights are [kh, kw, C/groups, O] in mlc and [O, C/groups, kh, kw] in PyTorch;
  * "same" padding follows TensorFlow (ceil(in/stride) outputs, the odd pixel at the end), which
    PyTorch has no mode for, so the pads are computed here and applied with F.pad;
  * max pooling ignores padding (pad with -inf); average pooling divides by the number of real
    (non-padding) pixels in each window, as TensorFlow does;
  * `axes=[]` is the identity for sum/mean/max (PyTorch would reduce everything);
  * batch norm is channels-last with training-mode statistics.
Inputs come from a fixed seed, so regenerating gives byte-identical files.
"""

import json
import math
import os
import warnings

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
# PyTorch notes that its "same" mode copies the input for even kernels; the cross-check below
# uses it deliberately.
warnings.filterwarnings("ignore", message="Using padding='same'")
GEN = torch.Generator().manual_seed(20240611)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "ops")


def randn(*shape, scale=1.0):
    return torch.randn(tuple(shape), generator=GEN, dtype=torch.float64) * scale


def randint(high, *shape):
    return torch.randint(0, high, tuple(shape), generator=GEN, dtype=torch.int64)


def tensor_json(t, dtype):
    values = t.detach().reshape(-1).tolist()
    for v in values:
        assert math.isfinite(v), "fixtures must be finite (JSON has no NaN/inf)"
    if dtype == "i32":
        values = [int(v) for v in values]
    return {"dtype": dtype, "shape": list(t.shape), "data": values}


def case(cases, name, op, attrs, inputs, expected, out_dtype="f32"):
    """inputs: list of (tensor, dtype)."""
    cases.append({
        "name": name,
        "op": op,
        "attrs": attrs,
        "inputs": [tensor_json(t, d) for t, d in inputs],
        "expected": tensor_json(expected, out_dtype),
    })


# ---------------------------------------------------------------------------------------------
# reductions, normalization, losses

def ref_reduce(op, x, axes, keep_dims):
    if not axes:
        return x.clone()
    fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[op]
    return fn(x, dim=tuple(axes), keepdim=keep_dims)


def ref_layer_norm(x, gamma, beta, axis, eps):
    moved = x.movedim(axis, -1)
    y = F.layer_norm(moved, (moved.shape[-1],), gamma, beta, eps)
    return y.movedim(-1, axis)


def channels_first(x):
    return x.movedim(-1, 1)


def channels_last(x):
    return x.movedim(1, -1)


def ref_batch_norm(x, gamma, beta, eps):
    y = F.batch_norm(channels_first(x), None, None, gamma, beta, training=True, eps=eps)
    return channels_last(y)


def ref_running_stat(x, running, stat, momentum):
    running_mean = running.clone()
    running_var = running.clone()
    F.batch_norm(channels_first(x), running_mean, running_var, None, None, training=True, momentum=momentum)
    return running_mean if stat == "mean" else running_var


def ref_cross_entropy(logits, labels):
    classes = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, classes), labels.reshape(-1), reduction="mean")


def reduction_cases():
    cases = []
    reduce_specs = [
        ([2, 3, 4], [1], False),
        ([2, 3, 4], [1], True),
        ([2, 3, 4], [0, 2], False),
        ([2, 3, 4], [2, 0], True),
        ([2, 3, 4], [-1], False),
        ([2, 3, 4], [-3, -1], True),
        ([2, 3, 4], [0, 1, 2], False),
        ([2, 3, 4], [0, 1, 2], True),
        ([2, 3, 4], [], False),
        ([1, 5, 1], [0, 2], False),
        ([1, 5, 1], [1], True),
        ([3, 5, 7], [-2], False),
        ([7], [0], False),
        ([7], [0], True),
        ([4, 1], [1], False),
        ([2, 3, 2, 3], [1, 3], False),
    ]
    for op in ["sum", "mean", "max"]:
        for shape, axes, keep in reduce_specs:
            x = randn(*shape)
            attrs = {"axes": axes}
            if keep:
                attrs["keepDims"] = True
            case(cases, f"{op} {shape} axes={axes} keepDims={keep}", op, attrs,
                 [(x, "f32")], ref_reduce(op, x, axes, keep))

    for op, fn in [("softmax", torch.softmax), ("logSoftmax", torch.log_softmax)]:
        for shape, axis, scale in [
            ([2, 3, 5], -1, 1.0), ([2, 3, 5], 0, 1.0), ([2, 3, 5], 1, 1.0), ([2, 3, 5], -2, 1.0),
            ([4, 1], -1, 1.0), ([1, 6], -1, 1.0), ([6], 0, 1.0), ([3, 4], -1, 300.0), ([3, 4], 0, -500.0),
        ]:
            x = randn(*shape, scale=scale)
            attrs = {} if axis == -1 else {"axis": axis}
            case(cases, f"{op} {shape} axis={axis} scale={scale}", op, attrs, [(x, "f32")], fn(x, dim=axis))

    for shape, axis, eps in [
        ([2, 3, 6], -1, 1e-5), ([4, 5], -1, 1e-3), ([2, 5, 3], 1, 1e-5), ([2, 5, 3], -3, 1e-5),
        ([3, 1], -1, 1e-5), ([7], 0, 0.5),
    ]:
        x = randn(*shape, scale=2.0) + 0.5
        n = shape[axis]
        gamma, beta = randn(n), randn(n)
        attrs = {}
        if axis != -1:
            attrs["axis"] = axis
        if eps != 1e-5:
            attrs["eps"] = eps
        case(cases, f"layerNorm {shape} axis={axis} eps={eps}", "layerNorm", attrs,
             [(x, "f32"), (gamma, "f32"), (beta, "f32")], ref_layer_norm(x, gamma, beta, axis, eps))

    for shape, eps in [([8, 3], 1e-5), ([2, 3, 4, 5], 1e-5), ([3, 5, 2], 1e-2), ([1, 2, 2, 1], 1e-5)]:
        x = randn(*shape, scale=1.5) - 0.7
        c = shape[-1]
        gamma, beta = randn(c), randn(c)
        attrs = {} if eps == 1e-5 else {"eps": eps}
        case(cases, f"batchNorm {shape} eps={eps}", "batchNorm", attrs,
             [(x, "f32"), (gamma, "f32"), (beta, "f32")], ref_batch_norm(x, gamma, beta, eps))

    for shape, stat, momentum in [
        ([8, 3], "mean", 0.1), ([8, 3], "var", 0.1), ([2, 3, 4, 5], "mean", 0.25),
        ([2, 3, 4, 5], "var", 0.25), ([2, 4], "var", 1.0), ([5, 2], "mean", 0.0),
    ]:
        x = randn(*shape, scale=2.0) + 1.0
        running = randn(shape[-1]).abs()
        attrs = {"stat": stat}
        if momentum != 0.1:
            attrs["momentum"] = momentum
        case(cases, f"batchNormRunningStat {shape} {stat} momentum={momentum}", "batchNormRunningStat", attrs,
             [(x, "f32"), (running, "f32")], ref_running_stat(x, running, stat, momentum))

    for logit_shape, scale in [([5, 4], 1.0), ([2, 3, 4], 2.0), ([1, 1], 1.0), ([6], 1.0), ([4, 10], 200.0)]:
        logits = randn(*logit_shape, scale=scale)
        labels = randint(logit_shape[-1], *logit_shape[:-1])
        case(cases, f"softmaxCrossEntropy {logit_shape} scale={scale}", "softmaxCrossEntropy", {},
             [(logits, "f32"), (labels, "i32")], ref_cross_entropy(logits, labels))

    for shape in [[3, 4], [], [2, 1, 3], [1]]:
        a, b = randn(*shape), randn(*shape)
        case(cases, f"mse {shape}", "mse", {}, [(a, "f32"), (b, "f32")], F.mse_loss(a, b))
    return cases


# ---------------------------------------------------------------------------------------------
# matmul, conv2d, pooling

def tf_pads(size, kernel, stride, dilation, padding, explicit):
    """(before, after) padding of one spatial axis under TensorFlow's conventions."""
    if padding == "valid":
        return 0, 0
    if padding == "explicit":
        return explicit
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def spatial_pads(x_nhwc, kernel, stride, dilation, padding, pads):
    top, bottom = tf_pads(x_nhwc.shape[1], kernel[0], stride[0], dilation[0], padding, (pads[0], pads[1]))
    left, right = tf_pads(x_nhwc.shape[2], kernel[1], stride[1], dilation[1], padding, (pads[2], pads[3]))
    return (left, right, top, bottom)  # F.pad order for the last two axes of NCHW


def ref_conv2d(x, w, stride, padding, pads, dilation, groups):
    pad = spatial_pads(x, w.shape[:2], stride, dilation, padding, pads)
    xp = F.pad(channels_first(x), pad)
    y = F.conv2d(xp, w.permute(3, 2, 0, 1), stride=stride, dilation=dilation, groups=groups)
    return channels_last(y)


def ref_max_pool(x, size, stride, padding, pads):
    pad = spatial_pads(x, size, stride, (1, 1), padding, pads)
    xp = F.pad(channels_first(x), pad, value=-math.inf)
    return channels_last(F.max_pool2d(xp, size, stride))


def ref_avg_pool(x, size, stride, padding, pads):
    pad = spatial_pads(x, size, stride, (1, 1), padding, pads)
    window_sum = F.avg_pool2d(F.pad(channels_first(x), pad), size, stride, divisor_override=1)
    ones = torch.ones(1, 1, x.shape[1], x.shape[2])
    real_pixels = F.avg_pool2d(F.pad(ones, pad), size, stride, divisor_override=1)
    return channels_last(window_sum / real_pixels)


def nn_cases():
    cases = []
    for a_shape, b_shape, ta, tb in [
        ([2, 3], [3, 4], False, False),
        ([3, 2], [3, 4], True, False),
        ([2, 3], [4, 3], False, True),
        ([3, 2], [4, 3], True, True),
        ([1, 5], [5, 1], False, False),
        ([4, 1], [1, 3], False, False),
        ([2, 3, 4], [4, 5], False, False),
        ([3, 4], [2, 4, 5], False, False),
        ([2, 1, 3, 4], [3, 4, 2], False, False),
        ([5, 1, 3, 4], [1, 6, 4, 2], False, False),
        ([2, 4, 3], [2, 5, 4], True, True),
        ([2, 1, 4, 3], [3, 4, 2], True, False),
        ([7, 9], [9, 6], False, False),
    ]:
        a, b = randn(*a_shape), randn(*b_shape)
        attrs = {}
        if ta:
            attrs["transposeA"] = True
        if tb:
            attrs["transposeB"] = True
        at = a.transpose(-1, -2) if ta else a
        bt = b.transpose(-1, -2) if tb else b
        case(cases, f"matmul {a_shape} x {b_shape} ta={ta} tb={tb}", "matmul", attrs,
             [(a, "f32"), (b, "f32")], torch.matmul(at, bt))

    conv_specs = [
        # x shape, w shape, stride, padding, pads, dilation, groups
        ([1, 5, 5, 1], [3, 3, 1, 1], [1, 1], "valid", [0, 0, 0, 0], [1, 1], 1),
        ([2, 7, 6, 3], [3, 2, 3, 4], [2, 2], "same", [0, 0, 0, 0], [1, 1], 1),
        ([1, 6, 8, 2], [2, 3, 2, 3], [1, 2], "valid", [0, 0, 0, 0], [2, 1], 1),
        ([1, 5, 6, 2], [3, 3, 2, 2], [1, 1], "explicit", [1, 2, 0, 3], [1, 1], 1),
        ([1, 5, 5, 4], [3, 3, 2, 6], [1, 1], "same", [0, 0, 0, 0], [1, 1], 2),
        ([2, 6, 5, 3], [3, 3, 1, 3], [1, 1], "same", [0, 0, 0, 0], [1, 1], 3),
        ([1, 6, 5, 3], [3, 2, 1, 6], [2, 1], "valid", [0, 0, 0, 0], [1, 1], 3),
        ([1, 9, 7, 2], [3, 3, 2, 2], [3, 2], "same", [0, 0, 0, 0], [2, 2], 1),
        ([2, 4, 3, 5], [1, 1, 5, 3], [1, 1], "valid", [0, 0, 0, 0], [1, 1], 1),
        ([1, 4, 5, 2], [4, 5, 2, 3], [1, 1], "valid", [0, 0, 0, 0], [1, 1], 1),
        ([1, 8, 6, 1], [3, 3, 1, 2], [2, 2], "same", [0, 0, 0, 0], [1, 1], 1),
        ([1, 5, 5, 6], [2, 2, 2, 9], [2, 3], "explicit", [2, 0, 1, 1], [2, 1], 3),
        ([1, 3, 3, 1], [2, 2, 1, 1], [1, 1], "same", [0, 0, 0, 0], [1, 1], 1),
    ]
    for x_shape, w_shape, stride, padding, pads, dilation, groups in conv_specs:
        x, w = randn(*x_shape), randn(*w_shape)
        attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        if padding == "explicit":
            attrs["pads"] = pads
        expected = ref_conv2d(x, w, stride, padding, pads, dilation, groups)
        if padding == "same" and stride == [1, 1]:
            # Cross-check the TensorFlow pad arithmetic against PyTorch's own "same" mode, which
            # agrees with it at stride 1 (odd total padding goes to the end in both).
            torch_same = F.conv2d(channels_first(x), w.permute(3, 2, 0, 1), padding="same", dilation=dilation, groups=groups)
            assert torch.allclose(channels_last(torch_same), expected, rtol=0, atol=1e-12)
        case(cases, f"conv2d x{x_shape} w{w_shape} stride={stride} {padding}{pads if padding == 'explicit' else ''} "
                    f"dilation={dilation} groups={groups}", "conv2d", attrs, [(x, "f32"), (w, "f32")], expected)

    pool_specs = [
        # x shape, size, stride, padding, pads
        ([1, 4, 4, 2], [2, 2], [2, 2], "valid", [0, 0, 0, 0]),
        ([2, 5, 7, 3], [3, 2], [2, 3], "same", [0, 0, 0, 0]),
        ([1, 6, 5, 2], [3, 3], [1, 2], "explicit", [1, 0, 1, 2]),
        ([1, 7, 8, 1], [1, 2], [2, 3], "valid", [0, 0, 0, 0]),
        ([1, 5, 5, 2], [3, 3], [1, 1], "same", [0, 0, 0, 0]),
        ([1, 4, 6, 1], [2, 3], [2, 2], "same", [0, 0, 0, 0]),
        ([1, 3, 3, 1], [3, 3], [1, 1], "valid", [0, 0, 0, 0]),
        ([1, 1, 5, 2], [1, 3], [1, 2], "explicit", [0, 0, 2, 1]),
    ]
    for x_shape, size, stride, padding, pads in pool_specs:
        x = randn(*x_shape)
        attrs = {"size": size, "stride": stride, "padding": padding}
        if padding == "explicit":
            attrs["pads"] = pads
        label = f"x{x_shape} size={size} stride={stride} {padding}{pads if padding == 'explicit' else ''}"
        case(cases, f"maxPool2d {label}", "maxPool2d", attrs, [(x, "f32")], ref_max_pool(x, size, stride, padding, pads))
        expected_avg = ref_avg_pool(x, size, stride, padding, pads)
        pad = spatial_pads(x, size, stride, (1, 1), padding, pads)
        if pad[0] == pad[1] and pad[2] == pad[3] and 2 * pad[0] <= size[1] and 2 * pad[2] <= size[0]:
            # Where PyTorch can express the padding itself, its count_include_pad=False average
            # must agree with the mask-count construction above.
            torch_avg = F.avg_pool2d(channels_first(x), size, stride, padding=(pad[2], pad[0]), count_include_pad=False)
            assert torch.allclose(channels_last(torch_avg), expected_avg, rtol=0, atol=1e-12)
        case(cases, f"avgPool2d {label}", "avgPool2d", attrs, [(x, "f32")], expected_avg)
    return cases


def write(name, cases):
    os.makedirs(OUT_DIR, exist_ok=True)
    doc = {
        "generator": "test/oracle/gen_op_fixtures.py",
        "torch": torch.__version__,
        "cases": cases,
    }
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(path)}")


if __name__ == "__main__":
    write("reduction.json", reduction_cases())
    write("nn.json", nn_cases())
