"""The forward (noising) SDE of a score model: its class and, for a linear
SDE, its exact Gaussian transition kernel.

A diffusion model's forward SDE ``dx = f(t, x) dt + G(t, x) dW`` started at a
data point ``x0`` at ``t = 0`` has, when the drift is affine in the state and
the diffusion does not depend on it (VP, VE, sub-VP, any OU process)

    f(t, x) = A(t) x + c(t),   G(t, x) = G(t),

a Gaussian transition ``x_t | x_0 ~ N(Phi(t) x0 + h(t), P(t))`` with

    Phi' = A Phi,  Phi(0) = I;   h' = A h + c,  h(0) = 0;
    P' = A P + P A^T + G G^T,  P(0) = 0.

:func:`gaussian_transition` recognises the class numerically from the
compiled model (the drift's Jacobian and the diffusion matrix are the same at
several probe points), reads ``A(t) = df/dx``, ``c(t) = f(t, 0)`` and
``G(t)`` from the model, and integrates these moment equations once with
diffrax (Tsit5, tight tolerances, dense output), so that the coefficients at
any ``t`` are an interpolation of an accurate ODE solution: exact up to the
ODE tolerance, for any linear forward SDE the user writes, with no closed
form per schedule. When ``A`` and ``G G^T`` are diagonal (VP, VE, sub-VP) the
equations are solved per component (``O(n)``); otherwise as full matrices.
"""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from ..errors import DyncRuntimeError

__all__ = [
    "FORWARD_CLASSES",
    "GaussianTransition",
    "LogCoordinates",
    "classify_forward",
    "gaussian_mixture_log_density",
    "gaussian_mixture_score",
    "gaussian_score",
    "gaussian_transition",
]

from ..info.forward import FORWARD_CLASSES as FORWARD_CLASSES  # noqa: E402  (the classes dync check/train name)

#: the most steps of the moment equations (the dense solution stores this many)
MAX_ODE_STEPS = 4096

#: the most states a full-matrix (non-diagonal) transition is computed for
MAX_FULL_STATES = 256


@eqx.filter_jit
def _probe_values(model, ts: Array, xs: Array) -> tuple[Array, Array]:
    """The drift's Jacobian and the diffusion matrix at every (time, point)
    (compiled once per model structure)."""

    def at(t, x):
        jac = jax.jacfwd(lambda z: model.ito_drift(t, z, None))(x)
        return jac, model.diffusion(t, x, None)

    return jax.vmap(lambda t: jax.vmap(lambda x: at(t, x))(xs))(ts)


def _probe(model, t0: float, t1: float) -> tuple[bool, bool, str]:
    """``(linear, diagonal, reason)``: whether the drift's Jacobian and the
    diffusion matrix are the same at three points at each of five times."""
    n = model.info.state_size
    dtype = jnp.result_type(float)
    xs = jnp.stack(
        [jnp.zeros(n, dtype), jax.random.normal(jax.random.key(1), (n,), dtype), 3.0 * jax.random.normal(jax.random.key(2), (n,), dtype)]
    )
    ts = jnp.linspace(t0, t1, 5, dtype=dtype)

    jac, g = _probe_values(model, ts, xs)
    jac, g = np.asarray(jac), np.asarray(g)
    if not (np.all(np.isfinite(jac)) and np.all(np.isfinite(g))):
        return False, False, "the drift or diffusion is not finite at probe points"
    tol = 1e-4 if dtype == jnp.float32 else 1e-9

    def same(a):
        scale = np.maximum(1.0, np.max(np.abs(a), axis=1, keepdims=True))
        return bool(np.all(np.abs(a - a[:, :1]) <= tol * scale))

    if not same(jac):
        return False, False, "the drift is not affine in the state"
    if not same(g):
        return False, False, "the diffusion depends on the state"
    gg = np.einsum("tpij,tpkj->tpik", g, g)
    off = ~np.eye(n, dtype=bool)
    diagonal = bool(np.all(jac[..., off] == 0) and np.all(gg[..., off] == 0))
    return True, diagonal, ""


class LogCoordinates(eqx.Module):
    """A positive forward SDE seen in ``y = log x`` (componentwise), by
    Itô's formula:

        dy = [f(t, x) / x - diag(G G^T)(t, x) / (2 x^2)] dt + (G(t, x) / x) dW,   x = e^y.

    For a multiplicative forward SDE such as geometric Brownian motion
    (``dx = a(t) x dt + b(t) x dW``) this is linear in ``y`` with noise that
    does not depend on it, so :func:`gaussian_transition` of this module is
    the exact (log-normal) transition of ``x``. It offers what the probes
    and the moment equations read: ``info``, ``ito_drift`` and ``diffusion``.
    """

    model: eqx.Module

    @property
    def info(self):
        return self.model.info

    def ito_drift(self, t, y, args):
        x = jnp.exp(y)
        g = self.model.diffusion(t, x, args)
        return self.model.ito_drift(t, x, args) / x - 0.5 * jnp.sum(g * g, axis=1) / (x * x)

    def diffusion(self, t, y, args):
        x = jnp.exp(y)
        return self.model.diffusion(t, x, args) / x[:, None]


def classify_forward(model, t1: float = 1.0) -> tuple[str, str]:
    """The class of a model's forward SDE on ``[0, t1]``: ``("linear",
    "")``, ``("log-linear", "")`` (linear in ``log x``,
    :class:`LogCoordinates`) or ``("other", reason)`` (see
    :data:`FORWARD_CLASSES`)."""
    linear, _, reason = _probe(model, 0.0, t1)
    if linear:
        return "linear", ""
    if _probe(LogCoordinates(model), 0.0, t1)[0]:
        return "log-linear", ""
    return "other", reason


class GaussianTransition(eqx.Module):
    """``x_t | x_0 ~ N(Phi(t) x0 + h(t), P(t))`` of a linear forward SDE.

    With ``diagonal`` the coefficients are vectors (``Phi = diag(phi)``,
    ``P = diag(p)``); otherwise matrices. ``L`` below is the Cholesky factor
    of ``P`` (``sqrt(p)`` when diagonal).

    Attributes:
        solution: the dense diffrax solution of the moment equations.
        diagonal: whether ``A`` and ``G G^T`` are diagonal.
        n: the state size.
        t1: the end of the forward time span.
    """

    solution: diffrax.Solution
    diagonal: bool = eqx.field(static=True)
    n: int = eqx.field(static=True)
    t1: float = eqx.field(static=True)

    def coefficients(self, t: Scalar) -> tuple[Array, Array, Array]:
        """``(Phi, h, P)`` at time ``t`` (vectors when diagonal)."""
        y = self.solution.evaluate(jnp.clip(t, 0.0, self.t1))
        n = self.n
        if self.diagonal:
            return y[:n], y[n : 2 * n], jnp.maximum(y[2 * n :], 0.0)
        phi = y[: n * n].reshape(n, n)
        h = y[n * n : n * n + n]
        p = y[n * n + n :].reshape(n, n)
        return phi, h, 0.5 * (p + p.T)

    def scale(self, t: Scalar) -> Array:
        """``L(t)``, a square root of ``P(t)`` (vector ``sqrt(p)`` when diagonal)."""
        _, _, p = self.coefficients(t)
        if self.diagonal:
            return jnp.sqrt(p)
        jitter = 1e-12 * jnp.maximum(1.0, jnp.trace(p) / self.n)
        return jnp.linalg.cholesky(p + jitter * jnp.eye(self.n, dtype=p.dtype))

    def mean(self, t: Scalar, x0: Float[Array, " n"]) -> Float[Array, " n"]:
        """``Phi(t) x0 + h(t)``."""
        phi, h, _ = self.coefficients(t)
        return (phi * x0 if self.diagonal else phi @ x0) + h

    def perturb(self, t: Scalar, x0: Float[Array, " n"], eps: Float[Array, " n"]) -> tuple[Array, Array]:
        """``(x_t, L)`` with ``x_t = Phi x0 + h + L eps``: a draw of the
        transition for standard normal ``eps``."""
        phi, h, p = self.coefficients(t)
        if self.diagonal:
            scale = jnp.sqrt(p)
            return phi * x0 + h + scale * eps, scale
        scale = self.scale(t)
        return phi @ x0 + h + scale @ eps, scale

    def marginal(self, t: Scalar, mean0: Array, cov0: Array) -> tuple[Array, Array]:
        """Mean and covariance (a full matrix) of ``x_t`` when ``x_0`` has
        the given mean and covariance: the exact marginal for Gaussian data,
        the Gaussian with the right first two moments otherwise."""
        phi, h, p = self.coefficients(t)
        if self.diagonal:
            phi, p = jnp.diag(phi), jnp.diag(p)
        return phi @ mean0 + h, phi @ cov0 @ phi.T + p


def _moment_rhs(model, n: int, diagonal: bool):
    def parts(t, dtype):
        zero = jnp.zeros(n, dtype)
        a = jax.jacfwd(lambda z: model.ito_drift(t, z, None))(zero)
        c = model.ito_drift(t, zero, None)
        g = model.diffusion(t, zero, None)
        return a, c, g @ g.T

    def rhs(t, y, args):
        del args
        a, c, q = parts(t, y.dtype)
        if diagonal:
            a, q = jnp.diag(a), jnp.diag(q)
            phi, h, p = y[:n], y[n : 2 * n], y[2 * n :]
            return jnp.concatenate([a * phi, a * h + c, 2 * a * p + q])
        phi = y[: n * n].reshape(n, n)
        h = y[n * n : n * n + n]
        p = y[n * n + n :].reshape(n, n)
        return jnp.concatenate([(a @ phi).ravel(), a @ h + c, (a @ p + p @ a.T + q).ravel()])

    return rhs


@eqx.filter_jit
def _solve_moments(model, n: int, diagonal: bool, y0: Array, t1: Array, rtol: float, atol: float) -> diffrax.Solution:
    """The moment equations on ``[0, t1]`` with dense output (compiled once
    per model structure)."""
    return diffrax.diffeqsolve(
        diffrax.ODETerm(_moment_rhs(model, n, diagonal)),
        diffrax.Tsit5(),
        t0=jnp.zeros((), t1.dtype),
        t1=t1,
        dt0=None,
        y0=y0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        saveat=diffrax.SaveAt(dense=True, t1=True),
        max_steps=MAX_ODE_STEPS,
    )


def gaussian_transition(model, t1: float = 1.0) -> GaussianTransition:
    """The exact Gaussian transition of a linear forward SDE on ``[0, t1]``.

    Args:
        model: a compiled model with one state (its forward SDE).
        t1: the end of the forward process (1 for VP/VE/sub-VP).

    Raises:
        DyncRuntimeError: the forward SDE is not linear (affine drift,
            state-independent diffusion), or is too large for a full-matrix
            transition.
    """
    linear, diagonal, reason = _probe(model, 0.0, t1)
    name = model.info.name
    if not linear:
        raise DyncRuntimeError(
            f"the forward SDE of model `{name}` has no Gaussian transition: {reason}",
            hint="denoising score matching here needs an affine drift and a diffusion that does not depend "
            "on the state (VP, VE, sub-VP, OU); for a multiplicative (GBM) process, use LogCoordinates(model)",
        )
    n = model.info.state_size
    if not diagonal and n > MAX_FULL_STATES:
        raise DyncRuntimeError(
            f"the forward SDE of model `{name}` couples its {n} components, and a full {n}x{n} transition is too large",
            hint=f"use a forward SDE whose drift and noise act per component (diagonal), or at most {MAX_FULL_STATES} states",
        )
    dtype = jnp.result_type(float)
    if diagonal:
        y0 = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(2 * n, dtype)])
    else:
        y0 = jnp.concatenate([jnp.eye(n, dtype=dtype).ravel(), jnp.zeros(n + n * n, dtype)])
    rtol, atol = (1e-6, 1e-9) if dtype == jnp.float32 else (1e-10, 1e-13)
    sol = _solve_moments(model, n, diagonal, y0, jnp.asarray(t1, dtype), rtol, atol)
    if not bool(jnp.all(jnp.isfinite(sol.ys))):
        raise DyncRuntimeError(
            f"the transition moments of model `{name}` are not finite on [0, {t1:g}]",
            hint="check the forward SDE's parameters (an exploding drift?)",
        )
    return GaussianTransition(sol, diagonal, n, float(t1))


def gaussian_score(transition: GaussianTransition, mean0: Any, cov0: Any):
    """The exact score ``(t, x) -> grad log p_t(x)`` of the forward marginal
    when the data law is ``N(mean0, cov0)``: ``-C_t^{-1}(x - m_t)`` with
    ``(m_t, C_t)`` from :meth:`GaussianTransition.marginal`. For tests and
    for checking a trained score."""
    mean0 = jnp.asarray(mean0, dtype=jnp.result_type(float))
    cov0 = jnp.asarray(cov0, dtype=jnp.result_type(float))

    def score(t: Scalar, x: Float[Array, " n"]) -> Float[Array, " n"]:
        m, c = transition.marginal(t, mean0, cov0)
        return -jnp.linalg.solve(c, x - m)

    return score


def gaussian_mixture_log_density(transition: GaussianTransition, weights: Any, means: Any, covs: Any):
    """The exact log-density ``(t, x) -> log p_t(x)`` of the forward marginal
    when the data law is a Gaussian mixture (each component moves as
    :meth:`GaussianTransition.marginal` says; the weights stay). Its
    gradient is the exact score (:func:`gaussian_mixture_score`)."""
    dtype = jnp.result_type(float)
    log_w = jnp.log(jnp.asarray(weights, dtype) / jnp.sum(jnp.asarray(weights, dtype)))
    means, covs = jnp.asarray(means, dtype), jnp.asarray(covs, dtype)

    def log_density(t: Scalar, x: Float[Array, " n"]) -> Scalar:
        def component(mean0, cov0):
            m, c = transition.marginal(t, mean0, cov0)
            return jax.scipy.stats.multivariate_normal.logpdf(x, m, c)

        return jax.scipy.special.logsumexp(log_w + jax.vmap(component)(means, covs))

    return log_density


def gaussian_mixture_score(transition: GaussianTransition, weights: Any, means: Any, covs: Any):
    """The exact score of the forward marginal for Gaussian-mixture data:
    the gradient of :func:`gaussian_mixture_log_density`."""
    return jax.grad(gaussian_mixture_log_density(transition, weights, means, covs), argnums=1)


def perturbation_noise(key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
    """Standard normal noise for :meth:`GaussianTransition.perturb`."""
    return jax.random.normal(key, shape, jnp.result_type(float))
