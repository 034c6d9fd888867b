"""dync.runtime.window_adaptation: a warm-up step's key is the one
``window_adaptation(...).run`` gives that step (``split(key, n)[i]``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.runtime.window_adaptation import warmup_step_key


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_a_step_key_is_the_splits_key_at_that_step(impl):
    key = jax.random.key(7, impl=impl)
    n = 500
    every = jax.random.key_data(jax.random.split(key, n))
    steps = jnp.asarray([0, 1, 2, 63, 64, 255, 499])
    one = jax.jit(lambda i: jax.random.key_data(warmup_step_key(key, n, i)))
    for i in steps:
        np.testing.assert_array_equal(np.asarray(one(i)), np.asarray(every[int(i)]))
    # batched over chains, as the samplers call it
    chains = jax.random.split(key, 3)
    batched = jax.vmap(lambda k: jax.random.key_data(warmup_step_key(k, n, jnp.asarray(17))))(chains)
    for c in range(3):
        np.testing.assert_array_equal(np.asarray(batched[c]), np.asarray(jax.random.key_data(jax.random.split(chains[c], n))[17]))
