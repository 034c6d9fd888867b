"""Samplers of a log-density (`dync.runtime.sampling.sample_density` and the
kernels of `dync.runtime.samplers`) against closed forms.

Monte Carlo tolerances: a mean within 4 MC standard errors (sd / sqrt(ESS),
ESS from ArviZ over all chains); a variance within 4 of its MC standard
errors, sqrt(2 / ESS) relative (Gaussian draws)."""

from __future__ import annotations


import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.errors import DyncRuntimeError, UsageError
from dync.runtime.sampling import sample_density

from tests.interrupt import ctrl_c_after

COV = np.array([[1.0, 0.6], [0.6, 2.0]])
PREC = np.linalg.inv(COV)


def correlated(x):
    return -0.5 * x @ (jnp.asarray(PREC, x.dtype) @ x)


def standard(x):
    return -0.5 * jnp.sum(x**2)


def _ess(draws: np.ndarray) -> np.ndarray:
    """ESS of each coordinate of (chains, samples, n) draws."""
    return np.array([float(az.ess(draws[..., i])) for i in range(draws.shape[-1])])


def _assert_moments(draws, mean, var):
    ess = _ess(draws)
    flat = draws.reshape(-1, draws.shape[-1])
    sd = np.sqrt(var)
    assert np.all(np.abs(flat.mean(0) - mean) < 4 * sd / np.sqrt(ess)), (flat.mean(0), mean, ess)
    assert np.all(np.abs(flat.var(0) / var - 1) < 4 * np.sqrt(2 / ess)), (flat.var(0), var, ess)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mala", "hmc", "nuts"])
def test_exact_samplers_recover_a_correlated_gaussian(method):
    run = sample_density(correlated, jnp.zeros((4, 2)), jax.random.key(1), method=method, warmup=400, samples=1000)
    _assert_moments(run.positions, np.zeros(2), np.diag(COV))
    flat = run.positions.reshape(-1, 2)
    assert abs(np.corrcoef(flat.T)[0, 1] - 0.6 / np.sqrt(2.0)) < 0.08
    assert run.info.acceptance_rate.shape == (4, 1000) and run.step_size.shape == (4,)


@pytest.mark.slow
def test_ula_has_its_closed_form_stationary_variance():
    """x' = (1 - h) x + sqrt(2h) xi on N(0, 1): var = 1 / (1 - h/2), 4/3 at h = 0.5."""
    run = sample_density(standard, jnp.zeros((8, 1)), jax.random.key(2), method="ula", step_size=0.5,
                         warmup=100, samples=2000)  # fmt: skip
    _assert_moments(run.positions, np.zeros(1), np.array([4 / 3]))


@pytest.mark.slow
def test_mala_is_unbiased_at_a_large_step():
    """At h = 1.5 ULA's variance would be 1 / (1 - 0.75) = 4; MALA's is 1."""
    run = sample_density(standard, jnp.zeros((8, 1)), jax.random.key(3), method="mala", step_size=1.5,
                         warmup=100, samples=2000)  # fmt: skip
    _assert_moments(run.positions, np.zeros(1), np.ones(1))
    assert 0.2 < run.info.acceptance_rate.mean() < 0.9


@pytest.mark.slow
def test_baoab_samples_a_harmonic_potential_exactly_at_a_large_step():
    """BAOAB's configurational law is exact for a Gaussian at any stable step
    (h < 2 sqrt(m) sigma = 2 here): at h = 1.2 the variance is sigma^2 = 2."""
    def harmonic(x):
        return -0.25 * jnp.sum(x**2)  # sigma^2 = 2

    run = sample_density(harmonic, jnp.zeros((8, 1)), jax.random.key(4), method="baoab", step_size=1.2,
                         friction=1.0, warmup=100, samples=2000)  # fmt: skip
    _assert_moments(run.positions, np.zeros(1), np.array([2.0]))


def test_same_seed_same_draws_and_thinning():
    a = sample_density(standard, jnp.zeros((2, 3)), jax.random.key(5), method="mala", warmup=20, samples=30, thin=2)
    b = sample_density(standard, jnp.zeros((2, 3)), jax.random.key(5), method="mala", warmup=20, samples=30, thin=2)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.positions.shape == (2, 30, 3)
    c = sample_density(standard, jnp.zeros((2, 3)), jax.random.key(6), method="mala", warmup=20, samples=30, thin=2)
    assert not np.array_equal(a.positions, c.positions)


def test_a_chain_that_leaves_the_finite_numbers_stops_the_run():
    def explosive(x):
        return jnp.sum(x**2)  # not integrable: ULA runs away to infinity

    with pytest.raises(DyncRuntimeError, match=r"chain \d+ left the finite numbers (at draw \d+|during the)"):
        sample_density(explosive, jnp.ones((2, 1)), jax.random.key(0), method="ula", step_size=0.5,
                       warmup=0, samples=2000)  # fmt: skip


@pytest.mark.parametrize("method", ["mala", "nuts"])
def test_a_nan_gradient_at_the_start_stops_the_run_naming_it(method):
    """`-(x^2)^0.75` has the gradient 0 * inf = NaN at 0: every proposal is
    rejected and the adaptation drives the step to 0. The run used to return
    one point per chain (R-hat nan, "run longer") with exit 0."""

    def cusp(x):
        return -jnp.sum((x**2) ** 0.75)

    with pytest.raises(DyncRuntimeError, match=r"chain 0 cannot move: the gradient of the target is nan"):
        sample_density(cusp, jnp.zeros((2, 1)), jax.random.key(0), method=method, warmup=60, samples=60)


def test_a_flat_target_stops_the_run_as_improper():
    def flat(x):
        return 0.0 * jnp.sum(x)

    with pytest.raises(DyncRuntimeError, match="flat log-density is not a probability density"):
        sample_density(flat, jnp.zeros((2, 1)), jax.random.key(0), method="mala", warmup=100, samples=60)


def test_a_chain_that_accepts_nothing_stops_the_run():
    with pytest.raises(DyncRuntimeError, match=r"accepted none of draws 1-60 at step 1e\+03"):
        sample_density(standard, jnp.ones((2, 4)), jax.random.key(0), method="mala", step_size=1e3, warmup=0, samples=60)


def test_a_runaway_target_warns_that_it_looks_improper():
    def upside_down(x):
        return 0.5 * jnp.sum(x**2)  # a sign error: no maximum

    with pytest.warns(RuntimeWarning, match="the target looks improper"):
        run = sample_density(upside_down, jnp.ones((2, 1)), jax.random.key(0), method="mala", warmup=100, samples=150)
    assert np.all(np.abs(run.positions[:, -1]) > np.abs(run.positions[:, 0]))


def test_a_healthy_run_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sample_density(standard, jnp.full((2, 1), 3.0), jax.random.key(0), method="mala", warmup=100, samples=150)


def test_usage_errors():
    with pytest.raises(UsageError, match="needs a step size"):
        sample_density(standard, jnp.zeros((2, 1)), jax.random.key(0), method="ula", samples=5)
    with pytest.raises(UsageError, match="did you mean `mala`"):
        sample_density(standard, jnp.zeros((2, 1)), jax.random.key(0), method="malla", samples=5)
    with pytest.raises(UsageError, match="samples"):
        sample_density(standard, jnp.zeros((2, 1)), jax.random.key(0), method="mala", samples=0)


def test_an_interrupted_run_resumes_bit_identically(tmp_path):
    options = dict(method="nuts", warmup=30, samples=24, checkpoint_every=6)
    whole = sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(7), **options)
    path = tmp_path / "s.ckpt"
    with ctrl_c_after(2), pytest.raises(KeyboardInterrupt):  # after 12 of the 30 warm-up steps
        sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(7), checkpoint=path, **options)
    assert path.exists() and not (tmp_path / "s.ckpt.warmup").exists()
    with ctrl_c_after(5), pytest.raises(KeyboardInterrupt):  # resumed: stopped after 6 draws
        sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(7), checkpoint=path, **options)
    assert (tmp_path / "s.ckpt.warmup").exists()  # written once the warm-up ended
    resumed = sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(7), checkpoint=path, **options)
    np.testing.assert_array_equal(whole.positions, resumed.positions)
    np.testing.assert_array_equal(whole.info.energy, resumed.info.energy)


def test_a_second_run_reuses_the_compiled_warm_up_and_draws(monkeypatch):
    """The warm-up is traced once per program (it is compiled with the
    draws), and a second run of the same target and settings traces
    nothing: it reuses the compiled program."""
    from dync.runtime import sampling

    traced = []
    warm = sampling._Sampler.warm

    def counting(self, key, positions):
        traced.append(self.method)
        return warm(self, key, positions)

    monkeypatch.setattr(sampling._Sampler, "warm", counting)
    for seed in (0, 1):
        sample_density(standard, jnp.zeros((2, 3)), jax.random.key(seed), method="mala", warmup=10, samples=20)
    assert traced == ["mala"]


def test_a_second_run_does_not_trace_the_log_density_at_all():
    """The state's shapes (for the placeholders of the warm-up's result) are
    remembered with the compiled program: the same target again is neither
    traced for its shapes nor compiled; new shapes are traced afresh."""
    calls = []

    def counted(x):
        calls.append(x.shape)
        return -0.5 * jnp.sum(x**2)

    kwargs = dict(method="mala", warmup=10, samples=20)
    first = sample_density(counted, jnp.zeros((2, 3)), jax.random.key(0), **kwargs)
    assert calls
    calls.clear()
    again = sample_density(counted, jnp.zeros((2, 3)), jax.random.key(0), **kwargs)
    assert calls == []
    np.testing.assert_array_equal(first.positions, again.positions)
    sample_density(counted, jnp.zeros((2, 4)), jax.random.key(0), **kwargs)
    assert calls and all(shape == (4,) for shape in calls)


def test_dynamics_on_a_target_without_equations_says_so_at_the_sampler():
    """`--method dynamics` on a target-only model is refused by the sampler
    with the samplers that do apply (it read a `has_equations` field that does
    not exist, so fell through to simulate's "nothing to simulate ... draw its
    states with `dync sample`", which the user was already running)."""
    import dync
    from dync.runtime.sampling import sample_model

    model = dync.load("banana.dync", text="model banana\nstate q[2] = 0\ntarget -sum(q^2) / 2\n")
    with pytest.raises(UsageError) as e:
        sample_model(model, method="dynamics", step=0.01, chains=1, warmup=1, samples=1, progress=False)
    assert "has no equations to run" in str(e.value) and "nuts" in e.value.hint
