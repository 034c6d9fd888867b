"""The groups of a fit's ArviZ ``InferenceData`` that do not come from a sampler.

A fit written by ``dync fit`` (see ``docs/fitting.md``, "The fit file") holds:

==================  ==========================================================
``posterior``       NUTS draws, constrained, dims ``(chain, draw, ...)``
``sample_stats``    NUTS: ``lp``, ``diverging``, ``acceptance_rate``, ...
``point_estimate``  MLE/MAP: each estimate, ``NAME_se``, ``covariance``
``optimizer_trace`` MLE/MAP: the objective before each optimiser step
``observed_data``   the data: one variable per ``observe`` name, dims
                    ``(series, obs, ...)``, coordinate ``time(series, obs)``
``log_likelihood``  ``series_log_likelihood(chain, draw, series)``: each
                    series' log-likelihood at each draw (or at the estimate)
==================  ==========================================================

This module builds ``observed_data`` and the point-estimate groups, and puts
groups together; :mod:`dync.runtime.posterior` builds the sampler's.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .data import ObservationData, PaddedData

__all__ = ["LOG_LIKELIHOOD_VAR", "chain_first", "combine_groups", "data_groups", "draws_dataset", "log_likelihood_group", "observed_data_group"]

#: the variable of the ``log_likelihood`` group
LOG_LIKELIHOOD_VAR = "series_log_likelihood"


def _series_labels(records: ObservationData | PaddedData) -> list[str]:
    if isinstance(records, ObservationData):
        return [s.name or str(i) for i, s in enumerate(records.series)]
    return [str(i) for i in range(records.num_series)]


def observed_data_group(records: ObservationData | PaddedData, shapes: Mapping[str, tuple[int, ...]]) -> xr.Dataset:
    """The data as a Dataset: one variable per observation name, dims
    ``(series, obs, NAME_dim0, ...)``, NaN where missing and in the padding
    at the end of a shorter series, with the coordinate ``time(series, obs)``
    (NaN in padded slots) and ``series`` (the series' labels).

    Args:
        records: the data read for the fit.
        shapes: observation name → declared shape (for the component dims).
    """
    padded = records.padded() if isinstance(records, ObservationData) else records
    present = np.asarray(padded.present, bool)
    times = np.where(present, np.asarray(padded.times, np.float64), np.nan)
    variables = {}
    for name, shape in shapes.items():
        values = padded.values.get(name)
        if values is None:
            continue
        v = np.asarray(values, np.float64).reshape(present.shape + tuple(shape))
        mask = present.reshape(present.shape + (1,) * len(shape))
        v = np.where(mask, v, np.nan)
        dims = ("series", "obs") + tuple(f"{name}_dim{i}" for i in range(len(shape)))
        variables[name] = (dims, v)
    coords = {"time": (("series", "obs"), times), "series": _series_labels(records)}
    return xr.Dataset(variables, coords=coords)


def data_groups(records: ObservationData | PaddedData, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, xr.Dataset]:
    """The groups a fit stores its data in: ``observed_data``
    (:func:`observed_data_group`) and, for a model with ``input``s,
    ``constant_data`` (ArviZ's group for covariates): one variable per input,
    dims ``(series, NAME_step, NAME_dim0, ...)`` with the coordinate
    ``NAME_time(series, NAME_step)`` (a shorter series repeats its last time
    and value, which interpolation reads as the same series). Plots simulate
    predictive paths with these inputs.
    """
    groups = {"observed_data": observed_data_group(records, shapes)}
    padded = records.padded() if isinstance(records, ObservationData) else records
    if padded.inputs:
        variables, coords = {}, {"series": _series_labels(records)}
        for name, (times, values) in padded.inputs.items():
            values = np.asarray(values, np.float64)
            dims = ("series", f"{name}_step") + tuple(f"{name}_dim{i}" for i in range(values.ndim - 2))
            variables[name] = (dims, values)
            coords[f"{name}_time"] = (("series", f"{name}_step"), np.asarray(times, np.float64))
        groups["constant_data"] = xr.Dataset(variables, coords=coords)
    return groups


def chain_first(x: Any) -> np.ndarray:
    """A sampler's records, stacked steps first ``(draws, chains, ...)``, as
    ArviZ lays them out: ``(chains, draws, ...)``."""
    return np.swapaxes(np.asarray(x), 0, 1)


def draws_dataset(values: Mapping[str, Any], dims: Mapping[str, list[str]] | None = None) -> xr.Dataset:
    """Draws as ArviZ lays them out (what ``arviz.from_dict`` gives for one
    group, in a fifth of its time, which counts in a short sampling call):
    dims ``(chain, draw, *dims[name])``, integer coordinates for every dim
    (``NAME_dim_0, ...`` where ``dims`` names none), the attributes
    ``created_at`` and ``arviz_version``.

    Args:
        values: name → ``(chains, draws, ...)`` array.
        dims: name → the names of its dims after ``chain`` and ``draw``.
    """
    import datetime

    from .arviz_import import import_arviz

    dims = dims or {}
    coords: dict[str, np.ndarray] = {}
    variables = {}
    for name, value in values.items():
        v = np.asarray(value)
        extra = list(dims.get(name, [f"{name}_dim_{i}" for i in range(v.ndim - 2)]))
        names = ["chain", "draw", *extra]
        for dim, size in zip(names, v.shape, strict=True):
            coords.setdefault(dim, np.arange(size))
        variables[name] = (names, v)
    attrs = {
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "arviz_version": import_arviz().__version__,
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def log_likelihood_group(values: Any, records: ObservationData | PaddedData) -> xr.Dataset:
    """The ``log_likelihood`` group from ``(chain, draw, series)`` values."""
    v = np.asarray(values, np.float64)
    return xr.Dataset(
        {LOG_LIKELIHOOD_VAR: (("chain", "draw", "series"), v)},
        coords={
            "chain": np.arange(v.shape[0]),
            "draw": np.arange(v.shape[1]),
            "series": _series_labels(records),
        },
    )


def combine_groups(idata: Any | None = None, **groups: xr.Dataset):
    """An ``arviz.InferenceData`` with ``groups`` added to ``idata`` (or a new
    one). Groups outside ArviZ's schema (``point_estimate``,
    ``optimizer_trace``) are allowed; ArviZ's warning about them is
    silenced."""
    from .arviz_import import import_arviz

    az = import_arviz()

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not defined in the InferenceData scheme.*")
        warnings.filterwarnings("ignore", message=".*group.*not.*schema.*")
        if idata is None:
            return az.InferenceData(**groups)
        idata.add_groups(groups)
        return idata
