"""SGLD (`method="sgld"`) on a target that sums over data, against the
conjugate Gaussian's closed form; same seed, same draws; resume.

The model: x_i ~ N(mu, 1), i = 1..N, prior mu ~ N(0, 1); the posterior is
N(m, 1/lam) with lam = N + 1, m = sum(x) / lam.

What SGLD's chain converges to here, exactly. The estimated gradient is
g = -lam mu + (N/B) sum_batch x_i: the true gradient plus a zero-mean noise
e whose variance, for a batch of B drawn without replacement, is
V = N^2 (S^2 / B) (1 - B/N) (S^2 the sample variance of the x_i; V = 0 for
B = N). The step mu' = (1 - h lam) mu + h lam m + h e + sqrt(2h) xi is a
linear AR(1) recursion with zero-mean noise, so
- its stationary mean is m exactly: the O(h) bias of a Langevin scheme
  vanishes on a Gaussian target's mean, so the bias allowance is 0 and the
  tolerance is 4 Monte Carlo standard errors, sd / sqrt(ESS), ESS by ArviZ;
- its stationary variance is (2h + h^2 V) / (1 - (1 - h lam)^2)
  = (2 + h V) / (lam (2 - h lam)): above 1/lam by ULA's O(h) factor
  2 / (2 - h lam) and by the minibatch's 1 + hV/2 (30 % at B = 5 here). The
  draws' variance must match it within 4 relative standard errors sqrt(2 / ESS)
  (Gaussian draws), and the minibatch run must be visibly wider than the
  posterior (that is the gradient noise, not a bug).
"""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.compiler.driver import build_model, compile_ast, read_spec
from dync.errors import UsageError
from dync.runtime.samplers import SumOverData
from dync.runtime.sampling import sample_density, sample_model

from tests.interrupt import ctrl_c_after

N = 20
X = np.random.default_rng(3).normal(1.5, 1.0, N)
LAM = N + 1
M = X.sum() / LAM
SPEC = f"""model gauss_mean
dim N = {N}
input x[N]
state mu = 0
target -sum((x - mu)^2) / 2 - mu^2 / 2
"""


@pytest.fixture(scope="module")
def model():
    return build_model(compile_ast(read_spec("gauss_mean.dync", SPEC)), None)


def _stationary_variance(h: float, batch: int) -> float:
    s2 = X.var(ddof=1)
    v = N**2 * s2 / batch * (1 - batch / N)
    return (2 + h * v) / (LAM * (2 - h * LAM))


@pytest.mark.parametrize("batch", [N, 5])
def test_sgld_matches_the_conjugate_gaussian(model, batch):
    h = 0.01
    idata = sample_model(model, method="sgld", data={"x": X}, batch=batch, step=h, chains=4, warmup=300,
                         samples=2000, seed=1, progress=False)  # fmt: skip
    draws = np.asarray(idata.posterior["mu"])
    ess = float(az.ess(draws))
    mean, var = draws.mean(), draws.var()
    expected = _stationary_variance(h, batch)
    assert abs(mean - M) < 4 * np.sqrt(expected / ess), (mean, M, ess)
    assert abs(var / expected - 1) < 4 * np.sqrt(2 / ess), (var, expected, 1 / LAM, ess)
    if batch < N:
        assert var > 1.1 / LAM  # the gradient noise widens the law (expected 1.37 / lam)
    stats = idata.sample_stats
    np.testing.assert_allclose(stats["step_size"], h)
    assert idata.posterior.attrs["batch"] == batch and idata.posterior.attrs["data_points"] == N


def test_a_decaying_step_follows_its_schedule(model):
    idata = sample_model(model, method="sgld", data={"x": X}, batch=5, step=0.02, step_decay=0.55,
                         decay_steps=50, chains=2, warmup=10, samples=20, thin=2, progress=False)  # fmt: skip
    steps = np.asarray(idata.sample_stats["step_size"])[0]
    t = 10 + 2 * np.arange(1, 21) - 1  # the move that made draw j is step warmup + thin (j + 1) - 1
    np.testing.assert_allclose(steps, 0.02 * (1 + t / 50) ** -0.55, rtol=1e-5)


def test_same_seed_same_draws(model):
    options = dict(method="sgld", data={"x": X}, batch=4, step=0.01, chains=2, warmup=5, samples=30, progress=False)
    a = sample_model(model, seed=3, **options).posterior["mu"].values
    b = sample_model(model, seed=3, **options).posterior["mu"].values
    c = sample_model(model, seed=4, **options).posterior["mu"].values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_an_interrupted_sgld_run_resumes_bit_identically(tmp_path):
    data = {"x": jnp.asarray(X, jnp.float32)}

    def prior(q):
        return -0.5 * jnp.sum(q**2)

    def likelihood(q, d):
        return -0.5 * jnp.sum((d["x"] - q) ** 2)

    split = SumOverData(prior, likelihood, data)
    options = dict(method="sgld", warmup=10, samples=24, checkpoint_every=6, step_size=0.01, sum_over_data=split,
                   batch_size=5, step_decay=0.5, decay_steps=10.0)  # fmt: skip
    whole = sample_density(lambda q: 0.0, jnp.zeros((2, 1)), jax.random.key(7), **options)
    path = tmp_path / "s.ckpt"
    with ctrl_c_after(2), pytest.raises(KeyboardInterrupt):
        sample_density(lambda q: 0.0, jnp.zeros((2, 1)), jax.random.key(7), checkpoint=path, **options)
    assert path.exists()
    resumed = sample_density(lambda q: 0.0, jnp.zeros((2, 1)), jax.random.key(7), checkpoint=path, **options)
    np.testing.assert_array_equal(whole.positions, resumed.positions)
    np.testing.assert_array_equal(whole.step_sizes, resumed.step_sizes)


def test_sgld_usage_errors(model):
    with pytest.raises(UsageError, match="needs a step size"):
        sample_model(model, method="sgld", data={"x": X}, samples=5, progress=False)
    with pytest.raises(UsageError, match="batch size"):
        sample_model(model, method="sgld", data={"x": X}, step=0.01, batch=N + 1, samples=5, progress=False)
    with pytest.raises(UsageError, match="no data was given") as err:
        sample_model(model, method="sgld", step=0.01, samples=5, progress=False)
    assert "--data" in err.value.hint
    plain = build_model(compile_ast(read_spec("plain.dync", "model plain\nstate q = 0\ntarget -q^2 / 2\n")), None)
    with pytest.raises(UsageError, match="reads no data"):
        sample_model(plain, method="sgld", step=0.01, samples=5, progress=False)
    with pytest.raises(UsageError, match="reads no data"):
        sample_model(plain, method="nuts", data={"x": X}, samples=5, progress=False)
