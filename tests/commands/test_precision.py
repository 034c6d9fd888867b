"""dync.commands.precision: the --x64 flag holds float64 for one run."""

import jax
import jax.numpy as jnp

from dync.commands.precision import float64_if


def test_float64_for_the_block_then_the_setting_as_it_was():
    assert not jax.config.jax_enable_x64
    with float64_if(True):
        assert jnp.zeros(()).dtype == jnp.float64
    assert jnp.zeros(()).dtype == jnp.float32
    with float64_if(False):
        assert jnp.zeros(()).dtype == jnp.float32
