"""The unrolled Threefry of ``dync.runtime.rng`` equals JAX's, bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

from dync.runtime import rng


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1])
@pytest.mark.parametrize("size", [1, 2, 7, 1000, 1001])
def test_threefry_bits_equal_jax(seed, size):
    key = jax.random.key(seed)
    counts = jnp.arange(size + size % 2, dtype=jnp.uint32)
    expected = threefry_2x32(jax.random.key_data(key), counts)[:size]
    np.testing.assert_array_equal(np.asarray(rng.threefry_bits(key, size)), np.asarray(expected))


@pytest.mark.parametrize("data", [0, 1, 5, 2**31 + 5, 2**32 - 1])
def test_fold_in_equals_jax_for_typed_and_raw_keys(data):
    typed = jax.random.key(42)
    raw = jax.random.PRNGKey(42)
    expected = np.asarray(jax.random.key_data(jax.random.fold_in(typed, data)))
    got_typed = rng.fold_in(typed, data)
    assert jnp.issubdtype(got_typed.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(got_typed)), expected)
    np.testing.assert_array_equal(np.asarray(rng.fold_in(raw, data)), expected)


def test_fold_in_under_jit_and_vmap():
    key = jax.random.key(3)
    idx = jnp.arange(10)
    got = jax.jit(jax.vmap(lambda i: jax.random.key_data(rng.fold_in(key, i))))(idx)
    expected = jax.vmap(lambda i: jax.random.key_data(jax.random.fold_in(key, i)))(idx)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_other_key_types_fall_back_to_jax():
    key = jax.random.key(0, impl="rbg")
    assert not rng.is_threefry(key)
    np.testing.assert_array_equal(
        np.asarray(jax.random.key_data(rng.fold_in(key, 3))),
        np.asarray(jax.random.key_data(jax.random.fold_in(key, 3))),
    )
    np.testing.assert_array_equal(
        np.asarray(rng.standard_normal(key, (5,), jnp.float32)),
        np.asarray(jax.random.normal(key, (5,), jnp.float32)),
    )


def test_standard_normal_is_standard_normal_and_deterministic():
    key = jax.random.key(7)
    z = np.asarray(rng.standard_normal(key, (200, 500), jnp.float32))
    assert z.shape == (200, 500) and z.dtype == np.float32
    np.testing.assert_array_equal(z, np.asarray(rng.standard_normal(key, (200, 500), jnp.float32)))
    # 100,000 draws: the mean's standard error is 0.0032 and the variance's
    # 0.0045; 5 standard errors each. Kolmogorov-Smirnov at the 1e-3 level.
    assert abs(z.mean()) < 0.016
    assert abs(z.var() - 1.0) < 0.023
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    # the two words of a Threefry block are both used and are not the same draw
    assert np.corrcoef(z.ravel()[: z.size // 2], z.ravel()[z.size // 2 :])[0, 1] < 0.02


def test_standard_normal_float64_is_jax_normal(x64):
    key = jax.random.key(1)
    np.testing.assert_array_equal(
        np.asarray(rng.standard_normal(key, (9,), jnp.float64)),
        np.asarray(jax.random.normal(key, (9,), jnp.float64)),
    )
