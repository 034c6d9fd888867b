"""Reverse-time samplers and PF-ODE likelihoods (dync.runtime.reverse)
driven by the exact closed-form score of Gaussian and Gaussian-mixture
data under the VP forward SDE: they must reproduce the data law (moments
within Monte Carlo error, a KS test), and the ODE's log-likelihood must be
the exact log-density."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import dync
from dync.errors import UsageError
from dync.runtime.forward_sde import (
    gaussian_mixture_log_density,
    gaussian_mixture_score,
    gaussian_score,
    gaussian_transition,
)
from dync.runtime.reverse import log_likelihood, reverse_sample, terminal_prior

ROOT = Path(__file__).resolve().parents[2]
VP = str(ROOT / "specs/diffusion/gmm2d_vp.dync")
MU = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 0.8]])
T_MIN = 1e-3


@pytest.fixture(scope="module")
def setup():
    model = dync.load(VP, jax.random.key(0))
    tr = gaussian_transition(model)
    return model, tr, gaussian_score(tr, MU, COV), terminal_prior(tr, MU, COV)


def _check_law(x: np.ndarray, n: int) -> None:
    """Mean within 4 standard errors, covariance entries within 4 standard
    errors (Gaussian: var(S_ij) = (S_ij^2 + S_ii S_jj) / n), KS p > 1e-3 on
    the whitened components."""
    se_mean = np.sqrt(np.diag(COV) / n)
    assert np.all(np.abs(x.mean(0) - MU) < 4 * se_mean), x.mean(0)
    se_cov = np.sqrt((COV**2 + np.outer(np.diag(COV), np.diag(COV))) / n)
    assert np.all(np.abs(np.cov(x.T) - COV) < 4 * se_cov + 0.01), np.cov(x.T)  # + 0.01: discretisation
    z = np.linalg.solve(np.linalg.cholesky(COV), (x - MU).T)
    for row in z:
        assert stats.kstest(row, "norm").pvalue > 1e-3


@pytest.mark.parametrize("method", ["sde", "heun", "ode", "pc"])
def test_reverse_with_the_exact_score_reproduces_gaussian_data(setup, method):
    model, _, score, prior = setup
    n = 3000
    run = reverse_sample(model, prior, method=method, samples=n, steps=300, score=score, t_min=T_MIN, seed=1, progress=False)
    assert run.x.shape == (n, 2)
    _check_law(run.x, n)


def test_a_wrong_score_fails_the_law_check(setup):
    """The check above can fail: half the exact score gives too wide a law."""
    model, _, score, prior = setup
    run = reverse_sample(model, prior, method="sde", samples=3000, steps=300, score=lambda t, x: 0.5 * score(t, x),
                         t_min=T_MIN, progress=False)  # fmt: skip
    with pytest.raises(AssertionError):
        _check_law(run.x, 3000)


def test_pf_ode_loglik_is_the_exact_gaussian_log_density(setup):
    model, tr, score, prior = setup
    x = np.random.default_rng(0).multivariate_normal(MU, COV, 40)
    logp, nfe = log_likelihood(model, prior, x, score=score, t_min=T_MIN, divergence="exact")
    m, c = tr.marginal(T_MIN, jnp.asarray(MU), jnp.asarray(COV))
    exact = stats.multivariate_normal(np.asarray(m), np.asarray(c)).logpdf(x)
    # float32, ODE tolerances 1e-5: observed max error ~3e-5 nats
    np.testing.assert_allclose(logp, exact, atol=5e-4)
    assert nfe > 0


def test_hutchinson_loglik_is_unbiased(setup):
    model, tr, score, prior = setup
    x = np.random.default_rng(1).multivariate_normal(MU, COV, 400)
    logp, _ = log_likelihood(model, prior, x, score=score, t_min=T_MIN, divergence="hutchinson", seed=2)
    m, c = tr.marginal(T_MIN, jnp.asarray(MU), jnp.asarray(COV))
    err = logp - stats.multivariate_normal(np.asarray(m), np.asarray(c)).logpdf(x)
    assert abs(err.mean()) < 4 * err.std() / np.sqrt(len(err)) + 1e-3, (err.mean(), err.std())
    assert err.std() > 1e-3  # a stochastic estimate, not the exact trace


@pytest.mark.slow
def test_pf_ode_loglik_of_a_gaussian_mixture(setup):
    """For mixture data the exact score is the gradient of the mixture's
    moving log-density; the ODE's log-likelihood must equal that density at
    t_min (the terminal law is the mixture's Gaussian moment match, exact
    to ~1e-4 at t1 = 1 where exp(-B/2) = 0.0066)."""
    model, tr, _, _ = setup
    w = np.array([0.5, 0.3, 0.2])
    means = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    covs = np.stack([0.16 * np.eye(2)] * 3)
    score = gaussian_mixture_score(tr, w, means, covs)
    logd = gaussian_mixture_log_density(tr, w, means, covs)
    mix_mean = w @ means
    mix_cov = sum(wi * (ci + np.outer(mi - mix_mean, mi - mix_mean)) for wi, mi, ci in zip(w, means, covs))
    prior = terminal_prior(tr, mix_mean, mix_cov)
    rng = np.random.default_rng(3)
    comp = rng.choice(3, 30, p=w)
    x = means[comp] + 0.4 * rng.standard_normal((30, 2))
    logp, _ = log_likelihood(model, prior, x, score=score, t_min=T_MIN)
    exact = np.asarray(jax.vmap(lambda xx: logd(T_MIN, xx))(jnp.asarray(x)))
    np.testing.assert_allclose(logp, exact, atol=5e-3)


def test_bad_settings_are_usage_errors(setup):
    model, _, score, prior = setup
    with pytest.raises(UsageError, match="unknown reverse sampler"):
        reverse_sample(model, prior, method="ddim", score=score)
    with pytest.raises(UsageError, match="--steps"):
        reverse_sample(model, prior, steps=0, score=score)


@pytest.mark.parametrize("method", ["sde", "ode"])
def test_reverse_with_the_exact_mixture_score_reproduces_the_1d_mixture(method):
    """specs/diffusion/gmm1d_vp.dync with the closed-form score of
    0.3 N(-1.5, 0.3^2) + 0.7 N(1, 0.5^2): KS test against the mixture's CDF
    (p > 1e-3, 3000 samples) and its mean within 4 standard errors."""
    model = dync.load(str(ROOT / "specs/diffusion/gmm1d_vp.dync"), jax.random.key(0))
    tr = gaussian_transition(model)
    w, m, s = np.array([0.3, 0.7]), np.array([-1.5, 1.0]), np.array([0.3, 0.5])
    score = gaussian_mixture_score(tr, w, m[:, None], (s**2)[:, None, None])
    mean = w @ m
    var = w @ (s**2 + m**2) - mean**2
    prior = terminal_prior(tr, [mean], [[var]])
    x = reverse_sample(model, prior, method=method, samples=3000, steps=300, score=score, t_min=T_MIN, seed=5, progress=False).x[:, 0]

    def cdf(v):
        return sum(wi * stats.norm.cdf(v, mi, si) for wi, mi, si in zip(w, m, s))

    assert stats.kstest(x, cdf).pvalue > 1e-3
    assert abs(x.mean() - mean) < 4 * np.sqrt(var / 3000)
    # the check can fail: a single Gaussian with the mixture's moments is rejected
    assert stats.kstest(np.random.default_rng(0).normal(mean, np.sqrt(var), 3000), cdf).pvalue < 1e-3


def test_a_failed_ode_solve_is_a_runtime_error_not_a_traceback(setup, monkeypatch):
    """A flow the adaptive solver cannot follow within its step budget (here
    a stiff score and a budget of 20 steps) is a DyncRuntimeError saying
    what to check, for sampling and for log-likelihoods."""
    import dync.runtime.reverse as reverse
    from dync.errors import DyncRuntimeError

    model, _, _, prior = setup
    monkeypatch.setattr(reverse, "ODE_MAX_STEPS", 20)

    def stiff(t, x):
        return -1e5 * x

    with pytest.raises(DyncRuntimeError) as err:
        reverse_sample(model, prior, method="ode", samples=4, score=stiff, t_min=T_MIN)
    assert "failed for 4 of 4 samples" in err.value.message and "trained" in err.value.hint
    with pytest.raises(DyncRuntimeError) as err:
        log_likelihood(model, prior, np.ones((3, 2)), score=stiff, t_min=T_MIN)
    assert "of 3 points" in err.value.message
