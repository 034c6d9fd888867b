"""Tests for dync.runtime.params: the constrained and unconstrained views of a
compiled model's parameters."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dync.errors import UsageError
from dync.runtime.params import (
    constrain,
    learnable_filter,
    unconstrain,
    unconstrained_params,
    with_params,
    with_unconstrained_params,
)


@pytest.fixture(scope="module")
def ou(spec_model):
    return spec_model("specs/ou.dync")


@pytest.fixture(scope="module")
def oscillators(spec_model):
    return spec_model("specs/langevin_oscillators.dync")


def test_unconstrained_params_are_the_leaves_in_declaration_order(ou):
    u = unconstrained_params(ou)
    assert list(u) == ["theta", "mu", "sigma"]
    # theta = 1 and sigma = 0.5 are positive: stored as their logs
    np.testing.assert_allclose([u["theta"], u["mu"], u["sigma"]], [0.0, 0.0, np.log(0.5)], atol=1e-7)


def test_constrain_and_unconstrain_round_trip(ou):
    user = {"theta": 2.5, "mu": -0.75, "sigma": 0.3}
    u = unconstrain(ou, user)
    np.testing.assert_allclose(u["theta"], np.log(2.5), rtol=1e-6)
    np.testing.assert_allclose(u["mu"], -0.75, rtol=1e-6)
    back = constrain(ou, u)
    for name, value in user.items():
        np.testing.assert_allclose(back[name], value, rtol=1e-6)
    # and the other way round, from arbitrary unconstrained values
    u2 = {"theta": jnp.asarray(-3.0), "mu": jnp.asarray(4.0), "sigma": jnp.asarray(1.2)}
    again = unconstrain(ou, constrain(ou, u2))
    for name in u2:
        np.testing.assert_allclose(again[name], u2[name], rtol=1e-5)


def test_with_unconstrained_params_agrees_with_with_params(ou):
    user = {"theta": 2.5, "sigma": 0.3}
    a = with_unconstrained_params(ou, unconstrain(ou, user)).constrained_params()
    b = with_params(ou, user).constrained_params()
    for name in ("theta", "mu", "sigma"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6)
    assert jax.tree_util.tree_structure(with_unconstrained_params(ou, {"mu": 1.0})) == jax.tree_util.tree_structure(ou)


def test_with_unconstrained_params_under_jit_grad_and_vmap(ou):
    def theta_of(u):
        return with_unconstrained_params(ou, {"theta": u}).constrained_params()["theta"]

    # theta = exp(u): the derivative is exp(u)
    u = jnp.asarray(0.7)
    np.testing.assert_allclose(jax.jit(theta_of)(u), np.exp(0.7), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(theta_of)(u), np.exp(0.7), rtol=1e-6)
    us = jnp.asarray([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(jax.vmap(theta_of)(us), np.exp([-1.0, 0.0, 1.0]), rtol=1e-6)
    # the gradient of the log prior through the whole position
    grads = jax.grad(lambda pos: with_unconstrained_params(ou, pos).log_prior())(unconstrained_params(ou))
    assert set(grads) == {"theta", "mu", "sigma"}
    np.testing.assert_allclose(grads["sigma"], 1.0, rtol=1e-6)  # log-Jacobian of exp is u


def test_fixed_consts_are_not_part_of_the_position(oscillators):
    u = unconstrained_params(oscillators)
    assert "T" not in u and set(u) == {"gamma", "omega", "kappa", "C", "b"}
    assert u["C"].shape == (50, 8)
    with pytest.raises(UsageError, match="`T` .* is a constant"):
        with_unconstrained_params(oscillators, {"T": jnp.asarray(1.0)})
    with pytest.raises(UsageError, match="constant"):
        unconstrain(oscillators, {"T": 1.0})
    learn, rest = eqx.partition(oscillators, learnable_filter(oscillators))
    assert learn.T is None and rest.T is not None
    assert learn.C is not None and rest.C is None


def test_learnable_filter_with_and_without_nets(spec_model):
    model = spec_model("specs/neural_langevin.dync")
    with_nets, _ = eqx.partition(model, learnable_filter(model, nets=True))
    without, _ = eqx.partition(model, learnable_filter(model, nets=False))
    weights = jax.tree_util.tree_leaves(with_nets.f)
    assert len(weights) == 6 and all(eqx.is_inexact_array(w) for w in weights)  # 3 layers, weight + bias
    assert jax.tree_util.tree_leaves(without.f) == []
    assert without.s is not None and with_nets.s is not None


def test_unknown_name_gets_a_did_you_mean(ou):
    with pytest.raises(UsageError) as err:
        with_unconstrained_params(ou, {"thta": 1.0})
    assert "no parameter `thta`" in err.value.message and err.value.hint == "did you mean `theta`?"
    with pytest.raises(UsageError) as err:
        constrain(ou, {"sigm": 1.0})
    assert err.value.hint == "did you mean `sigma`?"


def test_bad_shape_and_value_outside_constraint(ou):
    with pytest.raises(UsageError, match=r"shape \(\), got a value of shape \(2,\)"):
        with_unconstrained_params(ou, {"theta": jnp.ones(2)})
    with pytest.raises(UsageError, match="violates its constraint: it must be positive"):
        unconstrain(ou, {"sigma": -0.5})
    with pytest.raises(UsageError, match="violates"):
        unconstrain(ou, {"mu": np.inf})


# --------------------------------------------- parameters read when the spec compiles

#: `k` is an index: the compiled code reads x[1] whatever the model's field `k` holds
_INDEXED = "model m\nparam k = 1\nparam a = 1 : positive\nstate x[3] = 1\ndx = -a * x dt + 0.1 * x[k] dW\n"


@pytest.fixture(scope="module")
def indexed():
    import dync

    return dync.load("m.dync", text=_INDEXED)


def test_the_model_records_what_reads_a_parameter_when_the_spec_compiles(indexed):
    assert indexed.info.param("k").compile_time == "an index or a size (line 5)"
    assert indexed.info.param("a").compile_time == ""


def test_a_parameter_read_when_the_spec_compiles_is_no_part_of_a_position(indexed):
    """Its gradient is zero and its value never reaches the compiled code:
    optimisers, samplers and the gradient check leave it out."""
    assert list(unconstrained_params(indexed)) == ["a"]
    assert list(constrain(indexed, unconstrained_params(indexed))) == ["a"]
    with pytest.raises(UsageError, match=r"parameter `k` is read as an index or a size \(line 5\)"):
        constrain(indexed, {"k": 0.0})


def test_with_params_refuses_a_value_the_compiled_model_would_ignore(indexed):
    """`dync.with_params(model, {"k": 2})` returned a model that still read
    x[1]; now it is refused. Its own value is accepted (a no-op)."""
    with pytest.raises(UsageError) as err:
        with_params(indexed, {"k": 2})
    assert err.value.message == (
        "params: parameter `k` is read as an index or a size (line 5) when the spec compiles, so model `m` keeps "
        "its value 1: the value given (2) would be ignored"
    )
    assert "change it in the spec" in err.value.hint
    same = with_params(indexed, {"k": 1.0, "a": 2.0})
    assert float(same.constrained_params()["a"]) == pytest.approx(2.0)
    with pytest.raises(UsageError, match="parameter `k` is read as"):
        jax.grad(lambda v: with_params(indexed, {"k": v}).constrained_params()["a"])(1.0)


def test_a_fit_must_hold_it_at_its_value(indexed):
    import dync
    from dync.runtime.params import hold_fixed

    with pytest.raises(UsageError) as err:
        hold_fixed(indexed, None, "estimate")
    assert "it cannot be fitted, sampled or varied" in err.value.message
    assert err.value.hint == 'declare it `const k = 1`, or hold it at 1 (`--fix k=1`; in Python `fix={"k": 1}`)'
    with pytest.raises(UsageError, match=r"fix: parameter `k` .* the value given \(0\) would be ignored"):
        hold_fixed(indexed, {"k": 0}, "estimate")
    split = hold_fixed(indexed, {"k": 1}, "estimate")
    assert list(split.free) == ["a"] and split.held == {}
    only_k = dync.load("m.dync", text=_INDEXED.replace("param a = 1 : positive", "const a = 1"))
    with pytest.raises(UsageError, match=r"model `m` has no parameter to estimate: `k` is read when the spec compiles"):
        hold_fixed(only_k, {"k": 1}, "estimate")


def test_a_sweep_of_it_is_refused(indexed):
    import dync

    with pytest.raises(UsageError, match=r"sweep: parameter `k` is read as an index or a size \(line 5\)"):
        dync.simulate(indexed, seed=0, paths=2, t1=0.2, dt=0.1, sweep={"k": [0, 1]})
    with pytest.raises(UsageError, match=r"params: parameter `k`"):
        dync.simulate(indexed, seed=0, paths=2, t1=0.2, dt=0.1, params={"k": 2})


def test_every_kind_of_compile_time_read_is_recorded_in_the_compiled_model():
    """The description goes into the generated module (a backtick is inert
    in its string): a library call's static argument, a network's size and a
    constraint's bound, as well as an index."""
    import dync

    model = dync.load(
        "m.dync",
        jax.random.key(0),
        text="model m\nparam s = 1\nparam n = 2\nparam w = 4\nparam lo = 0.5\nparam a = 1 : lower(lo)\n"
        "net f = mlp(in = 1, out = 1, width = w, depth = 1, activation = tanh)\nstate x[3] = 1\n"
        "let z = zeros(n)\ndx = -a * roll(x, s) dt + (f(x[0:1])[0] + sum(z)) dW\n",
    )
    assert {p.name: p.compile_time for p in model.info.params} == {
        "s": "the `shift` of `roll` (line 10)",
        "n": "a size of `zeros` (line 9)",
        "w": "the `width` of network `f` (line 7)",
        "lo": "a bound of the constraint of `a` (line 6)",
        "a": "",
    }
    assert list(unconstrained_params(model)) == ["a"]


def test_a_sweep_of_it_at_its_own_value_runs(indexed):
    """Sweeping `k` (read as an index) over its compiled value alone changes
    nothing, so it runs (was refused like any sweep of it), path for path
    the run without the sweep."""
    import dync

    swept = dync.simulate(indexed, seed=0, paths=2, t1=0.2, dt=0.1, sweep={"k": [1.0, 1.0]})
    plain = dync.simulate(indexed, seed=0, paths=2, t1=0.2, dt=0.1)
    assert swept.sizes["sweep"] == 2 and list(swept["k"].values) == [1.0, 1.0]
    np.testing.assert_array_equal(swept["x"].values[0], plain["x"].values)  # same seed, same model
    with pytest.raises(UsageError, match=r"sweep: parameter `k` .* the value given \(\[1\.0, 2\.0\]\) would be ignored"):
        dync.simulate(indexed, seed=0, paths=2, t1=0.2, dt=0.1, sweep={"k": [1.0, 2.0]})
