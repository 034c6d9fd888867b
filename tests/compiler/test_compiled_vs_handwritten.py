"""Compiled drift and diffusion equal hand-written JAX, at random states.

Tolerance: rtol 1e-5 in float32 (a few ulps of reassociation between the
generated and the hand-written expression)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.runtime import fractional

RTOL = 1e-5


def _states(model, n=5, scale=1.0, offset=0.0):
    return offset + scale * jax.random.normal(jax.random.key(7), (n, model.info.state_size))


def test_double_well_potential_gradient(spec_model):
    model = spec_model("specs/double_well.dync")
    kT = 0.25
    for y in _states(model):
        x = y[0]
        want = -(4 * x * (x**2 - 1))
        np.testing.assert_allclose(model.drift(0.0, y), [want], rtol=RTOL, atol=1e-6)
        np.testing.assert_allclose(model.diffusion(0.0, y), [[np.sqrt(2 * kT)]], rtol=RTOL)


def test_matrix_noise(spec_model):
    model = spec_model("specs/ou_matrix.dync")
    A = jnp.array([[1.0, 0.5], [-0.5, 1.0]])
    L = jnp.array([[0.5, 0.0], [0.3, 0.4]])
    for y in _states(model):
        np.testing.assert_allclose(model.drift(0.0, y), -A @ y, rtol=RTOL, atol=1e-6)
        np.testing.assert_allclose(model.diffusion(0.0, y), L, rtol=RTOL)
        dw = jnp.array([0.3, -1.2])
        np.testing.assert_allclose(model.noise(0.0, y, dw), L @ dw, rtol=RTOL, atol=1e-6)


def test_shared_noise_heston(spec_model):
    model = spec_model("specs/heston.dync")
    mu, kappa, theta, xi, rho = 0.05, 2.0, 0.04, 0.3, -0.7
    for y in _states(model, scale=0.5, offset=1.0):
        S, v = y
        vol = jnp.sqrt(jnp.maximum(v, 0.0))
        np.testing.assert_allclose(model.drift(0.0, y), [mu * S, kappa * (theta - v)], rtol=RTOL, atol=1e-6)
        G = jnp.array([[S * vol, 0.0], [xi * vol * rho, xi * vol * jnp.sqrt(1 - rho**2)]])
        np.testing.assert_allclose(model.diffusion(0.0, y), G, rtol=RTOL, atol=1e-6)


def test_stratonovich_gbm_ito_correction(spec_model):
    model = spec_model("specs/gbm_stratonovich.dync")
    mu, sigma = 0.05, 0.2
    assert model.info.calculus == "stratonovich"
    for y in _states(model, offset=2.0):
        S = y[0]
        np.testing.assert_allclose(model.drift(0.0, y), [mu * S], rtol=RTOL)
        # Itô drift = Stratonovich drift + 1/2 sigma^2 S
        np.testing.assert_allclose(model.ito_drift(0.0, y), [(mu + 0.5 * sigma**2) * S], rtol=RTOL)


def test_kubo_oscillator_ito_correction(spec_model):
    model = spec_model("specs/kubo.dync")
    omega, s = 1.0, 0.5
    assert model.info.noise_structure == "scalar"
    for y in _states(model):
        x, yy = y
        np.testing.assert_allclose(model.drift(0.0, y), [-omega * yy, omega * x], rtol=RTOL, atol=1e-6)
        np.testing.assert_allclose(model.diffusion(0.0, y), [[-s * yy], [s * x]], rtol=RTOL, atol=1e-6)
        # c = 1/2 (dg/dy) g with g = s(-y, x): (dg/dy) g = s^2 (-x, -y)
        np.testing.assert_allclose(
            model.ito_drift(0.0, y), [-omega * yy - 0.5 * s**2 * x, omega * x - 0.5 * s**2 * yy], rtol=RTOL, atol=1e-6
        )


def test_fractional_ou_augmented_drift(spec_model):
    model = spec_model("specs/fractional_ou.dync")
    K = model.info.fbm_num_ou
    theta, H, T = 1.0, 0.7, 1.0
    gam = fractional.fbm_gammas(K, T)
    w = fractional.fbm_weights(H, gam, T)
    for y in _states(model):
        x, Y = y[0], y[1:]
        want_x = -theta * x - jnp.dot(w * gam, Y)
        want = jnp.concatenate([jnp.array([want_x]), -gam * Y])
        np.testing.assert_allclose(model.drift(0.0, y), want, rtol=1e-4, atol=1e-5)
        G = jnp.concatenate([jnp.array([[jnp.sum(w)]]), jnp.ones((K, 1))])
        np.testing.assert_allclose(model.diffusion(0.0, y), G, rtol=1e-4, atol=1e-5)


def test_langevin_oscillators(spec_model):
    model = spec_model("specs/langevin_oscillators.dync")
    gamma, kappa, T = 0.5, 0.2, 0.05
    omega = jnp.ones(8)
    for y in _states(model, n=3):
        x, v = y[:8], y[8:]
        force = -(omega**2 * x) - kappa * (jnp.sin(x - jnp.roll(x, 1)) - jnp.sin(jnp.roll(x, -1) - x))
        np.testing.assert_allclose(model.drift(0.0, y), jnp.concatenate([v, -gamma * v + force]), rtol=1e-4, atol=1e-5)
        f, g, s = model.langevin_parts(0.0, y)
        np.testing.assert_allclose(f, force, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(g, gamma * jnp.ones(8), rtol=1e-5)
        np.testing.assert_allclose(s, jnp.sqrt(2 * gamma * T) * jnp.ones(8), rtol=1e-5)


@pytest.mark.parametrize("spec", ["specs/gbm.dync", "specs/gbm_stratonovich.dync"])
def test_elementwise_shortcut_equals_general_correction(spec_model, spec):
    """The one-jvp Itô correction for elementwise diffusion equals the general
    sum over noise columns."""
    import dataclasses

    model = spec_model(spec)
    for y in _states(model, offset=2.0, scale=0.3):
        fast = model.ito_correction(0.0, y)
        general_info = dataclasses.replace(model.info, diffusion_is_elementwise=False)
        slow = type("General", (type(model),), {"info": general_info}).ito_correction(model, 0.0, y)
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


def test_ito_correction_is_zero_where_a_guarded_root_noise_vanishes(spec_model):
    """`s * sqrt(maximum(r, 0))`: c = s^2/4 where r > 0, and 0 where the
    noise is 0 (its slope is infinite at r = 0 and 0 * inf was NaN, so a
    Heun run of a CIR model that touched 0 turned NaN). Heston's variance
    noise (a general, non-elementwise G) is checked at v <= 0 the same way."""
    import dync

    cir = dync.load("cir.dync", text="model cir\nparam s = 0.6 : positive\nstate r = 0.2\ndr = (0.5 - r) dt + s * sqrt(maximum(r, 0)) dW\n")
    for r, c in ((0.5, 0.09), (0.0, 0.0), (-0.01, 0.0)):
        np.testing.assert_allclose(cir.ito_correction(0.0, jnp.array([r])), [c], rtol=RTOL, atol=1e-7)
    heston = spec_model("specs/heston.dync")
    for v in (0.0, -0.01):
        assert np.all(np.isfinite(heston.ito_correction(0.0, jnp.array([1.0, v]))))
