"""Feynman–Kac correctors (dync.runtime.fk) with exact closed-form scores of
Gaussian data N(mu, S) under the VP forward SDE: annealing p^beta must give
N(mu, C/beta) (C the law at t_min) and the normaliser
int N^beta = (2 pi)^(n(1-beta)/2) |C|^((1-beta)/2) beta^(-n/2); the product
of two Gaussian experts must give their product law and normaliser
N(mu1; mu2, C1 + C2). Tolerances cover the spread seen over seeds with
2000-3000 particles (weighted particles after resampling vary far more than
independent draws): beta = 0.5, 200 steps: means 0.08, covariances 0.08,
log-normaliser 0.035; beta = 2, 400 steps: means 0.27, covariances 0.07,
log-normaliser 0.41; product, 300 steps: means 0.07, covariances 0.03,
log-normaliser 0.25-0.7 (Euler-Maruyama bias, shrinking with more steps)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import dync
from dync.errors import UsageError
from dync.runtime.fk import fk_sample, systematic_resample
from dync.runtime.forward_sde import gaussian_score, gaussian_transition
from dync.runtime.reverse import terminal_prior

ROOT = Path(__file__).resolve().parents[2]
MU = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 0.8]])
T_MIN = 1e-3


@pytest.fixture(scope="module")
def setup():
    model = dync.load(str(ROOT / "specs/diffusion/gmm2d_vp.dync"), jax.random.key(0))
    tr = gaussian_transition(model)
    _, c = tr.marginal(T_MIN, jnp.asarray(MU), jnp.asarray(COV))
    return model, tr, np.asarray(c)


@pytest.mark.slow
@pytest.mark.parametrize(
    "beta, steps, particles, tol_mean, tol_cov, tol_z", [(0.5, 200, 2000, 0.15, 0.2, 0.15), (2.0, 400, 3000, 0.35, 0.12, 0.7)]
)
def test_annealing_gives_the_tempered_gaussian(setup, beta, steps, particles, tol_mean, tol_cov, tol_z):
    model, tr, c = setup
    run = fk_sample([model], [beta], [terminal_prior(tr, MU, COV)], samples=particles, steps=steps,
                    scores=[gaussian_score(tr, MU, COV)], t_min=T_MIN, seed=3, progress=False)  # fmt: skip
    assert np.all(np.abs(run.x.mean(0) - MU) < tol_mean), run.x.mean(0)
    np.testing.assert_allclose(np.cov(run.x.T), c / beta, atol=tol_cov)
    n = 2
    log_z = n * (1 - beta) / 2 * np.log(2 * np.pi) + (1 - beta) / 2 * np.log(np.linalg.det(c)) - n / 2 * np.log(beta)
    assert abs(run.log_normalizer - log_z) < tol_z, (run.log_normalizer, log_z)
    assert run.resamples >= 1 and run.ess.min() > 100


@pytest.mark.slow
def test_product_of_experts_gives_the_product_gaussian(setup):
    model, tr, _ = setup
    mu2, cov2 = np.array([-1.0, 1.0]), 0.5 * np.eye(2)
    run = fk_sample(
        [model, model], [1.0, 1.0], [terminal_prior(tr, MU, COV), terminal_prior(tr, mu2, cov2)], samples=2000,
        steps=300, scores=[gaussian_score(tr, MU, COV), gaussian_score(tr, mu2, cov2)], t_min=T_MIN, seed=1,
        progress=False,
    )  # fmt: skip
    m1, c1 = (np.asarray(a) for a in tr.marginal(T_MIN, jnp.asarray(MU), jnp.asarray(COV)))
    m2, c2 = (np.asarray(a) for a in tr.marginal(T_MIN, jnp.asarray(mu2), jnp.asarray(cov2)))
    p = np.linalg.inv(np.linalg.inv(c1) + np.linalg.inv(c2))
    mean = p @ (np.linalg.solve(c1, m1) + np.linalg.solve(c2, m2))
    assert np.all(np.abs(run.x.mean(0) - mean) < 0.12), (run.x.mean(0), mean)
    np.testing.assert_allclose(np.cov(run.x.T), p, atol=0.06)
    assert abs(run.log_normalizer - stats.multivariate_normal(m2, c1 + c2).logpdf(m1)) < 0.9


def test_systematic_resampling_follows_the_weights():
    """Systematic resampling gives particle i floor(N w_i) or ceil(N w_i) copies."""
    w = np.random.default_rng(0).dirichlet(np.ones(200))
    idx = np.asarray(systematic_resample(jax.random.key(0), jnp.log(jnp.asarray(w))))
    counts = np.bincount(idx, minlength=200)
    assert counts.sum() == 200
    assert np.all(counts >= np.floor(200 * w) - 1e-3) and np.all(counts <= np.ceil(200 * w) + 1e-3)


def test_bad_fk_settings_are_usage_errors(setup):
    model, tr, _ = setup
    prior = terminal_prior(tr, MU, COV)
    with pytest.raises(UsageError, match="one exponent"):
        fk_sample([model], [1.0, 2.0], [prior])
    with pytest.raises(UsageError, match="finite"):
        fk_sample([model], [float("nan")], [prior])
