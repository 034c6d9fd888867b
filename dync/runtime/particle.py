r"""A bootstrap particle filter: an unbiased estimate of a model's likelihood
for any observation law, and a gradient for optimisation.

:func:`particle_filter` runs the filter over every series of a data set (a
:class:`~dync.runtime.data.PaddedData` or an
:class:`~dync.runtime.data.ObservationData`) in one compiled computation: one
``lax.scan`` over time, ``vmap``-ed over series.

The filter
----------
For one series with times $t_0 < t_1 < \dots < t_{T-1}$ and $N$ particles:

1. **Start.** $N$ particles are drawn from the model's initial law
   (``model.initial_state``). *The initial law holds at each series' first
   observation time* $t_0$ (each series is an independent trial that starts
   there), whatever that time is.
2. **Move.** Between consecutive times the particles are moved with the
   model's own fixed-step SDE solver
   (:func:`~dync.runtime.propagate.propagate`) in ``k`` equal sub-steps, so
   interval $j$ has the step $(t_j - t_{j-1}) / k$. The number ``k`` is one
   static number per data set, so the whole filter compiles once: with
   ``dt=`` it is $k = \lceil \max_j (t_j - t_{j-1}) / dt \rceil$, so every
   interval's own step is at most ``dt`` (shorter intervals take smaller
   steps); with ``num_steps=`` it is that number; with neither it is
   :data:`DEFAULT_SUBSTEPS`.
3. **Weigh.** Each particle's log-weight gains
   ``model.observation_log_prob(t_j, x, data_j)``; a missing (NaN) component
   contributes nothing. The log-evidence gains the log of the weighted mean
   of the new likelihoods, computed as a log-sum-exp of normalised log-weights
   (stable for very small likelihoods). A time point where every value is
   missing, and a padded slot, changes nothing: no weight update, no
   resampling.
4. **Resample** (systematic, :func:`blackjax.smc.resampling.systematic`) when
   the effective sample size $\mathrm{ESS} = 1 / \sum_i w_i^2$ (normalised
   weights) falls below ``ess_threshold * N``; the weights are then reset to
   $1/N$.

$\exp$ of the returned log-evidence is an unbiased estimate of the
likelihood $p(y_{0:T-1} \mid \theta)$ (Del Moral 2004); the log-evidence
itself is biased low by about half its variance. Independent series add
their log-evidences.

Keys and the gradient estimator
-------------------------------
The key is split into one key for the initial draws, one for the Brownian
increments (interval ``j`` uses ``fold_in(move_key, j)``) and one for the
resampling uniforms (``fold_in(resample_key, j)``); series ``s`` uses
``fold_in(key, s)``, so a series' estimate does not depend on the series
after it, nor on padding. The estimate is therefore a deterministic, piecewise
smooth function of the parameters for a fixed key.

**The gradient estimator is common random numbers with stop-gradient
resampling** (Scibior & Wood, 2021, "Differentiable particle filtering
without modifying the forward pass"). Pass the same key at every evaluation
(as :func:`dync.runtime.likelihood.log_likelihood` does when given a fixed
``key``) and differentiate the log-evidence with ``jax.grad``: the initial
draws and Brownian increments are reparametrised (the particles are
differentiable functions of the parameters); the ancestor indices of a
resampling step are discrete (the weights handed to the resampler are
``stop_gradient``-ed), and the weights after it are $1/N$ in value but keep
the gradient of each ancestor's log-weight, $\log w_a - \mathrm{sg}(\log
w_a)$, the score of its selection. The values are those of the plain
filter; the gradient is a consistent estimate of the log-likelihood's
(checked against the exact gradient of an OU chain in
``tests/runtime/test_particle.py``). Without that term (the derivative of
the fixed-key estimate itself) it was biased by how the parameters change
which particles survive, enough for MLE to climb away from the truth on a
Lotka-Volterra model with Poisson counts. Its variance grows with the
number of resampling steps (path degeneracy). For NUTS on a model with an
exact likelihood, use the Kalman filter instead.

Example:
    >>> ou = dync.load("specs/ou.dync")
    >>> data = ObservationData((Series(np.arange(10.0), {"y": ys}),))
    >>> result = particle_filter(jax.random.key(0), ou, data, particles=1000, dt=0.01)
    >>> result.log_evidence, result.ess
"""

from __future__ import annotations

import difflib
import math
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray, Scalar

from ..errors import UsageError
from .data import ObservationData, PaddedData
from .model import AbstractModel
from .propagate import propagate

__all__ = ["DEFAULT_SUBSTEPS", "ParticleFilterResult", "particle_filter", "substeps"]

#: solver sub-steps per interval when neither ``dt`` nor ``num_steps`` is given
DEFAULT_SUBSTEPS = 10


class ParticleFilterResult(NamedTuple):
    """What :func:`particle_filter` returns.

    Attributes:
        log_evidence: the log-likelihood estimate, summed over series.
        series_log_evidence: ``(S,)`` the estimate of each series.
        ess: ``(S, T)`` the effective sample size after each time point's
            weight update (before any resampling); at a time point with no
            data, that of the weights carried through; NaN in padded slots.
        resampled: ``(S, T)`` whether the particles were resampled after
            each time point.
    """

    log_evidence: Scalar
    series_log_evidence: Float[Array, " series"]
    ess: Float[Array, "series times"]
    resampled: Bool[Array, "series times"]


def _as_padded(data: ObservationData | PaddedData) -> PaddedData:
    if isinstance(data, ObservationData):
        if not data.series:
            raise UsageError("the data set has no series")
        return data.padded()
    if isinstance(data, PaddedData):
        return data
    raise UsageError(
        f"particle_filter needs an ObservationData or a PaddedData, got {type(data).__name__}",
        hint="read a file or an xarray Dataset with dync.runtime.data.read_observations(path, model.info)",
    )


def _model_values(model: AbstractModel, padded: PaddedData, dtype) -> dict[str, Array]:
    """The data's values as the model's observations: checked names and
    shapes, a NaN array for an observation the data lacks, in ``dtype``."""
    S, T = np.shape(padded.times)
    declared = {o.name: tuple(o.shape) for o in model.info.observations}
    for name, v in padded.values.items():
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            raise UsageError(
                f"the data has a variable `{name}` that model `{model.info.name}` does not observe",
                hint=f"did you mean `{close[0]}`?" if close else (
                    "the model observes " + (", ".join(f"`{n}`" for n in declared) or "nothing")
                ),
            )
        want = (S, T) + declared[name]
        if tuple(np.shape(v)) != want:
            raise UsageError(
                f"observation `{name}` has shape {tuple(np.shape(v))[2:]} per time point in the data, "
                f"but the model declares {declared[name]}"
            )
    out = {}
    for name, shape in declared.items():
        if name in padded.values:
            out[name] = jnp.asarray(padded.values[name], dtype=dtype)
        else:
            out[name] = jnp.full((S, T) + shape, jnp.nan, dtype=dtype)
    return out


def _series_args(model: AbstractModel, data: ObservationData) -> Any:
    """Each series' inputs (``Series.inputs``) as ``args``, stacked along a
    leading series axis so that the filter can vmap over them."""
    from .inputs import make_args

    per = [make_args(model.info, dict(s.inputs)) for s in data.series]
    leaves = [jax.tree_util.tree_leaves(a) for a in per]
    if any(tuple(np.shape(x) for x in ls) != tuple(np.shape(x) for x in leaves[0]) for ls in leaves):
        raise UsageError(
            "the series' inputs are given on grids of different lengths, which one compiled filter cannot batch",
            hint="interpolate every series' inputs onto grids of one length, or pass args= shared by all series",
        )
    return jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *per)


def substeps(times, present, dt: float | None = None, num_steps: int | None = None) -> int:
    """The static number of solver sub-steps per interval (module docstring, step 2).

    Args:
        times: ``(S, T)`` observation times (concrete).
        present: ``(S, T)`` bool, False in padded slots.
        dt: the largest step wanted; ``k = ceil(max_gap / dt)``.
        num_steps: the number itself.

    Returns:
        ``k >= 1``.
    """
    if num_steps is not None:
        if dt is not None:
            raise UsageError("give either dt or num_steps, not both")
        if isinstance(num_steps, bool) or int(num_steps) != num_steps or num_steps < 1:
            raise UsageError(f"num_steps must be a positive whole number, got {num_steps!r}")
        return int(num_steps)
    if dt is None:
        return DEFAULT_SUBSTEPS
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise UsageError(f"dt must be positive and finite, got {dt:g}")
    try:
        t = np.asarray(times, np.float64)
        p = np.asarray(present, bool)
    except jax.errors.TracerArrayConversionError:
        raise UsageError(
            "with dt=, the observation times must be concrete (the number of sub-steps is static)",
            hint="pass num_steps= to filter data whose times are traced",
        ) from None
    both = p[:, 1:] & p[:, :-1] if t.shape[1] > 1 else np.zeros((t.shape[0], 0), bool)
    gaps = np.where(both, np.diff(t, axis=1), 0.0)
    max_gap = float(gaps.max()) if gaps.size else 0.0
    return max(1, math.ceil(max_gap / dt * (1 - 1e-9)))


def _filter_series(
    model: AbstractModel,
    key: PRNGKeyArray,
    times: Float[Array, " T"],
    values: dict[str, Array],
    present: Bool[Array, " T"],
    particles: int,
    num_steps: int,
    threshold: float,
    solver: str,
    args: Any,
):
    """One series: ``(log_evidence, ess (T,), resampled (T,))``."""
    from blackjax.smc.resampling import systematic

    init_key, move_key, resample_key = jax.random.split(key, 3)
    x = jax.vmap(lambda k: model.initial_state(k, args))(jax.random.split(init_key, particles))
    dtype = x.dtype
    log_n = jnp.log(jnp.asarray(particles, dtype))
    logw = jnp.full((particles,), -log_n, dtype)
    # a slot is missing when every observation in it is NaN (one observed
    # name is enough to weigh the particles: the others contribute 0)
    missing = jnp.ones(present.shape, bool)
    for v in values.values():
        missing = missing & jnp.all(jnp.isnan(v.reshape(v.shape[0], -1)), axis=1)
    observed = present & ~missing

    def step(carry, slot):
        x, logw, t_prev, total = carry
        j, t, data, obs, pres = slot
        # move (a padded slot or the first time has a zero gap: no move)
        moved = propagate(
            jax.random.fold_in(move_key, j), model, x, t_prev, t, solver=solver, args=args, num_steps=num_steps
        )
        x = jnp.where(t > t_prev, moved, x)
        # weigh
        logp = jax.vmap(lambda y: model.observation_log_prob(t, y, data, args))(x)
        lw = logw + jnp.where(obs, logp, jnp.zeros((), dtype))
        inc = jax.scipy.special.logsumexp(lw)
        update = obs & jnp.isfinite(inc)
        logw = jnp.where(update, lw - jnp.where(update, inc, jnp.zeros((), dtype)), logw)
        total = total + jnp.where(obs, inc, jnp.zeros((), dtype))
        ess = 1.0 / jnp.sum(jnp.exp(2.0 * logw))
        # resample: discrete ancestors; the weights reset to 1/N in value, with
        # the gradient of each ancestor's selection (stop-gradient resampling)
        resample = update & (ess < threshold * particles)
        ancestors = systematic(
            jax.random.fold_in(resample_key, j), jax.lax.stop_gradient(jnp.exp(logw)), particles
        )
        x = jnp.where(resample, x[ancestors], x)
        chosen = logw[ancestors]
        logw = jnp.where(resample, -log_n + (chosen - jax.lax.stop_gradient(chosen)), logw)
        ess = jnp.where(pres, ess, jnp.full_like(ess, jnp.nan))
        return (x, logw, t, total), (ess, resample)

    T = times.shape[0]
    slots = (jnp.arange(T), times, values, observed, present)
    carry = (x, logw, times[0], jnp.zeros((), dtype))
    (_, _, _, total), (ess, resampled) = jax.lax.scan(step, carry, slots)
    return total, ess, resampled


@eqx.filter_jit
def _filter(model, key, times, values, present, particles, num_steps, threshold, solver, args, per_series):
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(times.shape[0]))

    def run(k, t, v, p, a):
        return _filter_series(model, k, t, v, p, particles, num_steps, threshold, solver, a)

    axes = (0, 0, 0, 0, 0 if per_series else None)
    series, ess, resampled = jax.vmap(run, in_axes=axes)(keys, times, values, present, args)
    return ParticleFilterResult(jnp.sum(series), series, ess, resampled)


def particle_filter(
    key: PRNGKeyArray,
    model: AbstractModel,
    data: ObservationData | PaddedData,
    *,
    particles: int = 1000,
    dt: float | None = None,
    num_steps: int | None = None,
    ess_threshold: float = 0.5,
    solver: str = "auto",
    args: Any = None,
) -> ParticleFilterResult:
    r"""Estimate the log-likelihood of ``data`` under ``model`` with a
    bootstrap particle filter (see the module docstring for the algorithm,
    the keys and the gradient).

    The computation is jitted inside (one compilation per model structure,
    data shape and settings; new parameter values reuse it) and may itself
    be called under ``jax.jit``, ``jax.grad`` and ``jax.vmap`` (over keys or
    parameters).

    Args:
        key: a JAX PRNG key; the same key gives the same estimate (common
            random numbers), which is what an optimiser wants.
        model: a compiled model, used as given.
        data: the observations: an :class:`ObservationData` or its
            :class:`PaddedData`. NaN marks a missing value or component.
        particles: the number of particles $N$ per series.
        dt: the largest solver step between observations; the number of
            sub-steps per interval is $\lceil \max \text{gap} / dt \rceil$, the
            same for every interval.
        num_steps: the number of sub-steps per interval, instead of ``dt``.
            With neither, :data:`DEFAULT_SUBSTEPS`.
        ess_threshold: resample when $\mathrm{ESS} / N$ falls below this
            (0 never resamples, 1 always).
        solver: ``"auto"`` or a fused fixed-step solver (as for
            :func:`~dync.runtime.propagate.propagate`).
        args: run-time data of the model calls (inputs), shared by all
            series. ``None`` for a model with inputs and an
            :class:`ObservationData`: each series' own inputs
            (``Series.inputs``, read from the data file) are used; their
            grids must have the same length in every series.

    Returns:
        A :class:`ParticleFilterResult`: the summed log-evidence, each
        series' log-evidence, the ESS trace and the resampling flags.

    Raises:
        UsageError: bad data type, a data variable the model does not
            observe, a wrong shape, bad ``particles``, ``ess_threshold``,
            ``dt`` or ``num_steps``, or a diffrax solver.

    Example:
        >>> result = particle_filter(jax.random.key(0), ou, data, particles=500, dt=0.01)
        >>> grad = eqx.filter_grad(lambda m: particle_filter(jax.random.key(0), m, data).log_evidence)(ou)
    """
    if not isinstance(model, AbstractModel):
        raise UsageError(f"particle_filter needs a compiled dync model, got {type(model).__name__}")
    if isinstance(particles, bool) or int(particles) != particles or particles < 1:
        raise UsageError(f"particles must be a positive whole number, got {particles!r}")
    threshold = float(ess_threshold)
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"ess_threshold must lie in [0, 1], got {threshold:g}")
    padded = _as_padded(data)
    per_series = False
    if args is None and model.info.inputs and isinstance(data, ObservationData):
        args, per_series = _series_args(model, data), True
    k = substeps(padded.times, padded.present, dt, num_steps)
    if getattr(model, "fbm_horizon", None) is not None:
        t = np.asarray(padded.times, np.float64)
        span = float(np.max(t[:, -1] - t[:, 0])) if t.size else 0.0
        if span > 0:
            both = np.asarray(padded.present)[:, 1:]
            step = float(np.max(np.where(both, np.diff(t, axis=1), 0.0))) / k
            model = model.with_horizon(span, step if step > 0 else None)
    dtype = jnp.result_type(float)
    values = _model_values(model, padded, dtype)
    times = jnp.asarray(padded.times, dtype=dtype)
    present = jnp.asarray(padded.present, dtype=bool)
    return _filter(model, key, times, values, present, int(particles), k, threshold, solver, args, per_series)
