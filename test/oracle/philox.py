"""Philox-4x32-10 (Salmon et al., SC 2011) in numpy, vectorised over counters, and mlc's dropout
mask built from it.

mlc's dropout contract (docs/IR.md, compiler/ir/rng.ts), for a dropout with attribute `seed` at
step `t` (the value of the i32 state `rng.step`, 0 on the first step) and element `i` of its
operand in row-major order:

    key     = [seed mod 2^32, t mod 2^32]
    counter = [i // 4, 0, 0, 0]
    bits    = philox4x32(counter, key)[i % 4]
    keep    = (bits >> 8) >= ceil(rate * 2^24)

The frontend numbers the dropouts of a graph 0, 1, 2, ... in the order it meets them, and that
ordinal is the seed. This module is written from the Philox paper and Random123's constants; the
known-answer vectors in KNOWN_ANSWERS come from Random123's kat_vectors (the same three that
test/ir/rng-init.test.ts checks for the TypeScript version).
"""

import math

import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = 0x9E3779B9  # golden ratio
_W1 = 0xBB67AE85  # sqrt(3) - 1
_ROUNDS = 10
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

KNOWN_ANSWERS = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (
        [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF],
        [0xFFFFFFFF, 0xFFFFFFFF],
        [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD],
    ),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


def philox4x32(counters, key):
    """Philox-4x32-10 of every row of `counters` ([n, 4] of u32) under one key ([k0, k1]).

    Returns [n, 4] uint32. Products are formed in uint64 (exact for u32 x u32), so the high and
    low halves are the 64-bit product's.
    """
    c = np.asarray(counters, dtype=np.uint64).reshape(-1, 4) & _MASK32
    c0, c1, c2, c3 = (c[:, j].copy() for j in range(4))
    k0, k1 = int(key[0]) % 2**32, int(key[1]) % 2**32
    for round_index in range(_ROUNDS):
        if round_index > 0:  # the key is bumped between rounds
            k0 = (k0 + _W0) % 2**32
            k1 = (k1 + _W1) % 2**32
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> _SHIFT32) ^ c1 ^ np.uint64(k0),
            p1 & _MASK32,
            (p0 >> _SHIFT32) ^ c3 ^ np.uint64(k1),
            p0 & _MASK32,
        )
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def check_known_answers():
    """Raises AssertionError unless philox4x32 reproduces Random123's published vectors."""
    for counter, key, want in KNOWN_ANSWERS:
        got = [int(w) for w in philox4x32([counter], key)[0]]
        assert got == want, f"philox4x32({counter}, {key}) = {[hex(w) for w in got]}, want {[hex(w) for w in want]}"


def dropout_keep_mask(n, rate, seed, step):
    """Boolean keep mask of mlc's `dropout` over `n` elements (row-major), see the module header."""
    blocks = (n + 3) // 4
    counters = np.zeros((blocks, 4), dtype=np.uint64)
    counters[:, 0] = np.arange(blocks, dtype=np.uint64)
    bits = philox4x32(counters, [seed, step]).reshape(-1)[:n]
    threshold = math.ceil(rate * 2**24)
    return (bits >> np.uint32(8)) >= threshold
