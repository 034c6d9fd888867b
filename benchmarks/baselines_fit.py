"""Hand-written JAX baselines for the fitting benchmarks (``fit.py``): what an
expert writes without dync.

* :func:`ou_log_likelihood`: the exact Kalman filter of a scalar OU process
  observed with Gaussian noise, with the closed-form transition
  $F = e^{-\\theta h}$, $Q = \\sigma^2 (1 - F^2) / (2\\theta)$, scalar
  arithmetic in a ``lax.scan``.
* :func:`oscillator_log_likelihood`: the exact Kalman filter of the damped
  oscillator of ``specs/oscillator_observed.dync`` (2 states, the position
  observed), its transitions from Van Loan's block exponential with
  ``jax.scipy.linalg.expm`` (vmapped over the gaps), a ``lax.scan`` of the
  textbook predict/update.
* :func:`nuts`: BlackJAX window adaptation then NUTS, chains vmapped, on a
  log-density over unconstrained parameters.
* :func:`lorenz_particle_filter`: a bootstrap particle filter for stochastic
  Lorenz-63 (Euler–Maruyama sub-steps, systematic resampling when the ESS
  falls below a threshold), one ``lax.scan`` over observation times.

Parameters are passed unconstrained, as a sampler moves them: a positive
parameter ``p`` as ``log p``.
"""

from __future__ import annotations

import math

import blackjax
import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def _normal_logpdf(x, loc, scale):
    z = (x - loc) / scale
    return -0.5 * (z * z + LOG_2PI) - jnp.log(scale)


# ---------------------------------------------------------------------------
# Exact likelihoods
# ---------------------------------------------------------------------------


def ou_log_likelihood(u: dict, times, ys, noise: float):
    """$\\log p(y_{0:T-1})$ of $dx = \\theta(\\mu - x)dt + \\sigma dW$, $x(t_0)$
    stationary, $y_k \\sim N(x(t_k), \\text{noise}^2)$. ``u`` holds
    ``theta`` and ``sigma`` as logs and ``mu`` as is."""
    theta, mu, sigma = jnp.exp(u["theta"]), u["mu"], jnp.exp(u["sigma"])
    r = noise * noise
    var_inf = sigma * sigma / (2.0 * theta)
    F = jnp.exp(-theta * jnp.diff(times))
    Q = var_inf * (1.0 - F * F)

    def update(m, P, y):
        s = P + r
        e = y - m
        k = P / s
        return m + k * e, P - k * P, -0.5 * (e * e / s + jnp.log(s) + LOG_2PI)

    def step(carry, inputs):
        m, P, ll = carry
        f, q, y = inputs
        m, P, lk = update(mu + f * (m - mu), f * f * P + q, y)
        return (m, P, ll + lk), None

    m, P, ll = update(mu, var_inf, ys[0])
    (_, _, ll), _ = jax.lax.scan(step, (m, P, ll), (F, Q, ys[1:]))
    return ll


def oscillator_matrices(u: dict):
    """``(A, Qc)`` of $dx = v\\,dt$, $dv = (-kx - \\gamma v)dt + s\\,dW$."""
    k, gamma, s = jnp.exp(u["k"]), jnp.exp(u["gamma"]), jnp.exp(u["s"])
    zero, one = jnp.zeros_like(k), jnp.ones_like(k)
    A = jnp.stack([jnp.stack([zero, one]), jnp.stack([-k, -gamma])])
    Qc = jnp.stack([jnp.stack([zero, zero]), jnp.stack([zero, s * s])])
    return A, Qc


def van_loan(A, Qc, h):
    """``(F, Q)`` over a gap ``h``: $F = e^{Ah}$, $Q = \\int_0^h e^{As}Q_ce^{A^\\top s}ds$."""
    n = A.shape[0]
    M = jnp.block([[-A, Qc], [jnp.zeros_like(A), A.T]]) * h
    E = jax.scipy.linalg.expm(M)
    F = E[n:, n:].T
    Q = F @ E[:n, n:]
    return F, 0.5 * (Q + Q.T)


def oscillator_log_likelihood(u: dict, times, ys, m0, P0, noise: float):
    """The exact log-likelihood of position observations ``ys`` of the damped
    oscillator, from $N(m_0, P_0)$ at the first time."""
    A, Qc = oscillator_matrices(u)
    F, Q = jax.vmap(van_loan, in_axes=(None, None, 0))(A, Qc, jnp.diff(times))
    r = noise * noise

    def update(m, P, y):  # H = [1, 0]
        s = P[0, 0] + r
        e = y - m[0]
        k = P[:, 0] / s
        return m + k * e, P - jnp.outer(k, P[0, :]), -0.5 * (e * e / s + jnp.log(s) + LOG_2PI)

    def step(carry, inputs):
        m, P, ll = carry
        f, q, y = inputs
        m, P, lk = update(f @ m, f @ P @ f.T + q, y)
        return (m, P, ll + lk), None

    m, P, ll = update(m0, P0, ys[0])
    (_, _, ll), _ = jax.lax.scan(step, (m, P, ll), (F, Q, ys[1:]))
    return ll


# ---------------------------------------------------------------------------
# NUTS
# ---------------------------------------------------------------------------


def ou_log_posterior(u: dict, times, ys, noise: float):
    """The OU log posterior over unconstrained parameters, with the priors of
    ``specs/ou_observed.dync``: $\\theta \\sim \\mathrm{LogNormal}(0, 1)$,
    $\\mu \\sim N(0, 1)$, $\\sigma \\sim \\mathrm{LogNormal}(-1, 1)$, plus the
    log-Jacobians of $\\theta = e^{u}$ and $\\sigma = e^{u}$ (a LogNormal's
    density at $e^u$ times $e^u$ is the normal density of $u$)."""
    prior = (
        _normal_logpdf(u["theta"], 0.0, 1.0)
        + _normal_logpdf(u["mu"], 0.0, 1.0)
        + _normal_logpdf(u["sigma"], -1.0, 1.0)
    )
    return prior + ou_log_likelihood(u, times, ys, noise)


def nuts(key, log_density, initial_position, chains: int, warmup: int, draws: int, target_accept: float = 0.8):
    """Window adaptation then NUTS, ``chains`` chains vmapped; returns the
    positions ``{name: (chains, draws)}``."""
    adaptation = blackjax.window_adaptation(blackjax.nuts, log_density, target_acceptance_rate=target_accept)
    key_warmup, key_draws = jax.random.split(key)

    def one_chain(k_warmup, k_draws):
        (state, parameters), _ = adaptation.run(k_warmup, initial_position, num_steps=warmup)
        kernel = blackjax.nuts(log_density, **parameters)

        def body(state, k):
            state, _ = kernel.step(k, state)
            return state, state.position

        _, positions = jax.lax.scan(body, state, jax.random.split(k_draws, draws))
        return positions

    return jax.vmap(one_chain)(jax.random.split(key_warmup, chains), jax.random.split(key_draws, chains))


# ---------------------------------------------------------------------------
# Bootstrap particle filter
# ---------------------------------------------------------------------------


def lorenz_drift(x, sigma, rho, beta):
    """The Lorenz-63 drift of states stored coordinates first, ``(3, N)``."""
    return jnp.stack([sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]])


def systematic_resample(key, weights, n: int):
    """Systematic resampling: one uniform, ``n`` evenly spaced points through
    the cumulative weights."""
    points = (jax.random.uniform(key, dtype=weights.dtype) + jnp.arange(n, dtype=weights.dtype)) / n
    cumulative = jnp.cumsum(weights)
    return jnp.clip(jnp.searchsorted(cumulative, points * cumulative[-1]), 0, n - 1)


def lorenz_particle_filter(
    key, params, x0, times, obs, obs_noise: float, particles: int, substeps: int, ess_threshold: float = 0.5
):
    """The bootstrap particle filter's log-evidence estimate for observations
    ``obs (T, p)`` of the first ``p`` coordinates of Lorenz-63 (Gaussian,
    scale ``obs_noise``), particles started at ``x0`` at ``times[0]`` and moved
    by ``substeps`` Euler–Maruyama steps per interval (all of an interval's
    normals drawn in one call). Particles are stored coordinates first,
    ``(3, N)``, so that every operation runs along contiguous particles."""
    sigma, rho, beta, s = params
    move_key, resample_key = jax.random.split(key)
    x = jnp.broadcast_to(x0[:, None], (3, particles))
    log_n = jnp.log(jnp.asarray(particles, x.dtype))
    logw = jnp.full((particles,), -log_n, x.dtype)
    p = obs.shape[1]

    def weigh(x, logw, y):
        lw = logw + jnp.sum(_normal_logpdf(y[:, None], x[:p], obs_noise), axis=0)
        inc = jax.scipy.special.logsumexp(lw)
        return lw - inc, inc

    def resample(k, x, logw):
        ess = 1.0 / jnp.sum(jnp.exp(2.0 * logw))
        idx = systematic_resample(k, jnp.exp(logw), particles)
        do = ess < ess_threshold * particles
        return jnp.where(do, x[:, idx], x), jnp.where(do, -log_n, logw)

    logw, total = weigh(x, logw, obs[0])
    x, logw = resample(jax.random.fold_in(resample_key, 0), x, logw)

    def step(carry, inputs):
        x, logw, total = carry
        j, h, y = inputs
        dt = h / substeps
        noise = (s * jnp.sqrt(dt)) * jax.random.normal(jax.random.fold_in(move_key, j), (substeps, 3, particles), x.dtype)

        def em(x, dw):
            return x + dt * lorenz_drift(x, sigma, rho, beta) + dw, None

        x, _ = jax.lax.scan(em, x, noise)
        logw, inc = weigh(x, logw, y)
        x, logw = resample(jax.random.fold_in(resample_key, j), x, logw)
        return (x, logw, total + inc), None

    T = times.shape[0]
    (_, _, total), _ = jax.lax.scan(step, (x, logw, total), (jnp.arange(1, T), jnp.diff(times), obs[1:]))
    return total
