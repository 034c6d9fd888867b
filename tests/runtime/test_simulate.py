"""Tests for dync.runtime.simulate: the output contract, reproducibility,
parameters, sweeps, save times and the reporting of non-finite values.

The models are hand-written :class:`AbstractModel` subclasses (the contract
generated code meets), so these tests do not depend on the compiler. They are
shared with ``test_io.py``, ``test_plot.py`` and the two-device subprocess.
"""

from __future__ import annotations

import json
import warnings
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.errors import DyncRuntimeError, UsageError
from dync.runtime import simulate as sim_mod
from dync.info import ModelInfo, NoiseInfo, ObservationInfo, ParamInfo, SpecSource, StateInfo, from_tuple
from dync.runtime.layout import DeviceDescription
from dync.runtime.model import AbstractModel
from dync.runtime.simulate import simulate, with_params

pytest.importorskip("dync.runtime.solvers.fused")

#: traces of the drift of :class:`CountedOU`, to check that sweeps do not recompile
TRACES = {"drift": 0}


def _info(name, states, params, noise_structure="additive", observations=(), inputs=()):
    infos, offset = [], 0
    for s_name, shape, hidden in states:
        size = int(np.prod(shape, dtype=int))
        infos.append(StateInfo(s_name, shape, offset, size, hidden))
        offset += size
    return ModelInfo(
        name=name,
        calculus="ito",
        noise_structure=noise_structure,
        states=tuple(infos),
        state_size=offset,
        noises=(NoiseInfo("W", (offset,), 0, offset, implicit=True),),
        noise_size=offset,
        params=tuple(ParamInfo(n, (), from_tuple(c)) for n, c in params),
        observations=observations,
        inputs=inputs,
        diffusion_is_elementwise=noise_structure == "diagonal",
    )


class _Constrained(AbstractModel):
    """Parameters stored unconstrained, as generated code does."""

    source: ClassVar[SpecSource] = SpecSource()
    fbm_horizon: ClassVar[None] = None
    fbm_high: ClassVar[None] = None

    @classmethod
    def make(cls, **values):
        fields = {}
        for p in cls.info.params:
            c = p.constraint
            fields[p.name] = jnp.asarray(c.inverse(jnp.asarray(values[p.name], dtype=float)))
        return cls(**fields)

    def constrained_params(self):
        return {p.name: p.constraint.forward(getattr(self, p.name)) for p in self.info.params}

    def log_prior(self):
        return jnp.zeros(())

    def observation_log_prob(self, t, y, data, args=None):
        return jnp.zeros(())

    def observation_sample(self, key, t, y, args=None):
        return {}

    def initial_moments(self, args=None):
        n = self.info.state_size
        return jnp.full((n,), jnp.nan), jnp.full((n,), jnp.nan)

    def observation_moments(self, t, y, args=None):
        return {}


OU_SPEC = "state x ~ normal(mu, 0.1)\ndx = theta * (mu - x) dt + sigma dW\nobserve y ~ normal(x, 0.1)\n"


class OU(_Constrained):
    """$dx = \\theta(\\mu - x)\\,dt + \\sigma\\,dW$, $x_0 \\sim N(\\mu, 0.1^2)$,
    observed as $y \\sim N(x, 0.1^2)$."""

    info: ClassVar[ModelInfo] = _info(
        "ou",
        (("x", (), False),),
        (("theta", ("positive",)), ("mu", ("real",)), ("sigma", ("positive",))),
        observations=(ObservationInfo("y", (), "normal", False),),
    )
    source: ClassVar[SpecSource] = SpecSource(text=OU_SPEC)
    theta: jax.Array
    mu: jax.Array
    sigma: jax.Array

    def drift(self, t, y, args=None):
        p = self.constrained_params()
        return p["theta"] * (p["mu"] - y)

    def noise(self, t, y, dw, args=None):
        return self.constrained_params()["sigma"] * dw

    def initial_state(self, key, args=None):
        mu = self.constrained_params()["mu"]
        return mu + 0.1 * jax.random.normal(key, (1,))

    def observation_sample(self, key, t, y, args=None):
        return {"y": y[0] + 0.1 * jax.random.normal(key, (), y.dtype)}


class CountedOU(OU):
    """OU whose drift counts its traces."""

    info: ClassVar[ModelInfo] = OU.info

    def drift(self, t, y, args=None):
        TRACES["drift"] += 1
        return super().drift(t, y, args)


class VectorModel(_Constrained):
    """A (2, 3)-shaped state with diagonal noise, plus a hidden state."""

    info: ClassVar[ModelInfo] = _info(
        "vector",
        (("v", (2, 3), False), ("h", (1,), True)),
        (("rate", ("positive",)),),
        noise_structure="diagonal",
    )
    rate: jax.Array

    def drift(self, t, y, args=None):
        return -self.constrained_params()["rate"] * y

    def noise(self, t, y, dw, args=None):
        return 0.2 * dw

    def initial_state(self, key, args=None):
        return jnp.arange(7, dtype=jnp.result_type(float))


class Blowup(_Constrained):
    """$dx = x^2\\,dt$ from $x_0 \\sim N(0, 1)$ (plus a bounded state $z$):
    paths with $x_0 > 1/T$ reach infinity before $T$."""

    info: ClassVar[ModelInfo] = _info(
        "blowup", (("z", (), False), ("x", (), False)), (("c", ("real",)),), noise_structure="additive"
    )
    c: jax.Array

    def drift(self, t, y, args=None):
        return jnp.stack([-y[0], y[1] ** 2])

    def noise(self, t, y, dw, args=None):
        return jnp.stack([0.1 * dw[0], 0.0 * dw[1]])

    def initial_state(self, key, args=None):
        return jnp.stack([jnp.zeros(()), jax.random.normal(key, ())])


class Forced(_Constrained):
    """$dx = (u(t) - x)\\,dt + 0.01\\,dW$: follows the input $u$."""

    info: ClassVar[ModelInfo] = _info("forced", (("x", (), False),), (), inputs=(("u", ()),))

    def drift(self, t, y, args=None):
        return args["inputs"]["u"](t) - y

    def noise(self, t, y, dw, args=None):
        return 0.01 * dw

    def initial_state(self, key, args=None):
        return jnp.zeros((1,))


@pytest.fixture(scope="module")
def ou():
    return OU.make(theta=1.5, mu=0.5, sigma=0.3)


@pytest.fixture(scope="module")
def ou_run(ou):
    return simulate(ou, seed=3, paths=500, t1=1.0, dt=0.01, save=10)


# ---------------------------------------------------------------------------
# Output contract
# ---------------------------------------------------------------------------


def test_output_contract(ou_run):
    ds = ou_run
    assert set(ds.data_vars) == {"x", "y"}
    assert ds["x"].dims == ("path", "time")
    assert ds["y"].dims == ("path", "time")
    assert ds["x"].shape == (500, 11)
    assert list(ds.coords) == ["time"]
    np.testing.assert_allclose(ds["time"].values, np.linspace(0.0, 1.0, 11), rtol=0, atol=1e-12)
    attrs = ds.attrs
    for name in ("spec", "model", "solver", "dt", "t0", "t1", "seed", "paths", "calculus", "noise_structure", "dync_version"):
        assert name in attrs, name
    assert attrs["spec"] == OU_SPEC
    assert attrs["model"] == "ou"
    assert attrs["solver"] == "euler_maruyama"
    assert (attrs["dt"], attrs["t0"], attrs["t1"], attrs["seed"], attrs["paths"]) == (0.01, 0.0, 1.0, 3, 500)
    assert (attrs["calculus"], attrs["noise_structure"]) == ("ito", "additive")
    import dync

    assert attrs["dync_version"] == dync.__version__
    # netCDF-safe: strings and numbers only
    for k, v in attrs.items():
        assert isinstance(v, (str, int, float)) and not isinstance(v, bool), (k, v)
    assert json.loads(attrs["params"]) == pytest.approx({"theta": 1.5, "mu": 0.5, "sigma": 0.3}, rel=1e-6)


def test_initial_states_and_observations(ou_run):
    x0 = ou_run["x"].isel(time=0).values
    # x0 ~ N(0.5, 0.1^2) independently per path (500 paths: 5 sd of the mean is 0.022)
    assert abs(x0.mean() - 0.5) < 0.025
    assert 0.08 < x0.std() < 0.12
    assert np.unique(x0).size == x0.size
    # y ~ N(x, 0.1^2), drawn with its own key: residuals are N(0, 0.01), uncorrelated with x
    resid = (ou_run["y"] - ou_run["x"]).values.ravel()
    assert abs(resid.mean()) < 0.01 and 0.09 < resid.std() < 0.11
    assert abs(np.corrcoef(resid, ou_run["x"].values.ravel())[0, 1]) < 0.05


def test_state_shapes_and_hidden_states():
    model = VectorModel.make(rate=1.0)
    ds = simulate(model, seed=0, paths=4, t1=0.5, dt=0.1, save="final", progress=False)
    assert set(ds.data_vars) == {"v"}  # the hidden state `h` is not written
    assert ds["v"].dims == ("path", "time", "v_dim0", "v_dim1")
    assert ds["v"].shape == (4, 1, 2, 3)
    np.testing.assert_allclose(ds["time"].values, [0.5])
    assert ds.attrs["solver"] == "milstein"


def test_key_and_seed_are_equivalent_and_exclusive(ou):
    a = simulate(ou, seed=5, paths=20, t1=0.2, dt=0.01)
    b = simulate(ou, jax.random.key(5), paths=20, t1=0.2, dt=0.01)
    c = simulate(ou, 5, paths=20, t1=0.2, dt=0.01)
    np.testing.assert_array_equal(a["x"].values, b["x"].values)
    np.testing.assert_array_equal(a["x"].values, c["x"].values)
    assert b.attrs["seed"].startswith("key:")
    with pytest.raises(UsageError, match="either a key or a seed"):
        simulate(ou, jax.random.key(5), seed=5, paths=2, t1=0.2, dt=0.01)
    with pytest.raises(UsageError, match="key or a seed"):
        simulate(ou, paths=2, t1=0.2, dt=0.01)


# ---------------------------------------------------------------------------
# Reproducibility: seeds, chunks, blocks
# ---------------------------------------------------------------------------


def test_same_seed_same_numbers_different_seed_different(ou, ou_run):
    again = simulate(ou, seed=3, paths=500, t1=1.0, dt=0.01, save=10)
    np.testing.assert_array_equal(again["x"].values, ou_run["x"].values)
    np.testing.assert_array_equal(again["y"].values, ou_run["y"].values)
    other = simulate(ou, seed=4, paths=500, t1=1.0, dt=0.01, save=10)
    assert not np.any(other["x"].values[:, 1:] == ou_run["x"].values[:, 1:])


def test_chunking_does_not_change_numbers(ou, monkeypatch):
    # small blocks so that 300 paths make 5 blocks of 64 (the rule is the same at 8192)
    monkeypatch.setattr(sim_mod, "BLOCK_PATHS", 64)
    runs = [
        simulate(ou, seed=1, paths=300, t1=0.3, dt=0.01, save=5, chunk_size=c, progress=False)
        for c in (None, 64, 128)
    ]
    assert runs[0].attrs["block_size"] == 64
    for r in runs[1:]:
        np.testing.assert_array_equal(r["x"].values, runs[0]["x"].values)
        np.testing.assert_array_equal(r["y"].values, runs[0]["y"].values)
    # blocks are independent: the second block is not a copy of the first
    x = runs[0]["x"].values
    assert not np.allclose(x[:64, -1], x[64:128, -1])


def test_saving_does_not_change_paths(ou):
    every = simulate(ou, seed=2, paths=50, t1=0.5, dt=0.01, save=1)
    final = simulate(ou, seed=2, paths=50, t1=0.5, dt=0.01, save="final")
    times = simulate(ou, seed=2, paths=50, t1=0.5, dt=0.01, save=[0.1, 0.25, 0.5])
    np.testing.assert_allclose(final["x"].values[:, 0], every["x"].values[:, -1], rtol=1e-6)
    np.testing.assert_allclose(times["x"].values, every["x"].sel(time=[0.1, 0.25, 0.5], method="nearest").values, rtol=1e-6)
    np.testing.assert_allclose(times["time"].values, [0.1, 0.25, 0.5])


# ---------------------------------------------------------------------------
# Times and usage errors
# ---------------------------------------------------------------------------


def test_save_time_off_grid_is_a_usage_error(ou):
    with pytest.raises(UsageError) as err:
        simulate(ou, seed=0, paths=2, t1=1.0, dt=0.1, save=[0.5, 0.55])
    msg = str(err.value)
    assert "0.55" in msg and "grid" in msg and "dt = 0.05" in msg


def test_span_not_a_whole_number_of_steps(ou):
    with pytest.raises(UsageError, match=r"dt = 0\.25"):
        simulate(ou, seed=0, paths=2, t1=1.0, dt=0.3)


def test_diffrax_solver_saves_anywhere(ou):
    ds = simulate(ou, seed=0, paths=64, t1=1.0, dt=0.05, save=[0.123, 0.5, 0.977], solver="shark", adaptive=True)
    np.testing.assert_allclose(ds["time"].values, [0.123, 0.5, 0.977])
    assert ds.attrs["solver"] == "shark" and ds.attrs["adaptive"] == 1
    assert np.isfinite(ds["x"].values).all()


@pytest.mark.parametrize("solver, adaptive", [("euler_diffrax", False), ("heun_diffrax", True)])
def test_diffrax_saves_between_steps_are_samples_not_interpolations(solver, adaptive):
    """Brownian motion, dt = 0.5, saved at 0.1 and 0.75: Var x(t) = t. A
    save time inside a step must be a step's end (diffrax interpolates
    linearly inside a step, which gave Var 0.02 at t = 0.1). Tolerance: 5
    standard errors of a variance, 5 t sqrt(2 / 4000)."""
    bm = dync.load("bm.dync", text="model bm\nstate x = 0\ndx = dW\n")
    ds = simulate(bm, seed=5, paths=4000, t1=1.0, dt=0.5, save=[0.1, 0.5, 0.75, 1.0], solver=solver, adaptive=adaptive)
    t = ds["time"].values
    np.testing.assert_allclose(t, [0.1, 0.5, 0.75, 1.0], rtol=1e-6)
    np.testing.assert_allclose(ds["x"].var("path").values, t, atol=0, rtol=5 * np.sqrt(2 / 4000))
    if not adaptive:  # on-grid saves leave the steps (and so the numbers) as they were
        final = simulate(bm, seed=5, paths=4000, t1=1.0, dt=0.5, solver=solver)
        grid = simulate(bm, seed=5, paths=4000, t1=1.0, dt=0.5, save=[0.5, 1.0], solver=solver)
        np.testing.assert_array_equal(grid["x"].values[:, -1], final["x"].values[:, -1])


@pytest.mark.parametrize("solver, adaptive", [("shark", False), ("heun_diffrax", True)])
def test_brownian_tree_increments_between_close_save_times_are_exact(solver, adaptive):
    """Save times 0.007 apart with dt 0.1 (and 0.001 apart, adaptive): the
    Brownian tree resolves them (at its old dt / 4 both fell in one
    interval of its finest level and shared its bridge draw: increment
    variance 0.0031 instead of 0.007). Tolerance: 5 standard errors of a
    variance, 5 sqrt(2 / 4000) relative."""
    bm = dync.load("bm.dync", text="model bm\nstate x = 0\ndx = dW\n")
    save = [0.333, 0.34, 0.5, 0.501]
    ds = simulate(bm, seed=2, paths=4000, t1=1.0, dt=0.1, save=save, solver=solver, adaptive=adaptive)
    x = ds["x"].values
    gaps = np.var(x[:, [1, 3]] - x[:, [0, 2]], axis=0)
    np.testing.assert_allclose(gaps, [0.007, 0.001], rtol=5 * np.sqrt(2 / 4000))


def test_bad_arguments(ou):
    with pytest.raises(UsageError, match="paths"):
        simulate(ou, seed=0, paths=0, t1=1.0, dt=0.1)
    with pytest.raises(UsageError, match="on_nonfinite"):
        simulate(ou, seed=0, paths=2, t1=1.0, dt=0.1, on_nonfinite="ignore")
    with pytest.raises(UsageError, match="save"):
        simulate(ou, seed=0, paths=2, t1=1.0, dt=0.1, save="all")
    with pytest.raises(UsageError, match="unknown solver"):
        simulate(ou, seed=0, paths=2, t1=1.0, dt=0.1, solver="rk45")


# ---------------------------------------------------------------------------
# Parameters and sweeps
# ---------------------------------------------------------------------------


def test_params_override_equals_model_with_those_values(ou):
    a = simulate(ou, seed=7, paths=30, t1=0.5, dt=0.01, save=10, params={"theta": 3.0, "sigma": 0.1})
    b = simulate(OU.make(theta=3.0, mu=0.5, sigma=0.1), seed=7, paths=30, t1=0.5, dt=0.01, save=10)
    np.testing.assert_allclose(a["x"].values, b["x"].values, rtol=1e-5, atol=1e-6)
    assert json.loads(a.attrs["params"])["theta"] == pytest.approx(3.0)
    m = with_params(ou, {"mu": -1.0})
    assert float(m.constrained_params()["mu"]) == -1.0


def test_params_outside_constraint_or_unknown(ou):
    with pytest.raises(UsageError) as err:
        simulate(ou, seed=0, paths=2, t1=0.1, dt=0.01, params={"sigma": -0.5})
    assert "`sigma`" in str(err.value) and "positive" in str(err.value)
    with pytest.raises(UsageError) as err:
        simulate(ou, seed=0, paths=2, t1=0.1, dt=0.01, params={"thta": 1.0})
    assert "did you mean `theta`?" in str(err.value)
    with pytest.raises(UsageError, match="violates"):
        simulate(ou, seed=0, paths=2, t1=0.1, dt=0.01, sweep={"theta": [1.0, -1.0]})


def test_with_params_takes_traced_values_so_gradients_reach_a_parameter(ou):
    from dync.runtime.solvers.fused import SavePlan, solve_fixed

    y0 = jnp.ones((64, 1))
    steps, h = 50, 0.01

    def mean_final(theta):
        model = with_params(ou, {"theta": theta})
        no_noise = jnp.zeros((steps, 64, 1))
        _, ys = solve_fixed(model, "euler_maruyama", None, y0, 0.0, h, steps, SavePlan.final(), increments=no_noise)
        return ys.mean()

    # no noise: x_N = mu + (1 - mu) (1 - theta h)^N, so d x_N / d theta = -(1 - mu) N h (1 - theta h)^(N - 1)
    theta, mu = 1.5, 0.5
    exact = -(1 - mu) * steps * h * (1 - theta * h) ** (steps - 1)
    assert float(jax.grad(mean_final)(theta)) == pytest.approx(exact, rel=1e-4)
    assert float(jax.jit(mean_final)(theta)) == pytest.approx(mu + (1 - mu) * (1 - theta * h) ** steps, rel=1e-5)
    with pytest.raises(UsageError, match="shape"):
        jax.jit(lambda v: with_params(ou, {"theta": v}))(jnp.ones(3))


def test_sweep_matches_single_runs_without_retracing():
    model = CountedOU.make(theta=1.0, mu=0.0, sigma=0.5)
    kw = dict(seed=11, paths=40, t1=0.4, dt=0.02, save=5)
    first = simulate(model, sweep={"theta": [0.5]}, **kw)
    traces = TRACES["drift"]
    assert traces > 0
    values = np.array([0.5, 1.0, 2.0, 4.0])
    ds = simulate(model, sweep={"theta": values}, **kw)
    assert TRACES["drift"] == traces, "a new sweep value recompiled the simulation"
    assert ds["x"].dims == ("sweep", "path", "time")
    np.testing.assert_allclose(ds["theta"].values, values)
    assert ds["theta"].dims == ("sweep",)
    np.testing.assert_array_equal(ds["x"].values[0], first["x"].values[0])
    for j, v in enumerate(values):
        single = simulate(model, params={"theta": v}, **kw)
        # a single run compiles theta in as a constant (XLA folds it, so float32
        # rounding differs by a few ulps): rtol 1e-5 with atol 1e-6 for values near 0
        np.testing.assert_allclose(ds["x"].values[j], single["x"].values, rtol=1e-5, atol=1e-6)
    # common random numbers: larger theta pulls every path closer to mu = 0
    spread = np.abs(ds["x"].values[:, :, -1]).mean(axis=1)
    assert np.all(np.diff(spread) < 0)


def test_inputs_drive_the_model():
    model = Forced()
    ts = np.array([0.0, 1.0, 2.0])
    ds = simulate(model, seed=0, paths=8, t1=2.0, dt=0.01, inputs={"u": (ts, np.array([3.0, 3.0, 3.0]))})
    # x(2) = 3 (1 - e^{-2}) up to the small noise and the Euler error
    np.testing.assert_allclose(ds["x"].values, 3 * (1 - np.exp(-2.0)), atol=0.05)
    with pytest.raises(UsageError, match="needs input"):
        simulate(model, seed=0, paths=2, t1=1.0, dt=0.1)
    with pytest.raises(UsageError, match="did you mean `u`"):
        simulate(model, seed=0, paths=2, t1=1.0, dt=0.1, inputs={"u": lambda t: t, "uu": lambda t: t})


# ---------------------------------------------------------------------------
# Non-finite values
# ---------------------------------------------------------------------------

BLOWUP_KW = dict(seed=0, paths=200, t1=2.0, dt=0.01, save=10, progress=False)


@pytest.fixture(scope="module")
def blowup():
    return Blowup.make(c=0.0)


def test_nonfinite_raises_naming_state_time_and_paths(blowup):
    with pytest.raises(DyncRuntimeError) as err:
        simulate(blowup, **BLOWUP_KW)
    msg = str(err.value)
    assert "state `x`" in msg and "`z`" not in msg
    assert "of 200 paths" in msg and "t = " in msg and "smaller dt" in msg
    # x0 ~ N(0, 1) blows up before t = 2 when x0 > ~0.5: about 31% of paths
    count = int(msg.split(" in ")[1].split(" of ")[0])
    assert 30 < count < 100
    t_bad = float(msg.split("t = ")[1].split(" ")[0])
    assert 0.0 < t_bad <= 2.0


def test_nonfinite_warn_and_keep(blowup):
    with pytest.warns(RuntimeWarning, match="state `x` became"):
        ds = simulate(blowup, on_nonfinite="warn", **BLOWUP_KW)
    assert "state `x`" in ds.attrs["nonfinite"]
    assert not np.isfinite(ds["x"].values).all() and np.isfinite(ds["z"].values).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = simulate(blowup, on_nonfinite="keep", **BLOWUP_KW)
    assert "nonfinite" in kept.attrs
    np.testing.assert_array_equal(kept["x"].values, ds["x"].values)


def test_finite_run_has_no_nonfinite_attr(ou_run):
    assert "nonfinite" not in ou_run.attrs


# ---------------------------------------------------------------------------
# Layout and progress helpers
# ---------------------------------------------------------------------------


def test_layout_rules():
    # 10^7 scalar paths saved at the end: 8192-path blocks, 2^18-path chunks
    lay = sim_mod._layout(10**7, 4, None, 1)
    assert lay.block_size == 8192 and lay.blocks_per_chunk == 32
    assert lay.n_blocks * lay.block_size >= 10**7 and lay.n_chunks == -(-lay.n_blocks // 32)
    # big per-path output: blocks shrink to fit 64 MiB, chunks to 256 MiB
    lay = sim_mod._layout(10**6, 10**6, None, 1)
    assert lay.block_size * 10**6 <= sim_mod.BLOCK_BYTES
    assert lay.blocks_per_chunk * lay.block_size * 10**6 <= sim_mod.CHUNK_BYTES
    # the device count never changes the block size; chunks are whole multiples of it
    for d in (1, 2, 3, 8):
        lay = sim_mod._layout(100_000, 40, 50_000, d)
        assert lay.block_size == 7696 and lay.blocks_per_chunk % d == 0  # 13 blocks, ceil(100000/13) -> x8
    # few paths: one block of exactly that many paths
    assert sim_mod._layout(10, 4, None, 2).block_size == 10
    # 10,000 paths: two blocks of 5,000 (no padded paths); 1,000: two of 504 (two devices share it)
    assert sim_mod._layout(10_000, 4, None, 1).block_size == 5000
    assert sim_mod._layout(1000, 4, None, 1).block_size == 504


def test_progress_bar_over_chunks(ou, monkeypatch, capsys):
    from dync.runtime import progress as prog

    assert prog.show_progress(True, 3) and not prog.show_progress(True, 1) and not prog.show_progress(False, 3)
    monkeypatch.setattr(sim_mod, "BLOCK_PATHS", 32)
    ds = simulate(ou, seed=0, paths=100, t1=0.1, dt=0.01, chunk_size=32, progress=True)
    assert ds["x"].shape == (100, 1)
    assert "simulating ou" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# A simulated GPU: the accelerator layout (whole-chunk groups, chunks kept on
# the device) and loop structure (increments drawn inside each step), run on CPU
# ---------------------------------------------------------------------------

SIMULATED_GPU = DeviceDescription("gpu", "simulated", 2**30, 4, 1)


@pytest.fixture
def as_gpu(monkeypatch):
    """``simulate`` sees a GPU description and the fused solver the GPU loop."""
    from dync.runtime.solvers import fused

    monkeypatch.setattr(sim_mod, "describe_devices", lambda devices: SIMULATED_GPU)
    monkeypatch.setattr(fused, "_in_step_unroll", lambda: 4)
    jax.clear_caches()  # the loop structure is read when tracing
    yield
    jax.clear_caches()


def _runs(model, **kw):
    return [simulate(model, seed=5, paths=300, t1=0.3, dt=0.01, progress=False, chunk_size=c, **kw) for c in (None, 64)]


@pytest.mark.parametrize(
    ("save", "unroll", "pairs"),
    [("final", 0, False), (5, 0, False), ([0.05, 0.3], 0, False), ("final", 4, False), (5, 4, False),
     ([0.05, 0.3], 4, False), ("final", 4, True), (5, 4, True)],
)  # fmt: skip
def test_gpu_layout_and_loop_give_the_cpu_numbers(ou, monkeypatch, save, unroll, pairs):
    monkeypatch.setattr(sim_mod, "BLOCK_PATHS", 64)
    cpu = _runs(ou, save=save)
    monkeypatch.setattr(sim_mod, "describe_devices", lambda devices: SIMULATED_GPU)
    from dync.runtime.solvers import fused

    monkeypatch.setattr(fused, "_in_step_unroll", lambda: unroll)
    monkeypatch.setattr(fused, "_paired_draws", lambda: pairs)
    jax.clear_caches()
    try:
        gpu = _runs(ou, save=save)
    finally:
        jax.clear_caches()
    for run in cpu[1:] + gpu:
        assert run.attrs["block_size"] == 64
        if unroll == 0:  # the accelerator layout alone (whole-chunk groups, chunks kept): bit for bit
            np.testing.assert_array_equal(run["x"].values, cpu[0]["x"].values)
            np.testing.assert_array_equal(run["y"].values, cpu[0]["y"].values)
        else:
            # the same increments; float32 steps fused otherwise may round differently (1 ulp seen)
            np.testing.assert_allclose(run["x"].values, cpu[0]["x"].values, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(run["y"].values, cpu[0]["y"].values, rtol=1e-6, atol=1e-7)
    for a, b in ((cpu[0], cpu[1]), (gpu[0], gpu[1])):  # chunking alone: bit for bit
        np.testing.assert_array_equal(a["x"].values, b["x"].values)
        np.testing.assert_array_equal(a["y"].values, b["y"].values)


def test_gpu_layout_keeps_chunks_and_still_reports_nonfinite(blowup, as_gpu):
    with pytest.raises(DyncRuntimeError, match=r"state `x` became .* \(chunk \d of \d"):
        simulate(blowup, chunk_size=64, **{**BLOWUP_KW, "paths": 600})
    with pytest.warns(RuntimeWarning, match="state `x` became"):
        ds = simulate(blowup, on_nonfinite="warn", **BLOWUP_KW)
    assert "nonfinite" in ds.attrs and ds["x"].shape == (200, 21)


def test_gpu_layout_sweeps(as_gpu):
    model = OU.make(theta=1.0, mu=0.0, sigma=0.5)
    ds = simulate(model, seed=0, paths=50, t1=0.1, dt=0.01, sweep={"theta": [0.5, 2.0]}, progress=False)
    assert ds["x"].shape == (2, 50, 1)
    one = simulate(with_params(model, {"theta": 2.0}), seed=0, paths=50, t1=0.1, dt=0.01, progress=False)
    np.testing.assert_array_equal(ds["x"].values[1], one["x"].values)


def test_k_scalar_sweep_values_fill_a_vector_parameter():
    """`--sweep theta=1:3:3` on `param theta[2]` failed ("must have shape
    (k,) + (2,), got (1, 3)"); each value now fills the vector, as `--set`."""
    info = ModelInfo(name="v", calculus="ito", noise_structure="none", states=(), state_size=0, noises=(),
                     noise_size=0, params=(ParamInfo("theta", (2,), from_tuple(("positive",))),))  # fmt: skip
    out = sim_mod._check_sweep(info, {"theta": [1.0, 2.0, 3.0]}, None)
    np.testing.assert_array_equal(out["theta"], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    with pytest.raises(UsageError, match=r"must have shape \(k,\) \+ \(2,\)"):
        sim_mod._check_sweep(info, {"theta": np.ones((3, 4))}, None)


def test_wrong_argument_types_are_usage_errors_not_python_errors(ou):
    """dt=None, solver=None and params=[...] raised TypeError/AttributeError
    from deep inside; with_params on a path raised AttributeError."""
    for kwargs, message in [
        ({"dt": None}, "dt must be a number"),
        ({"solver": None}, "solver must be a name"),
        ({"params": [1, 2]}, "params must be a mapping"),
        ({"adaptive": True, "rtol": -1.0}, "rtol=-1.0: the tolerance must be a positive"),
        ({"max_steps": 5}, r"max_steps=5 is below the 10 steps"),  # the fused solvers ignored it
    ]:
        base = {"paths": 2, "t1": 0.1, "dt": 0.01, **kwargs}
        with pytest.raises(UsageError, match=message):
            simulate(ou, seed=0, **base)
    with pytest.raises(UsageError, match="with_params needs a compiled dync model, got str"):
        with_params("ou.dync", {"theta": 3.0})
