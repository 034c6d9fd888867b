"""The exact Gaussian transition of a linear forward SDE
(dync.runtime.forward_sde) against closed forms: the VP schedule's
exp(-B/2) and 1 - exp(-B), and Van Loan's matrix exponential for a coupled
(non-diagonal) OU process; a state-dependent diffusion is refused."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import dync
from dync.errors import DyncRuntimeError
from dync.runtime.forward_sde import classify_forward, gaussian_transition

ROOT = Path(__file__).resolve().parents[2]
VP = str(ROOT / "specs/diffusion/gmm2d_vp.dync")

COUPLED = """model coupled
param A[2, 2] = [[-1.0, 2.0], [-2.0, -1.5]]
param c[2] = [0.5, 0.0]
param G[2, 2] = [[0.7, 0.0], [0.3, 0.4]]
brownian W[2]
state x[2] ~ data
dx = (A @ x + c) dt + G @ dW
"""


@pytest.fixture(scope="module")
def vp():
    model = dync.load(VP, jax.random.key(0))
    return model, gaussian_transition(model)


def test_vp_transition_matches_the_closed_form(vp):
    model, tr = vp
    assert tr.diagonal
    for t in (1e-3, 0.1, 0.37, 0.8, 1.0):
        phi, h, p = tr.coefficients(t)
        big_b = 0.1 * t + 0.5 * (20.0 - 0.1) * t**2  # int_0^t beta
        # float32 ODE with rtol 1e-6: relative error well under 1e-4
        np.testing.assert_allclose(phi, np.exp(-0.5 * big_b), rtol=1e-4)
        np.testing.assert_allclose(p, 1 - np.exp(-big_b), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(h, 0.0, atol=1e-7)


def test_vp_class_is_linear_gbm_log_linear_and_cir_other(vp, tmp_path):
    assert classify_forward(vp[0])[0] == "linear"
    gbm = dync.load(str(ROOT / "specs/gbm.dync"))
    assert classify_forward(gbm) == ("log-linear", "")
    with pytest.raises(DyncRuntimeError, match="no Gaussian transition"):
        gaussian_transition(gbm)
    cir = tmp_path / "cir.dync"
    cir.write_text("model cir\nstate x = 1.0\ndx = (1 - x) dt + 0.5 * sqrt(abs(x) + 1) dW\n")
    kind, reason = classify_forward(dync.load(str(cir)))
    assert kind == "other" and "state" in reason


def test_coupled_ou_transition_matches_van_loan(tmp_path):
    spec = tmp_path / "coupled.dync"
    spec.write_text(COUPLED)
    model = dync.load(str(spec))
    tr = gaussian_transition(model, 2.0)
    assert not tr.diagonal
    a = np.array([[-1.0, 2.0], [-2.0, -1.5]])
    c = np.array([0.5, 0.0])
    g = np.array([[0.7, 0.0], [0.3, 0.4]])
    q = g @ g.T
    for t in (0.05, 0.6, 2.0):
        # Van Loan (1978): expm([[-A, Q], [0, A^T]] t) = [[., F12], [0, F22]], Phi = F22^T, P = Phi F12
        f = scipy.linalg.expm(np.block([[-a, q], [np.zeros((2, 2)), a.T]]) * t)
        phi = f[2:, 2:].T
        p = phi @ f[:2, 2:]
        h = np.linalg.solve(a, (phi - np.eye(2)) @ c)  # int_0^t e^{A s} c ds
        phi_t, h_t, p_t = tr.coefficients(t)
        np.testing.assert_allclose(phi_t, phi, atol=2e-5)
        np.testing.assert_allclose(h_t, h, atol=2e-5)
        np.testing.assert_allclose(p_t, p, atol=2e-5)


def test_perturb_draws_the_transition_law(vp):
    """x_t = Phi x0 + h + L eps has the transition's mean and variance (MC:
    20000 draws, 4 standard errors)."""
    _, tr = vp
    x0 = jnp.array([1.5, -2.0])
    eps = jax.random.normal(jax.random.key(3), (20000, 2))
    xt, _ = jax.vmap(lambda e: tr.perturb(0.3, x0, e))(eps)
    phi, h, p = tr.coefficients(0.3)
    se = np.sqrt(np.asarray(p) / 20000)
    assert np.all(np.abs(np.asarray(xt.mean(0)) - np.asarray(phi * x0 + h)) < 4 * se)
    np.testing.assert_allclose(np.asarray(xt.var(0)), np.asarray(p), rtol=4 * np.sqrt(2 / 20000))


@pytest.mark.parametrize("name", ["ve_2d", "subvp_2d"])
def test_ve_and_subvp_transitions_match_their_closed_forms(name):
    """VE: Phi = 1, P = sigma_min^2 ((smax/smin)^(2t) - 1); sub-VP: Phi =
    exp(-B/2), P = (1 - exp(-B))^2 (Song et al. 2021, appendix B)."""
    model = dync.load(str(ROOT / f"specs/diffusion/{name}.dync"), jax.random.key(0))
    tr = gaussian_transition(model)
    for t in (1e-3, 0.3, 0.7, 1.0):
        phi, _, p = tr.coefficients(t)
        if name == "ve_2d":
            want_phi, want_p = 1.0, 0.01**2 * (1000.0 ** (2 * t) - 1)
        else:
            big_b = 0.1 * t + 0.5 * 19.9 * t**2
            want_phi, want_p = np.exp(-0.5 * big_b), (1 - np.exp(-big_b)) ** 2
        np.testing.assert_allclose(phi, want_phi, rtol=1e-4)
        np.testing.assert_allclose(p, want_p, rtol=1e-3, atol=1e-9)


def test_transition_matches_simulation_of_the_forward_sde(tmp_path):
    """The model's own solver (propagate, 400 steps) from a fixed x0 to
    t = 0.5 on the coupled OU spec: mean and covariance of 20000 paths within
    4 standard errors (+ 0.01 for the time step) of the exact transition."""
    from dync.runtime.propagate import propagate

    spec = tmp_path / "coupled.dync"
    spec.write_text(COUPLED)
    model = dync.load(str(spec))
    tr = gaussian_transition(model, 0.5)
    x0 = jnp.array([1.0, -2.0])
    y = propagate(jax.random.key(5), model, jnp.tile(x0, (20000, 1)), 0.0, 0.5, num_steps=400)
    y = np.asarray(y)
    phi, h, p = (np.asarray(a) for a in tr.coefficients(0.5))
    mean = phi @ np.asarray(x0) + h
    assert np.all(np.abs(y.mean(0) - mean) < 4 * np.sqrt(np.diag(p) / 20000) + 0.01), (y.mean(0), mean)
    se = np.sqrt((p**2 + np.outer(np.diag(p), np.diag(p))) / 20000)
    assert np.all(np.abs(np.cov(y.T) - p) < 4 * se + 0.01), (np.cov(y.T), p)
