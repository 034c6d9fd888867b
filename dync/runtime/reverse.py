"""Generating from a score model: the reverse-time SDE, the probability-flow
ODE, predictor–corrector sampling, and exact log-likelihoods.

For a forward SDE ``dx = f(t, x) dt + G(t) dW`` on ``[0, t1]`` with marginals
``p_t`` and score ``s(t, x) ~ grad log p_t(x)`` (Song et al. 2021, §3–§4):

* the **reverse-time SDE** ``dx = [f - div D - D s] dt + G dW_bar``
  (``D = G G^T``; ``div D`` is zero for additive noise), run from ``t1``
  down to ``t_min``, has the same marginals; it is integrated by
  Euler–Maruyama (``sde``) or by stochastic Heun (``heun``, a predictor and a
  trapezoidal corrector on the drift; the noise is averaged too only when it
  is additive, so that the scheme stays Itô), with no noise on the last step
  (its mean, the usual denoising step);
* the **probability-flow ODE** ``dx/dt = f - 1/2 (div D + D s)`` has the same
  marginals too; it is integrated by diffrax (Tsit5, adaptive) (``ode``);
* **predictor–corrector** (``pc``) takes, at each time of the grid,
  ``corrector_steps`` Langevin steps ``x += e s + sqrt(2 e) z`` with the
  signal-to-noise rule ``e = 2 (snr |z| / |s|)^2`` (norms averaged over the
  samples, Song et al. Algorithm 5), then one Euler–Maruyama predictor step;
* the **log-likelihood** of a point ``x`` is exact through the ODE:
  ``log p_0(x) = log p_t1(x(t1)) + int_0^t1 div v(t, x(t)) dt`` with ``v``
  the ODE's velocity, the divergence computed exactly (the Jacobian's trace,
  for small dimensions) or by Hutchinson's estimator with one Rademacher
  probe per point, fixed along the path.

The start (and the likelihood's end) is the forward SDE's terminal law
``p_t1``, approximated by the Gaussian with its exact first two moments
(:func:`terminal_prior`): for VP/VE at ``t1 = 1`` the data's contribution
is negligible and this is ``N(h, P)``; for Gaussian data it is exact. A
forward SDE outside the linear class starts from data pushed to ``t1``
(:class:`EmpiricalPrior`), and a law the user gives
(``--prior "Normal(0, 1)"``) from that law (:class:`DistributionPrior`).

The SDE and PC samplers are :class:`~dync.runtime.kernels.Kernel` s run by
:func:`~dync.runtime.kernels.run_kernel` (one step per time of the grid), so
they show progress, checkpoint and resume bit-identically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from ..errors import DyncRuntimeError, UsageError
from .forward_sde import GaussianTransition
from .kernels import Kernel, run_kernel

__all__ = [
    "REVERSE_METHODS",
    "DistributionPrior",
    "EmpiricalPrior",
    "GaussianPrior",
    "LogGaussianPrior",
    "ReverseResult",
    "log_likelihood",
    "distribution_prior",
    "prior_from_meta",
    "reverse_sample",
    "terminal_prior",
]

#: the samplers of ``dync sample --reverse``
REVERSE_METHODS = ("sde", "heun", "ode", "pc")

ScoreFn = Callable[[Scalar, Float[Array, " n"]], Float[Array, " n"]]


class GaussianPrior(NamedTuple):
    """``N(mean, cov)``: where the reverse processes start."""

    mean: Float[Array, " n"]
    cov: Float[Array, "n n"]

    def sample(self, key: PRNGKeyArray, count: int) -> Float[Array, "N n"]:
        chol = jnp.linalg.cholesky(self.cov)
        z = jax.random.normal(key, (count, self.mean.shape[0]), self.mean.dtype)
        return self.mean + z @ chol.T

    def log_prob(self, x: Float[Array, " n"]) -> Scalar:
        chol = jnp.linalg.cholesky(self.cov)
        z = jax.scipy.linalg.solve_triangular(chol, x - self.mean, lower=True)
        n = x.shape[0]
        return -0.5 * jnp.sum(z**2) - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * n * math.log(2 * math.pi)


class LogGaussianPrior(NamedTuple):
    """``x = e^y`` with ``y ~ N(mean, cov)``: the start of a log-linear
    forward SDE's reverse processes (the law of ``log x`` at ``t1`` with its
    exact first two moments, as :func:`terminal_prior` gives them for ``y``)."""

    log: GaussianPrior

    def sample(self, key: PRNGKeyArray, count: int) -> Float[Array, "N n"]:
        return jnp.exp(self.log.sample(key, count))

    def log_prob(self, x: Float[Array, " n"]) -> Scalar:
        y = jnp.log(x)
        return self.log.log_prob(y) - jnp.sum(y)


class EmpiricalPrior(NamedTuple):
    """The forward law at ``t1`` as samples (data pushed through the forward
    SDE by ``dync train``), for a forward SDE whose terminal law has no
    closed form; it draws with replacement and has no density (no ``--loglik``)."""

    points: Float[Array, "M n"]

    def sample(self, key: PRNGKeyArray, count: int) -> Float[Array, "N n"]:
        return self.points[jax.random.randint(key, (count,), 0, self.points.shape[0])]

    def log_prob(self, x):
        raise UsageError(
            "the forward SDE's law at t1 is known here only by samples, so it has no log-density",
            hint="exact log-likelihoods need a linear forward SDE (Gaussian transition)",
        )


class DistributionPrior(eqx.Module):
    """Independent components of a named law (``dync sample --prior
    "Normal(0, 1)"``), with parameters of the state's shape: a start given
    by the user, with a density (so ``--loglik`` works from it)."""

    law: eqx.Module
    shape: tuple[int, ...] = eqx.field(static=True)

    def sample(self, key: PRNGKeyArray, count: int) -> Float[Array, "N n"]:
        return self.law.sample(key, (count,) + self.shape).reshape(count, -1)

    def log_prob(self, x: Float[Array, " n"]) -> Scalar:
        return jnp.sum(self.law.log_prob(x.reshape(self.shape)))


def distribution_prior(name: str, args, shape) -> DistributionPrior:
    """The :class:`DistributionPrior` of the law ``name`` (a key of
    :data:`~dync.runtime.distributions.REGISTRY`) with numeric ``args``
    (``(name, array)`` pairs in constructor order, each of ``shape``)."""
    from .distributions import REGISTRY

    dtype = jnp.result_type(float)
    return DistributionPrior(REGISTRY[name](*(jnp.asarray(v, dtype) for _, v in args)), tuple(int(n) for n in shape))


def prior_from_meta(model, meta: dict):
    """The start of the reverse processes for a weights file's metadata:
    :func:`terminal_prior` for a linear forward SDE, its log-normal
    counterpart (:class:`LogGaussianPrior`) for a log-linear one, else the
    stored terminal samples (:class:`EmpiricalPrior`)."""
    from .forward_sde import LogCoordinates, gaussian_transition

    if meta.get("forward_class", "linear") == "linear":
        return terminal_prior(gaussian_transition(model, meta["t1"]), meta["data_mean"], meta["data_cov"])
    if meta["forward_class"] == "log-linear":
        transition = gaussian_transition(LogCoordinates(model), meta["t1"])
        return LogGaussianPrior(terminal_prior(transition, meta["log_data_mean"], meta["log_data_cov"]))
    if not meta.get("terminal_samples"):
        raise UsageError(
            f"the forward SDE of model `{meta.get('model')}` is not linear ({meta.get('forward_reason', 'state-dependent noise')}), "
            "so its law at t1 has no closed form, and these weights keep no samples of it",
            hint='give the law the reverse process starts from: --prior "LogNormal(0, 1)" (or `prior:` in the '
            "spec's `sample:` section), or train again with `dync train` (its weights keep data pushed to t1)",
        )
    return EmpiricalPrior(jnp.asarray(meta["terminal_samples"], dtype=jnp.result_type(float)))


def terminal_prior(transition: GaussianTransition, data_mean, data_cov) -> GaussianPrior:
    """The Gaussian with the first two moments of the forward law at ``t1``
    when the data have the given mean and covariance."""
    dtype = jnp.result_type(float)
    mean, cov = transition.marginal(transition.t1, jnp.asarray(data_mean, dtype), jnp.atleast_2d(jnp.asarray(data_cov, dtype)))
    return GaussianPrior(mean, 0.5 * (cov + cov.T))


def _score_at(model, score: ScoreFn | None, t, x):
    """``score(t, x)``, or the model's own ``score`` when ``score`` is None
    (kept ``None`` so that the weights stay traced inputs, not constants)."""
    return model.score(t, x, None) if score is None else score(t, x)


def _ggt_times(model, t, x, v):
    """``G G^T v`` (``noise`` is linear in ``dw``: ``G^T v`` by a VJP)."""
    m = model.info.noise_size
    _, vjp = jax.vjp(lambda dw: model.noise(t, x, dw, None), jnp.zeros((m,), x.dtype))
    (gtv,) = vjp(v)
    return model.noise(t, x, gtv, None)


def _div_d(model, t, x):
    """``(div D)_i = sum_j d D_ij / d x_j`` with ``D = G G^T`` (zero for
    additive noise): the extra drift of a reverse process when the noise
    depends on the state."""
    if model.info.noise_structure in ("none", "additive"):
        return jnp.zeros_like(x)

    def big_d(z):
        g = model.diffusion(t, z, None)
        return g @ g.T

    return jnp.einsum("ijj->i", jax.jacfwd(big_d)(x))


def _reverse_drift(model, score: ScoreFn | None, t, x, weight: float = 1.0):
    """``f - weight * (div D + G G^T s)``: the reverse SDE's (1) or the ODE's (1/2)."""
    s = _score_at(model, score, t, x)
    return model.ito_drift(t, x, None) - weight * (_ggt_times(model, t, x, s) + _div_d(model, t, x))


class ReverseState(NamedTuple):
    """The state of a reverse sampler: the samples and the grid index."""

    x: Float[Array, "N n"]
    i: Array


class _ReverseStep(eqx.Module):
    """One step of the grid ``times[i] -> times[i + 1]`` (decreasing)."""

    model: eqx.Module
    score: ScoreFn | None
    times: Array
    method: str = eqx.field(static=True)
    snr: float = eqx.field(static=True)
    corrector_steps: int = eqx.field(static=True)

    def __call__(self, key: PRNGKeyArray, state: ReverseState):
        model, score = self.model, self.score
        x, i = state.x, state.i
        t, t_next = self.times[i], self.times[i + 1]
        dt = t - t_next
        last = (i == self.times.shape[0] - 2).astype(x.dtype)
        k_pred, k_corr = jax.random.split(key)
        m = model.info.noise_size
        if self.method == "pc" and self.corrector_steps:
            x = self._correct(k_corr, t, x)
        z = jax.random.normal(k_pred, x.shape[:1] + (m,), x.dtype) * jnp.sqrt(dt) * (1.0 - last)
        noise = jax.vmap(lambda xx, zz: model.noise(t, xx, zz, None))(x, z)
        drift = jax.vmap(lambda xx: _reverse_drift(model, score, t, xx))(x)
        pred = x - drift * dt + noise
        if self.method == "heun":
            drift2 = jax.vmap(lambda xx: _reverse_drift(model, score, t_next, xx))(pred)
            if model.info.noise_structure == "additive":
                noise = 0.5 * (noise + jax.vmap(lambda xx, zz: model.noise(t_next, xx, zz, None))(pred, z))
            # state-dependent noise stays at the step's start: averaging it
            # would converge to the Stratonovich, not the Ito, reverse process
            pred = x - 0.5 * (drift + drift2) * dt + noise
        return ReverseState(pred, i + 1), jnp.mean(jnp.sqrt(jnp.sum(pred**2, axis=-1)))

    def _correct(self, key: PRNGKeyArray, t, x):
        def one(x, key):
            s = jax.vmap(lambda xx: _score_at(self.model, self.score, t, xx))(x)
            z = jax.random.normal(key, x.shape, x.dtype)
            s_norm = jnp.mean(jnp.sqrt(jnp.sum(s**2, axis=-1)))
            z_norm = jnp.mean(jnp.sqrt(jnp.sum(z**2, axis=-1)))
            e = 2.0 * (self.snr * z_norm / jnp.maximum(s_norm, 1e-12)) ** 2
            return x + e * s + jnp.sqrt(2.0 * e) * z, None

        x, _ = jax.lax.scan(one, x, jax.random.split(key, self.corrector_steps))
        return x


def _keep_info(state: ReverseState, info: Array) -> Array:
    """What a reverse run records per step: the step's info (a module-level
    function, so that a second run reuses the compiled chunk)."""
    return info


class ReverseResult(NamedTuple):
    """Generated samples.

    Attributes:
        x: the samples at ``t_min``, ``(N, n)`` (host array).
        nfe: score evaluations per sample.
    """

    x: np.ndarray
    nfe: float


def _ode_velocity(model, score: ScoreFn):
    return lambda t, x, args: _reverse_drift(model, score, t, x, 0.5)


@eqx.filter_jit
def _ode_solve(model, score, x_t1, t1, t_min, rtol, atol):
    def one(x):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(_ode_velocity(model, score)), diffrax.Tsit5(), t0=t1, t1=t_min, dt0=None, y0=x,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=ODE_MAX_STEPS, throw=False,
        )  # fmt: skip
        return sol.ys[-1], sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful

    return jax.vmap(one)(x_t1)


#: the most steps of one adaptive ODE solve (``--reverse ode``, ``--loglik``)
ODE_MAX_STEPS = 100_000


def _check_ode(ok, what: str) -> None:
    """Turn failed ODE solves (a step count or step size run out: a score
    that is far off, or a stiff flow) into a :class:`DyncRuntimeError`."""
    ok = np.asarray(ok)
    if not ok.all():
        raise DyncRuntimeError(
            f"the probability-flow ODE failed for {int((~ok).sum())} of {ok.size} {what} (no accurate solution "
            f"within {ODE_MAX_STEPS:,} adaptive steps): the flow is far too fast or stiff there",
            hint="check that the weights are trained (see the loss in TRAINED.loss.csv) and that the prior is near "
            "the forward law at t1; --reverse sde needs no adaptive solve",
        )


def reverse_sample(
    model,
    prior: GaussianPrior | EmpiricalPrior | DistributionPrior,
    *,
    method: str = "sde",
    samples: int = 1000,
    steps: int = 500,
    seed: int = 0,
    t_min: float = 1e-3,
    t1: float = 1.0,
    snr: float = 0.16,
    corrector_steps: int = 1,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    score: ScoreFn | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
) -> ReverseResult:
    """Generate ``samples`` points by running a reverse process from ``prior``
    at ``t1`` down to ``t_min``.

    Args:
        model: the compiled model (its forward drift and noise, and its
            ``score`` unless ``score`` is given).
        prior: the law at ``t1`` (:func:`terminal_prior`, an
            :class:`EmpiricalPrior` or a :class:`DistributionPrior`).
        method: ``sde`` (Euler–Maruyama), ``heun`` (stochastic Heun),
            ``ode`` (probability-flow ODE, adaptive) or ``pc``
            (Euler–Maruyama predictor, Langevin corrector).
        samples: how many points.
        steps: grid steps (``sde``, ``heun``, ``pc``; uniform in ``t``).
        seed: the seed of the start and of the noise.
        t_min, t1: the time span, run backwards.
        snr: the corrector's signal-to-noise ratio (``pc``).
        corrector_steps: Langevin steps per grid time (``pc``).
        rtol, atol: the ODE's tolerances (``ode``).
        score: a score function ``(t, x) -> s`` to use instead of the
            model's (a closed form, in tests).
        checkpoint, checkpoint_every, progress: as for
            :func:`~dync.runtime.kernels.run_kernel` (SDE and PC).

    Raises:
        UsageError: an unknown method or a bad setting.
    """
    if method not in REVERSE_METHODS:
        raise UsageError(f"--reverse {method}: unknown reverse sampler", hint="use one of " + ", ".join(REVERSE_METHODS))
    for value, name in ((samples, "--samples"), (steps, "--steps")):
        if int(value) < 1:
            raise UsageError(f"{name} {value}: must be at least 1")
    if not 0 <= float(t_min) < float(t1):
        raise UsageError(f"t_min {t_min}: must be in [0, t1 = {t1})")
    if method == "pc" and not float(snr) > 0:
        raise UsageError(f"--snr {snr}: must be positive", hint="0.16 is usual for 2-D data, 0.075 for images")
    key_start, key_run = jax.random.split(jax.random.key(seed))
    x_t1 = prior.sample(key_start, int(samples))
    if method == "ode":
        x, nsteps, ok = _ode_solve(model, score, x_t1, float(t1), float(t_min), float(rtol), float(atol))
        _check_ode(ok, "samples")
        return ReverseResult(np.asarray(x), float(np.mean(np.asarray(nsteps))) * 6)
    dtype = x_t1.dtype
    times = jnp.linspace(float(t1), float(t_min), int(steps) + 1, dtype=dtype)
    step = _ReverseStep(model, score, times, method, float(snr), int(corrector_steps) if method == "pc" else 0)
    kernel = Kernel(lambda: ReverseState(x_t1, jnp.zeros((), jnp.int32)), step)
    identity = f"reverse {method} steps={steps} t_min={t_min!r} t1={t1!r} snr={snr!r} corrector={corrector_steps}"
    run = run_kernel(
        kernel, kernel.init(), key_run, int(steps), checkpoint=checkpoint,
        checkpoint_every=None if checkpoint is None else checkpoint_every,
        progress=progress, description=f"reverse {method}", identity=identity, trace_fn=_keep_info,
    )  # fmt: skip
    per_step = {"sde": 1, "heun": 2, "pc": 1 + (int(corrector_steps) if method == "pc" else 0)}[method]
    return ReverseResult(np.asarray(run.state.x), float(per_step * int(steps)))


#: the largest dimension whose divergence is computed exactly by default
EXACT_DIVERGENCE_MAX = 16


@eqx.filter_jit
def _loglik_solve(model, score, prior, x0, probes, t_min, t1, rtol, atol, exact):
    velocity = _ode_velocity(model, score)

    def one(x, probe):
        def rhs(t, state, args):
            y, _ = state
            if exact:
                v = velocity(t, y, None)
                div = jnp.trace(jax.jacfwd(lambda z: velocity(t, z, None))(y))
            else:
                v, jv = jax.jvp(lambda z: velocity(t, z, None), (y,), (probe,))
                div = jnp.sum(jv * probe)
            return v, div

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs), diffrax.Tsit5(), t0=t_min, t1=t1, dt0=None, y0=(x, jnp.zeros((), x.dtype)),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=ODE_MAX_STEPS, throw=False,
        )  # fmt: skip
        y1, integral = sol.ys[0][-1], sol.ys[1][-1]
        return prior.log_prob(y1) + integral, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful

    return jax.vmap(one)(x0, probes)


def log_likelihood(
    model,
    prior: GaussianPrior | DistributionPrior,
    x: Float[Array, "N n"],
    *,
    t_min: float = 1e-3,
    t1: float = 1.0,
    divergence: str = "auto",
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    score: ScoreFn | None = None,
) -> tuple[np.ndarray, float]:
    """Log-densities (nats) of points ``x`` under the model's generator,
    through the probability-flow ODE from ``t_min`` to ``t1``.

    Args:
        model, prior, t_min, t1, score, rtol, atol: as in :func:`reverse_sample`.
        x: the points, ``(N, n)``.
        divergence: ``exact`` (the Jacobian's trace), ``hutchinson`` (one
            Rademacher probe per point) or ``auto`` (exact up to
            :data:`EXACT_DIVERGENCE_MAX` dimensions).
        seed: the probes' seed (Hutchinson).

    Returns:
        ``(log p(x), mean ODE function evaluations per point)``; the
        density is that of the model's law at ``t_min``.
    """
    if divergence not in ("auto", "exact", "hutchinson"):
        raise UsageError(f"divergence `{divergence}`: use exact, hutchinson or auto")
    x = jnp.asarray(x, dtype=jnp.result_type(float))
    n = x.shape[-1]
    exact = divergence == "exact" or (divergence == "auto" and n <= EXACT_DIVERGENCE_MAX)
    probes = jax.random.rademacher(jax.random.key(seed), x.shape, x.dtype)
    logp, nsteps, ok = _loglik_solve(model, score, prior, x, probes, float(t_min), float(t1), float(rtol), float(atol), exact)
    _check_ode(ok, "points")
    return np.asarray(logp), float(np.mean(np.asarray(nsteps))) * 6
