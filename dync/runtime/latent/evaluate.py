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
from typing import Any

import numpy as np
import xarray as xr

from ...errors import UsageError
from ..data import PaddedData
from ..likelihood import read_data
from .fit import VIFit, infer

__all__ = ["bits_per_spike", "evaluate_fit", "poisson_log_likelihood", "rate_r2"]


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


def _padded_from(ds: xr.Dataset, name: str, hide_last: int = 0) -> PaddedData:
    """A shared-time Dataset as padded data, every time kept (an all-missing
    time too), the last ``hide_last`` times' values set missing."""
    values = np.asarray(ds[name].values, np.float64).copy()
    if hide_last:
        values[:, -hide_last:] = np.nan
    times = np.broadcast_to(np.asarray(ds["time"].values, np.float64), values.shape[:2]).copy()
    present = np.ones(values.shape[:2], bool)
    return PaddedData(times, {name: values}, present, np.full(values.shape[0], values.shape[1]))


def evaluate_fit(
    fit: VIFit,
    data: Any,
    truth: xr.Dataset,
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
            held-out neurons missing.
        truth: every trial's ``spikes`` and, when known, ``rates``, by series
            label, with ``split`` per trial (as :mod:`.lorenz` writes).
        name: the observation of counts.
        forward_bins: the bins predicted forward (0: skip).
        seed, samples: the posterior paths.

    Returns:
        split → ``{"trials", "bps", "co_bps", "r2", "r2_heldout", "fp_bps"}``
        (NaN where not computable), and ``"all"`` over every evaluated trial.
    """
    import json

    ds = xr.open_dataset(data) if not isinstance(data, xr.Dataset) else data
    if name not in ds:
        raise UsageError(f"the evaluation data has no `{name}` variable")
    records = read_data(fit.model, ds)
    labels = [str(s.name) for s in records.series]
    truth_labels = {str(v): i for i, v in enumerate(truth["series"].values)}
    missing = [lab for lab in labels if lab not in truth_labels]
    if missing:
        raise UsageError(f"{len(missing)} evaluation series are not in the truth file (first: {missing[0]})",
                         hint="label the series of both files alike (the `series` coordinate)")  # fmt: skip
    rows = np.array([truth_labels[lab] for lab in labels])
    heldout = json.loads(ds.attrs.get("heldout", "{}") or "{}").get(name, [])
    inferred = infer(fit, records, seed=seed, samples=samples)
    rates = inferred["rates"][name]  # (S, T, N)
    spikes = np.asarray(truth["spikes"].values, np.float64)[rows]
    if spikes.shape != rates.shape:
        raise UsageError(f"truth spikes {spikes.shape} and inferred rates {rates.shape} differ in shape",
                         hint="evaluate on data with every time point kept")  # fmt: skip
    true_rates = np.asarray(truth["rates"].values, np.float64)[rows] if "rates" in truth else None
    split = np.asarray(truth["split"].values).astype(str)[rows] if "split" in truth else np.full(len(rows), "all")
    held_in = [i for i in range(rates.shape[-1]) if i not in set(heldout)]
    fp_rates = None
    if forward_bins > 0:
        fp_rates = infer(fit, _padded_from(ds, name, forward_bins), seed=seed, samples=samples)["rates"][name]
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
