"""The exact Kalman likelihood against the dense multivariate-normal density of
the same data, built independently in numpy/scipy (the stationary Lyapunov
solution for the transition covariance, not Van Loan's block exponential)."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import dync
from dync.runtime.data import ObservationData, Series
from dync.runtime.kalman import (
    exact_transition,
    kalman_log_likelihood,
    kalman_series_log_likelihood,
    linear_gaussian_system,
)
from dync.runtime.params import with_params

ROOT = Path(__file__).resolve().parents[2]

#: a damped oscillator seen through its position and a noisy pair; `v` starts
#: fixed (a singular initial covariance), `x` Gaussian
OSCILLATOR = """\
model oscillator
param k = 2.0 : positive
param gamma = 0.5 : positive
param s = 0.4 : positive
param f = 0.3
state x ~ Normal(1.0, 0.5)
state v = 0.2
dx = v dt
dv = (f - k * x - gamma * v) dt + s dW
observe pos ~ Normal(x, 0.2)
observe pair[2] ~ Normal([x + v, 0.5 * v - 1.0], 0.3)
"""


def oscillator():
    return dync.load("oscillator.dync", text=OSCILLATOR)


def ou():
    return dync.load(ROOT / "specs/ou.dync")


# ---- the reference: hand-written matrices and the dense joint Gaussian ------


def ou_matrices(theta=1.0, mu=0.0, sigma=0.5):
    A = np.array([[-theta]])
    return dict(
        A=A, b=np.array([theta * mu]), Qc=np.array([[sigma**2]]),
        H=np.array([[1.0]]), c=np.array([0.0]), R=np.array([0.1**2]),
        m0=np.array([mu]), P0=np.array([[sigma**2 / (2 * theta)]]),
    )


def oscillator_matrices(k=2.0, gamma=0.5, s=0.4, f=0.3):
    A = np.array([[0.0, 1.0], [-k, -gamma]])
    return dict(
        A=A, b=np.array([0.0, f]), Qc=np.array([[0.0, 0.0], [0.0, s**2]]),
        H=np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.5]]), c=np.array([0.0, 0.0, -1.0]),
        R=np.array([0.2**2, 0.3**2, 0.3**2]),
        m0=np.array([1.0, 0.2]), P0=np.diag([0.5**2, 0.0]),
    )


def dense_log_density(M: dict, series: tuple[Series, ...], names: tuple[str, ...]) -> float:
    """$\\sum_s \\log \\mathcal N(z_s; \\mu_s, \\Sigma_s)$ over the observed values
    of each series, the joint law of the states at all observation times built
    from $F(h) = e^{Ah}$ and $Q(h) = \\Sigma_\\infty - F \\Sigma_\\infty F^\\top$."""
    A, b, Qc = M["A"], M["b"], M["Qc"]
    x_inf = -np.linalg.solve(A, b)
    S_inf = scipy.linalg.solve_continuous_lyapunov(A, -Qc)
    total = 0.0
    for s in series:
        t = s.times
        T, n = len(t), A.shape[0]
        means, covs = [M["m0"]], [M["P0"]]
        for k in range(1, T):
            F = scipy.linalg.expm(A * (t[k] - t[k - 1]))
            means.append(x_inf + F @ (means[-1] - x_inf))
            covs.append(F @ covs[-1] @ F.T + S_inf - F @ S_inf @ F.T)
        joint = np.zeros((T * n, T * n))
        for j in range(T):
            for k in range(j, T):
                C = scipy.linalg.expm(A * (t[k] - t[j])) @ covs[j]  # Cov(x_k, x_j)
                joint[k * n:(k + 1) * n, j * n:(j + 1) * n] = C
                joint[j * n:(j + 1) * n, k * n:(k + 1) * n] = C.T
        z = np.concatenate([np.reshape(s.values[name], (T, -1)) for name in names], axis=1)  # (T, p)
        rows, values, noise = [], [], []
        for k in range(T):
            for i in range(z.shape[1]):
                if not np.isnan(z[k, i]):
                    row = np.zeros(T * n)
                    row[k * n:(k + 1) * n] = M["H"][i]
                    rows.append((row, M["c"][i] + M["H"][i] @ means[k]))
                    values.append(z[k, i])
                    noise.append(M["R"][i])
        L = np.array([r for r, _ in rows])
        mean = np.array([m for _, m in rows])
        cov = L @ joint @ L.T + np.diag(noise)
        total += scipy.stats.multivariate_normal.logpdf(np.array(values), mean, cov)
    return float(total)


def ou_data() -> ObservationData:
    rng = np.random.default_rng(1)
    a = Series(np.array([0.0, 0.3, 0.35, 1.7, 2.0, 4.5]), {"y": np.array([0.2, np.nan, 0.1, -0.4, np.nan, 0.5])})
    b = Series(np.sort(rng.uniform(1.0, 6.0, 9)), {"y": rng.normal(0.0, 0.4, 9)})
    return ObservationData((a, b))


def oscillator_data() -> ObservationData:
    rng = np.random.default_rng(2)
    series = []
    for T in (8, 5):
        times = np.cumsum(rng.uniform(0.05, 1.5, T)) - 0.3
        pos = rng.normal(1.0, 0.5, T)
        pair = rng.normal(0.0, 1.0, (T, 2))
        pos[[1, 4]] = np.nan
        pair[2, 0] = np.nan
        pair[3, :] = np.nan
        pair[0, 1] = np.nan
        series.append(Series(times, {"pos": pos, "pair": pair}))
    return ObservationData(tuple(series))


CASES = {
    "ou": (ou, ou_matrices, ou_data, ("y",), "theta"),
    "oscillator": (oscillator, oscillator_matrices, oscillator_data, ("pos", "pair"), "k"),
}


# ---- tests ---------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_kalman_equals_the_dense_gaussian_log_density_in_float64(case, x64):
    load, matrices, make_data, names, _ = CASES[case]
    model, data = load(), make_data()
    got = float(kalman_log_likelihood(model, data.padded()))
    want = dense_log_density(matrices(), data.series, names)
    assert abs(got - want) < 1e-9, (got, want)  # exact up to float64 rounding


@pytest.mark.parametrize("case", sorted(CASES))
def test_kalman_gradient_matches_a_finite_difference_of_the_dense_value(case, x64):
    load, matrices, make_data, names, param = CASES[case]
    model, data = load(), make_data()
    padded = data.padded()
    value = float(model.constrained_params()[param])

    def kalman(v):
        return kalman_log_likelihood(with_params(model, {param: v}), padded)

    grad = float(jax.jit(jax.grad(kalman))(jnp.asarray(value)))
    eps = 1e-5
    fd = (dense_log_density(matrices(**{param: value + eps}), data.series, names)
          - dense_log_density(matrices(**{param: value - eps}), data.series, names)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)  # central difference: O(eps^2) ≈ 1e-10


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_agrees_with_the_float64_reference(case):
    load, matrices, make_data, names, _ = CASES[case]
    model, data = load(), make_data()
    got = kalman_log_likelihood(model, data.padded())
    assert got.dtype == jnp.float32
    want = dense_log_density(matrices(), data.series, names)
    np.testing.assert_allclose(float(got), want, rtol=1e-3)  # float32 rounding over a few expm's


def test_the_model_matrices_are_read_exactly(x64):
    sys = eqx.filter_jit(linear_gaussian_system)(oscillator())
    M = oscillator_matrices()
    for name in ("A", "b", "Qc", "H", "c", "R", "m0", "P0"):
        np.testing.assert_allclose(np.asarray(getattr(sys, name)), M[name], atol=1e-12, err_msg=name)
    F, u, Q = jax.jit(exact_transition)(sys, jnp.asarray(0.7))
    S_inf = scipy.linalg.solve_continuous_lyapunov(M["A"], -M["Qc"])
    F_ref = scipy.linalg.expm(M["A"] * 0.7)
    np.testing.assert_allclose(np.asarray(F), F_ref, atol=1e-12)
    np.testing.assert_allclose(np.asarray(Q), S_inf - F_ref @ S_inf @ F_ref.T, atol=1e-12)
    np.testing.assert_allclose(np.asarray(u), (np.eye(2) - F_ref) @ -np.linalg.solve(M["A"], M["b"]), atol=1e-12)


def test_missing_and_padded_values_add_nothing(x64):
    model = ou()
    one = ObservationData((Series(np.array([0.0, 1.0]), {"y": np.array([0.3, -0.1])}),))
    holes = ObservationData((Series(np.array([0.0, 0.4, 0.7, 1.0]), {"y": np.array([0.3, np.nan, np.nan, -0.1])}),))
    a = float(kalman_log_likelihood(model, one.padded()))
    assert float(kalman_log_likelihood(model, holes.padded())) == pytest.approx(a, abs=1e-12)
    # a second, longer series pads the first; the sum is the sum of each alone
    longer = Series(np.array([0.5, 0.9, 2.0, 3.0]), {"y": np.array([0.0, 0.2, np.nan, 0.4])})
    both = float(kalman_log_likelihood(model, ObservationData(one.series + (longer,)).padded()))
    alone = float(kalman_log_likelihood(model, ObservationData((longer,)).padded()))
    assert both == pytest.approx(a + alone, abs=1e-12)


def test_a_model_that_is_not_linear_gaussian_is_refused():
    model = dync.load(ROOT / "specs/ou_poisson.yaml", jax.random.key(0))
    assert not model.info.linear_gaussian
    with pytest.raises(dync.UsageError, match="not linear-Gaussian"):
        kalman_log_likelihood(model, ObservationData((Series(np.array([0.0]), {"readout": np.zeros((1, 3))}),)).padded())


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("specs/ou.dync", None, True),
        ("oscillator.dync", OSCILLATOR, True),
        ("specs/gbm.dync", None, False),
        ("specs/ou_poisson.yaml", None, False),
        ("specs/lorenz63.dync", None, False),
    ],
)
def test_detection(path, text, expected):
    from dync.compiler.summary import check_file

    summary = check_file(path if text else ROOT / path, text=text)
    assert summary.info.linear_gaussian is expected


def test_a_random_walk_with_drift_uses_the_closed_form_at_a_zero_rate(x64):
    # dx = b dt + s dW from a fixed x0: x(t) ~ N(x0 + b t, s^2 t), seen with noise 0.1
    text = "model rw\nparam b = 0.3\nparam s = 0.5 : positive\nstate x = 1.0\ndx = b dt + s dW\nobserve y ~ Normal(x, 0.1)\n"
    model = dync.load("rw.dync", text=text)
    t, y = np.array([0.0, 2.0]), np.array([1.05, 1.9])
    got = float(kalman_log_likelihood(model, ObservationData((Series(t, {"y": y}),)).padded()))
    cov = np.array([[0.0, 0.0], [0.0, 0.25 * 2.0]]) + 0.01 * np.eye(2)
    want = scipy.stats.multivariate_normal.logpdf(y, [1.0, 1.0 + 0.3 * 2.0], cov)
    assert abs(got - want) < 1e-12
    grad = jax.grad(lambda b: kalman_log_likelihood(with_params(model, {"b": b}), ObservationData((Series(t, {"y": y}),)).padded()))(0.3)
    assert np.isfinite(float(grad))


@pytest.mark.parametrize("scale", [0.0, 1e-3, 0.4, 3.0, 40.0, 900.0])
def test_the_batched_matrix_exponential_matches_scipy_with_and_without_squarings(x64, scale):
    # the Van Loan blocks of the filter are exponentiated in one batch; the
    # norms here need from 0 to 12 squarings (the bound of Pade 13 is 5.37)
    from dync.runtime.kalman import _expm

    rng = np.random.default_rng(3)
    M = rng.normal(size=(4, 6, 6)) * scale / 6.0
    M[1] *= 1e-3  # a small and a large norm in the same batch
    got = np.asarray(jax.jit(_expm)(jnp.asarray(M)))
    want = np.stack([scipy.linalg.expm(m) for m in M])
    np.testing.assert_allclose(got, want, rtol=1e-11 * max(1.0, scale), atol=1e-13 * np.abs(want).max())
    # reverse mode through the squarings: against scipy's exact Frechet
    # derivative L(M, E) (central differences lose ~1e-6 of e^900 to rounding,
    # more on some CPUs than others)
    direction, weights = rng.normal(size=M.shape), jnp.asarray(rng.normal(size=M.shape))
    loss = lambda m: jnp.sum(weights * _expm(m))  # noqa: E731
    g = jax.grad(loss)(jnp.asarray(M))
    frechet = np.stack([scipy.linalg.expm_frechet(m, e, compute_expm=False) for m, e in zip(M, direction)])
    want_dd = float(np.sum(np.asarray(weights) * frechet))
    assert float(jnp.sum(g * direction)) == pytest.approx(want_dd, rel=1e-10 * max(1.0, scale), abs=1e-12)


def test_one_series_takes_the_same_value_as_in_a_batch_of_series(x64):
    # one series skips the vmap over series (a faster time loop); the value
    # is that series' term of the batched computation
    for model, data in ((ou(), ou_data()), (oscillator(), oscillator_data())):
        batched = np.asarray(kalman_series_log_likelihood(model, data.padded()))
        for i, s in enumerate(data.series):
            alone = float(kalman_log_likelihood(model, ObservationData((s,)).padded()))
            assert alone == pytest.approx(batched[i], abs=1e-10)


# ---- models with inputs ----------------------------------------------------------

DRIVEN_OU = """model driven
param k = 1.3 : positive
param s = 0.4 : positive
param g = 0.7
input u
state x = 0
dx = (g * u - k * x) dt + s dW
observe y ~ Normal(x + 0.5 * u, 0.1)
"""


def _driven_ou_exact(series: Series, k=1.3, s=0.4, g=0.7) -> float:
    """The driven OU's exact log-density: x = 0 at the first observation
    time, mean the quadrature of $\\int e^{-k(t - r)} g\\,u(r)\\,dr$ (200,001
    points plus the input's kinks), covariance $s^2/(2k)(e^{-k|t_i - t_j|} -
    e^{-k(t_i + t_j)})$ from the first time, plus the observation noise."""
    tk, uk = series.inputs["u"]
    to, y = series.times, series.values["y"]
    u = lambda t: np.interp(t, tk, uk)  # noqa: E731
    mean = []
    for t in to:
        r = np.union1d(np.linspace(to[0], t, 200_001), tk[(tk > to[0]) & (tk < t)])
        mean.append(np.trapezoid(np.exp(-k * (t - r)) * g * u(r), r) if t > to[0] else 0.0)
    mean = np.array(mean) + 0.5 * u(to)
    d = to - to[0]
    cov = s**2 / (2 * k) * (np.exp(-k * np.abs(d[:, None] - d[None, :])) - np.exp(-k * (d[:, None] + d[None, :])))
    return float(scipy.stats.multivariate_normal.logpdf(y, mean, cov + 0.01 * np.eye(to.size)))


def test_an_input_in_the_drift_and_the_observations_is_filtered_exactly(x64):
    """Inputs linear between their given times (which fall between and
    outside the observation times) enter the drift and an observation's
    loc: the filter equals the dense Gaussian of each series (two series of
    different lengths, each with its own inputs) to 1e-7."""
    model = dync.load("driven.dync", text=DRIVEN_OU)
    assert model.info.linear_gaussian
    rng = np.random.default_rng(0)
    a = Series(np.array([0.1, 0.5, 0.9, 1.2, 2.0, 2.9, 3.4]), {"y": rng.normal(size=7)},
               inputs={"u": (np.array([0.0, 0.3, 0.35, 1.1, 1.7, 2.5, 3.0]), 2 * rng.normal(size=7))})
    b = Series(np.array([0.4, 0.6, 1.9]), {"y": rng.normal(size=3)},
               inputs={"u": (np.array([0.5, 1.0, 2.2, 2.4]), 2 * rng.normal(size=4))})
    data = ObservationData((a, b))
    series = kalman_series_log_likelihood(model, data.padded())
    np.testing.assert_allclose(np.asarray(series), [_driven_ou_exact(a), _driven_ou_exact(b)], rtol=1e-7)
    grad = eqx.filter_grad(lambda m: kalman_log_likelihood(m, data.padded()))(model)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(eqx.filter(grad, eqx.is_inexact_array)))


DRIVEN_OSCILLATOR = OSCILLATOR.replace("param f = 0.3\n", "param f = 0.3\ninput u[2]\n").replace(
    "dv = (f - k * x - gamma * v) dt", "dv = (f * u[0] - k * x - gamma * v) dt"
).replace("observe pos ~ Normal(x, 0.2)", "observe pos ~ Normal(x + u[1] / 2, 0.2)")


def test_a_constant_input_gives_the_likelihood_of_the_model_with_that_constant(x64):
    """Two states, a vector input: a constant input (given at times with
    extra points on the same line) filters as the model with the constant
    written in, and points added on the line of a piecewise-linear input
    change nothing."""
    driven = dync.load("driven.dync", text=DRIVEN_OSCILLATOR)
    assert driven.info.linear_gaussian
    fixed = dync.load("fixed.dync", text=OSCILLATOR.replace("dv = (f - k", "dv = (f * 1.5 - k").replace(
        "observe pos ~ Normal(x, 0.2)", "observe pos ~ Normal(x - 0.2, 0.2)"))
    plain = oscillator_data()
    constant = np.tile([1.5, -0.4], (4, 1))
    with_inputs = ObservationData(tuple(
        Series(s.times, s.values, inputs={"u": (np.array([-1.0, 0.7, 1.3, 9.0]), constant)}) for s in plain.series
    ))  # fmt: skip
    np.testing.assert_allclose(
        np.asarray(kalman_series_log_likelihood(driven, with_inputs.padded())),
        np.asarray(kalman_series_log_likelihood(fixed, plain.padded())), rtol=1e-9,
    )  # fmt: skip
    knots, values = np.array([-1.0, 1.0, 3.0, 9.0]), np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5], [0.0, 0.0]])
    between = np.array([2.0, 2.5, 5.0])
    denser_knots = np.sort(np.concatenate([knots, between]))
    denser = np.stack([np.interp(denser_knots, knots, values[:, j]) for j in range(2)], axis=1)
    coarse, fine = (
        ObservationData(tuple(Series(s.times, s.values, inputs={"u": (t, v)}) for s in plain.series))
        for t, v in ((knots, values), (denser_knots, denser))
    )
    np.testing.assert_allclose(
        np.asarray(kalman_series_log_likelihood(driven, coarse.padded())),
        np.asarray(kalman_series_log_likelihood(driven, fine.padded())), rtol=1e-9,
    )  # fmt: skip


def test_regular_gaps_compute_each_distinct_transition_once(x64):
    """Regular observation times: the transitions are computed for the
    distinct gaps only (one matrix exponential and its gradient instead of
    one per slot: a 2-state fit's value and gradient went from 3.5 ms to
    0.5 ms), with the same value as slot by slot."""
    from dync.runtime.kalman import kalman_arrays, kalman_series_from_arrays

    model = oscillator()
    rng = np.random.default_rng(4)
    times = np.arange(40) * 0.25
    data = ObservationData(tuple(
        Series(times, {"pos": rng.normal(size=40), "pair": rng.normal(size=(40, 2))}) for _ in range(3)
    )).padded()  # fmt: skip
    arrays = kalman_arrays(model, data)
    assert arrays.unique_gaps is not None and arrays.unique_gaps.size <= 4
    slot_by_slot = arrays._replace(unique_gaps=None, gap_index=None)
    np.testing.assert_allclose(
        np.asarray(kalman_series_from_arrays(model, *arrays)), np.asarray(kalman_series_from_arrays(model, *slot_by_slot)),
        rtol=1e-12,
    )  # fmt: skip
