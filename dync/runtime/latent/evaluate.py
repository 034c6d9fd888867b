"""The metrics of latent-variable models of spiking data (``docs/latent.md``
gives the formulas), and the evaluation of a variational fit on held-out
trials (:func:`evaluate_fit`).

* **bits per spike** (:func:`bits_per_spike`): the Poisson log-likelihood of
  the counts under the predicted rates minus that under each neuron's mean
  count (over the evaluated trials and bins), per spike, in bits.
* **co-smoothing bits per spike**: the same on held-out neurons, whose rates
  are predicted from the latent paths inferred from the held-in neurons only
  (the readout of the held-out neurons was learned on training trials).
* **rate R²** (:func:`rate_r2`): per neuron, $1 - \\sum (\\hat r - r)^2 /
  \\sum (r - \\bar r)^2$ over trials and bins, averaged over neurons, against
  the true rates of synthetic data.
* **forward-prediction bits per spike**: bits per spike on the last
  ``forward_bins`` bins of each trial, which the encoder did not see (they are
  masked out before inference; the posterior path runs on through them).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ...errors import Span, UsageError
from ..data import SERIES_NAMES, DataError, PaddedData
from ..likelihood import read_data
from .fit import VIFit, infer

__all__ = ["bits_per_spike", "evaluate_fit", "poisson_log_likelihood", "rate_r2", "read_evaluation_file"]


def poisson_log_likelihood(rates: np.ndarray, counts: np.ndarray) -> float:
    """$\\sum k \\log\\lambda - \\lambda$ over the finite counts (the
    $\\log k!$ term, the same for every model, is left out)."""
    rates = np.asarray(rates, np.float64)
    counts = np.asarray(counts, np.float64)
    seen = np.isfinite(counts)
    r = np.maximum(rates[seen], 1e-9)
    return float(np.sum(counts[seen] * np.log(r) - r))


def bits_per_spike(rates: np.ndarray, counts: np.ndarray) -> float:
    """Bits per spike of ``rates`` for ``counts`` (both ``(..., neurons)``,
    counts per bin; NaN counts are left out) against each neuron's mean
    count."""
    counts = np.asarray(counts, np.float64)
    flat = counts.reshape(-1, counts.shape[-1])
    null = np.nanmean(flat, axis=0)
    spikes = float(np.nansum(counts))
    if spikes == 0:
        return float("nan")
    gain = poisson_log_likelihood(rates, counts) - poisson_log_likelihood(np.broadcast_to(null, counts.shape), counts)
    return gain / (spikes * math.log(2.0))


def rate_r2(predicted: np.ndarray, true: np.ndarray) -> float:
    """Mean over neurons (last axis) of each neuron's R² over everything else."""
    p = np.asarray(predicted, np.float64).reshape(-1, np.shape(predicted)[-1])
    t = np.asarray(true, np.float64).reshape(-1, np.shape(true)[-1])
    ss_res = np.sum((p - t) ** 2, axis=0)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - ss_res / np.maximum(ss_tot, 1e-300)))


#: what the evaluation data and the truth file hold (``docs/latent.md``,
#: "Evaluation"), shown as hints
DATA_FORMAT = ("the evaluation data is a NetCDF file like `make_lorenz.py`'s `*_eval.nc`: the counts "
               "`NAME(series, time, ...)` with the held-out components NaN, a `series` coordinate, a shared `time` "
               "coordinate and the JSON attribute `heldout` (observation name -> flat component indices)")  # fmt: skip
TRUTH_FORMAT = ("the truth is a NetCDF file like `make_lorenz.py`'s `*_truth.nc`: every trial's counts "
                "`NAME(series, time, ...)` (NAME is --name, `spikes` by default), optionally the true `rates` of the "
                "same dims and `split(series)`, with a `series` coordinate labelling the trials as in the evaluation "
                "data")  # fmt: skip


def _error(where: str, message: str, hint: str | None = None) -> DataError:
    return DataError(message, Span(where, 0, 0), hint=hint)


def _variables(ds: xr.Dataset) -> str:
    names = [f"`{v}`" for v in ds.data_vars]
    return "variables " + ", ".join(names) if names else "no variables"


def read_evaluation_file(source: Any, what: str) -> tuple[xr.Dataset, str]:
    """The Dataset of a ``dync evaluate`` input (``what``: ``"evaluation
    data"`` or ``"truth"``) and the name errors give it: a NetCDF path, or
    a Dataset as given.

    Raises:
        DataError: no such file, a CSV file, or not readable as NetCDF.
    """
    from ..io import netcdf_engine

    hint = DATA_FORMAT if what == "evaluation data" else TRUTH_FORMAT
    if isinstance(source, xr.Dataset):
        return source, str(source.encoding.get("source") or f"<{what}>")
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"cannot read the {what} from a {type(source).__name__}",
                         hint="pass a NetCDF file path or an xarray Dataset")  # fmt: skip
    path = Path(os.fspath(source))
    where = str(source)
    if not path.is_file():
        raise _error(where, f"no such {what} file: {where}" if not path.exists() else f"the {what} is not a file")
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        raise _error(where, f"the {what} must be a NetCDF file: `dync evaluate` does not read `{path.suffix}` "
                            "files", hint + " (xarray writes one: ds.to_netcdf(\"file.nc\"))")  # fmt: skip
    if path.stat().st_size == 0:
        raise _error(where, f"the {what} file is empty", hint)
    try:
        return xr.load_dataset(path, engine=netcdf_engine()), where
    except Exception as err:  # the engines raise many kinds; none is the user's to debug
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _error(where, f"cannot read the {what} as NetCDF: {first}", hint) from None


def _read_heldout(ds: xr.Dataset, where: str, name: str, components: int) -> list[int]:
    """The held-out flat component indices of ``name`` in the data's
    ``heldout`` attribute (none without one)."""
    import json

    raw = ds.attrs.get("heldout")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    hint = 'write it as JSON: observation name -> flat component indices, e.g. {"spikes": [24, 25]}'
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError) as err:
        raise _error(where, f"the attribute `heldout` is not valid JSON ({err}): {str(raw)[:60]!r}", hint) from None
    if not isinstance(parsed, dict):
        raise _error(where, f"the attribute `heldout` is JSON {type(parsed).__name__}, not an object", hint)
    held = parsed.get(name, [])
    if not isinstance(held, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in held):
        raise _error(where, f"the attribute `heldout` gives `{name}` {json.dumps(held)[:60]}, not a list of "
                            "component indices", hint)  # fmt: skip
    bad = [i for i in held if not 0 <= i < components]
    if bad:
        raise _error(where, f"the attribute `heldout` holds component {bad[0]} of `{name}`, which has "
                            f"{components} component(s) (indices 0..{components - 1})", hint)  # fmt: skip
    return list(dict.fromkeys(held))


def _data_layout(ds: xr.Dataset, where: str, name: str) -> tuple[str, str]:
    """The series and time dims of the evaluation data's ``name``."""
    var = ds[name]
    dims = tuple(map(str, var.dims))
    series = [d for d in SERIES_NAMES if d in dims]
    if not series:
        raise _error(where, f"`{name}` has dims ({', '.join(dims)}): the evaluation data needs a `series` "
                            "dimension", DATA_FORMAT)  # fmt: skip
    series_dim = series[0]
    tdims = tuple(map(str, ds["time"].dims)) if "time" in ds.variables else ()
    others = [d for d in tdims if d != series_dim]
    if len(others) != 1 or others[0] not in dims:
        raise _error(where, f"`{name}` has dims ({', '.join(dims)}) and `time` dims ({', '.join(tdims)}): the "
                            "trials need a `time` coordinate along their time axis", DATA_FORMAT)  # fmt: skip
    return series_dim, others[0]


def _truth_array(truth: xr.Dataset, where: str, var: str, shape: tuple[int, ...], rows: np.ndarray) -> np.ndarray:
    """The truth's ``var`` for the evaluated trials as ``(S, T, C)``, checked
    against ``shape``."""
    v = truth[var]
    dims = tuple(map(str, v.dims))
    if "series" not in dims or v.ndim < 2:
        raise _error(where, f"the truth's `{var}` has dims ({', '.join(dims)}), not (series, time, ...)",
                     TRUTH_FORMAT)  # fmt: skip
    try:
        values = np.asarray(v.transpose("series", ...).values, np.float64)
    except (TypeError, ValueError):
        raise _error(where, f"the truth's `{var}` holds {v.dtype} values, not numbers", TRUTH_FORMAT) from None
    values = values[rows]
    values = values.reshape(values.shape[:2] + (-1,))
    if values.shape != shape:
        raise _error(where, f"the truth's `{var}` has shape {values.shape} over the evaluated trials (series, "
                            f"time, components), but the evaluation data gives {shape}",
                     "the truth needs every time point and component of the evaluation data (a time at which "
                     "the data observes nothing is dropped from it)")  # fmt: skip
    return values


def _padded_from(ds: xr.Dataset, name: str, hide_last: int = 0, *, series_dim: str = "series",
                 time_dim: str = "time") -> PaddedData:  # fmt: skip
    """A shared-time Dataset as padded data, every time kept (an all-missing
    time too), the last ``hide_last`` times' values set missing."""
    var = ds[name].transpose(series_dim, time_dim, ...)
    values = np.asarray(var.values, np.float64).copy()
    if hide_last:
        values[:, -hide_last:] = np.nan
    tvar = ds["time"]
    raw = np.asarray(tvar.transpose(series_dim, time_dim).values if tvar.ndim == 2 else tvar.values, np.float64)
    times = np.broadcast_to(raw, values.shape[:2]).copy()
    present = np.ones(values.shape[:2], bool)
    return PaddedData(times, {name: values}, present, np.full(values.shape[0], values.shape[1]))


def evaluate_fit(
    fit: VIFit,
    data: Any,
    truth: Any,
    *,
    name: str = "spikes",
    forward_bins: int = 5,
    seed: int = 0,
    samples: int = 32,
) -> dict[str, dict[str, float]]:
    """Score a VI fit on evaluation trials against the truth of synthetic data.

    Args:
        fit: the trained fit (:func:`.fit.load_vi`).
        data: the evaluation trials (NetCDF path or Dataset): held-in counts,
            held-out neurons missing, their attribute ``heldout``.
        truth: (NetCDF path or Dataset) every trial's counts ``name`` and,
            when known, ``rates``, by ``series`` label, with ``split`` per
            trial (as :mod:`.lorenz` writes).
        name: the observation of counts, in the data and in the truth.
        forward_bins: the bins predicted forward (0: skip).
        seed, samples: the posterior paths.

    Returns:
        split → ``{"trials", "bps", "co_bps", "r2", "r2_heldout", "fp_bps"}``
        (NaN where not computable), and ``"all"`` over every evaluated trial.

    Raises:
        UsageError: ``name`` is not an observation of the fit's model,
            ``forward_bins`` outside ``0..bins - 1``, or trials of the data
            missing from the truth.
        DataError: a file that is not NetCDF or lacks what it needs (a
            variable, the ``series`` coordinate, a valid ``heldout``
            attribute, matching shapes); the message names the file.
    """
    ds, where = read_evaluation_file(data, "evaluation data")
    truth, truth_where = read_evaluation_file(truth, "truth")
    observations = {o.name: o for o in fit.model.info.observations}
    if name not in observations:
        known = ", ".join(f"`{o}`" for o in observations)
        raise UsageError(f"the fit's model `{fit.model.info.name}` has no observation `{name}` (it observes {known})",
                         hint=f"pass --name {next(iter(observations))}" if observations else None)  # fmt: skip
    components = int(np.prod(observations[name].shape, dtype=np.int64))
    if name not in ds:
        raise _error(where, f"the evaluation data has no `{name}` variable (it has {_variables(ds)})",
                     f"--name is the observation of counts, in both files; {DATA_FORMAT}")  # fmt: skip
    series_dim, time_dim = _data_layout(ds, where, name)
    bins = int(ds.sizes[time_dim])
    if forward_bins < 0 or forward_bins >= bins:
        raise UsageError(f"--forward-bins {forward_bins}: the trials have {bins} bins, so it takes 0..{bins - 1}",
                         hint="0 skips the forward prediction")  # fmt: skip
    heldout = _read_heldout(ds, where, name, components)
    if "series" not in truth.variables and "series" not in truth.dims:
        dims = ", ".join(f"`{d}`" for d in truth.dims) or "none"
        extra = " (a `dync simulate` output labels its paths `path`: ds.rename(path=\"series\"))" \
            if "path" in truth.dims else ""  # fmt: skip
        raise _error(truth_where, f"the truth file has no `series` coordinate (its dims: {dims})",
                     TRUTH_FORMAT + extra)  # fmt: skip
    if truth["series"].ndim != 1:
        raise _error(truth_where, f"the truth's `series` has dims {tuple(map(str, truth['series'].dims))}, "
                                  "not (series,)", TRUTH_FORMAT)  # fmt: skip
    if name not in truth.data_vars:
        raise _error(truth_where, f"the truth file has no `{name}` variable (it has {_variables(truth)})",
                     f"--name ({name}) names the counts in the truth too; {TRUTH_FORMAT}")  # fmt: skip
    try:
        records = read_data(fit.model, ds)
    except DataError as err:  # a Dataset given to the reader: name the file
        raise DataError(err.message, Span(where, 0, 0), hint=err.hint) from None
    labels = [str(s.name) for s in records.series]
    truth_labels: dict[str, int] = {}
    for i, v in enumerate(truth["series"].values):
        label = v.decode() if isinstance(v, bytes) else str(v)
        if label in truth_labels:
            raise _error(truth_where, f"the truth labels two trials `{label}`",
                         "give every trial its own `series` label")  # fmt: skip
        truth_labels[label] = i
    missing = [lab for lab in labels if lab not in truth_labels]
    if missing:
        raise UsageError(f"{len(missing)} evaluation series are not in the truth file (first: {missing[0]})",
                         hint="label the series of both files alike (the `series` coordinate)")  # fmt: skip
    rows = np.array([truth_labels[lab] for lab in labels])
    inferred = infer(fit, records, seed=seed, samples=samples)
    rates = np.asarray(inferred["rates"][name], np.float64)
    rates = rates.reshape(rates.shape[:2] + (-1,))  # (S, T, C): flat components
    spikes = _truth_array(truth, truth_where, name, rates.shape, rows)
    true_rates = _truth_array(truth, truth_where, "rates", rates.shape, rows) if "rates" in truth.data_vars else None
    if "split" in truth.data_vars:
        if tuple(map(str, truth["split"].dims)) != ("series",):
            raise _error(truth_where, f"the truth's `split` has dims {tuple(map(str, truth['split'].dims))}, "
                                      "not (series,)", TRUTH_FORMAT)  # fmt: skip
        split = np.asarray(truth["split"].values).astype(str)[rows]
    else:
        split = np.full(len(rows), "all")
    held_in = [i for i in range(rates.shape[-1]) if i not in set(heldout)]
    fp_rates = None
    if forward_bins > 0:
        padded = _padded_from(ds, name, forward_bins, series_dim=series_dim, time_dim=time_dim)
        fp_rates = np.asarray(infer(fit, padded, seed=seed, samples=samples)["rates"][name], np.float64)
        fp_rates = fp_rates.reshape(fp_rates.shape[:2] + (-1,))
    out: dict[str, dict[str, float]] = {}
    for group in [*dict.fromkeys(split), "all"]:
        sel = np.ones(len(rows), bool) if group == "all" else split == group
        nan = float("nan")
        m = {"trials": float(sel.sum())}
        m["bps"] = bits_per_spike(rates[sel][..., held_in], spikes[sel][..., held_in])
        m["co_bps"] = bits_per_spike(rates[sel][..., heldout], spikes[sel][..., heldout]) if heldout else nan
        m["r2"] = rate_r2(rates[sel], true_rates[sel]) if true_rates is not None else nan
        m["r2_heldout"] = rate_r2(rates[sel][..., heldout], true_rates[sel][..., heldout]) \
            if true_rates is not None and heldout else nan  # fmt: skip
        m["fp_bps"] = bits_per_spike(fp_rates[sel][:, -forward_bins:], spikes[sel][:, -forward_bins:]) \
            if fp_rates is not None else nan  # fmt: skip
        out[group] = m
    return out
