"""``minor_batched`` gives the numbers of ``jax.vmap`` over a trailing path axis.

Checked on every spec in the repository (drift and noise, and with no
equation left to the ``vmap`` fallback), on random valid specs, and on each
structural rule with the argument patterns it distinguishes.
"""

from __future__ import annotations

import collections
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dync.runtime import batching
from dync.runtime.batching import minor_batched
from dync.testing.strategies import valid_specs

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("specs/*.dync"), *ROOT.glob("benchmarks/specs/*.dync")])
P = 5


@pytest.fixture
def fallbacks(monkeypatch):
    """Counts the equations left to ``jax.vmap``, by primitive name."""
    seen = collections.Counter()
    original = batching._fallback

    def spy(eqn, ins):
        seen[eqn.primitive.name] += 1
        return original(eqn, ins)

    monkeypatch.setattr(batching, "_fallback", spy)
    return seen


def assert_same_as_vmap(fn, args, batched, rtol=1e-5, atol=1e-6):
    axes = tuple(-1 if b else None for b in batched)
    expected = jax.jit(jax.vmap(fn, in_axes=axes, out_axes=-1))(*args)
    got = jax.jit(minor_batched(fn, batched))(*args)
    for e, g in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
        assert g.shape == e.shape and g.dtype == e.dtype
        # same operations, possibly another summation order
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=rtol, atol=atol)


def _model_inputs(model, seed=0):
    n, m = model.info.state_size, model.info.noise_size
    k1, k2 = jax.random.split(jax.random.key(seed))
    y = jax.random.uniform(k1, (n, P), minval=0.2, maxval=1.2)
    dw = jax.random.normal(k2, (m, P))
    return jnp.asarray(0.3), y, dw


@pytest.mark.parametrize("relpath", SPECS)
def test_every_spec_drift_and_noise_match_vmap_without_fallback(spec_model, relpath, fallbacks):
    model = spec_model(relpath)
    t, y, dw = _model_inputs(model)
    assert_same_as_vmap(lambda t, y: model.drift(t, y), (t, y), (False, True))
    if model.info.noise_size:
        assert_same_as_vmap(lambda t, y, w: model.noise(t, y, w), (t, y, dw), (False, True, True))
    assert not fallbacks, dict(fallbacks)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_specs(max_states=2), st.integers(0, 2**31 - 1))
def test_random_valid_specs_match_vmap(spec, seed):
    import dync

    text, _ = spec
    model = dync.load("x.dync", jax.random.key(seed), text=text)
    t, y, dw = _model_inputs(model, seed % 1000)
    y = y * 2.0 - 1.4  # within [-1, 1], where the strategy keeps every function defined
    assert_same_as_vmap(lambda t, y: model.drift(t, y), (t, y), (False, True), rtol=1e-4, atol=1e-5)
    if model.info.noise_size:
        assert_same_as_vmap(
            lambda t, y, w: model.noise(t, y, w), (t, y, dw), (False, True, True), rtol=1e-4, atol=1e-5
        )


X = jax.random.normal(jax.random.key(1), (3, 4, P))
V = jax.random.normal(jax.random.key(2), (4, P))
A = jax.random.normal(jax.random.key(3), (4, 4))


@pytest.mark.parametrize(
    "name, arg, fn",
    [
        ("matrix @ batched vector", V, lambda v: A @ v),
        ("batched vector @ matrix", V, lambda v: v @ A),
        ("batched matrix @ matrix", X, lambda x: x @ A),
        ("inner product of batched vectors", V, lambda v: jnp.dot(v, v * 2.0)),
        ("outer product", V, lambda v: jnp.outer(v, v)),
        ("batched matrix @ batched matrix", X, lambda x: jnp.einsum("ij,kj->ik", x, x)),
        ("reductions", X, lambda x: (x.sum(0), x.max(1), x.min(), jnp.prod(x, axis=0), jnp.argmax(x, axis=1))),
        ("cumulative", X, lambda x: (jnp.cumsum(x, axis=1), jnp.cumprod(x, axis=0))),
        ("reshape and transpose", X, lambda x: (x.reshape(12), x.T, x.reshape(2, 6)[:, ::2])),
        ("slices, reverse, pad", X, lambda x: (x[1:, ::-1], jnp.pad(x, ((1, 0), (0, 2))), x[..., None].squeeze(-1))),
        ("concatenate with constants", V, lambda v: jnp.concatenate([v, jnp.ones(2), v[:1]])),
        ("roll and where", V, lambda v: jnp.where(v > 0, jnp.roll(v, 1), jnp.zeros(4))),
        ("broadcast against a constant matrix", V, lambda v: v[:, None] * A + jnp.arange(4.0)),
        ("split", V, lambda v: jnp.split(v, 2)),
        ("dynamic slice and update at fixed offsets", V, lambda v: jax.lax.dynamic_update_slice(v, v[:2] * 3, (1,))),
        ("custom derivatives", V, lambda v: (jax.nn.softplus(v), jax.nn.logsumexp(v), jax.nn.sigmoid(v))),
        ("gradients", V, lambda v: jax.grad(lambda u: jnp.sum(jnp.cos(u - jnp.roll(u, 1))) + u @ A @ u)(v)),
        ("indexing with an integer array", V, lambda v: v[jnp.array([3, 0, 0])]),
        ("scatter", V, lambda v: v.at[jnp.array([1, 2])].add(1.0)),
        ("loops", V, lambda v: jax.lax.fori_loop(0, 3, lambda i, u: u * 0.5 + jnp.sin(u), v)),
        ("sort", V, lambda v: jnp.sort(v)),
        ("nested jit", V, lambda v: jax.jit(lambda u: u * u + 1.0)(v)),
        ("scalar to vector", V, lambda v: jnp.full((3,), v[0])),
        ("integer and boolean values", V, lambda v: ((v > 0).astype(jnp.int32) * 2, jnp.floor(v).astype(jnp.int32))),
    ],
)
def test_rules_match_vmap(name, arg, fn):
    assert_same_as_vmap(fn, (arg,), (True,))


def test_unbatched_arguments_and_outputs():
    def fn(t, v, c):
        return t * v + c, jnp.ones(2) * t  # the second output does not depend on the paths

    out, const = minor_batched(fn, (False, True, False))(jnp.asarray(2.0), V, jnp.arange(4.0))
    np.testing.assert_allclose(np.asarray(out), np.asarray(2.0 * V + jnp.arange(4.0)[:, None]), rtol=1e-6)
    assert const.shape == (2, P)
    np.testing.assert_array_equal(np.asarray(const), 2.0)


def test_batched_arguments_must_share_the_path_axis():
    with pytest.raises(ValueError, match="share their last axis"):
        minor_batched(lambda a, b: a + b, (True, True))(jnp.ones((2, 3)), jnp.ones((2, 4)))


def test_solver_falls_back_to_vmap_when_the_evaluator_fails(spec_model, monkeypatch):
    from dync.runtime.solvers import fused

    model = spec_model("specs/van_der_pol.dync")
    y0 = jnp.ones((24, model.info.state_size))

    def run():
        with jax.disable_jit():  # traced afresh each time (no compilation cache)
            return fused.solve_fixed(model, "euler_maruyama", jax.random.key(2), y0, 0.0, 0.01, 3, fused.SavePlan.final())[1]

    def broken(fn, flags):
        raise RuntimeError("no rule")

    expected = run()
    monkeypatch.setattr(fused, "minor_batched", broken)
    got = run()
    # the fallback (vmap) and the evaluator compute the same numbers
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-6)
    assert np.isfinite(np.asarray(got)).all()
