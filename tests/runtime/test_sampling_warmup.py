"""HMC's and NUTS's warm-up in `dync.runtime.sampling.sample_density` (what
`dync sample` runs): BlackJAX's window adaptation taken a step at a time
inside `run_kernel`'s chunks (`dync.runtime.window_adaptation`, shared with
`dync fit`'s NUTS). It adapts exactly as `blackjax.window_adaptation(...).run`
does from the same key, its progress shows while it runs, and a run
interrupted during it resumes bit-identically."""

from __future__ import annotations

from pathlib import Path

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.runtime import sampling
from dync.runtime.sampling import sample_density
from tests.interrupt import ctrl_c_after
from tests.status_lines import captured_statuses

PREC = np.linalg.inv(np.array([[1.0, 0.6], [0.6, 2.0]]))


def correlated(x):
    return -0.5 * x @ (jnp.asarray(PREC, x.dtype) @ x)


@pytest.mark.parametrize("method", ["nuts", "hmc"])
def test_chunked_warmup_adapts_as_blackjax_window_adaptation(method, tmp_path, monkeypatch):
    """One chain, same key: the same step size, inverse mass matrix and
    state as BlackJAX's own run, bit for bit (100 steps: Stan's windows, in
    chunks of 25, the warm-up's result saved after the fourth). HMC's warm-up
    steps take exactly L leapfrog steps, as BlackJAX's HMC does (the draws
    jitter L)."""
    kept = []  # the warm-up's result as the sampler saves it beside the checkpoint
    save = sampling.save_result
    monkeypatch.setattr(sampling, "save_result", lambda *a, **k: (kept.append(a[3]), save(*a, **k)))
    key, warmup, start = jax.random.key(3), 100, jnp.asarray([[1.5, -0.5]])
    run = sample_density(correlated, start, key, method=method, warmup=warmup, samples=4, num_integration_steps=8,
                         checkpoint=tmp_path / "c", checkpoint_every=25, progress=False)  # fmt: skip
    extra = {"num_integration_steps": 8} if method == "hmc" else {}
    algorithm = blackjax.nuts if method == "nuts" else blackjax.hmc
    adaptation = blackjax.window_adaptation(algorithm, correlated, target_acceptance_rate=0.8, **extra)
    key_warmup = jax.random.split(key)[0]  # sample_density's keys: (warm-up, draws)
    (state, params), _ = adaptation.run(jax.random.split(key_warmup, 1)[0], start[0], num_steps=warmup)
    np.testing.assert_array_equal(run.step_size[0], params["step_size"])
    assert np.all(run.step_sizes == run.step_size[:, None])  # the draws use the adapted step
    (states, step_size, inverse_mass), = kept
    np.testing.assert_array_equal(step_size[0], params["step_size"])
    np.testing.assert_array_equal(inverse_mass[0], params["inverse_mass_matrix"])
    np.testing.assert_array_equal(states.position[0], state.position)
    assert not np.allclose(params["inverse_mass_matrix"], 1.0)  # the slow windows did adapt it


SETTINGS = dict(method="nuts", warmup=30, samples=12, checkpoint_every=10)


def test_progress_advances_during_warmup(tmp_path):
    with captured_statuses() as (labels, lines):
        sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(0), checkpoint=tmp_path / "c", progress=True,
                       **SETTINGS)  # fmt: skip
    (label,) = labels
    assert "30 warm-up steps, then 12 draws" in label
    assert [s.split("  ")[0] for s in lines] == ["warm-up 10/30", "warm-up 20/30", "warm-up 30/30", "draw 10", "draw 12"]
    assert all("step " in s and "accept " in s for s in lines)
    assert "divergences" in lines[-1] and "divergences" not in lines[0]


def test_a_run_interrupted_during_warmup_resumes_bit_identically(tmp_path):
    whole = sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(0), progress=False, **SETTINGS)
    ckpt = tmp_path / "run.ckpt"
    with ctrl_c_after(2), pytest.raises(KeyboardInterrupt):  # after 20 of the 30 warm-up steps
        sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(0), checkpoint=ckpt, progress=False, **SETTINGS)
    assert ckpt.exists() and not Path(f"{ckpt}.warmup").exists()
    with ctrl_c_after(1), pytest.raises(KeyboardInterrupt):  # resumed: stopped again after step 30, the warm-up's last
        sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(0), checkpoint=ckpt, progress=False, **SETTINGS)
    assert Path(f"{ckpt}.warmup").exists()  # written once the warm-up ended
    resumed = sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(0), checkpoint=ckpt, progress=False,
                             **SETTINGS)  # fmt: skip
    np.testing.assert_array_equal(resumed.positions, whole.positions)
    np.testing.assert_array_equal(resumed.step_size, whole.step_size)
    for stat in ("acceptance_rate", "energy", "n_steps"):
        np.testing.assert_array_equal(getattr(resumed.info, stat), getattr(whole.info, stat))
    assert resumed.positions.shape == (2, 12, 2)


def test_hmc_with_thinning_warms_up_in_single_steps():
    """With ``thin`` the draws are blocks of steps but the warm-up steps are
    single ones (BlackJAX's schedule): 20 warm-up steps, then 5 draws of 3
    steps, each draw summing its block's leapfrog steps."""
    run = sample_density(correlated, jnp.zeros((2, 2)), jax.random.key(1), method="hmc", warmup=20, samples=5,
                         thin=3, num_integration_steps=4, progress=False)  # fmt: skip
    assert run.positions.shape == (2, 5, 2) and np.isfinite(run.positions).all()
    assert np.all(run.info.n_steps >= 3 * 2) and np.all(run.info.n_steps <= 3 * 6)  # jittered L in 2..6, 3 steps


def test_a_chain_leaving_the_finite_numbers_during_warmup_is_named_with_its_warmup_step():
    """The warm-up's steps are checked as the draws are: a target that is
    +inf past 2 stops the run in the warm-up's first chunk, naming the step."""
    from dync.errors import DyncRuntimeError

    def cliff(x):
        return jnp.where(x[0] > 2.0, jnp.inf, -jnp.sum(x**2) / 2)

    with pytest.raises(DyncRuntimeError, match=r"chain 0 left the finite numbers during the warm-up, at its step \d+ of 40"):
        sample_density(cliff, jnp.ones((1, 1)), jax.random.key(0), method="nuts", warmup=40, samples=10,
                       checkpoint_every=10, progress=False)  # fmt: skip
