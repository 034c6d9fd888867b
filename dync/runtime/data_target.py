r"""A target that sums over data points: the data of a target model, its
split into prior and per-point terms, and the check that the split holds.

In a model with a ``target`` and no equations, each ``input NAME[N, ...]``
is a static data array (docs/language.md §2.14): the generated
``target_log_density(y, args)`` reads it from ``args["data"][NAME]``, with
whatever number of points it holds. Writing $T(x; D)$ for the target on the
data set $D$, SGLD needs

$$T(x; D) = T(x; \emptyset) + \sum_{i=1}^{N} \bigl[T(x; \{d_i\}) - T(x; \emptyset)\bigr],$$

the prior part $T(x; \emptyset)$ (zero points: JAX's reductions of empty
arrays are 0) plus one likelihood term per point. :func:`split_target`
builds that :class:`~dync.runtime.samplers.SumOverData`, and
:func:`check_additive` verifies it numerically before sampling.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DyncRuntimeError, Span, UsageError
from .samplers import SumOverData

__all__ = ["check_additive", "model_data", "split_target"]

#: the relative error the additivity check allows, by float width: float32
#: sums of N terms are exact to a few ulps times log N (XLA reduces pairwise),
#: far below this; a target that is not a sum misses by O(1)
_RTOL = {4: 1e-3, 8: 1e-9}


def model_data(model, data: Any) -> dict[str, jax.Array]:
    """The data arrays of a target model, read and checked.

    Args:
        model: a compiled model whose ``info.data_dim`` is set.
        data: a ``.csv`` / ``.nc`` path, an :class:`xarray.Dataset` or a
            mapping of input names to arrays.

    Returns:
        ``{name: array}`` in JAX's default float type.

    Raises:
        UsageError: no data given, or data whose number of points is not the
            compiled size of the data dim.
        DataError: a bad data file (:func:`~.sample_data.read_data_arrays`).
    """
    from .sample_data import read_data_arrays

    info = model.info
    dim = info.data_dim
    inputs = ", ".join(f"`{n}`" for n, _ in info.inputs)
    if data is None:
        raise UsageError(
            f"the target of `{info.name}` sums over data (its inputs {inputs} run along `{dim}`), but no data was given",
            hint="pass --data FILE (a CSV with one column per component, or NetCDF), or `data:` in the spec's `sample:` section",
        )
    arrays = read_data_arrays(data, info)
    size = dict(info.dims).get(dim)
    points = int(next(iter(arrays.values())).shape[0])
    if size is not None and points != size:
        raise UsageError(
            f"the data hold {points} points, but the model was compiled with {dim} = {size}",
            hint=f"compile it with `--set {dim}={points}` (`dync sample SPEC --data FILE` and "
            "`dync.sample(path, data=...)` do this themselves)",
        )
    dtype = jnp.result_type(float)
    return {name: jnp.asarray(v, dtype) for name, v in arrays.items()}


def _target(model):
    def target(y, data):
        return jnp.reshape(model.target_log_density(y, {"data": data}), ())

    return target


def split_target(model, data: dict[str, jax.Array]) -> SumOverData:
    r"""The target as a prior and a per-point log-likelihood:
    $\log p(x) = T(x; \emptyset)$ and $\log p(d | x) = T(x; \{d\}) - T(x; \emptyset)$."""
    target = _target(model)
    empty = {k: v[:0] for k, v in data.items()}

    def logprior(y):
        return target(y, empty)

    def loglikelihood(y, point):
        return target(y, {k: v[None] for k, v in point.items()}) - logprior(y)

    return SumOverData(logprior, loglikelihood, data)


def _target_span(model) -> Span | None:
    """Where the spec writes its ``target`` (found in its text, which the
    model carries; ``None`` without one)."""
    source = getattr(model, "source", None)
    text = getattr(source, "text", "") or ""
    for number, line in enumerate(text.splitlines(), start=1):
        m = re.match(r"\s*target\b\s*:?\s*", line)
        if m:
            return Span(getattr(source, "path", "") or "<spec>", number, m.end() + 1, number, len(line.rstrip()) + 1, source=text)
    return None


def check_additive(model, split: SumOverData, positions: jax.Array) -> None:
    r"""Refuse a target that is not a sum over its data points.

    At each position (and at a small deterministic perturbation of it, so
    that a symmetric start such as 0 cannot hide a cross term) it compares
    $T(x; D)$ with $T(x; \emptyset) + \sum_i [T(x; \{d_i\}) - T(x; \emptyset)]$,
    the per-point terms vmapped, within a relative tolerance of
    $10^{-3}$ in float32 ($10^{-9}$ in float64) of
    $|T(x; \emptyset)| + \sum_i |T(x;\{d_i\}) - T(x;\emptyset)| + |T(x; D)|$.

    Args:
        model: the compiled target model.
        split: :func:`split_target`'s result.
        positions: ``(k, n)`` points to check at (the chains' starts).

    Raises:
        DyncRuntimeError: located at the spec's ``target`` line, when the sum
            does not hold, or a part of it cannot be evaluated (a target that
            uses the data size as a shape, or whose prior part is not finite).
    """
    info = model.info
    dim = info.data_dim
    target = _target(model)
    span = _target_span(model)
    positions = jnp.asarray(positions)[:4]
    noise = jax.random.normal(jax.random.key(0), positions.shape, positions.dtype)
    points = jnp.concatenate([positions, positions + 0.01 * (1 + jnp.abs(positions)) * noise])
    head = f"the target is not a sum over data points along `{dim}`"

    @jax.jit
    def parts(y):
        full = target(y, split.data)
        prior = split.logprior_fn(y)
        each = jax.vmap(lambda d: split.loglikelihood_fn(y, d))(split.data)
        return full, prior, each

    try:
        full, prior, each = (np.asarray(a, np.float64) for a in jax.vmap(parts)(points))
    except (TypeError, ValueError, IndexError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DyncRuntimeError(
            f"{head}: it cannot be evaluated on fewer points ({first})",
            span,
            hint=f"SGLD evaluates the target on one point and on none; write `{dim}` only where it is a number, "
            f"not as a shape (`zeros({dim})`, slices `[0:{dim}]`)",
        ) from None
    rtol = _RTOL.get(jnp.dtype(positions.dtype).itemsize, 1e-3)
    for j in range(points.shape[0]):
        if not np.isfinite(full[j]):
            continue  # outside the target's support: nothing to compare
        if not np.isfinite(prior[j]) or not np.all(np.isfinite(each[j])):
            raise DyncRuntimeError(
                f"{head}: with {'no data point' if not np.isfinite(prior[j]) else 'a single data point'} "
                f"it is not finite (log-density {full[j]:.6g} on all the data)",
                span,
                hint="SGLD needs target = prior + a sum of one term per data point, e.g. "
                "`sum(y * z - softplus(z)) - sum(w^2) / 2`; a log of a sum over the data is not one",
            )
        total = prior[j] + np.sum(each[j])
        scale = abs(prior[j]) + np.sum(np.abs(each[j])) + abs(full[j])
        if not abs(total - full[j]) <= rtol * scale + 1e-6:
            raise DyncRuntimeError(
                f"{head}: at the start of the chains it is {full[j]:.6g} on all the data, but its prior part "
                f"plus its {each.shape[1]} one-point terms add up to {total:.6g}",
                span,
                hint="SGLD needs target = prior + a sum of one term per data point (each term reading only its own "
                "row of the data); use nuts or mala on this target, which need no such split",
            )
