"""NUTS's warm-up in `dync.runtime.posterior`: BlackJAX's window adaptation
taken a step at a time inside `run_kernel`'s chunks. It adapts exactly as
`blackjax.window_adaptation(...).run` does from the same key, its progress
shows while it runs, and a run interrupted during it resumes bit-identically."""

from __future__ import annotations

import warnings
from pathlib import Path

import blackjax
import jax
import numpy as np
import pytest
import xarray as xr

import dync
from dync.runtime import posterior
from dync.runtime.kalman import kalman_arrays
from dync.runtime.kernels import Kernel, run_kernel
from dync.runtime.likelihood import read_data
from dync.runtime.parameter_density import KalmanDensity
from dync.runtime.posterior import sample_posterior
from tests.interrupt import ctrl_c_after
from tests.status_lines import captured_statuses

from .conjugate import DRIFT_SPEC

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    spec = tmp_path_factory.mktemp("warm") / "drift.dync"
    spec.write_text(DRIFT_SPEC)
    t = np.linspace(0.1, 2.0, 12)
    return dync.load(spec), xr.Dataset({"y": (("time",), 1.3 * t + 0.1 * np.sin(7 * t))}, coords={"time": t})


def test_chunked_warmup_adapts_as_blackjax_window_adaptation(spec_model):
    """Same key, same step size, mass matrix and positions, bit for bit: 200
    steps (Stan's windows: 75 fast, slow windows of 25 and 50, 50 fast) in
    chunks of 64, the last one padded. One chain: BlackJAX's own run gives
    rounding-level differences between one chain and a vmapped batch of
    chains (fused differently), which NUTS's trajectories then amplify."""
    model = spec_model("specs/ou.dync")
    # four series of an AR(1) at times 0, 0.5, ..., 5 (an OU sampled there)
    rng, t = np.random.default_rng(4), np.linspace(0.0, 5.0, 11)
    y = np.zeros((4, t.size))
    for j in range(1, t.size):
        y[:, j] = 0.47 * y[:, j - 1] + 0.42 * rng.standard_normal(4)
    data = xr.Dataset({"y": (("path", "time"), y)}, coords={"time": t})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no prior on sigma
        split = posterior.free_parameters(model, {"mu": 0.0})
    density = KalmanDensity(split.model, split.held, kalman_arrays(split.model, read_data(split.model, data).padded()))
    key, warmup = jax.random.key(5), 200
    sampler = posterior._NutsSampler(density, 1, warmup, 0.8)
    run = run_kernel(Kernel(lambda s: s, sampler.step), sampler.first(key, split.free), jax.random.key(9), warmup,
                     chunk_size=64, trace_fn=posterior._record_nuts, prepare=sampler.prepare)  # fmt: skip
    adaptation = blackjax.window_adaptation(blackjax.nuts, density, target_acceptance_rate=0.8)
    (state, params), info = adaptation.run(jax.random.split(key, 1)[0], split.free, num_steps=warmup)
    np.testing.assert_array_equal(run.state.params["step_size"][0], params["step_size"])
    np.testing.assert_array_equal(run.state.params["inverse_mass_matrix"][0], params["inverse_mass_matrix"])
    assert not np.allclose(params["inverse_mass_matrix"], 1.0)  # the slow windows did adapt it
    for name in ("theta", "sigma"):
        np.testing.assert_array_equal(run.info.position[name][:, 0], info.state.position[name])
        np.testing.assert_array_equal(run.state.states.position[name][0], state.position[name])


SETTINGS = dict(chains=2, warmup=30, draws=10, checkpoint_every=10)


def test_progress_advances_during_warmup(drift, tmp_path):
    model, data = drift
    with captured_statuses() as (_, shown):
        sample_posterior(model, data, jax.random.key(0), checkpoint=str(tmp_path / "c"), progress=True, **SETTINGS)
    assert [s.split("  ")[0] for s in shown] == ["warm-up 10/30", "warm-up 20/30", "warm-up 30/30", "draw 10"]
    assert all("step " in s for s in shown) and all("accept " in s for s in shown[:3])


def test_a_run_interrupted_during_warmup_resumes_bit_identically(drift, tmp_path):
    model, data = drift
    whole = sample_posterior(model, data, jax.random.key(0), checkpoint=str(tmp_path / "whole"), progress=False, **SETTINGS)
    ckpt = tmp_path / "run.ckpt"
    with ctrl_c_after(2), pytest.raises(KeyboardInterrupt):  # after 20 of the 30 warm-up steps
        sample_posterior(model, data, jax.random.key(0), checkpoint=str(ckpt), progress=False, **SETTINGS)
    assert ckpt.exists() and not Path(f"{ckpt}.warmup").exists()
    with ctrl_c_after(1), pytest.raises(KeyboardInterrupt):  # resumed: stopped again after step 30, the warm-up's last
        sample_posterior(model, data, jax.random.key(0), checkpoint=str(ckpt), progress=False, **SETTINGS)
    assert Path(f"{ckpt}.warmup").exists()  # written once the warm-up ended
    resumed = sample_posterior(model, data, jax.random.key(0), checkpoint=str(ckpt), progress=False, **SETTINGS)
    np.testing.assert_array_equal(resumed.posterior["b"], whole.posterior["b"])
    for stat in ("lp", "step_size", "acceptance_rate"):
        np.testing.assert_array_equal(resumed.sample_stats[stat], whole.sample_stats[stat])
    # the draws use the adapted step size, one per chain
    assert np.all(np.asarray(whole.sample_stats.step_size) == np.asarray(whole.sample_stats.step_size)[:, :1])


def test_no_warmup_draws_with_blackjax_initial_parameters(drift):
    """`warmup=0` adapts nothing: every draw uses step size 1 (and the
    identity mass matrix), what `window_adaptation(...).run` returns for 0
    steps."""
    model, data = drift
    idata = sample_posterior(model, data, jax.random.key(0), chains=2, warmup=0, draws=5, progress=False)
    np.testing.assert_array_equal(idata.sample_stats.step_size, np.ones((2, 5)))
    assert idata.posterior["b"].shape == (2, 5) and np.isfinite(idata.posterior["b"]).all()
