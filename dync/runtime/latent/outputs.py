"""What a variational fit gives back per series: the inferred latent paths
and the rates (posterior mean and quantiles), and the trained networks as
bytes so that a fit file can infer the paths of new series
(:func:`dync.runtime.latent.fit.infer`).

Summaries are over ``samples`` posterior paths per series, at the
observation times. A "rate" is the mean of an ``observe`` law given the state
(``observation_moments``): the Poisson rate per bin, the Normal's loc.
"""

from __future__ import annotations

import io
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..model import AbstractModel
from .elbo import series_elbo
from .training import Batch

__all__ = ["QUANTILES", "posterior_summary", "summary_groups", "weights_bytes", "weights_from_bytes"]

#: the quantiles written for each latent state and rate
QUANTILES = (0.05, 0.5, 0.95)


def posterior_summary(
    parts: tuple,
    data: Batch,
    key,
    *,
    free: np.ndarray,
    driven: np.ndarray,
    substeps: int,
    samples: int = 32,
    chunk: int = 64,
) -> dict[str, Any]:
    """Sample ``samples`` posterior paths of every series and summarise them.

    Args:
        parts: ``(model, encoder, controller)``, trained.
        data: the padded series (:class:`.training.Batch`).
        key: the draws (series ``i`` uses ``fold_in(key, i)``).
        free, driven, substeps: as in :func:`.elbo.series_elbo`.
        samples: paths per series.
        chunk: series per compiled call (bounds the memory).

    Returns:
        ``{"states": (S, T, n) mean, "states_q": (Q, S, T, n),
        "rates": name → (S, T, ...) mean, "rates_q": name → (Q, S, T, ...),
        "elbo", "loglik", "kl": (S,)}``, NumPy arrays.
    """
    free_t, driven_t = tuple(int(i) for i in free), tuple(int(i) for i in driven)
    num = int(data.present.shape[0])
    pieces = []
    for start in range(0, num, chunk):
        stop = min(num, start + chunk)
        idx = jnp.arange(start, stop)
        pad = chunk - (stop - start)
        sel = jnp.concatenate([idx, jnp.full((pad,), stop - 1, idx.dtype)]) if pad else idx
        out = _summarise(parts, key, free_t, driven_t, int(samples), int(substeps), sel, data.features[sel], data.times[sel], {n: v[sel] for n, v in data.values.items()},
                  data.present[sel])  # fmt: skip
        pieces.append(jax.tree_util.tree_map(lambda a, n=stop - start: np.asarray(a)[:n], out))
    merged = jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=0), *pieces)
    merged["states_q"] = np.moveaxis(merged["states_q"], 1, 0)
    merged["rates_q"] = {n: np.moveaxis(v, 1, 0) for n, v in merged["rates_q"].items()}
    return merged


@eqx.filter_jit
def _summarise(parts, key, free, driven, samples, substeps, index, features, times, values, present):
    """One chunk of :func:`posterior_summary`, compiled once per shape and
    setting (``free``, ``driven``, ``samples``, ``substeps`` are static)."""
    model, encoder, controller = parts
    names = [o.name for o in model.info.observations]
    free, driven = np.asarray(free, np.int32), np.asarray(driven, np.int32)

    def one(i, f, t, v, p):
        out = series_elbo(model, encoder, controller, jax.random.fold_in(key, i), f, t, v, p,
                          free=free, driven=driven, samples=samples, substeps=substeps)  # fmt: skip
        moments = jax.vmap(jax.vmap(lambda tt, y: model.observation_moments(tt, y), in_axes=(0, 0)),
                           in_axes=(None, 0))(t, out.paths)  # fmt: skip
        q = jnp.asarray(QUANTILES, out.paths.dtype)
        return {
            "states": jnp.mean(out.paths, 0),
            "states_q": jnp.quantile(out.paths, q, axis=0),
            "rates": {n: jnp.mean(moments[n][0], 0) for n in names},
            "rates_q": {n: jnp.quantile(moments[n][0], q, axis=0) for n in names},
            "elbo": out.elbo,
            "loglik": out.loglik,
            "kl": out.kl_initial + out.kl_path,
        }

    return jax.vmap(one)(index, features, times, values, present)


def summary_groups(model: AbstractModel, summary: dict[str, Any], times: np.ndarray, present: np.ndarray,
                   labels: list[str]) -> dict[str, xr.Dataset]:  # fmt: skip
    """The ``latent_states`` and ``rates`` groups of a fit file.

    ``latent_states``: per state ``NAME(series, obs, NAME_dim0, ...)``, the
    posterior mean, and ``NAME_quantile(quantile, series, obs, ...)``.
    ``rates``: the same per ``observe`` name. Padded slots are NaN; the
    coordinate ``time(series, obs)`` is the data's.
    """
    t = np.where(present, times, np.nan)
    coords = {"time": (("series", "obs"), t), "series": labels, "quantile": list(QUANTILES)}
    mask = present.astype(bool)

    def nan_padded(a, lead):
        m = mask.reshape((1,) * lead + mask.shape + (1,) * (a.ndim - lead - 2))
        return np.where(m, a, np.nan)

    states = {}
    for s in model.info.states:
        if s.hidden:
            continue
        dims = tuple(f"{s.name}_dim{i}" for i in range(len(s.shape)))
        mean = summary["states"][..., s.offset : s.offset + s.size]
        q = summary["states_q"][..., s.offset : s.offset + s.size]
        states[s.name] = (("series", "obs") + dims, nan_padded(mean.reshape(mean.shape[:2] + s.shape), 0))
        states[f"{s.name}_quantile"] = (("quantile", "series", "obs") + dims,
                                        nan_padded(q.reshape(q.shape[:3] + s.shape), 1))  # fmt: skip
    rates = {}
    for o in model.info.observations:
        dims = tuple(f"{o.name}_dim{i}" for i in range(len(o.shape)))
        rates[o.name] = (("series", "obs") + dims, nan_padded(summary["rates"][o.name], 0))
        rates[f"{o.name}_quantile"] = (("quantile", "series", "obs") + dims, nan_padded(summary["rates_q"][o.name], 1))
    return {"latent_states": xr.Dataset(states, coords=coords), "rates": xr.Dataset(rates, coords=coords)}


def weights_bytes(learned: Any) -> np.ndarray:
    """The learnable arrays as bytes (``equinox.tree_serialise_leaves``), a
    ``uint8`` array for a NetCDF variable."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, learned)
    return np.frombuffer(buffer.getvalue(), np.uint8).copy()


def weights_from_bytes(raw: np.ndarray, like: Any) -> Any:
    """The arrays written by :func:`weights_bytes`, into the structure ``like``."""
    return eqx.tree_deserialise_leaves(io.BytesIO(np.asarray(raw, np.uint8).tobytes()), like)
