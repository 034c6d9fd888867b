"""Particle marginal Metropolis–Hastings (PMMH): exact posterior draws for a
model whose likelihood only a particle filter can estimate.

Andrieu, Doucet & Holenstein (2010): a Metropolis–Hastings chain over the
parameters that plugs in the particle filter's *unbiased* estimate of the
likelihood, drawn with a fresh key at every proposal and kept with the state
while it is current, targets the exact posterior, whatever the number of
particles. (NUTS on the fixed-key estimate, :mod:`dync.runtime.posterior`,
only targets an approximation of it.) Fewer particles make the estimate
noisier and the chain stickier, never wrong.

The proposal is a Gaussian random walk in the unconstrained space, ``u' = u +
S z`` with ``z ~ N(0, I)``. During the warm-up ``S`` adapts by the robust
adaptive Metropolis rule (Vihola 2012): after each step with acceptance
probability ``a``,

    S S' <- S (I + eta_n (a - a*) z z' / |z|^2) S',   eta_n = min(1, d n^(-2/3)),

which drives the mean acceptance to ``a*`` and ``S S'`` towards a multiple
of the posterior covariance; after the warm-up ``S`` is fixed, so the kept
draws come from a fixed Markov kernel. ``S`` starts diagonal, from the
curvature of the fixed-key log-posterior at the start (its diagonal second
derivatives, where negative), else 0.1 per coordinate.

The noise of the estimate caps the acceptance: with a log-likelihood
estimate of standard deviation ``sigma`` even a proposal that stays put is
accepted with probability only about ``2 Phi(-sigma / sqrt 2)``. The default
target acceptance is therefore the random-walk optimum (0.44 for one
parameter, falling to 0.234 for many) times ``2 Phi(-sigma / sqrt 2)``,
with ``sigma`` measured at the start (16 fresh keys) and again half-way
through the warm-up at the chains' mean (the start may be far from the
posterior, where the estimate is noisier), and the summary reports
``sigma`` at the posterior mean: Doucet, Pitt, Deligiannidis & Kohn (2015)
advise about 1.2, and above about 2 the chain sticks (raise ``--particles``;
``sigma`` falls as ``1 / sqrt(particles)``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.flatten_util
import jax.scipy.special
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..errors import UsageError
from .inference_data import chain_first, combine_groups, data_groups, log_likelihood_group
from .kernels import Kernel, run_kernel
from .keys import prng_key
from .likelihood import choose_method, data_digest, log_likelihood_with_method, read_data
from .model import AbstractModel
from .params import with_unconstrained_params
from .posterior import chain_sizes, constrained_draws, free_parameters, model_digest, reuse_compiled

__all__ = ["PmmhChains", "sample_pmmh", "default_target_acceptance"]

#: fresh-key estimates of the log-likelihood used to measure its noise
NOISE_KEYS = 16

#: above this standard deviation of the log-likelihood estimate the chain sticks
STICKY_SD = 2.0

#: the optimal acceptance of a Gaussian random-walk Metropolis chain with an
#: exact likelihood, by dimension (Gelman, Roberts & Gilks 1996, for a
#: Gaussian target), falling to 0.234 as the dimension grows (Roberts,
#: Gelman & Gilks 1997)
RWM_ACCEPTANCE = {1: 0.441, 2: 0.352, 3: 0.316, 4: 0.279, 5: 0.275, 6: 0.266, 7: 0.263, 8: 0.261, 9: 0.258, 10: 0.255}
RWM_ACCEPTANCE_HIGH_DIMENSION = 0.234


class PmmhChains(NamedTuple):
    """Every chain's state (chains first): the unconstrained position (flat),
    the log-posterior and each series' log-likelihood *estimates* it was
    accepted with,
    the proposal's Cholesky factor, the steps taken (which says whether
    the warm-up is over), and the acceptance rate the warm-up adapts to."""

    position: Float[Array, "chains d"]
    log_density: Float[Array, " chains"]
    log_likelihood: Float[Array, "chains series"]
    scale: Float[Array, "chains d d"]
    step: Any
    target: Float[Array, ""]


class PmmhStep(NamedTuple):
    """What a step records per chain."""

    position: Float[Array, "chains d"]
    log_density: Float[Array, " chains"]
    log_likelihood: Float[Array, "chains series"]
    acceptance_rate: Float[Array, " chains"]
    accepted: Any


def default_target_acceptance(noise_sd: float, dimension: int) -> float:
    """The acceptance rate the warm-up aims at when the log-likelihood
    estimate has standard deviation ``noise_sd`` and ``dimension``
    parameters are free: the random-walk optimum (:data:`RWM_ACCEPTANCE`)
    times the most a noisy estimate lets through, ``2 Phi(-noise_sd /
    sqrt 2)``, and at least 0.02."""
    if not math.isfinite(noise_sd):
        return 0.02
    ceiling = math.erfc(noise_sd / 2.0)  # 2 Phi(-s / sqrt 2) = erfc(s / 2)
    return max(0.02, RWM_ACCEPTANCE.get(dimension, RWM_ACCEPTANCE_HIGH_DIMENSION) * ceiling)


def _target_for(noise_sd: Float[Array, ""], dimension: int) -> Float[Array, ""]:
    """:func:`default_target_acceptance` of a traced, finite ``noise_sd``."""
    ceiling = jax.scipy.special.erfc(noise_sd / 2.0)
    return jnp.maximum(0.02, RWM_ACCEPTANCE.get(dimension, RWM_ACCEPTANCE_HIGH_DIMENSION) * ceiling)


class _NoisyDensity(eqx.Module):
    """The log-posterior over the flat unconstrained free parameters, with
    the likelihood estimated afresh from a key."""

    model: AbstractModel
    held: dict
    unravel: Callable = eqx.field(static=True)
    loglik_fn: Callable = eqx.field(static=True)

    def model_at(self, flat):
        """The model at the flat unconstrained ``flat``, the held parameters kept."""
        return with_unconstrained_params(self.model, {**self.held, **self.unravel(flat)})

    def __call__(self, flat, key: PRNGKeyArray):
        """(log-posterior estimate, each series' log-likelihood estimate) at
        ``flat``; a NaN (a failed filter) counts as -inf, which is never
        accepted."""
        m = self.model_at(flat)
        series = jnp.ravel(self.loglik_fn(m, key, True))
        series = jnp.where(jnp.isnan(series), -jnp.inf, series)
        lp = jnp.sum(series) + jnp.reshape(m.log_prior(), ())
        return jnp.where(jnp.isnan(lp), -jnp.inf, lp), series


class _PmmhSampler(eqx.Module):
    """One PMMH step of every chain; adapts the proposal during warm-up."""

    density: _NoisyDensity
    warmup: int = eqx.field(static=True)
    #: the step at which the noise is measured again and the target reset
    #: (-1: never, for a target the user gave)
    retarget_at: int = eqx.field(static=True)

    def step(self, key: PRNGKeyArray, c: PmmhChains):
        """One step of every chain (the :class:`~dync.runtime.kernels.Kernel` step)."""
        chains = c.position.shape[0]
        key, k_noise = jax.random.split(key)
        if self.retarget_at >= 0:
            c = jax.lax.cond(c.step == self.retarget_at, lambda k, c: self._retarget(k, c), lambda k, c: c, k_noise, c)
        step = jax.vmap(self._one, in_axes=(0, 0, 0, 0, 0, None, None))
        (position, lp, ll, scale), info = step(
            jax.random.split(key, chains), c.position, c.log_density, c.log_likelihood, c.scale, c.step, c.target
        )
        return PmmhChains(position, lp, ll, scale, c.step + 1, c.target), info

    def _retarget(self, key: PRNGKeyArray, c: PmmhChains) -> PmmhChains:
        """The target acceptance from the noise of :data:`NOISE_KEYS`
        estimates at the chains' mean (kept if one is not finite)."""
        mean = jnp.mean(c.position, axis=0)
        _, series = jax.vmap(self.density, in_axes=(None, 0))(mean, jax.random.split(key, NOISE_KEYS))
        values = jnp.sum(series, axis=-1)
        target = _target_for(jnp.std(values, ddof=1), mean.shape[0]).astype(c.target.dtype)
        return c._replace(target=jnp.where(jnp.all(jnp.isfinite(values)), target, c.target))

    def _one(self, key, position, lp, ll, scale, n, target):
        """One chain's step: propose, filter with a fresh key, accept or
        keep; then adapt the proposal if still warming up."""
        d = position.shape[0]
        k_move, k_filter, k_accept = jax.random.split(key, 3)
        z = jax.random.normal(k_move, (d,), position.dtype)
        proposal = position + scale @ z
        lp_new, ll_new = self.density(proposal, k_filter)
        log_ratio = jnp.where(jnp.isfinite(lp_new), lp_new - lp, -jnp.inf)
        alpha = jnp.exp(jnp.minimum(log_ratio, 0.0))
        accept = jnp.log(jax.random.uniform(k_accept, (), position.dtype)) < log_ratio
        position = jnp.where(accept, proposal, position)
        lp, ll = jnp.where(accept, lp_new, lp), jnp.where(accept, ll_new, ll)
        # robust adaptive Metropolis (Vihola 2012), during the warm-up only
        eta = jnp.minimum(1.0, d * (n + 1.0) ** (-2.0 / 3.0))
        u = z / jnp.maximum(jnp.linalg.norm(z), 1e-30)
        middle = jnp.eye(d, dtype=position.dtype) + eta * (alpha - target) * jnp.outer(u, u)
        adapted = jnp.linalg.cholesky(scale @ middle @ scale.T)
        usable = (n < self.warmup) & jnp.all(jnp.isfinite(adapted))
        scale = jnp.where(usable, adapted, scale)
        info = PmmhStep(position, lp, ll, alpha, accept)
        return (position, lp, ll, scale), info


class _Batch:
    """The density at many (position, key) pairs in one compiled, vmapped
    call, padded to one batch size so that it compiles once per run (for
    the noise, the starting scale and the chains' starts)."""

    def __init__(self, density: _NoisyDensity, size: int):
        self.size = size
        self.fn = jax.jit(jax.vmap(density))

    def __call__(self, flats, keys) -> tuple[Array, Array]:
        n = flats.shape[0]
        pad = self.size - n
        flats = jnp.concatenate([flats, jnp.broadcast_to(flats[:1], (pad, *flats.shape[1:]))])
        keys = jnp.concatenate([keys, jnp.broadcast_to(keys[:1], (pad, *keys.shape[1:]))])
        lp, ll = self.fn(flats, keys)
        return lp[:n], ll[:n]


def _starting_scale(batch: _Batch, flat, key, step: float = 0.1) -> np.ndarray:
    """A diagonal proposal scale from the curvature of the fixed-key
    log-posterior at ``flat`` (central second differences, step
    ``step``): ``2.38 / sqrt(d)`` conditional standard deviations where it is
    negative, else 0.1."""
    d = flat.shape[0]
    moves = jnp.concatenate([jnp.zeros((1, d), flat.dtype), step * jnp.eye(d, dtype=flat.dtype),
                             -step * jnp.eye(d, dtype=flat.dtype)])  # fmt: skip
    lp, _ = batch(flat + moves, jnp.broadcast_to(key, (2 * d + 1,)))
    lp = np.asarray(lp, np.float64)
    curvature = -(lp[1 : d + 1] - 2.0 * lp[0] + lp[d + 1 :]) / step**2
    ok = np.isfinite(curvature) & (curvature > 0)
    sd = np.where(ok, 1.0 / np.sqrt(np.where(ok, curvature, 1.0)), 0.1)
    return np.diag(2.38 / math.sqrt(d) * sd)


def _noise(batch: _Batch, flat, key) -> tuple[float, float]:
    """Mean and standard deviation of :data:`NOISE_KEYS` log-likelihood
    estimates at ``flat``, each with a fresh key."""
    _, series = batch(jnp.broadcast_to(flat, (NOISE_KEYS, flat.shape[0])), jax.random.split(key, NOISE_KEYS))
    values = np.asarray(series, np.float64).sum(axis=-1)
    if not np.all(np.isfinite(values)):
        return float("nan"), float("inf")
    return float(values.mean()), float(values.std(ddof=1))


def sample_pmmh(
    model: AbstractModel,
    data: Any,
    key: PRNGKeyArray,
    *,
    chains: int = 4,
    warmup: int = 1000,
    draws: int = 1000,
    target_accept: float | None = None,
    fix: Mapping[str, Any] | None = None,
    likelihood: str = "auto",
    particles: int = 1000,
    dt: float | None = None,
    pointwise: bool = False,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
):
    """Draw from the exact posterior of a model's parameters with particle
    marginal Metropolis–Hastings.

    Args:
        model: a compiled model; its current values start every chain (each
            moved by one proposal-sized step, so the chains start apart).
        data: a NetCDF or CSV path, a Dataset, or data records.
        key: the run's PRNG key (proposals, filters, starts).
        chains: chains run side by side.
        warmup: adaptive steps per chain (not kept).
        draws: kept steps per chain.
        target_accept: the acceptance rate the warm-up adapts to; by default
            :func:`default_target_acceptance` of the noise measured at the
            start, then again half-way through the warm-up.
        fix: name → constrained value of parameters held fixed.
        likelihood: ``"auto"``, ``"particle"`` or ``"kalman"`` (an exact
            likelihood makes this a plain random-walk Metropolis, which NUTS
            beats; a warning says so).
        particles: particles per series.
        dt: the largest solver step between observations.
        pointwise: add the ``log_likelihood`` group (each series'
            log-likelihood at each draw: the estimate the draw was accepted
            with, so it costs nothing).
        checkpoint, checkpoint_every: checkpoints of the chain, resumed
            bit-identically.
        progress: show a progress bar.

    Returns:
        An ``arviz.InferenceData``: ``posterior`` (constrained values),
        ``sample_stats`` (``lp``, ``log_likelihood_estimate``,
        ``acceptance_rate``, ``accepted``), ``observed_data`` and, with
        ``pointwise``, ``log_likelihood`` (each series' log-likelihood
        estimate that each draw was accepted with). The posterior's attributes hold
        ``loglik_noise_sd`` (at the posterior mean), ``loglik_noise_sd_start``
        and ``target_accept``.

    Raises:
        UsageError: bad sizes, an unknown parameter in ``fix``, a likelihood
            that is not finite at the start.
    """
    from .arviz_import import import_arviz

    key = prng_key(key)
    az = import_arviz()
    chains, warmup, draws = chain_sizes(chains, warmup, draws)
    chosen = choose_method(model, likelihood)
    if chosen == "kalman":
        warnings.warn(
            "PMMH with the exact (Kalman) likelihood is a plain random-walk Metropolis: --method nuts samples "
            "the same posterior far more efficiently",
            UserWarning,
            stacklevel=2,
        )
    split = free_parameters(model, fix)
    model, fixed, free = split.model, split.fixed, split.free
    records = read_data(model, data)

    def loglik(m, k, per_series=False):
        value, _ = log_likelihood_with_method(
            m, records, method=chosen, key=k, particles=particles, dt=dt, per_series=per_series
        )
        return value

    start, unravel = jax.flatten_util.ravel_pytree(free)
    d = start.shape[0]
    # the filter reads its data on the host (a closure, compiled anew for
    # each new closure): the same density asked again in this process (same
    # model values, data and settings) reuses the one built, and its programs
    settings = (
        f"pmmh likelihood={chosen} particles={particles} dt={dt} chains={chains} fix={sorted(fixed.items())} "
        f"data={data_digest(records)}"
    )
    setup = f"{settings} model={model_digest(model)}"

    def build():
        density = _NoisyDensity(model, split.held, unravel, loglik)
        return density, _Batch(density, max(NOISE_KEYS, 2 * d + 1, chains))

    density, batch = reuse_compiled(setup, build)
    key_scale, key_noise, key_jitter, key_start, key_chain, key_end = jax.random.split(key, 6)
    mean_start, noise_start = _noise(batch, start, key_noise)
    if not math.isfinite(mean_start):
        raise UsageError(
            "the log-likelihood is not finite at the starting values: PMMH cannot start there",
            hint="start nearer the data (--set NAME=VALUE, or the estimates of --method mle), or raise --particles",
        )
    target = default_target_acceptance(noise_start, d) if target_accept is None else float(target_accept)
    scale0 = _starting_scale(batch, start, key_scale)
    jitter = jax.random.normal(key_jitter, (chains, d), start.dtype) @ jnp.asarray(scale0, start.dtype).T
    positions = start + jitter if chains > 1 else start[None]
    start_keys = jax.random.split(key_start, chains)
    lp0, ll0 = batch(positions, start_keys)
    # a jittered start the filter cannot score goes back to the common start
    bad = ~np.isfinite(np.asarray(lp0))
    if bad.any():
        positions = jnp.where(jnp.asarray(bad)[:, None], start, positions)
        lp0, ll0 = batch(positions, start_keys)
    state = PmmhChains(
        positions, lp0, ll0,
        jnp.broadcast_to(jnp.asarray(scale0, start.dtype), (chains, d, d)), jnp.zeros((), jnp.int32),
        jnp.asarray(target, start.dtype),
    )  # fmt: skip
    # a target the user gave is kept; the default one is measured again
    # half-way through the warm-up, nearer the posterior than the start
    sampler = _PmmhSampler(density, warmup, warmup // 2 if target_accept is None and warmup >= 20 else -1)
    identity = f"{settings} warmup={warmup} target={target_accept or 'auto'}"
    accepted = [0, 0]

    def status(chunk, done):
        accepted[0] += int(np.sum(chunk.accepted))
        accepted[1] += int(np.size(chunk.accepted))
        phase = "warm-up" if done <= warmup else "draws"
        return (
            f"step {done} ({phase})  lp {np.mean(np.asarray(chunk.log_density)[-1]):.4g}  "
            f"accepted {accepted[0] / max(accepted[1], 1):.2f}"
        )

    run = run_kernel(
        Kernel(lambda s: s, sampler.step), state, key_chain, warmup + draws, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, progress=progress,
        description=f"pmmh {model.info.name} ({warmup} warm-up steps, then {draws} draws)",
        identity=identity, status_fn=status,
    )  # fmt: skip
    trace = jax.tree_util.tree_map(lambda x: np.asarray(x)[warmup:], run.info)

    flat_draws = chain_first(trace.position)  # (chains, draws, d)
    posterior = constrained_draws(model, jax.vmap(jax.vmap(unravel))(jnp.asarray(flat_draws)))
    sample_stats = {
        "lp": chain_first(trace.log_density),
        "log_likelihood_estimate": chain_first(trace.log_likelihood).sum(axis=-1),
        "acceptance_rate": chain_first(trace.acceptance_rate),
        "accepted": chain_first(trace.accepted),
    }
    _, noise_end = _noise(batch, jnp.asarray(flat_draws.reshape(-1, d).mean(axis=0), start.dtype), key_end)
    dims = {n: [f"{n}_dim{i}" for i in range(v.ndim - 2)] for n, v in posterior.items()}
    idata = az.from_dict(posterior=posterior, sample_stats=sample_stats, dims=dims)
    idata.posterior.attrs.update(
        {
            "model": model.info.name, "likelihood": chosen, "warmup": warmup, "fixed": str(sorted(fixed)),
            "target_accept": float(run.state.target), "loglik_noise_sd_start": float(noise_start),
            "loglik_noise_sd": float(noise_end), **_stays(sample_stats["accepted"], noise_end),
        }
    )  # fmt: skip
    shapes = {o.name: tuple(o.shape) for o in model.info.observations}
    groups = data_groups(records, shapes)
    if pointwise:
        groups["log_likelihood"] = log_likelihood_group(chain_first(trace.log_likelihood), records)
    return combine_groups(idata, **groups)


def _stays(accepted: np.ndarray, noise_sd: float = 0.0) -> dict[str, int]:
    """The longest run of draws that a chain stayed put (``longest_stay``,
    in chain ``longest_stay_chain``) and the length that a correct PMMH
    chain at the observed mean acceptance would exceed with probability only
    about 1 % in the whole run (``unlikely_stay``): a chain held far longer
    sits on a lucky over-estimate of the likelihood.

    A noisy likelihood estimate makes long stays part of a correct chain:
    a chain holds the value it accepted with a high estimate for long. With
    a log-likelihood estimate of standard deviation ``noise_sd`` (Gaussian,
    so the held estimate is ``N(+s^2/2, s^2)`` and a fresh one ``N(-s^2/2,
    s^2)``, Doucet et al. 2015), a chain holding ``W`` moves with probability
    ``a(W) = p E[min(1, exp(W' - W))]``, ``p`` set so that the mean is the
    observed rate, and a stay starting at ``W`` (density ``pi(W) a(W)``)
    lasts at least ``L`` with probability ``(1 - a(W))^L``. With
    ``noise_sd = 0`` this is independent acceptances at the mean rate."""
    chains, draws = accepted.shape
    longest, where = 0, 0
    for c in range(chains):
        run = 0
        for moved in accepted[c]:
            run = 0 if moved else run + 1
            if run > longest:
                longest, where = run, c
    rate = float(np.mean(accepted))
    if 0.0 < rate < 1.0:
        unlikely = _unlikely_stay(rate, chains * draws, noise_sd)
    else:
        unlikely = float(draws)
    return {"longest_stay": int(longest), "longest_stay_chain": int(where),
            "unlikely_stay": int(max(1, math.ceil(unlikely)))}  # fmt: skip


def _unlikely_stay(rate: float, steps: int, noise_sd: float) -> float:
    """The stay length that ``steps`` steps of a PMMH chain with mean
    acceptance ``rate`` and log-likelihood noise ``noise_sd`` reach with
    probability about 1 % (see :func:`_stays`)."""
    s = float(noise_sd) if math.isfinite(noise_sd) and noise_sd > 0 else 0.0
    if s == 0.0:
        return math.log(0.01 / (steps * rate)) / math.log1p(-rate)
    from scipy.special import ndtr

    w = np.linspace(s * s / 2 - 8 * s, s * s / 2 + 8 * s, 4001)
    held = np.exp(-0.5 * ((w - s * s / 2) / s) ** 2)  # the held estimate's law
    m = -s * s / 2 - w  # the log ratio of a fresh to the held estimate: N(m, s^2)
    g = ndtr(m / s) + np.exp(np.minimum(m + s * s / 2, 50.0)) * ndtr(-m / s - s)
    g = np.clip(g, 0.0, 1.0)
    p = min(1.0, rate / float(np.sum(held * g) / np.sum(held)))
    a = np.clip(p * g, 1e-300, 1.0)
    start = held * a / np.sum(held * a)  # where stays start

    def expected(length: float) -> float:
        return steps * rate * float(np.sum(start * np.exp(length * np.log1p(-np.minimum(a, 1 - 1e-16)))))

    lo, hi = 1.0, 1.0
    while expected(hi) > 0.01 and hi < 1e9:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if expected(mid) > 0.01 else (lo, mid)
    return hi


def pmmh_remarks(attrs: Mapping[str, Any]) -> list[str]:
    """What the summary of a PMMH fit says about the likelihood's noise."""
    sd = float(attrs.get("loglik_noise_sd", float("nan")))
    if attrs.get("likelihood") != "particle" or not math.isfinite(sd):
        return []
    # with no warm-up nothing adapted to the target: the proposal kept its starting scale
    tuned = (
        "no warm-up, so the proposal kept its starting scale"
        if int(attrs.get("warmup", 1) or 0) == 0
        else f"target acceptance {float(attrs.get('target_accept', float('nan'))):.3f}"
    )
    lines = [
        f"PMMH: the log-likelihood estimate has sd {sd:.2g} at the posterior mean ({tuned}); "
        "about 1.2 is efficient"
    ]
    if sd > STICKY_SD:
        particles = int(attrs.get("particles", 0) or 0)
        more = f" (about {int(math.ceil(particles * (sd / 1.2) ** 2))})" if particles else ""
        lines.append(
            f"warning: the log-likelihood estimate is noisy (sd {sd:.2g} > {STICKY_SD:g}): the chains stick, and "
            f"the ESS is low; raise --particles{more}"
        )
    stay, unlikely = int(attrs.get("longest_stay", 0)), int(attrs.get("unlikely_stay", 0) or 0)
    if unlikely and stay > unlikely:
        lines.append(
            f"warning: chain {int(attrs.get('longest_stay_chain', 0))} kept one value for {stay} draws in a row (a "
            f"correct chain with this noise and mean acceptance stays {unlikely} in about 1 % of runs): it sat on a "
            "lucky over-estimate of the likelihood, so this run over-represents that value; raise --particles, or "
            "run longer"
        )
    return lines
