"""`specs/targets/logistic_regression_data`: the logistic regression with its
60 points in a CSV file (`--data`) draws what the same model with the points
as constants draws, under NUTS; SGLD on minibatches of 10 agrees with NUTS.

Tolerances. NUTS vs NUTS: each posterior mean within 4 combined Monte Carlo
standard errors, sqrt(mcse_a^2 + mcse_b^2) with mcse = sd / sqrt(ESS) (ArviZ
ESS). SGLD vs NUTS: the same 4 combined standard errors plus a bias allowance
of 0.1 posterior sd. SGLD is a Langevin scheme without correction, so its
mean is off by O(h): with h = 0.005 and the log-density's curvature at most
about 16 here (the largest eigenvalue of X^T X / 4 + I), h * curvature ~ 0.08,
and the bias of the mean, which for a nearly Gaussian posterior is a small
fraction of that relative spread error, stays well under 0.1 sd; the
minibatch gradient noise widens the law but leaves the mean unbiased."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pytest

import dync

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ROOT / "specs" / "targets"
DATA = str(TARGETS / "logistic_data.csv")


def _summary(idata):
    w = np.asarray(idata.posterior["w"])
    flat = w.reshape(-1, w.shape[-1])
    ess = np.asarray(az.ess(idata, var_names=["w"])["w"])
    return flat.mean(0), flat.std(0), flat.std(0) / np.sqrt(ess)


@pytest.fixture(scope="module")
def nuts_constants():
    return _summary(dync.sample(str(TARGETS / "logistic_regression.dync"), method="nuts", chains=4, warmup=200,
                                samples=500, seed=2, progress=False))  # fmt: skip


def test_nuts_with_a_data_file_agrees_with_nuts_on_the_constants(nuts_constants):
    idata = dync.sample(str(TARGETS / "logistic_regression_data.dync"), data=DATA, method="nuts", chains=4,
                        warmup=200, samples=500, seed=3, progress=False)  # fmt: skip
    mean, _, mcse = _summary(idata)
    ref, _, ref_mcse = nuts_constants
    assert np.all(np.abs(mean - ref) < 4 * np.hypot(mcse, ref_mcse)), (mean, ref, mcse)


def test_sgld_agrees_with_nuts(nuts_constants):
    """The YAML form's `sample:` section: sgld, batch 10, step 0.005, data beside the spec."""
    idata = dync.sample(str(TARGETS / "logistic_regression_data.yaml"), warmup=500, samples=2500, seed=4,
                        progress=False)  # fmt: skip
    assert idata.posterior.attrs["method"] == "sgld" and idata.posterior.attrs["batch"] == 10
    mean, _, mcse = _summary(idata)
    ref, sd, ref_mcse = nuts_constants
    assert np.all(np.abs(mean - ref) < 4 * np.hypot(mcse, ref_mcse) + 0.1 * sd), (mean, ref, mcse, sd)
