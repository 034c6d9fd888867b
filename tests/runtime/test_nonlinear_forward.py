"""A forward SDE without Gaussian transition: the multiplicative (GBM) spec
specs/diffusion/gbm_2d.dync for positive data. With log-normal data
log x0 ~ N(m0, S0), log x_t ~ N(m0 - sigma^2 t / 2, S0 + sigma^2 t I), so the
exact score is ((grad_y log p_y)(log x) - 1) / x. GBM is linear in log x
(LogCoordinates): its log transition is the closed form above, denoising
score matching in log x is minimised by the exact score, and the PF-ODE
log-likelihood from the log-normal terminal law is the exact log-density.
The reverse SDE driven by the exact score (with the div(G G^T) drift of
state-dependent noise) and started from data pushed forward to t1 must give
back the data's log-moments; sliced score matching (for forward SDEs in
neither class) must prefer the exact score."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.runtime.forward_sde import LogCoordinates, classify_forward, gaussian_transition
from dync.runtime.reverse import EmpiricalPrior, LogGaussianPrior, log_likelihood, reverse_sample, terminal_prior
from dync.runtime.score_training import dsm_loss, log_score, ssm_loss, terminal_samples

ROOT = Path(__file__).resolve().parents[2]
M0 = np.array([0.0, 0.5])
S0 = np.array([[0.3, 0.1], [0.1, 0.2]])
SIGMA = 1.0


def exact_score(t, x):
    y = jnp.log(x)
    c = jnp.asarray(S0) + SIGMA**2 * t * jnp.eye(2)
    gy = -jnp.linalg.solve(c, y - (jnp.asarray(M0) - 0.5 * SIGMA**2 * t))
    return (gy - 1.0) / x


@pytest.fixture(scope="module")
def gbm():
    return dync.load(str(ROOT / "specs/diffusion/gbm_2d.dync"), jax.random.key(0))


def _data(n, seed=0):
    return np.exp(np.random.default_rng(seed).multivariate_normal(M0, S0, n))


def test_gbm_is_log_linear_and_its_terminal_samples_are_log_normal(gbm):
    assert classify_forward(gbm)[0] == "log-linear"
    pts = terminal_samples(gbm, _data(2000), 1.0, 0)
    assert pts.shape == (2000, 2) and np.all(pts > 0)
    lg = np.log(pts)
    # log x_1 ~ N(m0 - 1/2, S0 + I): 2000 samples, 4 standard errors
    assert np.all(np.abs(lg.mean(0) - (M0 - 0.5)) < 4 * np.sqrt(np.diag(S0 + np.eye(2)) / 2000))
    np.testing.assert_allclose(np.cov(lg.T), S0 + np.eye(2), atol=0.15)


@pytest.mark.slow
def test_reverse_sde_with_the_exact_score_gives_back_log_normal_data(gbm):
    prior = EmpiricalPrior(jnp.asarray(terminal_samples(gbm, _data(4000), 1.0, 0)))
    x = reverse_sample(gbm, prior, method="sde", samples=4000, steps=500, score=exact_score, seed=2, progress=False).x
    assert np.all(x > 0)
    lg = np.log(x)
    # observed: mean error 0.01, covariance error 0.01 (4000 samples; SE of the mean 0.009)
    assert np.all(np.abs(lg.mean(0) - M0) < 0.05), lg.mean(0)
    np.testing.assert_allclose(np.cov(lg.T), S0, atol=0.04)


def test_sliced_score_matching_prefers_the_exact_score(gbm):
    """SSM on exact samples of the marginals: the exact score's loss is below
    a perturbed score's by many standard errors."""
    key = jax.random.key(1)
    t = jax.random.uniform(key, (20000,), minval=0.05, maxval=1.0)
    y = M0 - 0.5 * SIGMA**2 * np.asarray(t)[:, None] + np.einsum(
        "bij,bj->bi", np.linalg.cholesky(S0 + SIGMA**2 * np.asarray(t)[:, None, None] * np.eye(2)),
        np.random.default_rng(3).standard_normal((20000, 2)),
    )
    x = jnp.exp(jnp.asarray(y, dtype=jnp.float32))
    v = jax.random.normal(jax.random.key(4), x.shape)
    w = jnp.ones(20000)
    good = float(ssm_loss(exact_score, x, t, v, w))
    bad = float(ssm_loss(lambda tt, xx: 0.5 * exact_score(tt, xx), x, t, v, w))
    # exact: good = -E|s|^2 / 2, bad = (1/8 - 1/2) E|s|^2, a quarter higher
    assert good < 0 and good < bad - 0.15 * abs(good), (good, bad)


def test_the_log_transition_of_gbm_is_its_closed_form(gbm):
    """log x_t | x_0 ~ N(log x0 - sigma^2 t / 2, sigma^2 t I): Phi = 1,
    h = -t/2, P = t (sigma = 1), to the moment ODE's tolerance."""
    tr = gaussian_transition(LogCoordinates(gbm))
    assert tr.diagonal
    for t in (0.1, 0.5, 1.0):
        phi, h, p = (np.asarray(v) for v in tr.coefficients(t))
        np.testing.assert_allclose(phi, 1.0, atol=1e-5)
        np.testing.assert_allclose(h, -0.5 * SIGMA**2 * t, atol=1e-5)
        np.testing.assert_allclose(p, SIGMA**2 * t, atol=1e-5)


def test_dsm_in_log_x_prefers_the_exact_score(gbm):
    """The log-space DSM loss of the exact x-score (through log_score) is
    below that of a perturbed one by many standard errors (40 batches of
    2000), and log_score of the exact x-score is the Gaussian score of y."""
    tr = gaussian_transition(LogCoordinates(gbm))
    y = jnp.asarray(np.log(_data(5)), jnp.float32)
    exact_model = type("M", (), {"score": lambda self, t, x, a: exact_score(t, x)})()
    gy = -jnp.linalg.solve(jnp.asarray(S0) + 0.3 * jnp.eye(2), (y - (M0 - 0.15)).T).T
    np.testing.assert_allclose(jax.vmap(lambda yy: log_score(exact_model, 0.3, yy))(y), gy, rtol=1e-4, atol=1e-4)
    loss = jax.jit(lambda f, y0, t, e: dsm_loss(f, tr, y0, t, e), static_argnums=0)

    def exact(tt, yy):
        return log_score(exact_model, tt, yy)

    def shrunk(tt, yy):
        return 0.9 * log_score(exact_model, tt, yy)

    good, bad = [], []
    for k in range(40):
        k1, k2 = jax.random.split(jax.random.key(k))
        y0 = jnp.asarray(np.log(_data(2000, seed=100 + k)), jnp.float32)
        t = jax.random.uniform(k1, (2000,), minval=1e-3, maxval=1.0)
        e = jax.random.normal(k2, (2000, 2))
        good.append(float(loss(exact, y0, t, e)))  # one compile per function, not per batch
        bad.append(float(loss(shrunk, y0, t, e)))
    diff = np.array(bad) - np.array(good)
    assert diff.mean() > 4 * diff.std() / np.sqrt(40), (np.mean(good), np.mean(bad))


def test_pf_ode_log_likelihood_of_gbm_is_exact(gbm):
    """From the log-normal terminal law (exact here: log-normal data) and the
    exact score, the PF-ODE log-likelihood is the exact log-density
    log N(log x; m0, S0) - sum(log x): error below 2e-3 nats per point
    (float32, ODE tolerance 1e-5)."""
    from scipy.stats import multivariate_normal

    prior = LogGaussianPrior(terminal_prior(gaussian_transition(LogCoordinates(gbm)), M0, S0))
    x = _data(20, seed=5)
    logp, _ = log_likelihood(gbm, prior, x, score=exact_score, t_min=1e-3)
    y = np.log(x)
    exact = multivariate_normal(M0, S0).logpdf(y) - y.sum(axis=1)
    # the law at t_min = 1e-3 is N(m0 - t/2, S0 + t I): compare with it
    t = 1e-3
    at_tmin = multivariate_normal(M0 - 0.5 * t, S0 + t * np.eye(2)).logpdf(y) - y.sum(axis=1)
    assert np.max(np.abs(logp - at_tmin)) < 2e-3, (logp - at_tmin, logp - exact)
