"""The posterior SDE and its path KL against closed forms (OU prior)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.runtime.latent.elbo import initial_kl, series_elbo
from dync.runtime.latent.posterior import driven_noise, posterior_step

THETA, SIGMA = 1.0, 0.5


class FixedEncoder(eqx.Module):
    """q(x0) = N(mean, std^2) and a zero context."""

    mean: float
    std: float

    def __call__(self, features, present):
        T = features.shape[0]
        return jnp.full((1,), self.mean), jnp.full((1,), np.log(self.std)), jnp.zeros((T, 1))


class LinearControl(eqx.Module):
    """u = a + c x: a constant control (c = 0) or an OU posterior."""

    a: float
    c: float

    def __call__(self, y, context):
        return self.a + self.c * y[:1]


@pytest.fixture(scope="module")
def ou():
    # one latent state, one Gaussian readout (K = N = 1)
    return dync.load("specs/latent/latent_ou.dync", jax.random.key(0), K=1, N=1)


def _elbo(model, control, key, samples, substeps, times):
    T = len(times)
    free, driven = np.array([0], np.int32), driven_noise(model.info)
    values = {"y": jnp.full((T, 1), jnp.nan)}  # no observation: the ELBO is -KL
    return series_elbo(model, FixedEncoder(0.8, 0.3), control, key, jnp.zeros((T, 1)), jnp.asarray(times, jnp.float32),
                       values, jnp.ones((T,), bool), free=free, driven=driven, samples=samples, substeps=substeps)  # fmt: skip


def test_constant_control_costs_half_u_squared_times_the_span(ou):
    # KL = 1/2 u^2 (t_T - t_1) exactly, whatever the path
    times = np.linspace(0.0, 2.0, 21)
    out = _elbo(ou, LinearControl(0.7, 0.0), jax.random.key(1), 3, 4, times)
    assert float(out.kl_path) == pytest.approx(0.5 * 0.7**2 * 2.0, rel=1e-5)
    assert float(out.loglik) == 0.0


@pytest.mark.slow
def test_linear_control_matches_the_ou_closed_form(ou):
    # prior dx = -theta x dt + sigma dW; control u = c x gives the posterior OU
    # dx = -theta' x dt + sigma dW, theta' = theta - sigma c, and
    # KL = 1/2 c^2 int_0^T E[x_t^2] dt with x0 ~ N(m0, s0^2).
    c, m0, s0, T = -1.0, 0.8, 0.3, 1.0
    tp = THETA - SIGMA * c
    grid = np.linspace(0.0, T, 20001)
    second = (m0**2 + s0**2) * np.exp(-2 * tp * grid) + SIGMA**2 / (2 * tp) * (1 - np.exp(-2 * tp * grid))
    exact = 0.5 * c**2 * np.trapezoid(second, grid)
    times = np.linspace(0.0, T, 11)
    runs = [float(_elbo(ou, LinearControl(0.0, c), jax.random.key(k), 500, 20, times).kl_path) for k in range(8)]
    mean, se = np.mean(runs), np.std(runs, ddof=1) / np.sqrt(len(runs))
    # Monte Carlo: 4 standard errors; Euler-Maruyama at h = 0.005: bias O(h), under 1 %
    assert abs(mean - exact) < 4 * se + 0.01 * exact, (mean, se, exact)


def test_initial_kl_is_the_normal_kl():
    from scipy import integrate, stats

    m, s, pm, ps = 0.4, 0.7, -0.2, 1.3
    value = float(initial_kl(jnp.array([m]), jnp.log(jnp.array([s])), jnp.array([pm]), jnp.array([ps])))
    q, p = stats.norm(m, s), stats.norm(pm, ps)
    exact = integrate.quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)), -10, 10)[0]
    assert value == pytest.approx(exact, rel=1e-5)


def test_langevin_position_keeps_the_prior_drift():
    # dx = v dt has no noise: the control only moves the velocity
    model = dync.load("specs/langevin_oscillators.dync", jax.random.key(0), K=2, N=3)
    driven = driven_noise(model.info)
    v = model.info.state("v")
    assert list(driven) == list(range(v.offset, v.offset + v.size))

    class Push(eqx.Module):
        def __call__(self, y, context):
            return jnp.full((2,), 5.0)

    y = jnp.array([0.1, -0.2, 0.3, 0.4])
    h = 0.1
    y1, kl = posterior_step(model, Push(), driven, 0.0, y, jnp.zeros(1), h, jnp.zeros(2))
    y0, _ = posterior_step(model, Push(), driven, 0.0, y, jnp.zeros(1), h, jnp.zeros(2))
    prior = y + model.ito_drift(0.0, y) * h
    np.testing.assert_allclose(y1[:2], prior[:2], rtol=1e-6)  # position: the prior's Euler step
    sigma = float(model.diffusion_diagonal(0.0, y)[2])
    np.testing.assert_allclose(y1[2:], prior[2:] + sigma * 5.0 * h, rtol=1e-5)
    assert float(kl) == pytest.approx(0.5 * 2 * 25.0 * h)
    np.testing.assert_array_equal(y0, y1)
