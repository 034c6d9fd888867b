"""Run-time inputs of a model: time series the drift and diffusion read.

A spec that declares ``input u[K]`` reads ``u`` at the current time; the
generated model finds it in ``args["inputs"]["u"]``, a callable ``t -> value``
of the declared shape. :func:`make_args` checks the inputs a user gives
against the model's declared ones and builds that ``args`` value; a
``(times, values)`` pair or an ``xarray.DataArray`` with a ``time`` dimension
becomes a :class:`LinearInput` (linear interpolation, held constant outside
the given times), a callable is used as it is.

``args`` is what every solver passes to the model's methods:
:func:`~dync.runtime.simulate.simulate` builds it from its ``inputs=``
argument, :func:`~dync.runtime.propagate.propagate` takes it ready-made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array

from ..errors import UsageError, did_you_mean
from .model import ModelInfo

__all__ = ["LinearInput", "make_args", "make_input"]


class LinearInput(eqx.Module):
    """A time series ``t -> value`` interpolated linearly (held constant outside)."""

    ts: Array
    values: Array
    shape: tuple[int, ...] = eqx.field(static=True)

    def __call__(self, t):
        flat = jax.vmap(lambda column: jnp.interp(t, self.ts, column), in_axes=1)(self.values)
        return flat.reshape(self.shape)


def make_input(name: str, shape: tuple[int, ...], value: Any) -> Callable:
    """One input as a callable ``t -> value`` of shape ``shape``.

    Args:
        name: the input's name (for messages).
        shape: its declared shape.
        value: a callable (returned as it is), a ``(times, values)`` pair or
            an ``xarray.DataArray`` with a ``time`` dimension (both become a
            :class:`LinearInput`).

    Raises:
        UsageError: any other kind of value, times that are not strictly
            increasing, or values of the wrong shape.
    """
    if callable(value):
        return value
    if isinstance(value, xr.DataArray):
        if "time" not in value.dims:
            raise UsageError(f"input `{name}` given as a DataArray needs a `time` dimension")
        ts = np.asarray(value["time"].values, dtype=np.float64)
        vals = np.asarray(value.transpose("time", ...).values, dtype=np.float64)
    elif isinstance(value, tuple) and len(value) == 2:
        ts = np.asarray(value[0], dtype=np.float64)
        vals = np.asarray(value[1], dtype=np.float64)
    else:
        raise UsageError(
            f"input `{name}` must be a callable t -> value, a (times, values) pair, "
            "or an xarray.DataArray with a `time` dimension"
        )
    if ts.ndim != 1 or ts.size < 1 or vals.shape[:1] != ts.shape:
        raise UsageError(f"input `{name}`: {ts.size} times but values of shape {vals.shape}")
    if np.any(np.diff(ts) <= 0):
        raise UsageError(f"input `{name}`: times must be strictly increasing")
    size = math.prod(shape)
    if math.prod(vals.shape[1:]) != size:
        raise UsageError(f"input `{name}` has shape {shape}, got values of shape {vals.shape[1:]} per time")
    dtype = jnp.result_type(float)
    return LinearInput(jnp.asarray(ts, dtype), jnp.asarray(vals.reshape(ts.size, size), dtype), tuple(shape))


def make_args(info: ModelInfo, inputs: Mapping[str, Any] | None) -> Any:
    """The ``args`` of every model call: ``{"inputs": {name: callable}}``.

    Args:
        info: the model's metadata (its declared inputs).
        inputs: input name → value, as :func:`make_input` takes it.

    Returns:
        ``None`` for a model without inputs, else ``{"inputs": {...}}``.

    Raises:
        UsageError: an input the model does not declare (with a did-you-mean
            hint), a declared input missing, or a bad value.

    Example:
        >>> args = make_args(model.info, {"u": (times, values)})  # doctest: +SKIP
    """
    declared = dict(info.inputs)
    given = dict(inputs or {})
    for name in given:
        if name not in declared:
            known = ", ".join(f"`{n}`" for n in declared) or "none"
            raise UsageError(
                f"model `{info.name}` has no input `{name}` (its inputs: {known})",
                hint=did_you_mean(name, declared),
            )
    missing = [n for n in declared if n not in given]
    if missing:
        raise UsageError(
            f"model `{info.name}` needs input(s) {', '.join(f'`{n}`' for n in missing)}",
            hint="pass inputs={name: (times, values)} or a callable t -> value",
        )
    if not declared:
        return None
    return {"inputs": {n: make_input(n, tuple(shape), given[n]) for n, shape in declared.items()}}
