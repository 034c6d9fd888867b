"""Simulation-based calibration: uniform ranks pass, a planted mismatch
between the prior draws and the fitted prior fails, and models SBC cannot
calibrate get a clear error."""

import jax
import numpy as np
import pytest

import dync
from dync.errors import UsageError
from dync.settings.test import TestSettings
from dync.testing import sbc

from ..conftest import SPECS


def test_uniformity_passes_uniform_ranks_and_fails_shifted_ones():
    rng = np.random.default_rng(0)
    ranks = rng.integers(0, 101, size=(200, 2))
    ranks[:, 1] = np.minimum(ranks[:, 1] + 30, 100)  # a posterior that sits too low
    counts, p = sbc.uniformity(ranks, 100)
    assert counts.shape == (10, 2) and (counts.sum(axis=0) == 200).all()
    assert p[0] > 1e-3 and p[1] < 1e-10
    assert sbc.bins(12) == 2 and sbc.bins(1000) == 10


def test_models_sbc_cannot_calibrate_are_refused():
    flat = dync.load(SPECS / "fit" / "ou.dync", jax.random.key(0))
    no_obs = dync.load(SPECS / "ou_tested.dync", jax.random.key(0))
    with pytest.raises(UsageError, match="no `observe` line"):
        sbc.run_sbc(no_obs, TestSettings(), 10)
    prior_less = dync.load(SPECS / "ou.dync", jax.random.key(0))  # mu and sigma have no prior
    with pytest.raises(UsageError, match="needs a prior on every free parameter"):
        sbc.run_sbc(prior_less, TestSettings(), 10)
    for too_few in (1, 3, 9):  # under 5 ranks per bin: "ranks uniform" would overclaim
        with pytest.raises(UsageError, match="at least 10 replications"):
            sbc.run_sbc(flat, TestSettings(), too_few)


@pytest.mark.slow
def test_a_calibrated_fit_passes_and_a_planted_prior_mismatch_fails(monkeypatch):
    # 12 replications of the exact-Kalman OU fit: the ranks' chi-square test
    # (2 bins) at the 1e-3 level over 3 parameters (12 replications cannot
    # reach p < 3e-4 with 2 bins, so the planted case below runs 20)
    model = dync.load(SPECS / "fit" / "ou.dync", jax.random.key(0))
    settings = TestSettings(t1=10.0, dt=0.05, seed=3)
    result = sbc.run_sbc(model, settings, 12)
    assert result.names == ("theta", "mu", "sigma") and result.ranks.shape == (12, 3)
    assert (result.pvalues > 1e-3 / 3).all(), result.pvalues
    # a planted simulator/likelihood mismatch: the data are simulated with
    # twice the noise the fitted model has, so sigma's posterior sits far
    # above the truth and its ranks pile up at the bottom
    import dync.runtime.params as params

    real = params.with_params
    monkeypatch.setattr(params, "with_params", lambda m, v: real(m, {**v, "sigma": 2 * np.asarray(v["sigma"])}))
    shifted = sbc.run_sbc(model, settings, 20)  # 4 bins: 20 replications can reach p < 1e-3
    assert shifted.pvalues[2] < 1e-3 / 3 and np.median(shifted.ranks[:, 2]) < 10, shifted.ranks[:, 2]


def test_a_parameter_the_compiler_reads_is_held_at_its_value_in_every_fit(monkeypatch):
    """`x[k]`: the compiled model keeps k = 1, so SBC neither draws it nor
    fits it (sample_posterior would refuse a free k): each fit holds it."""
    import dync.runtime.posterior as posterior

    model = dync.load(
        "m.dync", jax.random.key(0),
        text="model m\nparam k = 1\nparam a = 1 : positive ~ LogNormal(0, 0.3)\nstate x[3] = 1\n"
        "dx = -a * x dt + 0.1 * x[k] dW\nobserve y ~ Normal(x[0], 0.1)\n",
    )  # fmt: skip
    seen = []

    class Stop(Exception):
        pass

    def fake_sample_posterior(model, data, key, **kwargs):
        seen.append(kwargs.get("fix"))
        raise Stop

    monkeypatch.setattr(posterior, "sample_posterior", fake_sample_posterior)
    with pytest.raises(Stop):
        sbc.run_sbc(model, TestSettings(t1=0.5, dt=0.05), 10)
    assert list(seen[0]) == ["k"] and float(seen[0]["k"]) == 1.0
