"""Tests for dync.runtime.logdensity: the log-density over a model's
unconstrained parameters (values against hand computations, gradients against
finite differences, MAP and MLE found where the closed form puts them)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from dync.errors import UsageError
from dync.runtime.kernels import optax_kernel, run_kernel
from dync.runtime.logdensity import LogDensity, parameter_log_density, state_log_density

DATA = np.array([0.3, -0.2, 0.9, 0.4])


@pytest.fixture(scope="module")
def ou(spec_model):
    # theta ~ LogNormal(0, 1) : positive; mu real, no prior; sigma positive, no prior
    return spec_model("specs/ou.dync")


def gaussian_data_log_likelihood(model):
    """$\\sum_i \\log N(y_i \\mid \\mu, \\sigma)$ for the fixed DATA."""
    p = model.constrained_params()
    z = (jnp.asarray(DATA, p["mu"].dtype) - p["mu"]) / p["sigma"]
    return jnp.sum(-0.5 * z**2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi))


def log_normal_toy(model):
    """Gaussian in (log theta, mu, log sigma): the optimum has a closed form."""
    p = model.constrained_params()
    return (
        -0.5 * ((jnp.log(p["theta"]) - 1.0) / 0.5) ** 2
        - 0.5 * ((p["mu"] - 1.5) / 0.5) ** 2
        - 0.5 * ((jnp.log(p["sigma"]) + 1.0) / 0.5) ** 2
    )


POSITION = {"theta": 0.3, "mu": -0.4, "sigma": -0.2}


def _position(dtype=jnp.float32):
    return {k: jnp.asarray(v, dtype) for k, v in POSITION.items()}


def _hand_value(prior: bool, likelihood: bool) -> float:
    u_theta, mu, u_sigma = POSITION["theta"], POSITION["mu"], POSITION["sigma"]
    value = 0.0
    if prior:
        # LogNormal(0, 1) prior on theta = exp(u), plus the log-Jacobians of
        # exp for theta and sigma (log |d exp(u)/du| = u); mu and sigma have no prior
        value += stats.lognorm(s=1.0, scale=1.0).logpdf(np.exp(u_theta)) + u_theta + u_sigma
    if likelihood:
        value += stats.norm(mu, np.exp(u_sigma)).logpdf(DATA).sum()
    return value


def test_value_against_a_hand_computation(ou):
    posterior = parameter_log_density(ou, gaussian_data_log_likelihood)
    assert set(posterior.initial_position) == {"theta", "mu", "sigma"}
    assert posterior.dimension == 3
    assert float(posterior(_position())) == pytest.approx(_hand_value(True, True), rel=1e-5)
    prior_only = parameter_log_density(ou)
    assert float(prior_only.fn(_position())) == pytest.approx(_hand_value(True, False), rel=1e-5)
    likelihood = parameter_log_density(ou, gaussian_data_log_likelihood, prior=False)
    assert float(likelihood(_position())) == pytest.approx(_hand_value(False, True), rel=1e-5)


def test_prior_false_is_the_likelihood_alone(ou):
    likelihood = parameter_log_density(ou, log_normal_toy, prior=False)
    for position in (_position(), likelihood.initial_position):
        model = likelihood.to_model(position)
        assert float(likelihood(position)) == pytest.approx(float(log_normal_toy(model)), rel=1e-6)


def test_gradient_against_central_finite_differences(ou, x64):
    model64 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, ou)
    density = parameter_log_density(model64, gaussian_data_log_likelihood)
    position = _position(jnp.float64)
    value, grad = jax.jit(density.value_and_grad)(position)
    assert float(value) == pytest.approx(_hand_value(True, True), rel=1e-12)
    h = 1e-6
    for name in position:
        up = dict(position, **{name: position[name] + h})
        down = dict(position, **{name: position[name] - h})
        fd = (float(density(up)) - float(density(down))) / (2 * h)
        # central differences: error O(h^2) plus rounding eps/h ~ 1e-10
        assert float(grad[name]) == pytest.approx(fd, rel=1e-7, abs=1e-8), name


def test_works_under_vmap_and_jit(ou):
    density = parameter_log_density(ou, gaussian_data_log_likelihood)
    batch = {k: jnp.asarray([v, v + 0.1]) for k, v in POSITION.items()}
    values = jax.jit(jax.vmap(density.fn))(batch)
    assert values.shape == (2,)
    assert float(values[0]) == pytest.approx(_hand_value(True, True), rel=1e-5)
    assert float(jax.jit(density.fn)(_position())) == pytest.approx(_hand_value(True, True), rel=1e-5)
    # the record is a pytree: it passes through filter_jit whole
    value = eqx.filter_jit(lambda d, p: d(p))(density, _position())
    assert float(value) == pytest.approx(_hand_value(True, True), rel=1e-5)


def _fit(density: LogDensity, key) -> dict:
    # sgd on a concave quadratic with curvatures 5, 4, 4: contraction factors
    # 0.5 and 0.6 per step, so 100 steps reach float32 precision
    kernel = optax_kernel(density, optax.sgd(0.1))
    run = run_kernel(kernel, kernel.init(), key, 100, progress=False)
    assert run.steps_done == 100 and run.info.value.shape == (100,)
    assert np.all(np.diff(run.info.value) >= -1e-5)  # climbing
    return {k: float(v) for k, v in density.constrained(run.state.position).items()}


def test_map_and_mle_of_a_gaussian_toy_by_optax(ou, key):
    # prior=True over u = (log theta, mu, log sigma): LogNormal(0,1) prior plus
    # Jacobian gives -u^2/2 for theta and +u for sigma; with the toy likelihood
    #   theta: -u^2/2 - 2 (u - 1)^2  -> u = 4/5
    #   mu:    -2 (mu - 1.5)^2       -> mu = 1.5
    #   sigma: u - 2 (u + 1)^2       -> u = -3/4
    best = _fit(parameter_log_density(ou, log_normal_toy), key)
    assert best["theta"] == pytest.approx(np.exp(0.8), abs=1e-4)
    assert best["mu"] == pytest.approx(1.5, abs=1e-4)
    assert best["sigma"] == pytest.approx(np.exp(-0.75), abs=1e-4)
    # prior=False: the likelihood alone, maximised at log theta = 1, log sigma = -1
    mle = _fit(parameter_log_density(ou, log_normal_toy, prior=False), key)
    assert mle["theta"] == pytest.approx(np.exp(1.0), abs=1e-4)
    assert mle["mu"] == pytest.approx(1.5, abs=1e-4)
    assert mle["sigma"] == pytest.approx(np.exp(-1.0), abs=1e-4)


def test_to_model_and_constrained_map_a_position_back(ou):
    density = parameter_log_density(ou)
    model = density.to_model(_position())
    np.testing.assert_allclose(model.constrained_params()["theta"], np.exp(0.3), rtol=1e-6)
    np.testing.assert_allclose(density.constrained(_position())["sigma"], np.exp(-0.2), rtol=1e-6)
    np.testing.assert_allclose(density.constrained(density.initial_position)["sigma"], 0.5, rtol=1e-6)


def test_state_log_density_and_its_errors(ou):
    density = state_log_density(lambda x: -0.5 * jnp.sum(x**2), jnp.zeros(3))
    value, grad = density.value_and_grad(jnp.ones(3))
    assert float(value) == -1.5
    np.testing.assert_array_equal(grad, -np.ones(3))
    assert density.dimension == 3
    with pytest.raises(UsageError, match="not over a model's parameters"):
        density.to_model(jnp.ones(3))
    with pytest.raises(UsageError, match="nothing to evaluate"):
        parameter_log_density(ou, prior=False)
