"""Feynman–Kac correctors: reverse-SDE particles, weighted and resampled
(SMC), that sample a *new* target built from trained scores.

Following "Feynman–Kac Correctors in Diffusion" (Skreta et al., ICML 2025),
the target path is ``rho_t = prod_i p_t^(i)^beta_i`` with ``p_t^(i)`` the
forward marginals whose scores ``s_i`` are known (trained nets or closed
forms), all for the same linear forward SDE ``dx = f dt + G dW``
(``D = G G^T``, independent of the state):

* ``beta = (b,)``: **annealing**, ``p^b`` (``b > 1`` sharpens, ``b < 1``
  flattens);
* ``beta = (1, 1)``: the **product of experts** ``p^(1) p^(2)``;
* ``beta = (w, 1 - w)``: **classifier-free-style guidance** between a
  conditional and an unconditional score.

With ``S = sum_i beta_i s_i``, the particles follow the reverse-time SDE
with drift ``f - D S`` (in forward time; ``dx = [-f + D S] dtau + G dW`` in
reverse time ``tau``), and carry log-weights with

    d log w = [(sum_i beta_i - 1) div f + 1/2 (S^T D S - sum_i beta_i s_i^T D s_i)] dtau,

derived from the Fokker–Planck equation of each ``p^(i)``: the terms with
``div s_i`` and ``f . s_i`` cancel for this choice of drift, so no time
derivative or divergence of a score is needed (``div f`` of a linear drift
is ``tr A(t)``, the same for every particle). For annealing this is
``(b - 1) div f + b (b - 1)/2 |G^T s|^2``, for a product ``div f + s_1^T D
s_2``. The particles start from ``prior`` (the first model's terminal law)
with ``log w = sum_i beta_i log prior_i(x) - log prior(x)``, and are
resampled (systematic) whenever the effective sample size falls below
``ess_threshold * N``; ``E[w]`` estimates ``int rho_{t_min}``, reported as
``log_normalizer``. A final resampling returns equally weighted samples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..errors import UsageError
from .kernels import Kernel, run_kernel
from .reverse import GaussianPrior

__all__ = ["FKResult", "fk_sample", "systematic_resample"]

ScoreFn = Callable[[Array, Float[Array, " n"]], Float[Array, " n"]]


def systematic_resample(key: PRNGKeyArray, log_w: Float[Array, " N"]) -> Array:
    """Indices of a systematic resampling of ``N`` particles with log-weights ``log_w``."""
    n = log_w.shape[0]
    w = jax.nn.softmax(log_w)
    u = (jax.random.uniform(key, (), log_w.dtype) + jnp.arange(n, dtype=log_w.dtype)) / n
    return jnp.clip(jnp.searchsorted(jnp.cumsum(w), u), 0, n - 1)


def _ess(log_w: Array) -> Array:
    w = jax.nn.softmax(log_w)
    return 1.0 / jnp.sum(w**2)


class FKState(NamedTuple):
    """Particles, their log-weights, the running log-normaliser and the grid index."""

    x: Float[Array, "N n"]
    log_w: Float[Array, " N"]
    log_z: Array
    i: Array


class FKInfo(NamedTuple):
    """Per step: the effective sample size (before any resampling) and
    whether the particles were resampled."""

    ess: Array
    resampled: Array


class _FKStep(eqx.Module):
    models: tuple
    scores: tuple
    betas: tuple[float, ...] = eqx.field(static=True)
    times: Array
    threshold: float = eqx.field(static=True)

    def _scores(self, t, x):
        out = []
        for model, score in zip(self.models, self.scores):
            out.append(jax.vmap(lambda xx, m=model, s=score: m.score(t, xx, None) if s is None else s(t, xx))(x))
        return out

    def _rate(self, t, x):
        """``(d log w / d tau, G^T S)`` at time ``t`` for particles ``x``."""
        model = self.models[0]
        m = model.info.noise_size
        scores = self._scores(t, x)
        big_s = sum(b * s for b, s in zip(self.betas, scores))

        def gt(xx, v):  # G^T v (noise is linear in dw)
            _, vjp = jax.vjp(lambda dw: model.noise(t, xx, dw, None), jnp.zeros((m,), x.dtype))
            return vjp(v)[0]

        gt_big = jax.vmap(gt)(x, big_s)
        quad = jnp.sum(gt_big**2, axis=-1) - sum(b * jnp.sum(jax.vmap(gt)(x, s) ** 2, axis=-1) for b, s in zip(self.betas, scores))
        div_f = jnp.trace(jax.jacfwd(lambda z: model.ito_drift(t, z, None))(jnp.zeros_like(x[0])))
        return (sum(self.betas) - 1.0) * div_f + 0.5 * quad, gt_big

    def __call__(self, key: PRNGKeyArray, state: FKState):
        model = self.models[0]
        x, log_w, i = state.x, state.log_w, state.i
        t, t_next = self.times[i], self.times[i + 1]
        dt = t - t_next
        m = model.info.noise_size
        last = (i == self.times.shape[0] - 2).astype(x.dtype)
        k_noise, k_res = jax.random.split(key)
        rate, gt_big = self._rate(t, x)
        drift = jax.vmap(lambda xx, g: model.ito_drift(t, xx, None) - model.noise(t, xx, g, None))(x, gt_big)
        z = jax.random.normal(k_noise, x.shape[:1] + (m,), x.dtype) * jnp.sqrt(dt) * (1.0 - last)
        x = x - drift * dt + jax.vmap(lambda xx, zz: model.noise(t, xx, zz, None))(x, z)
        # the weight's rate by the trapezoidal rule along the step (first-order
        # weights need several times more steps for the same bias)
        rate_next, _ = self._rate(t_next, x)
        log_w = log_w + 0.5 * (rate + rate_next) * dt
        ess = _ess(log_w)
        n = x.shape[0]
        do = (ess < self.threshold * n) | (last > 0)
        idx = systematic_resample(k_res, log_w)
        log_mean = jax.scipy.special.logsumexp(log_w) - math.log(n)
        x = jnp.where(do, x[idx], x)
        log_z = jnp.where(do, state.log_z + log_mean, state.log_z)
        log_w = jnp.where(do, jnp.zeros_like(log_w), log_w)
        return FKState(x, log_w, log_z, i + 1), FKInfo(ess, do)


class FKResult(NamedTuple):
    """Equally weighted samples of the corrected target.

    Attributes:
        x: the samples at ``t_min`` (after a final resampling), ``(N, n)``.
        log_normalizer: the estimate of ``log int rho_{t_min}``.
        ess: the effective sample size at each step (before resampling).
        resamples: how many times the particles were resampled (the last
            step always resamples).
    """

    x: np.ndarray
    log_normalizer: float
    ess: np.ndarray
    resamples: int


def _record(state: FKState, info: FKInfo) -> FKInfo:
    return info


def fk_sample(
    models: Sequence,
    betas: Sequence[float],
    priors: Sequence[GaussianPrior],
    *,
    samples: int = 1000,
    steps: int = 500,
    seed: int = 0,
    t_min: float = 1e-3,
    t1: float = 1.0,
    ess_threshold: float = 0.5,
    scores: Sequence[ScoreFn | None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
) -> FKResult:
    """Sample ``prod_i p^(i)^beta_i`` with Feynman–Kac-weighted reverse-SDE particles.

    Args:
        models: the trained models (one per score; the first one's forward
            SDE drives the particles; all must share it).
        betas: the exponents, one per model.
        priors: the terminal law of each model (:func:`~dync.runtime.reverse.terminal_prior`);
            the particles start from the first.
        samples: particles.
        steps: Euler–Maruyama steps from ``t1`` to ``t_min``.
        seed: the seed.
        ess_threshold: resample when ESS < ``ess_threshold * samples``.
        scores: closed-form score functions to use instead of the models'
            nets (``None`` entries use the net).
        checkpoint, checkpoint_every, progress: as for :func:`~dync.runtime.kernels.run_kernel`.

    Raises:
        UsageError: mismatched lengths or bad settings.
    """
    models, betas, priors = tuple(models), tuple(float(b) for b in betas), tuple(priors)
    scores = (None,) * len(models) if scores is None else tuple(scores)
    if not (len(models) == len(betas) == len(priors) == len(scores)) or not models:
        raise UsageError("Feynman–Kac sampling needs one exponent and one prior per score")
    if not all(math.isfinite(b) for b in betas) or not any(betas):
        raise UsageError(f"the exponents must be finite and not all zero, got {betas}")
    if not 0 < ess_threshold <= 1:
        raise UsageError(f"ess_threshold {ess_threshold}: must be in (0, 1]")
    if int(samples) < 2 or int(steps) < 1:
        raise UsageError("Feynman–Kac sampling needs at least 2 particles and 1 step")
    key_start, key_run = jax.random.split(jax.random.key(seed))
    start = priors[0]
    x = start.sample(key_start, int(samples))
    log_w = sum(b * jax.vmap(p.log_prob)(x) for b, p in zip(betas, priors)) - jax.vmap(start.log_prob)(x)
    times = jnp.linspace(float(t1), float(t_min), int(steps) + 1, dtype=x.dtype)
    step = _FKStep(models, scores, betas, times, float(ess_threshold))
    state = FKState(x, log_w, jnp.zeros((), x.dtype), jnp.zeros((), jnp.int32))
    kernel = Kernel(lambda: state, step)
    identity = f"fk betas={betas} steps={steps} t_min={t_min!r} t1={t1!r} ess={ess_threshold!r}"
    run = run_kernel(
        kernel, state, key_run, int(steps), checkpoint=checkpoint,
        checkpoint_every=None if checkpoint is None else checkpoint_every, progress=progress,
        description="Feynman-Kac", identity=identity, trace_fn=_record,
    )  # fmt: skip
    return FKResult(np.asarray(run.state.x), float(run.state.log_z), np.asarray(run.info.ess), int(np.sum(run.info.resampled)))
