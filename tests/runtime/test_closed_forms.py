"""``dync.simulate`` against closed forms: moments, calculus, strong order.

Each test is named after the law it checks, and each statistical assertion
carries its tolerance and the reasoning for it in a comment beside it. The
rules used throughout:

* Monte Carlo error is bounded by ``Z = 4`` standard errors (a fixed seed makes
  every test deterministic; 4 s.e. is where an honest estimate fails by chance
  with probability ~6e-5, so a failure means the law is broken).
* Standard errors of stationary moments come from per-path time averages over
  saves after a burn-in: the paths are independent, so the s.e. across paths
  is honest whatever the autocorrelation along a path.
* Where a fixed step biases a moment, the bias is either computed exactly for
  the scheme (Euler--Maruyama on a linear SDE has closed-form moments) and
  asserted to be what matches, or added to the tolerance as a computed bound.

Sizes are small (compile time dominates): the file runs in well under two
minutes on two CPU cores. Models are compiled once per module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla
import xarray as xr
from scipy.integrate import solve_ivp

import dync
from dync.runtime import fractional as fr
from dync.runtime.simulate import with_params
from dync.runtime.solvers import SavePlan, solve_fixed

ROOT = Path(__file__).resolve().parents[2]

#: Monte Carlo tolerance in standard errors (see the module docstring).
Z = 4.0


def _stationary_second_moment(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x x^T`` over paths and saves of ``values`` ``(paths, saves, d)``,
    and its standard error from the per-path time averages."""
    per_path = np.einsum("psi,psj->pij", values, values) / values.shape[1]
    return per_path.mean(0), per_path.std(0, ddof=1) / np.sqrt(per_path.shape[0])


# ---------------------------------------------------------------------------
# 1. Ornstein-Uhlenbeck: Euler-Maruyama's stationary variance, transient mean
# ---------------------------------------------------------------------------

OU_SPEC = """model ou_em
param theta = 2.0 : positive
param sigma = 0.5 : positive
state x = 2.0
dx = -theta * x dt + sigma dW
"""
OU_THETA, OU_SIGMA, OU_X0 = 2.0, 0.5, 2.0


@pytest.fixture(scope="module")
def ou_em():
    return dync.load("ou_em.dync", text=OU_SPEC)


def test_ou_euler_maruyama_stationary_variance_is_sigma2_over_theta_2_minus_theta_h(ou_em):
    # x_{n+1} = (1 - theta h) x_n + sigma dW_n has stationary variance
    # sigma^2 h / (1 - (1 - theta h)^2) = sigma^2 / (theta (2 - theta h)): at
    # theta h = 0.2 that is 0.06944, 11% above the SDE's sigma^2 / (2 theta) = 0.0625.
    h = 0.1
    ds = dync.simulate(ou_em, seed=11, paths=20_000, t1=30.0, dt=h, save=10)
    assert ds.attrs["solver"] == "euler_maruyama"
    # burn-in t = 5: the mean x0 (1 - theta h)^50 = 3e-5 and the initial
    # transient are far below the s.e.; saves 1.0 apart (corr. of x^2 ~ e^-4).
    x = ds["x"].sel(time=slice(5.0, None)).values[..., None]
    m2, se = _stationary_second_moment(x)
    v, se = float(m2[0, 0]), float(se[0, 0])
    v_discrete = OU_SIGMA**2 / (OU_THETA * (2 - OU_THETA * h))
    v_sde = OU_SIGMA**2 / (2 * OU_THETA)
    assert abs(v - v_discrete) < Z * se, (v, v_discrete, se)  # 4 s.e. (26 saves x 20k paths, s.e. ~0.2%)
    # ...and the sample can tell: the continuous-time value is ~50 s.e. away,
    # so requiring > 10 s.e. leaves a wide margin while still failing if the
    # scheme were secretly exact (or the sample too small to distinguish).
    assert abs(v - v_sde) > 10 * se, (v, v_sde, se)


def test_ou_transient_mean_is_x0_exp_minus_theta_t(ou_em):
    h = 0.002
    paths = 20_000
    ts = np.array([0.25, 0.5, 1.0])
    ds = dync.simulate(ou_em, seed=12, paths=paths, t1=1.0, dt=h, save=ts)
    x = ds["x"].values  # (paths, 3)
    n = np.round(ts / h)
    mean, se_mean = x.mean(0), x.std(0, ddof=1) / np.sqrt(paths)
    # E-M's mean is exactly x0 (1 - theta h)^n; its distance to x0 e^{-theta t}
    # (<= 1.1e-3 here, O(h)) is a known bias added to the Monte Carlo tolerance.
    exact_mean = OU_X0 * np.exp(-OU_THETA * ts)
    bias_mean = np.abs(OU_X0 * (1 - OU_THETA * h) ** n - exact_mean)
    np.testing.assert_array_less(np.abs(mean - exact_mean), Z * se_mean + bias_mean)  # 4 s.e. + E-M bias
    # Variance sigma^2 (1 - e^{-2 theta t}) / (2 theta); E-M's is
    # sigma^2 h (1 - a^{2n}) / (1 - a^2), a = 1 - theta h. The s.e. of a
    # Gaussian sample variance is v sqrt(2 / (N - 1)) (~1% with 20k paths).
    var = x.var(0, ddof=1)
    exact_var = OU_SIGMA**2 * (1 - np.exp(-2 * OU_THETA * ts)) / (2 * OU_THETA)
    a = 1 - OU_THETA * h
    bias_var = np.abs(OU_SIGMA**2 * h * (1 - a ** (2 * n)) / (1 - a**2) - exact_var)
    se_var = exact_var * np.sqrt(2 / (paths - 1))
    np.testing.assert_array_less(np.abs(var - exact_var), Z * se_var + bias_var)  # 4 s.e. + E-M bias


# ---------------------------------------------------------------------------
# 2. GBM: Itô vs Stratonovich, and solvers of the other calculus
# ---------------------------------------------------------------------------

GBM_MU, GBM_SIGMA, GBM_T = 0.05, 0.5, 1.0  # sigma raised from the spec's 0.2 via params


@pytest.fixture(scope="module")
def gbm_models(spec_model):
    ito = with_params(spec_model("specs/gbm.dync"), {"sigma": GBM_SIGMA})
    strat = with_params(spec_model("specs/gbm_stratonovich.dync"), {"sigma": GBM_SIGMA})
    assert ito.info.calculus == "ito" and strat.info.calculus == "stratonovich"
    return ito, strat


@pytest.fixture(scope="module")
def gbm_finals(gbm_models):
    """Final values of 20k paths for (model, solver) pairs, one seed for all, so
    every run sees the same Brownian increments (common random numbers)."""
    ito, strat = gbm_models
    runs = {}
    for name, model, solver in (
        ("ito", ito, "auto"),
        ("strat", strat, "auto"),
        ("ito", ito, "heun"),  # a Stratonovich method on the Itô model
        ("strat", strat, "euler_maruyama"),  # an Itô method on the Stratonovich model
    ):
        ds = dync.simulate(model, seed=21, paths=20_000, t1=GBM_T, dt=0.01, solver=solver)
        runs[name, solver] = (ds.attrs["solver"], ds["S"].values[:, -1].astype(np.float64))
    return runs


def _gbm_mean(calculus: str) -> float:
    # E[S_T] = S0 e^{mu T} (Itô); the Stratonovich reading has Itô drift
    # mu + sigma^2 / 2, so E[S_T] = S0 e^{(mu + sigma^2/2) T}.
    return float(np.exp((GBM_MU + (GBM_SIGMA**2 / 2 if calculus == "strat" else 0.0)) * GBM_T))


@pytest.mark.parametrize(
    "calculus, solver, ran",
    [
        ("ito", "auto", "milstein"),
        ("strat", "auto", "milstein"),
        ("ito", "heun", "heun"),
        ("strat", "euler_maruyama", "euler_maruyama"),
    ],
)
def test_gbm_mean_is_s0_exp_mu_t_ito_or_exp_mu_plus_half_sigma2_t_stratonovich(gbm_finals, calculus, solver, ran):
    name, s = gbm_finals[calculus, solver]
    assert name == ran
    se = s.std(ddof=1) / np.sqrt(s.size)
    # Weak error at h = 0.01 is far below the s.e. (E-M and Milstein have the
    # mean S0 (1 + mu' h)^n exactly: 1e-5 relative); heun's O(h) weak error
    # for this drift is ~1e-4, also below the s.e. (~0.4%).
    assert abs(s.mean() - _gbm_mean(calculus)) < Z * se, (s.mean(), _gbm_mean(calculus), se)  # 4 s.e., 20k paths
    other = _gbm_mean("ito" if calculus == "strat" else "strat")
    assert abs(s.mean() - other) > 10 * se  # the two readings are ~35 s.e. apart: the test can tell them apart


def test_gbm_stratonovich_over_ito_mean_ratio_is_exp_half_sigma2_t(gbm_finals):
    # With the same Brownian path the exact solutions differ by the factor
    # e^{sigma^2 T / 2} path by path, so the ratio of the sample means has no
    # Monte Carlo error to first order; what remains is Milstein's O(h)
    # pathwise error (~1e-3 relative at h = 0.01). Tolerance 2e-3 relative;
    # a wrong calculus would be off by 13%.
    ratio = gbm_finals["strat", "auto"][1].mean() / gbm_finals["ito", "auto"][1].mean()
    np.testing.assert_allclose(ratio, np.exp(GBM_SIGMA**2 * GBM_T / 2), rtol=2e-3)


# The same Brownian path at every refinement. `simulate` cannot give it: the
# fused solvers draw step i's increment as sqrt(dt) * normal(fold_in(key, i)),
# so a different dt is a different Brownian path (the key -> increments map
# does not coarsen). The public hook is `dync.runtime.solvers.solve_fixed`'s
# `increments=` argument (for convergence studies), which the tests below use
# with fine increments summed in blocks.
STRONG_PATHS, STRONG_FINE = 2000, 512
STRONG_STEPS = (64, 128, 256, 512)


@pytest.fixture(scope="module")
def fine_increments():
    dw = jax.random.normal(jax.random.key(31), (STRONG_FINE, STRONG_PATHS, 1)) * jnp.sqrt(GBM_T / STRONG_FINE)
    w_t = np.asarray(dw.sum(0)[:, 0], np.float64)
    return dw, w_t


def _gbm_exact(calculus: str, w_t: np.ndarray) -> np.ndarray:
    """S_T given W_T: S0 exp((mu - sigma^2/2) T + sigma W_T) (Itô), S0 exp(mu T + sigma W_T) (Strat.)."""
    drift = GBM_MU - (GBM_SIGMA**2 / 2 if calculus == "ito" else 0.0)
    return np.exp(drift * GBM_T + GBM_SIGMA * w_t)


def _strong_error(model, solver: str, n: int, dw, exact: np.ndarray) -> float:
    """E|S_n - S(T)| with ``n`` steps, driven by the fine increments summed in blocks."""
    inc = dw.reshape(n, STRONG_FINE // n, STRONG_PATHS, 1).sum(1)
    y0 = jnp.ones((STRONG_PATHS, 1))
    _, ys = solve_fixed(model, solver, None, y0, 0.0, GBM_T / n, n, SavePlan.final(), increments=inc)
    return float(np.mean(np.abs(np.asarray(ys[:, -1, 0], np.float64) - exact)))


@pytest.mark.parametrize(
    "calculus, solver",
    [("ito", "heun"), ("strat", "euler_maruyama")],
)
def test_solver_of_other_calculus_converges_to_the_model_as_written(gbm_models, fine_increments, calculus, solver):
    """heun on the Itô GBM (drift converted to Stratonovich) and euler_maruyama
    on the Stratonovich GBM (drift converted to Itô) converge path by path to
    the exact solution of the model as written, not to the other reading."""
    model = gbm_models[0] if calculus == "ito" else gbm_models[1]
    dw, w_t = fine_increments
    written = _gbm_exact(calculus, w_t)
    other = _gbm_exact("strat" if calculus == "ito" else "ito", w_t)
    coarse, fine = (_strong_error(model, solver, n, dw, written) for n in (64, 512))  # h = 1/64, 1/512
    # 8x finer steps: heun (strong order 1 for commutative noise) should cut
    # the error ~8x, euler_maruyama (order 1/2) ~2.8x; require at least 2x
    # (order >= 1/3: a method converging elsewhere would stall instead).
    assert fine < coarse / 2.0, (coarse, fine)
    # The other reading is E|S_written - S_other| ~ 0.14 away (factor
    # e^{sigma^2 T/2} = 1.13); the error to the written model at h = 1/512 is
    # ~1e-4 (heun) and ~8e-3 (E-M, order 1/2). Bound 0.1 x that distance
    # (0.014): a drift converted the wrong way or not at all stays ~0.14 off.
    assert fine < 0.1 * np.mean(np.abs(written - other)), (fine, np.mean(np.abs(written - other)))


# ---------------------------------------------------------------------------
# 3. Strong-order slopes on GBM
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("solver, order", [("euler_maruyama", 0.5), ("milstein", 1.0)])
def test_gbm_strong_order_slope(gbm_models, fine_increments, solver, order):
    """Strong error E|S_N - S(T)| against the exact Itô solution
    S0 exp((mu - sigma^2/2) T + sigma W_T), with the same Brownian path at
    every refinement (fine increments summed; see `fine_increments`)."""
    dw, w_t = fine_increments
    exact = _gbm_exact("ito", w_t)
    hs = np.array([GBM_T / n for n in STRONG_STEPS])
    errs = np.array([_strong_error(gbm_models[0], solver, n, dw, exact) for n in STRONG_STEPS])
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]  # least squares on log-log
    # +-0.15: over seeds the fitted slope varies by ~0.03 (2000 paths, errors
    # at all h on the same paths), and at h = 1/64..1/512 Milstein is not
    # quite asymptotic (local orders measured 0.92, 0.95, 0.98, then 1.00 at
    # finer h); neighbouring orders are 0.5 apart, so a lost or wrong
    # Milstein correction (slope 0.5) fails, as does a broken E-M (order 0 or 1).
    assert abs(slope - order) < 0.15, (slope, errs)


# ---------------------------------------------------------------------------
# 4. Shared vs private noise
# ---------------------------------------------------------------------------

SHARED_SPEC = """model shared_noise
param s = 0.7 : positive
brownian W
state x = 0.5
state y = 0.5
dx = -x dt + s * cos(x) dW
dy = -y dt + s * cos(y) dW
"""
PRIVATE_SPEC = SHARED_SPEC.replace("brownian W\n", "").replace("shared_noise", "private_noise")


def test_one_declared_brownian_drives_identical_paths():
    # A declared `brownian W` is shared: x and y solve the same SDE from the
    # same state with the same increments, so they agree exactly (bit for bit).
    model = dync.load("shared.dync", text=SHARED_SPEC)
    assert model.info.noise_size == 1
    ds = dync.simulate(model, seed=41, paths=4096, t1=2.0, dt=0.01, save=50)
    assert float(np.abs(ds["x"] - ds["y"]).max()) == 0.0
    assert float(ds["x"].isel(time=-1).std()) > 0.1  # and the paths are random (sd ~0.4)


def test_implicit_dw_in_each_equation_is_private_and_independent():
    model = dync.load("private.dync", text=PRIVATE_SPEC)
    assert model.info.noise_size == 2
    paths = 16_384
    ds = dync.simulate(model, seed=42, paths=paths, t1=2.0, dt=0.01, save=50)
    for i in range(1, ds.sizes["time"]):
        r = np.corrcoef(ds["x"].values[:, i], ds["y"].values[:, i])[0, 1]
        # independent => sample correlation ~ N(0, 1/N): 4 s.e. = 4/sqrt(16384) = 0.031
        assert abs(r) < Z / np.sqrt(paths), (ds["time"].values[i], r)


# ---------------------------------------------------------------------------
# 5. Matrix noise: stationary covariance solves the Lyapunov equation
# ---------------------------------------------------------------------------


def test_matrix_ou_stationary_covariance_solves_lyapunov(spec_model):
    # specs/ou_matrix.dync: dx = -A x dt + L dW, A = [[1, .5], [-.5, 1]] (not
    # the identity), so Sigma solves A Sigma + Sigma A^T = L L^T.
    model = spec_model("specs/ou_matrix.dync")
    params = model.constrained_params()
    A, L = np.asarray(params["A"], np.float64), np.asarray(params["L"], np.float64)
    np.testing.assert_allclose(A, [[1.0, 0.5], [-0.5, 1.0]])
    sigma = sla.solve_continuous_lyapunov(A, L @ L.T)
    h = 0.01
    ds = dync.simulate(model, seed=51, paths=4096, t1=40.0, dt=h, save=100)
    assert ds.attrs["solver"] == "euler_maruyama"
    # burn-in t = 8: the mean decays as e^{-t} (|x0| = 1), so 3e-4 remains, and
    # its square is negligible; saves 1.0 apart are nearly independent.
    x = ds["x"].sel(time=slice(8.0, None)).values  # (paths, saves, 2)
    cov, se = _stationary_second_moment(x)
    # E-M's stationary covariance solves the discrete equation
    # Sigma_h = M Sigma_h M^T + h L L^T, M = I - h A; |Sigma_h - Sigma| = O(h)
    # (~0.8% here) is added to the tolerance as the known scheme bias.
    m = np.eye(2) - h * A
    bias = np.abs(sla.solve_discrete_lyapunov(m, h * L @ L.T) - sigma)
    np.testing.assert_array_less(np.abs(cov - sigma), Z * se + bias)  # 4 s.e. (33 saves x 4096 paths) + bias


# ---------------------------------------------------------------------------
# 6. The ODE limit
# ---------------------------------------------------------------------------

LV_SPEC = """model lotka_volterra_ode
param alpha = 1.0 : positive
param beta = 0.4 : positive
param delta = 0.1 : positive
param gamma = 0.4 : positive
state x = 10.0
state y = 5.0
dx = (alpha * x - beta * x * y) dt
dy = (delta * x * y - gamma * y) dt
"""


def _lv_rhs(t, z):
    x, y = z
    return [1.0 * x - 0.4 * x * y, 0.1 * x * y - 0.4 * y]


@pytest.mark.slow
def test_noise_free_model_matches_solve_ivp(x64):
    # In float64 (the x64 fixture) so that the comparison measures the method,
    # not float32 rounding (~1e-5 over 1000 steps).
    model = dync.load("lv.dync", text=LV_SPEC)
    ts = np.linspace(0.0, 20.0, 11)  # more than a full predator-prey cycle
    ref = solve_ivp(_lv_rhs, (0.0, 20.0), [10.0, 5.0], t_eval=ts, method="DOP853", rtol=1e-12, atol=1e-12).y.T

    def run(solver, dt):
        ds = dync.simulate(model, seed=0, paths=1, t1=20.0, dt=dt, save=ts, solver=solver)
        assert ds["x"].dtype == np.float64
        return ds.attrs["solver"], np.stack([ds["x"].values[0], ds["y"].values[0]], -1)

    name, y = run("auto", 0.02)
    assert name == "tsit5"
    # Tsit5 (5th order) at h = 0.02: error ~1e-11 measured; 1e-8 leaves room for
    # other platforms but fails for any lower-order or wrong drift.
    np.testing.assert_allclose(y, ref, rtol=1e-8)
    name, y_coarse = run("rk4", 0.02)
    assert name == "rk4"
    _, y_fine = run("rk4", 0.01)
    err_coarse, err_fine = (np.max(np.abs(v / ref - 1)) for v in (y_coarse, y_fine))
    assert err_fine < 2e-9, err_fine  # RK4 at h = 0.01: ~6e-10 measured (C h^4)
    # Halving h divides the error by ~2^4: observed order in [3.5, 4.5].
    assert 3.5 < np.log2(err_coarse / err_fine) < 4.5, (err_coarse, err_fine)


# ---------------------------------------------------------------------------
# 7. BAOAB: exact position variance of a harmonic oscillator at any stable step
# ---------------------------------------------------------------------------

LANGEVIN_SPEC = """model harmonic_langevin
param k = 1.0 : positive
param gamma = 1.0 : positive
param temperature = 0.5 : positive
state x = 0.0
state v = 0.0
dx = v dt
dv = (-k * x - gamma * v) dt + sqrt(2 * gamma * temperature) dW
"""
LV_K, LV_GAMMA, LV_TEMP = 1.0, 1.0, 0.5


@pytest.fixture(scope="module")
def harmonic():
    return dync.load("harmonic.dync", text=LANGEVIN_SPEC)


def _stationary(ds):
    """Stationary second moments (value, s.e.) of x and v after burn-in t = 20
    (relaxation time 2 / gamma = 2, so e^{-10} of the start remains)."""
    xv = np.stack([ds["x"].sel(time=slice(20.0, None)).values, ds["v"].sel(time=slice(20.0, None)).values], -1)
    m2, se = _stationary_second_moment(xv)
    return m2, se


def test_baoab_position_variance_is_temperature_over_k_at_a_big_step(harmonic):
    h = 0.5  # omega h = 0.5: far from small, still stable (omega h < 2)
    ds = dync.simulate(harmonic, seed=71, paths=8192, t1=60.0, dt=h, save=4)
    assert ds.attrs["solver"] == "baoab"  # auto picks BAOAB for a Langevin pair
    m2, se = _stationary(ds)
    # 4 s.e. (21 saves 2.0 apart x 8192 paths: s.e. ~0.35%); BAOAB has no
    # step-size bias in Var x for a harmonic force, so no bias term.
    assert abs(m2[0, 0] - LV_TEMP / LV_K) < Z * se[0, 0], (m2[0, 0], se[0, 0])
    # Its velocity variance is biased, known in closed form (Leimkuhler &
    # Matthews 2013): T (1 - k h^2 / 4) = 0.46875, 6% below T.
    assert abs(m2[1, 1] - LV_TEMP * (1 - LV_K * h**2 / 4)) < Z * se[1, 1], (m2[1, 1], se[1, 1])


def test_baoab_rereads_a_time_dependent_friction_every_step(harmonic):
    """BAOAB reads gamma once when it does not depend on time, else at every
    step: both give the same paths when the time dependence is zero in value,
    and a friction that does vary changes them."""
    from dync.runtime.solvers.fused import SavePlan, _depends_on_time, solve_fixed

    def friction(t, y):
        return y * 0.0 + 1.0 + 0.0 * jnp.sin(t)

    assert _depends_on_time(friction, jnp.asarray(0.1), jnp.ones(2))
    assert not _depends_on_time(lambda t, y: y * 2.0, jnp.asarray(0.1), jnp.ones(2))
    varying = LANGEVIN_SPEC.replace("- gamma * v", "- gamma * (1 + 0 * sin(t)) * v")
    timed = dync.load("harmonic_t.dync", text=varying)
    changing = dync.load("harmonic_c.dync", text=LANGEVIN_SPEC.replace("- gamma * v", "- gamma * (1 + 0.5 * sin(t)) * v"))
    y0 = jnp.zeros((64, 2)).at[:, 0].set(1.0)
    runs = [
        solve_fixed(m, "baoab", jax.random.key(3), y0, 0.0, 0.1, 50, SavePlan.final())[1]
        for m in (harmonic, timed, changing)
    ]
    # the same operations but for gamma's (exact) factor 1 + 0 sin(t): equal to float32 rounding
    np.testing.assert_allclose(np.asarray(runs[1]), np.asarray(runs[0]), rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(runs[2]) - np.asarray(runs[0])).max() > 1e-3


def test_euler_maruyama_position_variance_is_off_at_the_same_step(harmonic):
    h = 0.5
    ds = dync.simulate(harmonic, seed=71, paths=8192, t1=60.0, dt=h, save=4, solver="euler_maruyama")
    assert ds.attrs["solver"] == "euler_maruyama"
    m2, se = _stationary(ds)
    # E-M is stable here (|eig(I + hA)|^2 = 0.75) but its stationary covariance
    # solves Sigma = M Sigma M^T + h Q, M = I + h A: Var x = 14/13 = 1.077,
    # more than twice T/k = 0.5. It matches that (4 s.e.) and is far from T/k.
    M = np.eye(2) + h * np.array([[0.0, 1.0], [-LV_K, -LV_GAMMA]])
    q = np.diag([0.0, 2 * LV_GAMMA * LV_TEMP * h])
    discrete = sla.solve_discrete_lyapunov(M, q)
    assert abs(m2[0, 0] - discrete[0, 0]) < Z * se[0, 0], (m2[0, 0], discrete[0, 0], se[0, 0])
    assert abs(m2[0, 0] - LV_TEMP / LV_K) > 0.5 * LV_TEMP / LV_K  # visibly off: > 50% (measured +115%)


# ---------------------------------------------------------------------------
# 8. Fractional noise: Var x(t) = t^{2H}
# ---------------------------------------------------------------------------

FBM_SPEC = """model fbm_walk
param H = 0.7 : interval(0, 1)
brownian B : fractional(hurst = H)
state x = 0.0
dx = dB
"""
#: The approximation's stated error, max over t in [0.1 T, T] of
#: |Var Zhat(t) / t^{2H} - 1| (the table in dync/runtime/fractional.py, the
#: larger of its float64 and float32 columns).
FBM_STATED_ERROR = {0.3: 1.68e-3, 0.7: 2.7e-4}


def _em_variance_bias(hurst: float, horizon: float, h: float, ts: np.ndarray) -> np.ndarray:
    """|Var_EM(x_n) / Var(Zhat(t)) - 1|: Euler-Maruyama's relative bias in the
    variance of the approximation, exactly. x = sum_k w_k Y_k holds step by
    step, and E-M's Y_{k,n+1} = (1 - g_k h) Y_{k,n} + dW_n gives
    Cov(Y_i, Y_j)_n = h (1 - (a_i a_j)^n) / (1 - a_i a_j), a = 1 - g h."""
    g = np.asarray(fr.fbm_gammas(fr.DEFAULT_NUM_OU, horizon), np.float64)
    w = np.asarray(fr.fbm_weights(hurst, jnp.asarray(g, jnp.float32), horizon), np.float64)
    aa = np.outer(1 - g * h, 1 - g * h)
    s = g[:, None] + g[None, :]
    out = []
    for t in ts:
        n = round(t / h)
        em = w @ (h * (1 - aa**n) / (1 - aa)) @ w
        exact = w @ (-np.expm1(-s * t) / s) @ w
        out.append(abs(em / exact - 1))
    return np.array(out)


@pytest.mark.slow
def test_fractional_noise_variance_is_t_to_the_2h():
    model = dync.load("fbm_walk.dync", text=FBM_SPEC)
    hursts = (0.3, 0.7)
    paths, t1, h = 16_384, 1.0, 1 / 2000  # h = T/2000 < T/500, E-M's stability limit for the fastest component
    ts = np.array([0.25, 0.5, 1.0])
    ds = dync.simulate(model, seed=81, paths=paths, t1=t1, dt=h, save=ts, sweep={"H": list(hursts)})
    assert ds.attrs["solver"] == "euler_maruyama"  # the scheme `_em_variance_bias` describes
    for j, hurst in enumerate(hursts):
        x2 = ds["x"].values[j] ** 2  # (paths, times); E x = 0 exactly
        var, se = x2.mean(0), x2.std(0, ddof=1) / np.sqrt(paths)
        target = ts ** (2 * hurst)
        # Tolerance: the approximation's stated error (x1.5 margin, as in
        # test_fractional.py) + E-M's exact variance bias at this step (<= 0.4%)
        # + 4 s.e. (~1.1% each with 16k paths). Plain Brownian noise (Var = t)
        # would miss by 40-70% at t = 0.25.
        tol = (1.5 * FBM_STATED_ERROR[hurst] + _em_variance_bias(hurst, t1, h, ts)) * target + Z * se
        np.testing.assert_array_less(np.abs(var - target), tol, err_msg=f"H = {hurst}")


# ---------------------------------------------------------------------------
# 9. The command line: OU variance from `dync simulate` via NetCDF
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_simulate_writes_ou_with_the_euler_maruyama_stationary_variance(tmp_path):
    out = tmp_path / "ou.nc"
    theta, sigma, h = 4.0, 0.5, 0.1  # theta h = 0.4: the discrete variance is 25% above sigma^2 / (2 theta)
    cmd = [sys.executable, "-m", "dync.cli", "simulate", "specs/ou.dync", "--paths", "20000", "--t1", "10",
           "--dt", str(h), "--save-every", "10", "--set", f"theta={theta}", "--seed", "91", "--no-progress",
           "-o", str(out)]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with xr.open_dataset(out) as ds:
        assert ds.attrs["solver"] == "euler_maruyama"
        # ou.dync: dx = theta (mu - x) dt + sigma dW, mu = 0, x0 stationary for the
        # SDE; (1 - theta h)^20 = 4e-5 of that start is left after one save.
        x = ds["x"].sel(time=slice(1.0, None)).values[..., None]
    m2, se = _stationary_second_moment(x)
    v_discrete = sigma**2 / (theta * (2 - theta * h))
    assert abs(m2[0, 0] - v_discrete) < Z * se[0, 0], (m2[0, 0], v_discrete, se[0, 0])  # 4 s.e., 10 saves x 20k paths
    assert abs(m2[0, 0] - sigma**2 / (2 * theta)) > 10 * se[0, 0]  # the SDE's value is ~60 s.e. away


# ---------------------------------------------------------------------------
# Milstein at a guarded-root boundary: the Wright-Fisher diffusion


WRIGHT_FISHER = """model wright_fisher
param x0 = 0.5 : interval(0, 1)
state p = x0
dp = sqrt(clip(p * (1 - p), lo = 0, hi = 1)) dW
"""
WRIGHT_FISHER_SCALAR = """model wright_fisher_pair
brownian W
state p = 0.5
state q = 0.5
dp = sqrt(maximum(p * (1 - p), 0)) dW
dq = sqrt(maximum(q * (1 - q), 0)) dW
"""


@pytest.mark.parametrize("text", [WRIGHT_FISHER, WRIGHT_FISHER_SCALAR], ids=["diagonal", "scalar"])
def test_milstein_wright_fisher_stays_finite_and_keeps_its_closed_forms(text):
    """dp = sqrt(p(1-p)) dW: E p = p0 and E p(1-p) = p0(1-p0) e^{-t}. A path
    that overshoots 0 or 1 has g = 0 under the guard, where the slope of the
    root is infinite: Milstein's g g' was 0 * inf = NaN there (3234 of 4000
    paths NaN by t = 2, `auto` picks Milstein for this model); where the
    noise vanishes its correction vanishes too, as in `ito_correction`."""
    model = dync.load("wf.dync", text=text)
    paths = 4000
    ds = dync.simulate(model, seed=3, paths=paths, t1=2.0, dt=0.001, save=500, solver="milstein")
    p = ds["p"].values
    assert np.isfinite(p).all()
    final = p[:, -1]
    assert abs(final.mean() - 0.5) < Z * final.std() / np.sqrt(paths)
    het = final * (1 - final)
    assert abs(het.mean() - 0.25 * np.exp(-2.0)) < Z * het.std() / np.sqrt(paths) + 0.002  # + Euler-order bias bound
