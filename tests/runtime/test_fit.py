"""`fit_model`: every estimator returns one InferenceData layout
(docs/fitting.md, "The fit file"), and `fit_summary` prints it."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
import xarray as xr

from dync.errors import UsageError
from dync.runtime.fit import fit_model, fit_summary, main_group
from dync.runtime.likelihood import log_likelihood_with_method
from dync.runtime.params import with_params


@pytest.fixture(scope="module")
def ou(spec_model):
    return spec_model("specs/ou.dync")


@pytest.fixture(scope="module")
def data():
    """Two series with their own irregular times, one value missing."""
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 10, size=(2, 25)), axis=1)
    y = 0.4 * rng.standard_normal((2, 25))
    y[0, 3] = np.nan
    return xr.Dataset({"y": (("series", "obs"), y)}, coords={"time": (("series", "obs"), t)})


@pytest.fixture(scope="module")
def mle(ou, data):
    return fit_model(ou, data, method="mle", steps=200, fix={"mu": 0.0}, progress=False)


@pytest.fixture(scope="module")
def nuts(ou, data):
    return fit_model(ou, data, method="nuts", chains=2, warmup=60, draws=30, fix={"mu": 0.0}, progress=False)


def test_point_fit_has_estimates_covariance_data_and_pointwise_log_likelihood(mle, ou, data):
    assert {"point_estimate", "optimizer_trace", "observed_data", "log_likelihood"} <= set(mle.groups())
    point = mle.point_estimate
    per_parameter = {f"{n}{x}" for n in ("theta", "sigma") for x in ("", "_se", "_lower", "_upper")}
    assert set(point.data_vars) == per_parameter | {"covariance"}
    assert list(point.data_vars)[:2] == ["theta", "theta_se"]  # the spec declares theta first: its order, not sorted
    assert list(point.coordinate.values) == ["sigma", "theta"] or list(point.coordinate.values) == ["theta", "sigma"]
    assert point.covariance.shape == (2, 2)
    attrs = point.attrs
    assert attrs["method"] == "mle" and attrs["likelihood"] == "kalman" and attrs["model"] == "ornstein_uhlenbeck"
    assert json.loads(attrs["fixed_json"]) == {"mu": 0.0}
    assert "dx = theta" in attrs["spec_text"]
    assert attrs["se_curvature"] == "autodiff"  # the exact Hessian of the Kalman likelihood
    assert mle.optimizer_trace.objective.shape == (200,)
    # the log_likelihood group: each series' exact log-likelihood at the estimate (float32 rounding)
    fitted = with_params(ou, {"theta": float(point.theta), "sigma": float(point.sigma), "mu": 0.0})
    per_series, _ = log_likelihood_with_method(fitted, data, per_series=True)
    ll = mle.log_likelihood.series_log_likelihood
    assert ll.dims == ("chain", "draw", "series") and ll.shape == (1, 1, 2)
    np.testing.assert_allclose(ll.values[0, 0], np.asarray(per_series), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(ll.sum()), attrs["log_likelihood"], rtol=1e-4, atol=1e-4)


def test_observed_data_keeps_per_series_times_and_missing_values(mle, data):
    """A time with nothing observed carries no information and is dropped
    (docs/fitting.md); the shorter series is NaN-padded at its end."""
    obs = mle.observed_data
    assert obs.y.dims == ("series", "obs") and obs.y.shape == (2, 25)
    t = data.time.values
    np.testing.assert_array_equal(obs.time.values[0, :24], np.delete(t[0], 3))
    assert np.isnan(obs.time.values[0, 24]) and np.isnan(obs.y.values[0, 24])
    np.testing.assert_array_equal(obs.time.values[1], t[1])
    np.testing.assert_allclose(obs.y.values[1], data.y.values[1])


def test_nuts_fit_has_posterior_stats_and_pointwise_log_likelihood(nuts, ou, data):
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(nuts.groups())
    post = nuts.posterior
    assert set(post.data_vars) == {"theta", "sigma"}
    assert post.theta.shape == (2, 30) and (post.sigma.values > 0).all()
    assert post.attrs["method"] == "nuts" and post.attrs["chains"] == 2
    ll = nuts.log_likelihood.series_log_likelihood
    assert ll.shape == (2, 30, 2)
    # one draw, recomputed: the pointwise values are each series' log-likelihood at that draw
    theta, sigma = float(post.theta[1, 7]), float(post.sigma[1, 7])
    per_series, _ = log_likelihood_with_method(with_params(ou, {"theta": theta, "sigma": sigma, "mu": 0.0}), data,
                                               per_series=True)  # fmt: skip
    np.testing.assert_allclose(ll.values[1, 7], np.asarray(per_series), rtol=1e-4, atol=1e-4)


def test_summary_tables(mle, nuts):
    text = fit_summary(mle)
    assert "MLE with the kalman likelihood" in text and "held fixed: mu = 0.0" in text
    assert "theta" in text and "97.5%" in text and "converged" in text
    text = fit_summary(nuts)
    assert "2 chains x 30 draws" in text and "r_hat" in text and "ess_bulk" in text and "divergences:" in text


def test_fit_file_round_trip(nuts, tmp_path):
    from dync.commands import write_fit

    path = tmp_path / "fit.nc"
    write_fit(nuts, path)
    import arviz as az

    back = az.from_netcdf(path)
    np.testing.assert_array_equal(back.posterior.theta.values, nuts.posterior.theta.values)
    assert main_group(back).attrs["method"] == "nuts"


def test_bad_method_and_particle_without_key_are_usage_errors(ou, data):
    with pytest.raises(UsageError, match="unknown estimator"):
        fit_model(ou, data, method="nut")
    with pytest.raises(UsageError, match="no parameter|not a parameter|unknown"):
        fit_model(ou, data, method="mle", fix={"thetta": 1.0}, steps=2)


def test_same_seed_same_numbers(ou, data, nuts):
    again = fit_model(ou, data, method="nuts", chains=2, warmup=60, draws=30, fix={"mu": 0.0}, progress=False)
    np.testing.assert_array_equal(again.posterior.theta.values, nuts.posterior.theta.values)
    key_unused = jax.random.key(0)
    del key_unused


def test_a_misspelt_or_unknown_setting_is_named_with_a_suggestion(ou, data):
    """`chains` misspelt as `chain` said "settings of --method vi only"."""
    with pytest.raises(UsageError, match="unknown fit setting `chain`") as info:
        fit_model(ou, data, method="mle", chain=2)
    assert "did you mean `chains`?" in info.value.hint
    with pytest.raises(UsageError, match="a seed is a whole number"):
        fit_model(ou, data, method="mle", seed="abc")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": -1.0}, "learning_rate=-1.0: expected a positive, finite number"),
        ({"method": "nuts", "target_accept": 1.5}, "strictly between 0 and 1"),
        ({"steps": -5}, "steps=-5: expected a whole number >= 1"),
        ({"chains": 0}, "chains=0"),
    ],
)
def test_bad_numbers_in_the_python_api_are_usage_errors(ou, data, kwargs, message):
    with pytest.raises(UsageError, match=message):
        fit_model(ou, data, **kwargs)


def test_vi_on_a_linear_gaussian_model_points_to_the_exact_likelihood(spec_model, monkeypatch):
    """VI maximises a bound and can bias the parameters; on a model whose
    likelihood is exact (Kalman) the fit says so before it runs."""
    from dync.runtime.latent import fit as vi_module

    monkeypatch.setattr(vi_module, "fit_vi", lambda *a, **k: "ran")
    model = spec_model("specs/ou.dync")
    assert model.info.linear_gaussian
    with pytest.warns(UserWarning, match="linear-Gaussian, so its likelihood is exact"):
        assert fit_model(model, "unused.nc", method="vi", steps=1) == "ran"
