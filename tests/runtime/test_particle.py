"""The bootstrap particle filter and `log_likelihood`, against an exact Kalman
filter written here in numpy.

The reference is the Kalman filter of the *Euler-Maruyama-discretised* OU
model with exactly the sub-steps the particle filter takes (interval j in k
steps of gap_j / k): the filter moves its particles with that same scheme, so
it targets this likelihood with no discretisation error at all, and the only
error left is Monte Carlo error.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.errors import UsageError
from dync.runtime.data import ObservationData, PaddedData, Series
from dync.runtime.likelihood import choose_method, log_likelihood, log_likelihood_with_method
from dync.runtime.logdensity import parameter_log_density
from dync.runtime.params import with_params
from dync.runtime.particle import ParticleFilterResult, particle_filter, substeps

THETA, MU, SIGMA, NOISE = 1.0, 0.0, 0.5, 0.1  # specs/ou.dync
DT = 0.05
SEEDS = 20


@pytest.fixture(scope="module")
def ou(spec_model):
    return spec_model("specs/ou.dync")


def _ou_data(seed: int, n: int = 20, level: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Irregular times and noisy observations of an exact OU path (plus `level`)."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.1, 0.4, n)) + 0.3
    x = rng.normal(MU, SIGMA / math.sqrt(2 * THETA))
    ys = []
    for j in range(n):
        if j:
            a = math.exp(-THETA * (times[j] - times[j - 1]))
            x = MU + a * (x - MU) + rng.normal(0, SIGMA * math.sqrt((1 - a * a) / (2 * THETA)))
        ys.append(x + level + rng.normal(0, NOISE))
    return times, np.array(ys)


def _em_kalman(times: np.ndarray, ys: np.ndarray, k: int, mu: float = MU) -> float:
    """Exact log-likelihood of the Euler-Maruyama OU chain (k steps per interval)."""
    m, p, ll = mu, SIGMA**2 / (2 * THETA), 0.0
    for j, y in enumerate(ys):
        if j:
            h = (times[j] - times[j - 1]) / k
            a = 1 - THETA * h
            m = mu + a**k * (m - mu)
            p = a ** (2 * k) * p + SIGMA**2 * h * sum(a ** (2 * i) for i in range(k))
        if not np.isnan(y):
            s = p + NOISE**2
            ll += -0.5 * (math.log(2 * math.pi * s) + (y - m) ** 2 / s)
            gain = p / s
            m, p = m + gain * (y - m), (1 - gain) * p
    return ll


def _data(*series: tuple[np.ndarray, np.ndarray]) -> ObservationData:
    return ObservationData(tuple(Series(t, {"y": y}) for t, y in series))


def _estimates(model, data, particles, seeds=SEEDS, **kw) -> np.ndarray:
    keys = jax.random.split(jax.random.key(1), seeds)
    run = jax.vmap(lambda k: particle_filter(k, model, data, particles=particles, dt=DT,
                                             solver="euler_maruyama", **kw).log_evidence)
    return np.asarray(run(keys), np.float64)


@pytest.fixture(scope="module")
def ou_case(ou):
    times, ys = _ou_data(0)
    data = _data((times, ys))
    k = substeps(data.padded().times, data.padded().present, dt=DT)
    return data, _em_kalman(times, ys, k)


def test_unbiased_likelihood_on_linear_gaussian_ou(ou, ou_case):
    data, exact = ou_case
    ratios = np.exp(_estimates(ou, data, 1000) - exact)
    se = ratios.std(ddof=1) / math.sqrt(SEEDS)
    # E[exp(estimate)] = likelihood exactly; 4 standard errors over 20 seeds
    assert abs(ratios.mean() - 1.0) < 4 * se + 1e-3, (ratios.mean(), se)
    assert se < 0.06  # and the test has power (measured: se ~ 0.03 at 1000 particles, 20 points)


def test_variance_falls_with_particles(ou, ou_case):
    data, exact = ou_case
    small, large = _estimates(ou, data, 100), _estimates(ou, data, 1000)
    # variance ~ 1/N, so the true ratio is ~10; 2x leaves room for 20-seed noise
    assert small.var(ddof=1) > 2 * large.var(ddof=1)
    assert abs(large.mean() - exact) < 0.05  # the log is biased low by ~var/2, small at N = 1000


def test_result_record(ou, ou_case):
    data, _ = ou_case
    r = particle_filter(jax.random.key(0), ou, data, particles=64, dt=DT)
    assert isinstance(r, ParticleFilterResult)
    assert r.series_log_evidence.shape == (1,) and r.ess.shape == (1, 20) and r.resampled.shape == (1, 20)
    assert r.resampled.dtype == jnp.bool_
    assert np.all((np.asarray(r.ess) >= 1 - 1e-4) & (np.asarray(r.ess) <= 64 + 1e-3))
    # same key, same number (common random numbers)
    again = particle_filter(jax.random.key(0), ou, data, particles=64, dt=DT)
    assert float(again.log_evidence) == float(r.log_evidence)


def test_all_missing_time_point_is_skipped(ou):
    times, ys = _ou_data(3, n=19)
    key = jax.random.key(2)
    base = particle_filter(key, ou, _data((times, ys)), particles=64, num_steps=8)
    # a trailing all-NaN point: the same key gives exactly the same evidence
    tail = _data((np.append(times, times[-1] + 0.2), np.append(ys, np.nan)))
    r = particle_filter(key, ou, tail, particles=64, num_steps=8)
    np.testing.assert_allclose(float(r.log_evidence), float(base.log_evidence), rtol=1e-6)
    assert not bool(r.resampled[0, -1])  # no weight update, so no resampling
    carried = 64.0 if bool(base.resampled[0, -1]) else float(base.ess[0, -1])
    np.testing.assert_allclose(float(r.ess[0, -1]), carried, rtol=1e-4)
    # a NaN point in the middle: the interval is split, so compare with the
    # exact likelihood of the data without it (sub-steps as the filter takes them)
    mid_t = np.insert(times, 6, 0.5 * (times[5] + times[6]))
    mid_y = np.insert(ys, 6, np.nan)
    k = substeps(mid_t[None], np.ones((1, mid_t.size), bool), dt=DT)
    exact = _em_kalman(mid_t, mid_y, k)
    ratios = np.exp(_estimates(ou, _data((mid_t, mid_y)), 1000) - exact)
    assert abs(ratios.mean() - 1.0) < 4 * ratios.std(ddof=1) / math.sqrt(SEEDS) + 1e-3
    one = particle_filter(key, ou, _data((mid_t, mid_y)), particles=64, dt=DT)
    assert not bool(one.resampled[0, 6])


def test_series_are_independent_and_padding_is_a_no_op(ou):
    a, b, c, d = _ou_data(4, n=15), _ou_data(5, n=9), _ou_data(8, n=15), _ou_data(9, n=9)
    key = jax.random.key(3)
    kw = dict(particles=128, num_steps=6)
    ab = particle_filter(key, ou, _data(a, b), **kw)
    ba = particle_filter(key, ou, _data(b, a), **kw)  # b padded from 9 to 15 points
    ac = particle_filter(key, ou, _data(a, c), **kw)
    bd = particle_filter(key, ou, _data(b, d), **kw)  # b unpadded
    # series s uses fold_in(key, s): series 0 does not depend on the series
    # beside it, nor on being padded
    np.testing.assert_allclose(float(ab.series_log_evidence[0]), float(ac.series_log_evidence[0]), rtol=1e-5)
    np.testing.assert_allclose(float(ba.series_log_evidence[0]), float(bd.series_log_evidence[0]), rtol=1e-5)
    assert float(ab.series_log_evidence[1]) != float(ba.series_log_evidence[1])
    np.testing.assert_allclose(float(ab.log_evidence), float(jnp.sum(ab.series_log_evidence)), rtol=1e-6)
    assert np.all(np.isnan(np.asarray(ab.ess[1, 9:]))) and not np.any(np.asarray(ab.resampled[1, 9:]))
    # so the total is a sum of independent unbiased estimates, one per series


def test_jit_compiles_once_for_new_parameters(ou, ou_case):
    data, _ = ou_case
    padded = data.padded()

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def evidence(model):
        return particle_filter(jax.random.key(0), model, padded, particles=64, dt=DT).log_evidence

    first = evidence(ou)
    second = evidence(with_params(ou, {"theta": 2.0, "sigma": 0.3}))
    assert np.isfinite(float(first)) and np.isfinite(float(second)) and float(first) != float(second)


def test_gradient_is_finite_with_the_right_sign(ou):
    times, ys = _ou_data(6, n=15, level=1.5)  # data sit well above mu = 0
    data = _data((times, ys)).padded()
    density = parameter_log_density(
        ou, lambda m: particle_filter(jax.random.key(0), m, data, particles=128, dt=DT).log_evidence, prior=False
    )
    value, grad = jax.jit(density.value_and_grad)(density.initial_position)
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grad.values())
    assert float(grad["mu"]) > 0  # raising mu towards the data raises the likelihood


def test_the_gradient_is_a_consistent_estimate_of_the_exact_one(ou):
    """Stop-gradient resampling: the weights after a resampling step keep
    the gradient of each ancestor's selection, so the gradient estimate
    (averaged over keys) matches the exact gradient of the Euler chain's
    likelihood (central difference of its Kalman filter). Without it the
    gradient ignored which particles survive: d/dmu came out 41.8 +- 3.0
    against the exact 9.3 on these data, and fits climbed the wrong way.
    Tolerance: 4 standard errors over 32 keys."""
    times, ys = _ou_data(3, n=80)
    data = _data((times, ys))
    k = substeps(data.padded().times, data.padded().present, dt=DT)
    exact = (_em_kalman(times, ys, k, mu=MU + 1e-4) - _em_kalman(times, ys, k, mu=MU - 1e-4)) / 2e-4
    padded = data.padded()
    grad = jax.jit(jax.vmap(jax.grad(lambda mu, key: particle_filter(
        key, with_params(ou, {"mu": mu}), padded, particles=256, dt=DT, solver="euler_maruyama").log_evidence
    ), in_axes=(None, 0)))  # fmt: skip
    draws = np.asarray(grad(MU, jax.random.split(jax.random.key(2), 32)), np.float64)
    se = draws.std(ddof=1) / math.sqrt(draws.size)
    assert abs(draws.mean() - exact) < 4 * se, (draws.mean(), se, exact)
    assert se < 15  # the test has power against the old bias of 32


def test_poisson_observations(spec_model):
    model = spec_model("specs/ou_poisson.yaml")
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(0, 5, 12))
    counts = rng.poisson(0.4, (12, 10)).astype(np.float64)
    counts[3, :4] = np.nan  # missing components
    readout = rng.normal(0, 0.5, (12, 3))
    readout[5] = np.nan
    data = ObservationData((Series(times, {"counts": counts, "readout": readout}),))
    r = particle_filter(jax.random.key(0), model, data, particles=128, dt=0.05)
    assert np.isfinite(float(r.log_evidence))
    # only the counts: the readout is filled with NaN (contributes nothing)
    only = ObservationData((Series(times, {"counts": counts}),))
    value, method = log_likelihood_with_method(model, only, key=jax.random.key(0), particles=128, dt=0.05)
    assert method == "particle" and np.isfinite(float(value))


def test_log_likelihood_entry_point(ou, ou_case):
    data, _ = ou_case
    key = jax.random.key(0)
    direct = particle_filter(key, ou, data, particles=64, dt=DT).log_evidence
    value = log_likelihood(ou, data, method="particle", key=key, particles=64, dt=DT)
    assert float(value) == float(direct)
    value = log_likelihood(ou, data.padded(), method="particle", key=key, particles=64, dt=DT)
    assert float(value) == float(direct)
    assert choose_method(ou) == "kalman"  # OU is linear-Gaussian
    value, method = log_likelihood_with_method(ou, data)  # auto: exact, needs no key
    assert method == "kalman"
    times, ys = data.series[0].times, data.series[0].values["y"]
    # the Euler chain with 2000 sub-steps is within O(dt) ~ 1e-4 of the exact OU likelihood
    assert abs(float(value) - _em_kalman(times, ys, 2000)) < 1e-3


def test_usage_errors(ou, ou_case):
    data, _ = ou_case
    with pytest.raises(UsageError, match="needs a key") as err:
        log_likelihood(ou, data, method="particle")
    assert "key=jax.random.key" in err.value.hint
    with pytest.raises(UsageError, match="unknown likelihood method") as err:
        log_likelihood(ou, data, method="partcle", key=jax.random.key(0))
    assert "`particle`" in err.value.hint
    with pytest.raises(UsageError, match="does not observe") as err:
        particle_filter(jax.random.key(0), ou, ObservationData((Series(np.arange(3.0), {"yy": np.zeros(3)}),)))
    assert "`y`" in err.value.hint
    with pytest.raises(UsageError, match="either dt or num_steps"):
        particle_filter(jax.random.key(0), ou, data, dt=0.1, num_steps=3)
    with pytest.raises(UsageError, match="ess_threshold"):
        particle_filter(jax.random.key(0), ou, data, ess_threshold=1.5)
    with pytest.raises(UsageError, match="PaddedData"):
        particle_filter(jax.random.key(0), ou, {"y": np.zeros(3)})


def test_substeps_bound_each_interval_step():
    times = np.array([[0.0, 0.3, 1.0, 1.05]])
    present = np.ones_like(times, bool)
    k = substeps(times, present, dt=0.1)
    assert k == 7 and 0.7 / k <= 0.1  # the longest gap, 0.7, in steps of at most dt
    assert substeps(times, present, num_steps=3) == 3
    assert substeps(np.array([[0.0, 1.0, 1.0]]), np.array([[True, True, False]]), dt=0.5) == 2
    assert isinstance(PaddedData, type)


FORCED = """model forced_ou
input u
param k = 1.5 : positive
state x ~ Normal(0, 0.3)
dx = (u - k * x) dt + 0.3 dW
observe y ~ Normal(x, 0.1)
"""


def test_each_series_reads_its_own_inputs():
    import dync

    model = dync.load("forced.dync", text=FORCED)
    times, grid = np.linspace(0, 2, 11), np.linspace(0, 2, 5)
    ys = np.full(11, 0.5)  # the level u / k of u = 0.75

    def series(u):
        return Series(times, {"y": ys}, inputs={"u": (grid, np.full(5, u))})

    def run(u):
        data = ObservationData((series(0.75), series(u)))
        return particle_filter(jax.random.key(0), model, data, particles=128, dt=0.05)

    fit, off = run(0.0), run(3.0)
    # series 0 is untouched by series 1's input; the input that explains the data wins
    assert float(fit.series_log_evidence[0]) == float(off.series_log_evidence[0])
    assert float(fit.series_log_evidence[0]) > float(fit.series_log_evidence[1]) > float(off.series_log_evidence[1])
    ragged = ObservationData((series(0.75), Series(times, {"y": ys}, inputs={"u": (grid[:3], np.zeros(3))})))
    with pytest.raises(UsageError, match="different lengths"):
        particle_filter(jax.random.key(0), model, ragged, particles=16)


def test_log_likelihood_reads_datasets_and_files(ou, tmp_path):
    import xarray as xr

    from dync.runtime import data as data_module

    if not hasattr(data_module, "read_observations"):
        pytest.skip("read_observations has not landed")
    times = np.linspace(0.5, 3.0, 8)
    ys = np.sin(times)
    ys[2] = np.nan
    key = jax.random.key(0)
    kept = ~np.isnan(ys)  # the reader drops a time point where nothing is observed
    direct = particle_filter(key, ou, _data((times[kept], ys[kept])), particles=64, dt=DT).log_evidence
    dataset = xr.Dataset({"y": ("time", ys)}, coords={"time": times})
    value, method = log_likelihood_with_method(ou, dataset, method="particle", key=key, particles=64, dt=DT)
    assert method == "particle"
    np.testing.assert_allclose(float(value), float(direct), rtol=1e-6)
    path = tmp_path / "ou.csv"
    rows = (f"{float(t)!r},{'' if np.isnan(y) else repr(float(y))}\n" for t, y in zip(times, ys))
    path.write_text("time,y\n" + "".join(rows))
    from_file = log_likelihood(ou, path, method="particle", key=key, particles=64, dt=DT)
    assert float(from_file) == float(value)


def test_a_time_with_one_observation_of_two_is_weighed(tmp_path):
    """A slot is skipped only when *every* observation is missing: asynchronous
    streams (one name observed, the other NaN at that time) still weigh the
    particles. (The filter skipped a slot when *any* name was all-NaN there,
    so a count observed alongside a missing readout contributed nothing.)
    With no noise and a fixed start every particle is the exact path
    x(t) = exp(r t), so the estimate is the exact log-likelihood."""
    from scipy import stats

    import dync

    spec = tmp_path / "two_streams.dync"
    spec.write_text(
        "model two_streams\nparam r = 0.3\nstate x = 1.0\ndx = r * x dt\n"
        "observe counts ~ Poisson(3 * x)\nobserve width ~ Normal(x, 0.5)\n"
    )
    model = dync.load(str(spec))
    times = np.array([0.0, 0.5, 1.3, 2.0])
    counts = np.array([2.0, 4.0, 5.0, 1.0])
    width = np.array([np.nan, 1.4, np.nan, np.nan])  # measured once
    data = ObservationData((Series(times, {"counts": counts, "width": width}),))
    value = float(log_likelihood(model, data, method="particle", particles=8, key=jax.random.key(0), dt=0.01))
    x = np.exp(0.3 * times)
    exact = stats.poisson.logpmf(counts, 3 * x).sum() + stats.norm.logpdf(1.4, x[1], 0.5)
    assert value == pytest.approx(exact, abs=1e-3)
