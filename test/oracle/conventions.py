"""mlc's conventions expressed with PyTorch ops, for the twins in twins.py.

mlc images are NHWC and conv weights [kh, kw, C/groups, O]; PyTorch wants NCHW and
[O, C/groups, kh, kw]. mlc's "same" padding is TensorFlow's: ceil(in / stride) outputs with the
odd pixel of padding at the end, which PyTorch's padding argument cannot say (it pads both sides
equally), so asymmetric cases go through F.pad. mlc's dropout draws its mask from a counter-based
Philox RNG (philox.py); PyTorch's F.dropout uses its own generator, so the twins multiply by
mlc's mask explicitly.
"""

import math

import torch
import torch.nn.functional as F

from philox import dropout_keep_mask


def nhwc_to_nchw(x):
    return x.permute(0, 3, 1, 2)


def nchw_to_nhwc(x):
    return x.permute(0, 2, 3, 1)


def conv_weight_to_torch(w):
    """mlc's [kh, kw, C/groups, O] as PyTorch's [O, C/groups, kh, kw]."""
    return w.permute(3, 2, 0, 1)


def tf_same_pads(size, kernel, stride, dilation=1):
    """(before, after) padding of TensorFlow's "same" along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv2d_same(x, w, stride=1):
    """TensorFlow-"same" convolution of an NCHW input with an mlc-layout weight, no bias."""
    kh, kw = w.shape[0], w.shape[1]
    top, bottom = tf_same_pads(x.shape[2], kh, stride)
    left, right = tf_same_pads(x.shape[3], kw, stride)
    weight = conv_weight_to_torch(w)
    if top == bottom and left == right:
        return F.conv2d(x, weight, stride=stride, padding=(top, left))
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, stride=stride)


class MlcDropout:
    """Inverted dropout with mlc's masks for one forward pass at step `step`.

    The k-th dropout applied in the pass (k = 0, 1, ...) uses seed k, as the frontend numbers the
    dropouts of a graph in the order it builds them; every call of this object is the next one.
    """

    def __init__(self, step):
        self.step = int(step)
        self.next_seed = 0

    def __call__(self, x, rate):
        seed = self.next_seed
        self.next_seed += 1
        if rate >= 1:  # every element dropped; 1 / (1 - rate) would be infinite
            return x * 0.0
        keep = dropout_keep_mask(x.numel(), rate, seed, self.step)
        keep = torch.from_numpy(keep).reshape(x.shape).to(x.dtype)
        return x * keep * (1.0 / (1.0 - rate))
