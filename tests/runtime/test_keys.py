"""What users pass as a key (dync.runtime.keys): a JAX key, key data or an
integer seed, one rule for simulate, load, propagate and sample_posterior."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.errors import UsageError
from dync.runtime.keys import prng_key


def test_an_integer_seed_is_the_key_of_that_seed_and_keys_pass_through():
    np.testing.assert_array_equal(jax.random.key_data(prng_key(3)), jax.random.key_data(jax.random.key(3)))
    key = jax.random.key(7)
    assert prng_key(key) is key and prng_key(None) is None
    data = jax.random.key_data(jax.random.key(5))
    np.testing.assert_array_equal(jax.random.key_data(prng_key(data)), data)
    # under jit a key is traced: passed through, not inspected
    out = jax.jit(lambda k: jax.random.normal(prng_key(k)))(key)
    assert out == jax.random.normal(key)


@pytest.mark.parametrize("bad, words", [("abc", "got str 'abc'"), (1.5, "dtype float32"), (True, "not a bool"),
                                        (jnp.zeros((2, 2), jnp.uint32), "shape (2, 2)")])  # fmt: skip
def test_anything_else_is_a_usage_error(bad, words):
    with pytest.raises(UsageError, match="integer seed|bool") as err:
        prng_key(bad)
    assert words in err.value.message


def test_propagate_takes_an_integer_seed():
    import dync

    model = dync.load("ou.dync", text="model ou\nstate x = 0\ndx = -x dt + dW\n")
    y = jnp.zeros((8, 1))
    np.testing.assert_array_equal(
        dync.propagate(4, model, y, 0.0, 1.0, dt=0.1), dync.propagate(jax.random.key(4), model, y, 0.0, 1.0, dt=0.1)
    )
