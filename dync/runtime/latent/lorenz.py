"""Synthetic Lorenz spiking data, LFADS/NDT style (``docs/latent.md``).

Each *condition* is one path of the Lorenz system ($\\sigma = 10$,
$\\rho = 28$, $\\beta = 8/3$) from a random point of the attractor, over
``bins`` bins of ``bin_width`` seconds, advancing ``lorenz_time`` Lorenz time
units per bin (RK4, 10 steps per bin). The three coordinates are standardised
over all conditions. Each of ``neurons`` neurons has a log-linear readout,
rate (spikes per second) $= \\exp(b_n + C_n z_t)$ with $C_{nk}$ normal of
standard deviation ``gain``/√3 and $b_n$ set so that its median rate is
``base_rate``; a bin's count is Poisson with mean rate × ``bin_width``. A
condition is repeated over ``trials`` trials: the same latent path and
rates, fresh counts.

Splits: ``unseen`` conditions (the last ones) are kept out of training
entirely; the trials of every other condition are shuffled and cut into
``train``/``valid``/``test`` by ``fractions``. The last ``heldout`` neurons
are held out: their counts are in the training data (to fit the readout) and
missing (NaN) in the evaluation data (to be predicted: co-smoothing).

:func:`lorenz_spikes` returns three Datasets (all with the data attribute
``heldout``):

- ``train``: ``spikes(series, time, neuron)`` of the training trials: fit
  data for ``dync fit`` (LANGUAGE.md §11);
- ``eval``: the valid, test and unseen-condition trials, held-out neurons NaN;
- ``truth``: every trial's ``spikes``, true ``rates`` (counts per bin) and
  ``latents``, with ``condition`` and ``split`` per trial: what
  ``dync evaluate`` scores against. Series are labelled ``SPLIT-cC-tT``.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

__all__ = ["lorenz_paths", "lorenz_spikes"]


def _lorenz(z: np.ndarray) -> np.ndarray:
    x, y, w = z[..., 0], z[..., 1], z[..., 2]
    return np.stack([10.0 * (y - x), x * (28.0 - w) - y, x * y - 8.0 / 3.0 * w], axis=-1)


def _rk4(z: np.ndarray, h: float, steps: int) -> np.ndarray:
    for _ in range(steps):
        k1 = _lorenz(z)
        k2 = _lorenz(z + 0.5 * h * k1)
        k3 = _lorenz(z + 0.5 * h * k2)
        k4 = _lorenz(z + h * k3)
        z = z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


def lorenz_paths(conditions: int, bins: int, lorenz_time: float, rng: np.random.Generator) -> np.ndarray:
    """``(conditions, bins, 3)`` standardised Lorenz paths from random points
    of the attractor (each start is run 500 bins first)."""
    z = rng.normal(0.0, 5.0, (conditions, 3)) + np.array([0.0, 0.0, 25.0])
    z = _rk4(z, lorenz_time / 10, 10 * 500)  # onto the attractor
    out = np.empty((conditions, bins, 3))
    for t in range(bins):
        out[:, t] = z
        z = _rk4(z, lorenz_time / 10, 10)
    return (out - out.mean(axis=(0, 1))) / out.std(axis=(0, 1))


def lorenz_spikes(
    *,
    conditions: int = 65,
    trials: int = 24,
    bins: int = 50,
    bin_width: float = 0.02,
    neurons: int = 30,
    heldout: int = 6,
    unseen: int = 5,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    base_rate: float = 10.0,
    gain: float = 0.7,
    lorenz_time: float = 0.015,
    seed: int = 0,
) -> dict[str, xr.Dataset]:
    """The data sets of the module docstring (``train``, ``eval``, ``truth``)."""
    if not 0 <= heldout < neurons:
        raise ValueError(f"heldout must lie in 0..{neurons - 1}")
    if not 0 <= unseen < conditions:
        raise ValueError(f"unseen must lie in 0..{conditions - 1}")
    rng = np.random.default_rng(seed)
    latents = lorenz_paths(conditions, bins, lorenz_time, rng)
    C = rng.normal(0.0, gain / np.sqrt(3.0), (neurons, 3))
    log_rate = latents @ C.T  # (conditions, bins, neurons)
    b = np.log(base_rate) - np.median(log_rate, axis=(0, 1))
    rates = np.exp(log_rate + b) * bin_width  # counts per bin
    labels, splits, conds = [], [], []
    cut = np.cumsum(np.asarray(fractions) / np.sum(fractions))
    for c in range(conditions):
        if c >= conditions - unseen:
            names = ["unseen"] * trials
        else:
            order = rng.permutation(trials)
            names = [None] * trials
            for rank, k in enumerate(order):
                u = (rank + 0.5) / trials
                names[k] = "train" if u < cut[0] else "valid" if u < cut[1] else "test"
        for k in range(trials):
            labels.append(f"{names[k]}-c{c}-t{k}")
            splits.append(names[k])
            conds.append(c)
    conds_a = np.asarray(conds)
    true_rates = rates[conds_a]
    spikes = rng.poisson(true_rates).astype(np.float64)
    time = np.arange(bins) * bin_width
    held = list(range(neurons - heldout, neurons))
    attrs = {"heldout": json.dumps({"spikes": held}), "bin_width": bin_width,
             "description": "synthetic Lorenz spiking data (dync.runtime.latent.lorenz)", "seed": seed}  # fmt: skip
    split_a = np.asarray(splits)
    truth = xr.Dataset(
        {
            "spikes": (("series", "time", "neuron"), spikes),
            "rates": (("series", "time", "neuron"), true_rates),
            "latents": (("series", "time", "latent"), latents[conds_a]),
            "condition": (("series",), conds_a),
            "split": (("series",), split_a),
            "readout": (("neuron", "latent"), C),
            "baseline": (("neuron",), b),
        },
        coords={"series": labels, "time": time},
        attrs=attrs,
    )
    train = split_a == "train"
    train_ds = xr.Dataset({"spikes": (("series", "time", "neuron"), spikes[train])},
                          coords={"series": np.asarray(labels)[train], "time": time}, attrs=attrs)  # fmt: skip
    masked = spikes.copy()
    masked[:, :, held] = np.nan
    keep = ~train
    eval_ds = xr.Dataset({"spikes": (("series", "time", "neuron"), masked[keep])},
                         coords={"series": np.asarray(labels)[keep], "time": time}, attrs=attrs)  # fmt: skip
    return {"train": train_ds, "eval": eval_ds, "truth": truth}
