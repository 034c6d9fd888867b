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


def test_other_key_types_fall_back_to_jax():
    key = jax.random.key(0, impl="rbg")
    assert not rng.is_threefry(key)
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
