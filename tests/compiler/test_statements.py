"""Language 1.1 through the whole compiler: `target`, `score`, `expect` and
`state x ~ data` give the methods and the ModelInfo fields the runtime reads,
with numbers checked against hand-written formulas."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.compiler.driver import check_ast, compile_file, read_spec
from dync.compiler.summary import check_file
from dync.info.model import SAMPLERS, ExpectInfo

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def _load(text: str, key=None, name: str = "m.dync"):
    return dync.load(name, key, text=text)


# ------------------------------------------------------------------ target


def banana_log_density(q, b=0.1):
    return -(q[0] ** 2 / 2 + (q[1] - b * q[0] ** 2) ** 2 / 2)


@pytest.mark.parametrize("path", ["banana.dync", "banana.yaml"])
def test_banana_target_equals_the_hand_written_log_density_and_gradient(path):
    model = dync.load(SPECS / path)
    for q in ([0.0, 0.0], [0.7, -1.3], [-2.0, 0.4]):
        y = jnp.asarray(q)
        # float32 arithmetic, the same operations: a few ulps apart at most
        np.testing.assert_allclose(model.target_log_density(y), banana_log_density(y), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            jax.grad(model.target_log_density)(y), jax.grad(banana_log_density)(y), rtol=1e-5, atol=1e-6
        )
    assert model.target_log_density(jnp.zeros(2)).shape == ()


def test_the_target_is_differentiable_in_the_parameters():
    model = dync.load(SPECS / "banana.dync")
    y = jnp.asarray([1.5, 0.5])

    def in_b(model):
        return model.target_log_density(y)

    grads = jax.grad(in_b, allow_int=True)(model)
    # d/db of -(q1 - b q0^2)^2 / 2 = (q1 - b q0^2) q0^2
    q0, q1, b = 1.5, 0.5, 0.1
    np.testing.assert_allclose(grads.b, (q1 - b * q0**2) * q0**2, rtol=1e-5)


def test_target_info_and_samplers():
    info = dync.load(SPECS / "banana.dync").info
    assert info.target == "-U"
    assert not info.has_dynamics
    assert info.samplers == SAMPLERS
    with_dynamics = _load(
        "model m\nparam T = 1.0 : positive\nstate x = 0\nlet U = x^2 / 2\ntarget -U / T\n"
        "dx = -grad(U, x) dt + sqrt(2 * T) dW\n"
    ).info
    assert with_dynamics.target == "-U / T"
    assert with_dynamics.samplers == SAMPLERS + ("dynamics",)
    assert dync.load(SPECS / "ou.dync").info.samplers == ()


def test_a_target_may_leave_some_states_without_equations():
    info = _load("model m\nstate x = 0\nstate v = 0\ndv = -v dt + dW\ntarget -x^2 - v^2\n").info
    assert not info.has_dynamics and info.samplers == SAMPLERS


# ------------------------------------------------------------------ expect


def test_ou_expected_mean_and_variance_are_the_closed_forms():
    model = dync.load(SPECS / "ou_tested.dync")
    theta, mu, sigma, x0 = 1.0, 0.5, 0.5, 2.0
    for t in (0.0, 0.3, 1.0, 4.0):
        mean = mu + (x0 - mu) * np.exp(-theta * t)
        var = sigma**2 / (2 * theta) * (1 - np.exp(-2 * theta * t))
        np.testing.assert_allclose(model.expectation_rhs(0, t), mean, rtol=1e-6)
        np.testing.assert_allclose(model.expectation_rhs(1, t), var, rtol=1e-6, atol=1e-7)
    law = model.stationary_law(2)
    np.testing.assert_allclose(law.mean(), mu, rtol=1e-6)
    np.testing.assert_allclose(law.log_prob(0.5), -0.5 * np.log(2 * np.pi * sigma**2 / (2 * theta)), rtol=1e-5)


def test_expectation_values_and_their_errors():
    model = _load(
        "model m\nstate x[2] = 1\ndx = -x dt + dW\nexpect always x > -1 and t >= 0\n"
        "expect mean(sum(x)) = 2 * exp(-t)\nexpect stationary x ~ Normal(0, sqrt(0.5))\n"
    )
    y = jnp.asarray([0.5, -2.0])
    np.testing.assert_array_equal(model.expectation_values(0, 0.0, y), [True, False])
    np.testing.assert_allclose(model.expectation_values(1, 0.0, y), -1.5)
    np.testing.assert_allclose(model.expectation_values(2, 0.0, y), y)
    assert model.expectation_rhs(1, 0.0).shape == ()
    with pytest.raises(ValueError, match="index 0 to 2"):
        model.expectation_values(3, 0.0, y)
    with pytest.raises(ValueError, match="right side"):
        model.expectation_rhs(0, 0.0)
    with pytest.raises(ValueError, match="law"):
        model.stationary_law(1)
    kinds = [(e.kind, e.lhs, e.rhs, e.line) for e in model.info.expectations]
    assert kinds == [
        ("always", "x > -1 and t >= 0", "", 4),
        ("mean", "sum(x)", "2 * exp(-t)", 5),
        ("stationary", "x", "Normal(0, sqrt(0.5))", 6),
    ]
    assert model.info.expectations[2] == ExpectInfo(
        "stationary", "x", "Normal(0, sqrt(0.5))", 6, 1, state="x", distribution="Normal", shape=(2,)
    )


def test_text_and_yaml_give_the_same_expectations():
    text = dync.load(SPECS / "ou_tested.dync").info.expectations
    yaml = dync.load(SPECS / "ou_tested.yaml").info.expectations
    assert [(e.kind, e.lhs, e.rhs) for e in text] == [(e.kind, e.lhs, e.rhs) for e in yaml]
    assert [e.line for e in yaml] == [17, 18, 19]


# ------------------------------------------------------------------ score and data


def test_score_net_has_the_state_shape_and_zeros_elsewhere():
    model = dync.load(SPECS / "vp_sde_score.dync", jax.random.key(0))
    assert model.info.score_state == "x" and model.info.score == "s(x, t)"
    assert model.info.data_states == ("x",)
    out = model.score(0.5, jnp.ones(2))
    assert out.shape == (2,) and bool(jnp.all(jnp.isfinite(out)))
    two = _load("model m\nstate x[2] ~ data\nstate v = 0\ndx = -x dt + dW\ndv = -v dt\nscore x = -x * exp(t)\n")
    np.testing.assert_allclose(two.score(0.0, jnp.asarray([1.0, 2.0, 3.0])), [-1.0, -2.0, 0.0])


def test_a_data_state_draws_its_initial_value_from_the_data():
    model = dync.load(SPECS / "vp_sde_score.dync", jax.random.key(0))
    samples = np.arange(12.0).reshape(6, 2)
    y0 = model.initial_state(jax.random.key(1), {"data": {"x": samples}})
    assert any(np.array_equal(np.asarray(y0), row) for row in samples)
    mean, std = model.initial_moments({"data": {"x": samples}})
    np.testing.assert_allclose(mean, samples.mean(0))
    np.testing.assert_allclose(std, samples.std(0), rtol=1e-6)
    with pytest.raises(ValueError, match="data set"):
        model.initial_state(jax.random.key(1))


# ------------------------------------------------------------------ dync check


def test_check_prints_target_score_expectations_and_data():
    banana = check_file(SPECS / "banana.dync").to_text()
    assert "target      -U   (samplers: ula, mala, baoab, hmc, nuts)" in banana
    assert "solver      none" in banana
    ou = check_file(SPECS / "ou_tested.dync").to_text()
    assert "expect      mean(x) = mu + (x0 - mu) * exp(-theta * t)   (line 11)" in ou
    assert "expect      stationary x ~ Normal(mu, sigma / sqrt(2 * theta))   (line 13)" in ou
    vp = check_file(SPECS / "vp_sde_score.dync").to_text()
    assert "score       x = s(x, t)" in vp
    assert "x[2] ~ data: the initial law is a data set, so simulating needs samples of it" in vp
    js = check_file(SPECS / "banana.dync").to_json()
    assert js["target"] == "-U" and js["samplers"] == list(SAMPLERS) and js["expectations"] == []


def test_without_a_target_a_state_still_needs_an_equation():
    from dync.errors import SpecErrors

    with pytest.raises(SpecErrors, match="has no equation"):
        check_ast(read_spec("m.dync", "model m\nstate x = 0\nexpect always x == 0\n"))


def test_a_net_takes_several_arguments_concatenated():
    model = _load(
        "model m\nnet f = mlp(in = 4, out = 1, width = 8, depth = 1)\nstate z[2] = 0\nparam a = 1.0\n"
        "dz = -z * f(z, t, a)[0] dt\n",
        jax.random.key(0),
    )
    assert model.drift(0.5, jnp.ones(2)).shape == (2,)


def test_generated_code_for_the_new_statements_is_deterministic():
    for name in ("banana.dync", "ou_tested.yaml", "vp_sde_score.dync"):
        assert compile_file(SPECS / name).source == compile_file(SPECS / name).source


def test_a_scalar_state_scored_by_a_one_output_net_is_told_to_take_its_element():
    from dync.errors import SpecErrors

    text = (
        "model v\nnet s = mlp(in = 2, out = 1, width = 8, depth = 1)\nstate z ~ data\n"
        "dz = sqrt(2 * t) dW\nscore z = s(z, t)\n"
    )
    with pytest.raises(SpecErrors) as e:
        check_ast(read_spec("v.dync", text))
    (err,) = e.value.errors
    assert "shape (1,)" in str(err) and "s(z, t)" not in (err.hint or "") and "...[0]" in (err.hint or "")
    check_ast(read_spec("v.dync", text.replace("s(z, t)\n", "s(z, t)[0]\n")))  # the fix it names checks
