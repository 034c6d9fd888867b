"""The ready targets of ``specs/targets`` (and ``specs/banana``): each compiles
in both forms to the same target, and ``dync.sample`` draws from it with the
moments its comment promises, within Monte Carlo error.

Tolerances: a mean within 4 Monte Carlo standard errors (sd / sqrt(ESS), ESS
from ArviZ), a variance within 4 relative standard errors sqrt(2 / ESS); a
mode weight, with chains that rarely cross between modes, within 4 binomial
standard errors over the chains. Each fails by chance with probability
below 1e-4 for a correct sampler."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pytest

import dync

ROOT = Path(__file__).resolve().parents[2]
TARGETS = sorted((ROOT / "specs" / "targets").glob("*.dync")) + [ROOT / "specs" / "banana.dync"]


@pytest.mark.parametrize("path", TARGETS, ids=lambda p: p.stem)
def test_each_target_compiles_in_both_forms_to_the_same_density(path):
    text, yaml = dync.compile_file(path), dync.compile_file(path.with_suffix(".yaml"))
    assert text.model.target is not None and text.model.target_text == yaml.model.target_text
    assert [s.name for s in text.model.states] == [s.name for s in yaml.model.states]


def _draws(idata, name: str) -> np.ndarray:
    a = np.asarray(idata.posterior[name])
    return a.reshape(a.shape[0] * a.shape[1], -1)


def _ess(idata, name: str) -> np.ndarray:
    return np.asarray(az.ess(idata, var_names=[name])[name]).reshape(-1)


def test_banana_moments():
    """q0 ~ N(0, 1), q1 | q0 ~ N(b q0^2, 1): E q1 = b, Var q1 = 1 + 2 b^2."""
    idata = dync.sample(str(ROOT / "specs/banana.dync"), method="nuts", chains=4, warmup=300, samples=500,
                        progress=False)  # fmt: skip
    q, ess = _draws(idata, "q"), _ess(idata, "q")
    b = 0.1
    for i, (mean, var) in enumerate([(0.0, 1.0), (b, 1 + 2 * b**2)]):
        assert abs(q[:, i].mean() - mean) < 4 * np.sqrt(var / ess[i]), (i, q[:, i].mean())
        assert abs(q[:, i].var() / var - 1) < 4 * np.sqrt(2 / ess[i]), (i, q[:, i].var())


def test_double_well_second_moment_matches_quadrature():
    """E q = 0 and E q^2 = ∫ q^2 e^{-U/T} / ∫ e^{-U/T}, U = h (q^2 - 1)^2,
    by the trapezoid rule on a fine grid (error < 1e-10)."""
    idata = dync.sample(str(ROOT / "specs/targets/double_well.yaml"), method="nuts", chains=4, warmup=300,
                        samples=1000, progress=False)  # fmt: skip
    q, ess = _draws(idata, "q")[:, 0], float(_ess(idata, "q")[0])
    grid = np.linspace(-4, 4, 200001)
    weight = np.exp(-((grid**2 - 1) ** 2) / 0.5)
    second = np.trapezoid(grid**2 * weight, grid) / np.trapezoid(weight, grid)
    sd = np.sqrt(second)
    assert abs(q.mean()) < 4 * sd / np.sqrt(ess), (q.mean(), ess)
    # Var(q^2) / ESS bounds the error of the mean of q^2
    q2_sd = np.sqrt(np.trapezoid(grid**4 * weight, grid) / np.trapezoid(weight, grid) - second**2)
    assert abs((q**2).mean() - second) < 4 * q2_sd / np.sqrt(ess), ((q**2).mean(), second, ess)


@pytest.mark.slow
def test_ill_conditioned_gaussian_variances():
    """Var q[i] = sd[i]^2 from 1e-2 to 1e2 (condition number 1e4), mean 0:
    NUTS with a diagonal mass matrix adapted in warm-up."""
    path = ROOT / "specs/targets/gaussian100.dync"
    idata = dync.sample(str(path), method="nuts", chains=2, warmup=400, samples=300, progress=False)
    q, ess = _draws(idata, "q"), _ess(idata, "q")
    sd = np.logspace(-1, 1, 100)
    z_mean = q.mean(0) / (sd / np.sqrt(ess))
    # the variance's error follows the ESS of q^2, which for NUTS is well below
    # that of q (whose draws are often antithetic)
    raw = np.asarray(idata.posterior["q"])
    ess_sq = np.asarray(az.ess(az.convert_to_dataset(raw**2))["x"]).reshape(-1)
    z_var = (q.var(0) / sd**2 - 1) / np.sqrt(2 / ess_sq)
    # 100 coordinates: |z| < 4.5 for each holds with probability > 0.999
    assert np.max(np.abs(z_mean)) < 4.5, np.argmax(np.abs(z_mean))
    assert np.max(np.abs(z_var)) < 4.5, (np.argmax(np.abs(z_var)), q.var(0)[np.argmax(np.abs(z_var))])


@pytest.mark.slow
def test_mixture_weight_is_recovered_across_many_chains():
    """The fraction of draws in the mode at [-2, -2] is w = 0.3; chains
    start spread out (the initial law Normal(0, 3)) and rarely cross, so the
    error is binomial over the 32 chains: sd sqrt(0.21 / 32) = 0.081."""
    idata = dync.sample(str(ROOT / "specs/targets/mixture2d.dync"), method="nuts", chains=32, warmup=200,
                        samples=300, progress=False)  # fmt: skip
    q = _draws(idata, "q")
    assert abs((q.sum(1) < 0).mean() - 0.3) < 4 * np.sqrt(0.21 / 32)
    # within a mode the covariance is s^2 I = I
    near = q[q.sum(1) > 0] - 2.0
    assert np.allclose(near.var(0), 1.0, atol=0.3), near.var(0)


@pytest.mark.slow
def test_logistic_regression_posterior_matches_importance_sampling():
    """The reference: self-normalised importance sampling from a wide Gaussian
    (the Laplace approximation's covariance doubled) with 2e5 draws, whose
    own error is below 0.01 sd here."""
    path = ROOT / "specs/targets/logistic_regression.dync"
    model = dync.load(path)
    X, y = np.asarray(model.X), np.asarray(model.y)  # the spec's consts
    idata = dync.sample(str(path), method="nuts", chains=4, warmup=300, samples=500, progress=False)
    w, ess = _draws(idata, "w"), _ess(idata, "w")

    def log_post(ws):
        z = ws @ X.T
        return np.sum(y * z - np.logaddexp(0, z), axis=-1) - np.sum(ws**2, axis=-1) / 2

    mean, cov = w.mean(0), 2 * np.cov(w.T)
    rng = np.random.default_rng(0)
    proposal = rng.multivariate_normal(mean, cov, size=200_000)
    diff = proposal - mean
    log_q = -0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    log_w = log_post(proposal) - log_q
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    ref_mean = weights @ proposal
    ref_sd = np.sqrt(weights @ (proposal - ref_mean) ** 2)
    assert np.all(np.abs(mean - ref_mean) < 4 * ref_sd / np.sqrt(ess)), (mean, ref_mean, ess)
    assert np.all(np.abs(w.std(0) / ref_sd - 1) < 4 * np.sqrt(1 / (2 * ess))), (w.std(0), ref_sd)
