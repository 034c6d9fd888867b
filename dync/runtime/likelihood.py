r"""``log_likelihood``: one entry point to a model's log-likelihood of a data
set, by the exact Kalman filter or the particle filter.

* ``method="kalman"``: the exact likelihood of a linear-Gaussian model
  (:func:`dync.runtime.kalman.kalman_log_likelihood`).
* ``method="particle"``: the bootstrap particle filter's estimate
  (:func:`dync.runtime.particle.particle_filter`), for any model. It needs a
  ``key``; pass the same key at every evaluation (common random numbers) so
  that the estimate is a deterministic function of the parameters, which an
  optimiser needs (the module docstring of :mod:`dync.runtime.particle` says
  which gradient this gives).
* ``method="auto"``: the Kalman filter when the compiler found the model
  linear-Gaussian (``model.info.linear_gaussian``), else the particle filter.
  :func:`log_likelihood_with_method` says which it chose.

Both are differentiable functions of the model, so either can be the
``log_likelihood`` of :func:`dync.runtime.logdensity.parameter_log_density`::

    data = read_data(model, "data.nc")          # read once, outside the loop
    density = parameter_log_density(
        model, lambda m: log_likelihood(m, data, method="particle", key=jax.random.key(0)))
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from jaxtyping import PRNGKeyArray, Scalar

from ..errors import UsageError
from .data import ObservationData, PaddedData
from .model import AbstractModel

__all__ = ["METHODS", "choose_method", "data_digest", "log_likelihood", "log_likelihood_with_method", "read_data"]

#: the values ``method=`` accepts
METHODS = ("auto", "kalman", "particle")


def read_data(model: AbstractModel, data: Any) -> ObservationData | PaddedData:
    """The data as records: an :class:`ObservationData` or a
    :class:`PaddedData` as given, or read from a file path (NetCDF or CSV) or
    an xarray Dataset.

    Files and Datasets are read with
    :func:`dync.runtime.data.read_observations` against ``model.info`` (bad
    data raises a located error). Read once and reuse the result when
    evaluating the likelihood many times.
    """
    if isinstance(data, PaddedData):
        return data
    if isinstance(data, ObservationData):
        if not data.series:
            raise UsageError("the data set has no series")
        return data
    if isinstance(data, (str, os.PathLike)) or type(data).__name__ == "Dataset":
        from .data import read_observations  # lands beside the records

        return read_observations(data, model.info)
    raise UsageError(
        f"cannot read observations from a {type(data).__name__}",
        hint="pass a file path, an xarray Dataset, an ObservationData or a PaddedData",
    )


def data_digest(records: ObservationData | PaddedData) -> str:
    """A short digest of a data set's values (times, presence, observations,
    inputs), so that a checkpoint of a fit is never resumed on other data."""
    import hashlib

    import numpy as np

    padded = records.padded() if isinstance(records, ObservationData) else records
    h = hashlib.sha256()
    arrays = [padded.times, padded.present]
    for name in sorted(padded.values):
        arrays += [np.frombuffer(name.encode(), np.uint8), padded.values[name]]
    for name in sorted(padded.inputs):
        arrays += [np.frombuffer(name.encode(), np.uint8), *padded.inputs[name]]
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def choose_method(model: AbstractModel, method: str = "auto") -> str:
    """The method ``method`` stands for with ``model``: ``"kalman"`` or ``"particle"``.

    Raises:
        UsageError: an unknown method (with a did-you-mean hint).
    """
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        raise UsageError(
            f"unknown likelihood method `{method}`",
            hint=f"did you mean `{close[0]}`?" if close else "use one of " + ", ".join(f"`{m}`" for m in METHODS),
        )
    if method == "auto":
        return "kalman" if getattr(model.info, "linear_gaussian", False) else "particle"
    return method


def log_likelihood_with_method(
    model: AbstractModel,
    data: Any,
    *,
    method: str = "auto",
    particles: int = 1000,
    key: PRNGKeyArray | None = None,
    dt: float | None = None,
    num_steps: int | None = None,
    ess_threshold: float = 0.5,
    solver: str = "auto",
    args: Any = None,
    per_series: bool = False,
) -> tuple[Scalar, str]:
    """:func:`log_likelihood` and the name of the method that computed it
    (``"kalman"`` or ``"particle"``), so that ``method="auto"`` can say which
    it chose. With ``per_series=True`` the value is each series'
    log-likelihood, ``(S,)``, instead of their sum (the pointwise
    log-likelihood of leave-one-series-out cross-validation)."""
    if not isinstance(model, AbstractModel):
        raise UsageError(f"log_likelihood needs a compiled dync model, got {type(model).__name__}")
    chosen = choose_method(model, method)
    records = read_data(model, data)
    if chosen == "kalman":
        from .kalman import kalman_series_log_likelihood

        padded = records.padded() if isinstance(records, ObservationData) else records
        series = kalman_series_log_likelihood(model, padded)
        return (series if per_series else series.sum()), chosen
    if key is None:
        why = "auto chose the particle filter (the model is not linear-Gaussian), which" if method == "auto" else (
            "the particle filter"
        )
        raise UsageError(
            f"{why} needs a key",
            hint="pass key=jax.random.key(0), the same key at every evaluation (common random numbers)",
        )
    from .particle import particle_filter

    result = particle_filter(
        key, model, records, particles=particles, dt=dt, num_steps=num_steps,
        ess_threshold=ess_threshold, solver=solver, args=args,
    )
    return (result.series_log_evidence if per_series else result.log_evidence), chosen


def log_likelihood(model: AbstractModel, data: Any, **options: Any) -> Scalar:
    r"""The log-likelihood of ``data`` under ``model``: exact (Kalman) or a
    particle-filter estimate.

    The keyword options are those of :func:`log_likelihood_with_method`:

    Args:
        model: a compiled model, at the parameters to evaluate.
        data: an :class:`ObservationData`, a :class:`PaddedData`, a NetCDF or
            CSV path, or an xarray Dataset (LANGUAGE.md §11).
        method: ``"auto"`` (Kalman for a linear-Gaussian model, else the
            particle filter), ``"kalman"`` or ``"particle"``.
        particles: particles per series (particle filter).
        key: the particle filter's key; required for it. The same key gives
            the same estimate (common random numbers).
        dt: the largest solver step between observations (particle filter).
        num_steps: solver sub-steps per interval, instead of ``dt``.
        ess_threshold: resample when ESS/N falls below it (particle filter).
        solver: the fused solver moving the particles.
        args: run-time data of the model calls (inputs).

    Returns:
        The scalar log-likelihood (an unbiased estimate of the likelihood, in
        log, for the particle filter), summed over series.

    Raises:
        UsageError: an unknown method; the particle filter without a key;
            data that cannot be read.

    Example:
        >>> ll = log_likelihood(ou, data, method="particle", key=jax.random.key(0), dt=0.01)
        >>> value, method = log_likelihood_with_method(ou, data, key=jax.random.key(0))
    """
    value, _ = log_likelihood_with_method(model, data, **options)
    return value
