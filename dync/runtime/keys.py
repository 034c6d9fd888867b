"""Keys from what users pass as keys: a JAX key, raw key data or an integer
seed, one rule for every entry point (`simulate`, `load`, `propagate`,
`sample_posterior`), with a UsageError for anything else."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from ..errors import UsageError

__all__ = ["prng_key", "resolve_key"]


def prng_key(key: Any) -> PRNGKeyArray:
    """A JAX key from what a user passes as one: a key (returned as it is,
    traced or not; ``None`` too), raw ``uint32[2]`` key data, or an integer
    seed (``jax.random.key(seed)``).

    Raises:
        UsageError: anything else (a bool, a float, a batch of keys).
    """
    if key is None or isinstance(key, jax.core.Tracer) or jnp.issubdtype(getattr(key, "dtype", np.float64), jax.dtypes.prng_key):
        return key  # a key already (or traced: under jit its numbers are not known)
    return resolve_key(key, None)[0]


def resolve_key(key: Any, seed: int | None) -> tuple[PRNGKeyArray, int | str]:
    """The run's key and its ``seed`` attribute (the integer, or ``"key:..."``)."""
    if key is not None and seed is not None:
        raise UsageError("pass either a key or a seed, not both")
    if key is None and seed is None:
        raise UsageError("simulate needs a PRNG key or a seed", hint="e.g. simulate(model, seed=0, ...)")
    if key is None or isinstance(key, (int, np.integer)):
        value = int(seed if key is None else key)
        if isinstance(seed, bool) or isinstance(key, bool):
            raise UsageError("the seed must be a whole number, not a bool")
        return jax.random.key(value), value
    arr = key
    if not jnp.issubdtype(getattr(arr, "dtype", np.float64), jax.dtypes.prng_key):
        try:
            arr = jnp.asarray(arr)
        except TypeError:
            raise UsageError(f"expected a JAX PRNG key or an integer seed, got {type(key).__name__} {key!r:.40}") from None
        if arr.dtype != jnp.uint32 or arr.shape != (2,):
            raise UsageError(f"expected a JAX PRNG key or an integer seed, got an array of shape {arr.shape} and dtype {arr.dtype}")
        arr = jax.random.wrap_key_data(arr)
    if arr.shape != ():
        raise UsageError(f"expected a single PRNG key, got a batch of shape {arr.shape}")
    data = np.asarray(jax.random.key_data(arr)).ravel().tolist()
    return arr, "key:" + ",".join(str(int(x)) for x in data)
