"""A forward SDE without Gaussian transition: the multiplicative (GBM) spec
specs/diffusion/gbm_2d.dync for positive data. With log-normal data
log x0 ~ N(m0, S0), log x_t ~ N(m0 - sigma^2 t / 2, S0 + sigma^2 t I), so the
exact score is ((grad_y log p_y)(log x) - 1) / x. The reverse SDE driven by
it (with the div(G G^T) drift of state-dependent noise) and started from data
pushed forward to t1 must give back the data's log-moments; sliced score
matching must prefer the exact score."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.runtime.forward_sde import classify_forward
from dync.runtime.reverse import EmpiricalPrior, reverse_sample
from dync.runtime.score_training import ssm_loss, terminal_samples

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


def test_gbm_is_not_linear_and_its_terminal_samples_are_log_normal(gbm):
    assert classify_forward(gbm)[0] == "other"
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
