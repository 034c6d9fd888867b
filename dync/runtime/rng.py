"""Random numbers for the fused kernels: JAX's Threefry-2x32, written so XLA fuses it.

On CPU, JAX lowers its Threefry hash as a rolled loop (``fori_loop`` over the
five groups of four rounds, to keep compilation short). Inside a solver's
``lax.scan`` that loop is a nested while-loop per step: five small kernels
that each write the whole block of counters to memory, plus the loop's own
bookkeeping. It was most of the cost of a cheap model (Ornstein-Uhlenbeck,
10,000 paths x 1,000 steps: 0.080 s, against 0.041 s with every thread
pinned to one core).

This module computes exactly the same function with plain elementwise
operations, unrolled, so that XLA fuses the hash with the step that uses the
numbers into one loop over the paths and nothing is written to memory in
between. The results are bit-for-bit those of ``jax.random``: the same key
gives the same numbers as ``jax.extend.random.threefry_2x32`` (checked in
``tests/runtime/test_rng.py``), so the
reproducibility contract of :mod:`dync.runtime.simulate` does not depend on
which of the two computes them.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, PRNGKeyArray, UInt32

__all__ = ["is_threefry", "key_data", "standard_normal", "threefry2x32", "threefry_bits"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x: Array, d: int) -> Array:
    return lax.shift_left(x, np.uint32(d)) | lax.shift_right_logical(x, np.uint32(32 - d))


def threefry2x32(k0: Array, k1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 block cipher (20 rounds), elementwise and unrolled.

    Args:
        k0, k1: the two 32-bit words of the key (``uint32``, broadcastable).
        x0, x1: the two words of each counter block (``uint32``, same shape).

    Returns:
        The two encrypted words, as ``jax.random``'s ``threefry2x32``
        primitive returns them.
    """
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def is_threefry(key: PRNGKeyArray) -> bool:
    """Whether ``key`` is a Threefry-2x32 key (typed, or a raw ``uint32[2]``)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(0, impl="threefry2x32"))
    return key.shape == (2,) and key.dtype == jnp.uint32


def key_data(key: PRNGKeyArray) -> UInt32[Array, "2"]:
    """The two ``uint32`` words of a Threefry key (typed or raw)."""
    return jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key


def threefry_bits(key: PRNGKeyArray, size: int) -> UInt32[Array, " size"]:
    """``threefry_2x32(key_data(key), iota(size))``: ``size`` random words.

    As in JAX, an odd count is padded by one; counter ``j`` of the first half
    is paired with counter ``j + half`` and the outputs are laid end to end.
    """
    k = key_data(key)
    half = (size + 1) // 2
    lo = lax.iota(jnp.uint32, half)
    y0, y1 = threefry2x32(k[0], k[1], lo, lo + np.uint32(half))
    return jnp.concatenate([y0, y1])[:size]


def standard_normal(key: PRNGKeyArray, shape: tuple[int, ...], dtype) -> Array:
    """Standard normal draws: ``jax.random.normal``, made cheaper for float32.

    For a Threefry key and float32 output, both 32-bit words of each
    Threefry-2x32 block are used (``jax.random.normal`` keeps one word of two
    per draw), which halves the hashing, and the hash is the unrolled one of
    this module. The words go through the same inverse-error-function map as
    ``jax.random.normal``, with 23 random mantissa bits, so the tails are the
    same. Deterministic: the same key gives the same numbers. Other dtypes and
    key types use ``jax.random.normal``.
    """
    dtype = jnp.dtype(dtype)
    if dtype != jnp.float32 or not is_threefry(key):
        return jax.random.normal(key, shape, dtype)
    bits = threefry_bits(key, math.prod(shape))
    # 23 random bits as a float in [1, 2), mapped to [-1, 1) and off -1.
    one_two = lax.bitcast_convert_type((bits >> 9) | np.uint32(0x3F800000), jnp.float32)
    u = jnp.maximum(one_two * 2.0 - 3.0, np.nextafter(np.float32(-1.0), np.float32(0.0)))
    return (np.float32(math.sqrt(2.0)) * lax.erf_inv(u)).reshape(shape)
