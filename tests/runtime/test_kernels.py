"""Tests for dync.runtime.kernels: the key rule, chunking, one compilation per
run, checkpoints and bit-identical resume, and BlackJAX NUTS through the
driver."""

from __future__ import annotations

import functools

import arviz as az
import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dync.errors import UsageError
from dync.runtime.kernels import Kernel, KernelRun, from_blackjax, keeping_best, optax_kernel, run_kernel
from dync.runtime.logdensity import parameter_log_density, state_log_density

from tests.interrupt import ctrl_c_after

run = functools.partial(run_kernel, progress=False)


class WalkState(eqx.Module):
    x: jax.Array
    total: jax.Array


def _walk_step(key, state):
    """A Gaussian random walk: the state after step i is the sum of the
    normal(fold_in(key, j)) for j <= i."""
    x = state.x + jax.random.normal(key, state.x.shape)
    return WalkState(x, state.total + jnp.sum(x)), jnp.sum(x**2)


WALK = Kernel(lambda x: WalkState(jnp.asarray(x, jnp.float32), jnp.zeros(())), _walk_step)


def _position_and_acceptance(state, info):
    return state.position, info.acceptance_rate


@pytest.fixture(scope="module")
def nuts():
    """NUTS on a 2-D standard normal (fixed step size, identity mass matrix)."""
    density = state_log_density(lambda x: -0.5 * jnp.sum(x**2), jnp.zeros(2))
    algorithm = blackjax.nuts(density.fn, step_size=0.5, inverse_mass_matrix=jnp.ones(density.dimension))
    return density, from_blackjax(algorithm)


def test_step_i_gets_fold_in_of_the_key(key):
    out = run(WALK, WALK.init(jnp.zeros(3)), key, 5, chunk_size=2)
    assert isinstance(out, KernelRun) and out.steps_done == 5
    draws = np.stack([jax.random.normal(jax.random.fold_in(key, i), (3,)) for i in range(5)])
    np.testing.assert_allclose(out.state.x, draws.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(out.info, (np.cumsum(draws, axis=0) ** 2).sum(axis=1), rtol=1e-5)


def test_results_do_not_depend_on_the_chunk_size(key):
    runs = [run(WALK, WALK.init(jnp.zeros(3)), key, 10, chunk_size=c) for c in (1, 3, None)]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.info, runs[0].info)
        np.testing.assert_array_equal(other.state.x, runs[0].state.x)
        np.testing.assert_array_equal(other.state.total, runs[0].state.total)


def test_a_short_last_chunk_does_not_recompile(key):
    # one trace of the step for chunks of 4 steps: runs of 10 steps (4 + 4 + 2)
    # and of 7 steps (4 + 3) share it, as the last chunk is padded
    step = eqx.debug.assert_max_traces(_walk_step, max_traces=1)
    kernel = Kernel(WALK.init, step)
    a = run(kernel, kernel.init(jnp.zeros(2)), key, 10, chunk_size=4)
    b = run(kernel, kernel.init(jnp.ones(2)), key, 7, chunk_size=4)
    assert a.info.shape == (10,) and b.info.shape == (7,)
    c = run(kernel, kernel.init(jnp.zeros(2)), key, 7, chunk_size=4)
    np.testing.assert_array_equal(c.info, a.info[:7])


def test_interrupted_run_resumes_bit_identically(nuts, key, tmp_path):
    density, kernel = nuts
    init = kernel.init(density.initial_position)
    trace = _position_and_acceptance
    whole = run(kernel, init, key, 10, chunk_size=2, trace_fn=trace)

    path = tmp_path / "nuts.ckpt"
    with ctrl_c_after(3), pytest.raises(KeyboardInterrupt):
        run(kernel, init, key, 10, chunk_size=2, checkpoint=path, checkpoint_every=4, trace_fn=trace)
    # interrupted after 6 steps: the checkpoint of step 4 is intact
    header = path.read_bytes().split(b"\n", 2)[1]
    assert b'"steps_done": 4' in header

    resumed = run(kernel, init, key, 10, chunk_size=2, checkpoint=path, checkpoint_every=4, trace_fn=trace)
    assert resumed.steps_done == 10
    for a, b in zip(jax.tree_util.tree_leaves(resumed), jax.tree_util.tree_leaves(whole)):
        np.testing.assert_array_equal(a, b)
    # the finished checkpoint is kept: a rerun returns the result without stepping
    again = run(kernel, init, key, 10, chunk_size=2, checkpoint=path, checkpoint_every=4, trace_fn=trace)
    np.testing.assert_array_equal(again.info[0], whole.info[0])


def test_a_checkpoint_of_another_run_is_refused(key, tmp_path):
    path = tmp_path / "walk.ckpt"
    init = WALK.init(jnp.zeros(2))
    run(WALK, init, key, 6, chunk_size=2, checkpoint=path)
    with pytest.raises(UsageError) as err:
        run(WALK, init, key, 8, chunk_size=2, checkpoint=path)
    assert "belongs to another run" in err.value.message and "number of steps" in err.value.message
    assert "delete the file" in err.value.hint
    with pytest.raises(UsageError, match="the key"):
        run(WALK, init, jax.random.key(1), 6, chunk_size=2, checkpoint=path)
    with pytest.raises(UsageError, match="initial state"):
        run(WALK, WALK.init(jnp.ones(2)), key, 6, chunk_size=2, checkpoint=path)
    with pytest.raises(UsageError, match="structure"):
        run(WALK, WALK.init(jnp.zeros(3)), key, 6, chunk_size=2, checkpoint=path)
    with pytest.raises(UsageError, match="identity"):
        run(WALK, init, key, 6, chunk_size=2, checkpoint=path, identity="walk v2")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="not a dync kernel checkpoint"):
        run(WALK, init, key, 6, checkpoint=tmp_path / "junk.ckpt")


def test_bad_arguments(key):
    init = WALK.init(jnp.zeros(2))
    with pytest.raises(UsageError, match="whole number of chunks"):
        run(WALK, init, key, 10, chunk_size=3, checkpoint="x.ckpt", checkpoint_every=4)
    with pytest.raises(UsageError, match="no checkpoint path"):
        run(WALK, init, key, 10, checkpoint_every=4)
    with pytest.raises(UsageError, match="non-negative"):
        run(WALK, init, key, -1)
    empty = run(WALK, init, key, 0)
    assert empty.steps_done == 0 and empty.info.shape == (0,)


def test_optax_kernel_state_and_info(key):
    density = state_log_density(lambda x: -jnp.sum((x - 3.0) ** 2), jnp.zeros(2))
    kernel = optax_kernel(density, optax.sgd(0.25))
    out = run(kernel, kernel.init(), key, 20)
    assert int(out.state.step) == 20
    np.testing.assert_allclose(out.state.position, [3.0, 3.0], rtol=1e-6)
    # value before the first step: -18; gradient there (6, 6)
    assert float(out.info.value[0]) == pytest.approx(-18.0)
    assert float(out.info.grad_norm[0]) == pytest.approx(6.0 * np.sqrt(2.0))
    loss = state_log_density(lambda x: jnp.sum((x - 1.0) ** 2), jnp.zeros(1))
    descend = optax_kernel(loss, optax.sgd(0.25), maximize=False)
    np.testing.assert_allclose(run(descend, descend.init(), key, 20).state.position, [1.0], rtol=1e-6)


def test_keeping_best_remembers_the_highest_position_visited(key):
    # SGD at step 1.1 on -(x - 3)^2 overshoots further each step (x - 3 is
    # multiplied by -1.2): the last iterate is the worst, the start the best
    density = state_log_density(lambda x: -jnp.sum((x - 3.0) ** 2), jnp.full(1, 2.0))
    kernel = keeping_best(optax_kernel(density, optax.sgd(1.1)))
    out = run(kernel, kernel.init(), key, 6)
    values = np.asarray(out.info.value)
    assert values[0] == pytest.approx(-1.0) and np.all(np.diff(values) < 0)
    assert float(out.state.value) == pytest.approx(values.max())
    np.testing.assert_allclose(out.state.position, [2.0])
    assert abs(float(out.state.inner.position[0]) - 3.0) == pytest.approx(1.2**6, rel=1e-5)
    # on a converging run the best is the latest position evaluated
    calm = keeping_best(optax_kernel(density, optax.sgd(0.25)))
    out = run(calm, calm.init(), key, 6)
    assert float(out.state.value) == pytest.approx(float(out.info.value[-1]))


def _ess(draws: np.ndarray) -> np.ndarray:
    """ArviZ's effective sample size of each column of one chain."""
    return np.array([float(az.ess(draws[None, :, j])) for j in range(draws.shape[1])])


def test_nuts_on_a_standard_normal(nuts, key):
    density, kernel = nuts
    n = 2000
    # chunks of 2 steps and this trace_fn, as in the resume test: one compilation for both
    out = run(kernel, kernel.init(density.initial_position), key, n, chunk_size=2, trace_fn=_position_and_acceptance)
    draws = np.asarray(out.info[0], dtype=np.float64)
    assert 0.5 < float(np.mean(out.info[1])) <= 1.0  # acceptance rate of a sensible step size
    assert draws.shape == (n, 2) and np.all(np.isfinite(draws))
    ess = _ess(draws)
    # the mean: within 4 Monte-Carlo standard errors sd / sqrt(ESS) of 0
    mcse = draws.std(axis=0) / np.sqrt(ess)
    assert np.all(np.abs(draws.mean(axis=0)) < 4 * mcse), (draws.mean(axis=0), mcse)
    # the variance: E[x^2] = 1, and x^2 has variance 2, so its standard error is
    # sqrt(2 / ESS(x^2)); 5 standard errors (about 0.2 for ESS ~ 1000) is loose
    # enough never to fail by chance and tight enough to catch a wrong
    # step size or mass matrix (which bias it far more)
    ess_sq = _ess(draws**2)
    second = (draws**2).mean(axis=0)
    assert np.all(np.abs(second - 1.0) < 5 * np.sqrt(2.0 / ess_sq)), (second, ess_sq)


def test_blackjax_samples_a_parameter_log_density(spec_model, key):
    # a dict position {name: unconstrained array} goes through BlackJAX as is
    model = spec_model("specs/ou.dync")
    density = parameter_log_density(model, lambda m: -0.5 * m.constrained_params()["mu"] ** 2)
    kernel = from_blackjax(blackjax.mala(density.fn, step_size=0.1))
    out = run(kernel, kernel.init(density.initial_position), key, 20, trace_fn=lambda s, i: s.position)
    assert set(out.info) == {"theta", "mu", "sigma"} and out.info["theta"].shape == (20,)
    assert len(np.unique(out.info["mu"])) > 1  # it moved
    user = density.constrained(jax.tree_util.tree_map(jnp.asarray, out.info))
    assert np.all(np.asarray(user["sigma"]) > 0)


class KeyedState(eqx.Module):
    key: jax.Array
    x: jax.Array


def test_a_state_holding_a_key_is_checkpointed(key, tmp_path):
    # particle filters carry keys in their state: they round-trip through a checkpoint
    def step(_, state):
        carry, draw = jax.random.split(state.key)
        return KeyedState(carry, state.x + jax.random.normal(draw)), state.x

    kernel = Kernel(lambda: KeyedState(jax.random.key(5), jnp.zeros(())), step)
    whole = run(kernel, kernel.init(), key, 6, chunk_size=2)
    path = tmp_path / "keyed.ckpt"
    with ctrl_c_after(2), pytest.raises(KeyboardInterrupt):
        run(kernel, kernel.init(), key, 6, chunk_size=2, checkpoint=path)
    resumed = run(kernel, kernel.init(), key, 6, chunk_size=2, checkpoint=path)
    np.testing.assert_array_equal(resumed.info, whole.info)
    np.testing.assert_array_equal(jax.random.key_data(resumed.state.key), jax.random.key_data(whole.state.key))
