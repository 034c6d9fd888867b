"""Point estimates (`dync.runtime.estimate.fit_point`): MLE recovers the
parameters of simulated data within its Laplace standard errors, MAP adds
the prior, fixed parameters stay fixed, and a checkpointed fit resumes to the
same numbers."""

from __future__ import annotations

import numpy as np
import pytest

import dync
from dync.runtime.estimate import fit_point

TRUTH = {"theta": 1.5, "mu": 0.3, "sigma": 0.6}


@pytest.fixture(scope="module")
def ou_data(spec_model):
    model = spec_model("specs/ou.dync")
    truth = dync.with_params(model, TRUTH)
    return model, dync.simulate(truth, seed=4, paths=40, t1=10.0, dt=0.01, save=50)  # 40 series x 21 times


def test_mle_recovers_the_truth_within_its_laplace_errors(ou_data):
    model, data = ou_data
    fit = fit_point(model, data, method="mle", steps=1500, learning_rate=0.05)
    assert fit.likelihood == "kalman" and fit.converged, fit.grad_norm
    assert fit.names == ("theta", "mu", "sigma")  # the spec's order, rows of the covariance too
    mu = fit.names.index("mu")  # unconstrained: its se is the covariance's own
    np.testing.assert_allclose(np.sqrt(fit.covariance[mu, mu]), float(fit.std_errors["mu"]), rtol=1e-5)
    for name, true in TRUTH.items():
        est, se = float(fit.estimates[name]), float(fit.std_errors[name])
        assert 0 < se < 0.3 * abs(true) + 0.05, (name, se)
        # a fixed seed: |z| < 3.5 fails with probability ~5e-4 per parameter
        # for a correct estimator and its standard error
        assert abs(est - true) < 3.5 * se, (name, est, se)
    assert fit.covariance.shape == (3, 3) and np.all(np.linalg.eigvalsh(fit.covariance) > 0)
    # the 95 % interval is u ± 1.96 se_u mapped through the constraint: inside
    # it (sigma, theta are positive), around the estimate, and for the
    # unconstrained mu exactly estimate ± 1.96 se
    for name in ("sigma", "theta"):
        lower, upper = (float(v) for v in fit.intervals[name])
        assert 0 < lower < float(fit.estimates[name]) < upper, (name, lower, upper)
        u, se_u = np.log(float(fit.estimates[name])), float(fit.std_errors[name]) / float(fit.estimates[name])
        np.testing.assert_allclose([lower, upper], np.exp([u - 1.96 * se_u, u + 1.96 * se_u]), rtol=1e-4)
    est, se = float(fit.estimates["mu"]), float(fit.std_errors["mu"])
    np.testing.assert_allclose([float(v) for v in fit.intervals["mu"]], [est - 1.96 * se, est + 1.96 * se], rtol=1e-4)
    # the optimum's log-likelihood is the largest on the optimiser's path
    assert fit.log_likelihood >= np.max(fit.trace) - 1e-3


def test_map_uses_the_prior_and_fixed_parameters_stay_fixed(ou_data):
    model, data = ou_data
    fit = fit_point(model, data, method="map", steps=1500, fix={"mu": 0.3})
    assert set(fit.estimates) == {"sigma", "theta"} and float(fit.fixed["mu"]) == 0.3
    assert float(fit.model.constrained_params()["mu"]) == pytest.approx(0.3)
    # the objective adds the log prior (with Jacobians) to the log-likelihood
    assert fit.objective == pytest.approx(fit.log_likelihood + float(fit.model.log_prior()), rel=1e-5)


def test_bad_requests_are_usage_errors(ou_data):
    model, data = ou_data
    with pytest.raises(dync.UsageError, match="unknown estimator"):
        fit_point(model, data, method="mle2")
    with pytest.raises(dync.UsageError, match="fix"):
        fit_point(model, data, fix={"thetaa": 1.0})
    with pytest.raises(dync.UsageError, match="nothing to estimate"):
        fit_point(model, data, fix=TRUTH)


def test_an_optimiser_that_leaves_the_finite_numbers_is_an_error_not_nan_estimates(ou_data):
    """A learning rate of 1e30 made every estimate NaN, reported with exit 0."""
    model, data = ou_data
    with pytest.raises(dync.DyncRuntimeError, match=r"the MLE objective became nan at step \d+"):
        fit_point(model, data, method="mle", steps=5, learning_rate=1e30)


def test_a_checkpointed_fit_resumes_to_the_same_numbers(ou_data, tmp_path):
    model, data = ou_data
    whole = fit_point(model, data, steps=40, fix={"mu": 0.3})
    path = tmp_path / "fit.ckpt"
    fit_point(model, data, steps=20, fix={"mu": 0.3}, checkpoint=str(path), checkpoint_every=20)
    # a fit of 40 steps cannot resume a 20-step checkpoint: another run
    with pytest.raises(dync.UsageError):
        fit_point(model, data, steps=40, fix={"mu": 0.3}, checkpoint=str(path), checkpoint_every=20)
    path.unlink()
    first = fit_point(model, data, steps=40, fix={"mu": 0.3}, checkpoint=str(path), checkpoint_every=20)
    again = fit_point(model, data, steps=40, fix={"mu": 0.3}, checkpoint=str(path), checkpoint_every=20)
    for name in whole.estimates:
        np.testing.assert_array_equal(first.estimates[name], whole.estimates[name])
        np.testing.assert_array_equal(again.estimates[name], whole.estimates[name])


def test_the_estimate_is_the_optimum_not_the_last_adam_step(ou_data):
    """Adam with a fixed step size circles the optimum; the Newton finish lands
    on it, so a short and a long run give the same estimate (to float32
    round-off: rel 1e-3) and both converge, and the estimate's log-likelihood
    is at least the best seen on the optimiser's path."""
    model, data = ou_data
    short = fit_point(model, data, method="mle", steps=150, learning_rate=0.05)
    long = fit_point(model, data, method="mle", steps=3000, learning_rate=0.05)
    assert short.converged and long.converged, (short.grad_norm, long.grad_norm)
    for name in TRUTH:
        assert float(short.estimates[name]) == pytest.approx(float(long.estimates[name]), rel=1e-3), name
    assert long.log_likelihood >= np.max(long.trace) - 1e-4 * abs(np.max(long.trace))


def test_a_gradient_not_finite_at_the_start_is_named_not_the_learning_rate():
    """The optimiser turning NaN at step 2 whatever the learning rate is the
    model's infinite slope (a guarded root at 0), and the hint says so."""
    import jax.numpy as jnp

    from dync.runtime.estimate import _not_finite_hint

    start = {"a": jnp.asarray(0.0), "b": jnp.asarray(1.0)}
    hint = _not_finite_hint(lambda p: jnp.sqrt(jnp.maximum(p["a"], 0.0)) + p["b"] ** 2, start, 0.05)
    assert "gradient in `a` is not finite" in hint and "`b`" not in hint
    assert "learning-rate (now 0.05)" in _not_finite_hint(lambda p: p["a"] ** 2 + p["b"], start, 0.05)


def test_data_impossible_at_the_start_is_named_not_the_learning_rate():
    """A count above a `Binomial`'s `n` makes the log-likelihood -inf before
    any step; the error says the data are impossible under the model at the
    starting values, not that the optimiser diverged (it blamed
    --learning-rate)."""
    import jax
    import xarray as xr

    from dync.errors import DyncRuntimeError

    model = dync.load(
        "m.dync",
        text="model m\nparam a = 1 : positive\nstate x = 0\ndx = -a * x dt + 0.5 dW\nobserve k ~ Binomial(3, sigmoid(x))\n",
    )
    data = xr.Dataset({"k": (("time",), np.array([1.0, 5.0, 2.0]))}, coords={"time": [0.0, 0.5, 1.0]})
    with pytest.raises(DyncRuntimeError, match="at the starting values, before any step") as caught:
        fit_point(model, data, method="mle", steps=3, particles=4, key=jax.random.key(0))
    assert "Binomial" in caught.value.hint and "learning-rate" not in caught.value.hint


def test_a_fit_of_new_data_of_the_same_sizes_compiles_nothing(spec_model):
    """The objective takes the model's values and the Kalman data as traced
    arguments, and the table of distinct gaps has a few fixed sizes: fitting
    data set after data set (a simulation study) compiles once, where every
    fit used to compile its own programs (about 10 s each on 2 cores)."""
    import jax
    import xarray as xr

    model = spec_model("specs/fit/ou.dync")
    rng = np.random.default_rng(5)

    def data(seed_shift):
        # 30 times on a 0.05 grid: repeated gaps, a different number of distinct ones per data set
        t = np.sort(rng.choice(np.arange(1, 400) * 0.05, size=30, replace=False))
        return xr.Dataset({"y": (("series", "time"), rng.normal(1.0 + seed_shift, 0.5, size=(1, 30)))},
                          coords={"time": (("series", "time"), t[None, :])})  # fmt: skip

    compiles = []

    def listen(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    first_data, second_data = data(0.0), data(0.3)
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        first = fit_point(model, first_data, method="mle", steps=100, progress=False)
        compiles.clear()
        second = fit_point(model, second_data, method="mle", steps=100, progress=False)
        assert compiles == []
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert float(second.estimates["mu"]) != pytest.approx(float(first.estimates["mu"]), abs=1e-3)
