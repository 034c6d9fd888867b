"""Learnable neural functions (``net f = mlp(...)``) for compiled models.

A net is an :class:`equinox.nn.MLP`, a leaf of the model's PyTree, so fitting
trains its weights with everything else. ``depth`` counts hidden layers, as in
equinox (``depth = 2`` is input → hidden → hidden → output).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray

__all__ = ["ACTIVATIONS", "apply_net", "make_mlp"]


def _identity(x: Array) -> Array:
    return x


#: the activation names the language accepts (see ``dync.compiler.library``)
ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "elu": jax.nn.elu,
    "identity": _identity,
    "sin": jnp.sin,
}


def make_mlp(key: PRNGKeyArray, in_size: int, out_size: int, width: int, depth: int, activation: str) -> eqx.nn.MLP:
    """A freshly initialised MLP (equinox's default Glorot-uniform-style init).

    Raises:
        ValueError: for an activation the language does not know (the checker
            rejects these before code is generated).
    """
    try:
        act = ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}") from None
    return eqx.nn.MLP(in_size, out_size, width, depth, activation=act, key=key)


def apply_net(net: eqx.nn.MLP, x: ArrayLike) -> Array:
    """``net(x)`` for one input vector (a scalar counts as a length-1 vector)."""
    x = jnp.asarray(x)
    if x.ndim == 0:
        x = jnp.reshape(x, (1,))
    return net(x.astype(jnp.result_type(float)))
