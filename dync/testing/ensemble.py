"""Simulated ensembles for ``dync test``, and the model's ``expect``
statements evaluated on them.

An :class:`Ensemble` is ``paths`` simulated paths at the saved times, as
flat states ``(paths, times, n)`` (hidden states, which no expectation
reads, are zero). Its evaluation functions are compiled once per model
structure and expectation and reused for every parameter draw: the model
(and so its parameter values) is an argument, not a constant.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from ..runtime.inputs import make_args
from ..runtime.params import with_params
from ..runtime.simulate import simulate

__all__ = ["Ensemble", "Grid", "expectation_rhs", "expectation_values", "simulate_ensemble"]

#: at most this many saved times per run (``always`` is checked at each)
MAX_SAVED = 1000


@dataclasses.dataclass(frozen=True)
class Grid:
    """The time grid of the runs: ``steps`` steps of ``dt`` from 0, saved
    every ``save_every`` steps (an even number when a coarse run at
    ``2 dt`` is made, so the coarse run's saves fall on the same times)."""

    t1: float
    dt: float
    steps: int
    save_every: int
    coarse: bool

    @classmethod
    def make(cls, t1: float, dt: float) -> "Grid":
        steps = int(round(t1 / dt))
        every = max(1, math.ceil(steps / MAX_SAVED))
        coarse = steps % 2 == 0 and steps >= 4
        if coarse and every % 2:
            every += 1
            while steps % every:
                every += 2
        elif steps % every:
            every = 1
        return cls(float(t1), float(dt), steps, every, coarse)


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """Simulated paths: ``ys[path, time, :]`` is the flat state at
    ``times[time]``; ``observations`` the sampled observations."""

    times: Float[np.ndarray, " T"]
    ys: Float[np.ndarray, "N T n"]
    observations: dict[str, np.ndarray]


def simulate_ensemble(
    model: Any, values: dict[str, np.ndarray], *, paths: int, grid: Grid, seed: int, solver: str, coarse: bool = False,
    chunk_size: int | None = None, inputs: Mapping[str, Any] | None = None,
) -> Ensemble:
    """Simulate ``paths`` paths of ``model`` at parameter ``values`` on
    ``grid`` (at ``2 dt`` when ``coarse``), keeping non-finite values;
    ``inputs`` are the model's input series (:func:`dync.simulate`'s)."""
    dt, every = (2 * grid.dt, grid.save_every // 2) if coarse else (grid.dt, grid.save_every)
    ds = simulate(
        model, seed=seed, paths=paths, t1=grid.t1, dt=dt, save=every, solver=solver, params=values or None,
        on_nonfinite="keep", progress=False, chunk_size=chunk_size, inputs=inputs,
    )  # fmt: skip
    info = model.info
    times = np.asarray(ds["time"].values, dtype=float)
    ys = np.zeros((paths, times.size, info.state_size))
    for s in info.states:
        if s.hidden:
            continue
        ys[:, :, s.offset : s.offset + s.size] = np.asarray(ds[s.name].values).reshape(paths, times.size, s.size)
    obs = {o.name: np.asarray(ds[o.name].values) for o in info.observations if o.name in ds}
    return Ensemble(times, ys, obs)


@eqx.filter_jit
def _values(model, index: int, times, ys, args):
    per_time = jax.vmap(lambda t, y: model.expectation_values(index, t, y, args), in_axes=(None, 0))
    return jax.vmap(per_time, in_axes=(0, 1), out_axes=1)(times, ys)


@eqx.filter_jit
def _rhs(model, index: int, times):
    return jax.vmap(lambda t: model.expectation_rhs(index, t))(times)


def expectation_values(
    model: Any, values: dict[str, np.ndarray], index: int, ens: Ensemble, inputs: Mapping[str, Any] | None = None
) -> np.ndarray:
    """The left side of expectation ``index`` on every path and saved time,
    ``(paths, times, k)`` with ``k`` its flattened size."""
    m = with_params(model, values) if values else model
    dtype = jnp.result_type(float)
    args = make_args(model.info, inputs)
    out = np.asarray(_values(m, index, jnp.asarray(ens.times, dtype), jnp.asarray(ens.ys, dtype), args))
    return out.reshape(ens.ys.shape[0], ens.times.size, -1)


def expectation_rhs(model: Any, values: dict[str, np.ndarray], index: int, times: np.ndarray) -> np.ndarray:
    """The exact right side of ``mean``/``var`` expectation ``index`` at
    ``times``, ``(times, k)``."""
    m = with_params(model, values) if values else model
    out = np.asarray(_rhs(m, index, jnp.asarray(times, jnp.result_type(float))), dtype=float)
    return out.reshape(times.size, -1)


@eqx.filter_jit
def _obs_log_probs(model, times, ys, obs, args):
    def one(t, y, o):
        return model.observation_log_prob(t, y, o, args)

    per_time = jax.vmap(one, in_axes=(None, 0, 0))
    return jax.vmap(per_time, in_axes=(0, 1, 1), out_axes=1)(times, ys, obs)


def observation_log_probs(
    model: Any, values: dict[str, np.ndarray], ens: Ensemble, paths: int = 64, inputs: Mapping[str, Any] | None = None
) -> np.ndarray:
    """The observation log-likelihood of the sampled observations of the
    first ``paths`` paths at every saved time, ``(paths, times)``: the
    observation laws evaluated where the model put them."""
    m = with_params(model, values) if values else model
    dtype = jnp.result_type(float)
    n = min(paths, ens.ys.shape[0])
    obs = {k: jnp.asarray(v[:n], dtype) for k, v in ens.observations.items()}
    args = make_args(model.info, inputs)
    return np.asarray(_obs_log_probs(m, jnp.asarray(ens.times, dtype), jnp.asarray(ens.ys[:n], dtype), obs, args))


def stationary_reference(model: Any, values: dict[str, np.ndarray], index: int, count: int, seed: int) -> np.ndarray:
    """``count`` draws of the stated stationary law of expectation
    ``index``, ``(count, k)``."""
    m = with_params(model, values) if values else model
    e = model.info.expectations[index]
    law = m.stationary_law(index)
    key = jax.random.fold_in(jax.random.key(seed), 1_000_003 + index)
    draws = law.sample(key, (count,) + tuple(e.shape))
    return np.asarray(draws, dtype=float).reshape(count, -1)
