"""NUTS through BlackJAX (`dync.runtime.posterior.sample_posterior`): on
data where the posterior is close to Gaussian it agrees with the Laplace
approximation at the MAP, without divergences, and a parameter without a
prior is warned about."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest

import dync
from dync.runtime.estimate import fit_point
from dync.runtime.posterior import sample_posterior, write_inference_data

from .conjugate import DRIFT_SPEC, drift_case


@pytest.mark.slow
def test_nuts_agrees_with_the_laplace_approximation_of_a_nearly_gaussian_posterior(spec_model, tmp_path):
    model = spec_model("specs/ou.dync")
    truth = dync.with_params(model, {"theta": 1.5, "mu": 0.3, "sigma": 0.6})
    data = dync.simulate(truth, seed=4, paths=40, t1=10.0, dt=0.01, save=50)  # 840 observations
    with pytest.warns(UserWarning, match="improper flat prior .*`mu`, `sigma`"):
        idata = sample_posterior(model, data, jax.random.key(0), chains=2, warmup=200, draws=200)
    laplace = fit_point(model, data, method="map", steps=1500)
    stats = idata.sample_stats
    assert int(stats.diverging.sum()) == 0
    assert 0.6 < float(stats.acceptance_rate.mean()) < 0.98  # adapted towards 0.8
    for name in ("theta", "mu", "sigma"):
        draws = np.asarray(idata.posterior[name]).ravel()
        mode, se = float(laplace.estimates[name]), float(laplace.std_errors[name])
        # 400 draws (ESS ~ 200+): the mean's MC error is ~0.07 sd; Laplace's
        # mode differs from the posterior mean by a small skewness term here,
        # so allow 0.3 sd in all
        assert abs(draws.mean() - mode) < 0.3 * se, (name, draws.mean(), mode, se)
        # the sd of 400 correlated draws is within ~15 % of the truth
        assert 0.75 < draws.std() / se < 1.3, (name, draws.std(), se)
    import arviz as az

    write_inference_data(idata, tmp_path / "fit.nc")
    back = az.from_netcdf(tmp_path / "fit.nc")
    np.testing.assert_array_equal(back.posterior["theta"], idata.posterior["theta"])


def test_sample_posterior_refuses_bad_sizes_and_names(spec_model):
    model = spec_model("specs/ou.dync")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(dync.UsageError, match="chains"):
            sample_posterior(model, None, jax.random.key(0), chains=0)
        with pytest.raises(dync.UsageError, match="fix"):
            sample_posterior(model, None, jax.random.key(0), fix={"sigmaa": 1.0})


@pytest.mark.slow
def test_nuts_matches_the_conjugate_posterior_of_a_drift(tmp_path):
    """The exact posterior of `tests/runtime/conjugate.py`. (This test used
    to measure the Brownian motion's time from 0, not from the first
    observation: that moved the exact mean by 0.14 sd, and the test let it
    through.)"""
    spec = tmp_path / "drift.dync"
    spec.write_text(DRIFT_SPEC)
    model = dync.load(spec)
    data, mean, sd = drift_case()
    idata = sample_posterior(model, data, jax.random.key(2), chains=4, warmup=300, draws=300)
    draws = np.asarray(idata.posterior["b"]).ravel()
    import arviz as az

    ess = float(az.ess(idata, var_names=["b"])["b"])
    assert ess > 300
    # Monte Carlo tolerance: the mean within 4 MC standard errors (sd/sqrt(ESS));
    # the variance within 4 of its MC standard errors, ~ sqrt(2/ESS) relative
    assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(ess), (draws.mean(), mean, sd, ess)
    assert abs(draws.var() / sd**2 - 1) < 4 * np.sqrt(2 / ess), (draws.var(), sd**2, ess)


def test_the_same_run_asked_again_reuses_its_compiled_functions(tmp_path):
    """A second identical call compiles nothing (the warm-up and NUTS step
    take the model and the data as traced arguments) and gives the same
    draws; a new seed, and a new data set of the same sizes, compile nothing
    either (the exact likelihood uses no key); a data set of another size
    compiles afresh."""
    spec = tmp_path / "drift.dync"
    spec.write_text(DRIFT_SPEC)
    model = dync.load(spec)
    import xarray as xr

    t = np.linspace(0.1, 2.0, 12)
    data = xr.Dataset({"y": (("time",), 1.3 * t)}, coords={"time": t})
    compiles = []

    def listen(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        settings = dict(chains=2, warmup=30, draws=20, progress=False)
        first = sample_posterior(model, data, jax.random.key(0), **settings)
        assert len(compiles) > 0
        compiles.clear()
        again = sample_posterior(model, data, jax.random.key(0), **settings)
        other_seed = sample_posterior(model, data, jax.random.key(1), **settings)
        assert compiles == []
        np.testing.assert_array_equal(first.posterior["b"], again.posterior["b"])
        assert not np.array_equal(first.posterior["b"], other_seed.posterior["b"])
        shifted = sample_posterior(model, data.assign(y=data.y + 0.1), jax.random.key(0), **settings)
        assert compiles == []
        assert not np.array_equal(first.posterior["b"], shifted.posterior["b"])
        sample_posterior(model, data.isel(time=slice(0, 8)), jax.random.key(0), **settings)
        assert len(compiles) > 0
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
