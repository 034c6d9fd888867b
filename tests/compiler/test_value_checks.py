"""Values known at compile time that a model cannot run with (a tester's
report): a reversed `Uniform`, law arguments outside what the law allows, a
parameter outside its prior's support, an initial value that is not finite
or that float32 cannot hold, a boolean `target`, a negative or state-free
`expect`. Each is refused (or warned) at its place; the look-alikes that are
fine stay silent. The golden cases 188-199 in tests/golden/errors pin the
rendering."""

from __future__ import annotations

import pytest

from dync.compiler.driver import check_ast, read_spec
from dync.compiler.pedantic import pedantic_warnings
from dync.errors import FLOAT32_RANGE, SpecErrors

OU = "state x = 0\ndx = -x dt + dW\n"


def _errors(text: str, path: str = "m.dync") -> list[tuple[str, str]]:
    with pytest.raises(SpecErrors) as info:
        check_ast(read_spec(path, text))
    return [(e.code, e.message) for e in info.value.errors]


def _passes(text: str, path: str = "m.dync"):
    return check_ast(read_spec(path, text))


# ---- 1. laws with constant arguments they do not allow -----------------------


@pytest.mark.parametrize(
    "text",
    [
        "model m\nstate x ~ Uniform(1, 0)\ndx = -x dt + dW\n",
        "model m\nparam a = 0.5 ~ Uniform(1, 0)\n" + OU,
        "model m\n" + OU + "expect stationary x ~ Uniform(1, 0)\n",
        "model m\nstate x ~ Uniform(2, 2)\ndx = -x dt + dW\n",
        "model m\nstate x[2] ~ Uniform([0, 3], [1, 2])\ndx = -x dt + dW\n",
        # the bounds may be consts and the values of parameters
        "model m\nconst lo = 1\nparam hi = 0\nstate x ~ Uniform(lo, hi)\ndx = -x dt + dW\n",
    ],
)
def test_a_uniform_with_constant_bounds_not_in_order_is_refused(text):
    [(code, message)] = _errors(text)
    assert code == "E221" and "needs `low` below `high`" in message


def test_the_yaml_form_refuses_a_reversed_uniform_prior_too():
    text = "model: m\nparams:\n  a: {value: 0.5, prior: Uniform(1, 0)}\nstates: {x: 0}\nequations:\n  - dx = -a * x dt + dW\n"
    assert [c for c, _ in _errors(text, "m.yaml")] == ["E221"]


def test_a_uniform_whose_bounds_are_known_only_at_run_time_is_left_to_the_run():
    _passes("model m\nparam w ~ init Uniform(1, 2)\nstate x ~ Uniform(0, w)\ndx = -x dt + dW\n")
    _passes("model m\n" + OU + "observe y ~ Uniform(x - 1, x + 1)\n")


@pytest.mark.parametrize(
    ("law", "needs"),
    [
        ("Bernoulli(1.5)", "a probability in [0, 1]"),
        ("Bernoulli(p = -0.1)", "a probability in [0, 1]"),
        ("Binomial(10, 2)", "a probability in [0, 1]"),
        ("Binomial(-3, 0.5)", "a whole number of at least 0"),
        ("Binomial(2.5, 0.5)", "a whole number of at least 0"),
        ("Poisson(-1)", "at least 0"),
        ("NegativeBinomial(-1, 2)", "at least 0"),
        ("Normal(x, -1)", "positive"),
        ("Normal(log(0), 1)", "a finite number"),
        ("Bernoulli(logits = 1 / 0)", "a finite number"),
    ],
)
def test_a_constant_law_argument_outside_what_the_law_allows_is_refused(law, needs):
    [(code, message)] = _errors("model m\n" + OU + f"observe y ~ {law}\n")
    assert code == "E221" and f"must be {needs}" in message


@pytest.mark.parametrize("law", ["Poisson(0)", "Bernoulli(0)", "Bernoulli(1)", "Binomial(0, 1)", "Uniform(-1, 1)"])
def test_the_edges_a_law_allows_pass(law):
    _passes("model m\n" + OU + f"observe y ~ {law}\n")


# ---- 2. a parameter outside its prior's support ------------------------------


@pytest.mark.parametrize(
    "param",
    [
        "param a = 5 : positive ~ Uniform(0, 1)",
        "param a = 2 : positive ~ Beta(2, 2)",
        "param a = 0 ~ Beta(2, 2)",  # the density is 0 at the edge
        "param a = -2 ~ HalfNormal(1)",
        "param a = -2 ~ Gamma(2, 1)",
        "param a = 0 ~ Gamma(2, 1)",
        "param a = -2 ~ LogNormal(0, 1)",
        "param a = 0 ~ LogNormal(0, 1)",
        "param a = -2 ~ Exponential(1)",
        "param a = 1.5 ~ Poisson(2)",
        "param a[3] = [0.5, 2, 0.5] ~ Uniform(0, 1)",
    ],
)
def test_a_value_outside_the_priors_support_is_refused_at_the_value(param):
    [(code, message)] = _errors(f"model m\n{param}\n" + OU)
    assert code == "E240" and "lies outside the support of its prior" in message


def test_a_default_value_outside_the_priors_support_is_warned_about_at_the_name():
    """`param a ~ Beta(2, 2)` is a valid spec (LANGUAGE.md: no value means a
    default inside the constraint), and it simulates: a warning, W109, that a
    fit cannot start at its default 0."""
    checked = check_ast(read_spec("m.dync", "model m\nparam a ~ Beta(2, 2)\n" + OU))
    [warning] = [w for w in checked.warnings if w.code == "W109"]
    assert "has no value, and its default 0" in warning.message
    assert (warning.span.line, warning.span.column) == (2, 7) and "`: unit`" in warning.hint


@pytest.mark.parametrize(
    "param",
    [
        "param a = 0 ~ HalfNormal(1)",  # a finite density at 0
        "param a = 0 ~ Exponential(1)",
        "param a = 0 ~ Gamma(1, 1)",
        "param a = 1 ~ Uniform(0, 1)",  # the ends of a uniform law count
        "param a = 0.5 : unit ~ Beta(2, 2)",
        "param a : positive ~ LogNormal(0, 1)",  # the default 1
        "param a = -3 ~ Normal(0, 1)",
        "param a ~ init Uniform(0.1, 0.9) ~ Beta(2, 2)",
    ],
)
def test_a_value_inside_the_priors_support_passes(param):
    _passes(f"model m\n{param}\n" + OU)


def test_pedantic_suggests_the_constraint_that_keeps_a_parameter_in_its_priors_support():
    text = (
        "model m\nparam a = 1 ~ HalfNormal(1)\nparam b = 0.5 ~ Beta(2, 2)\nparam c = 0 ~ Uniform(-1, 1)\n"
        "param d = 0 ~ Normal(0, 1)\nparam e = 1 : positive ~ Gamma(2, 1)\nparam f = 0 ~ Uniform(-1, d)\n" + OU
    )
    checked = _passes(text)
    found = [(w.code, w.hint) for w in pedantic_warnings(checked.spec, checked.model)]
    assert found == [
        ("W108", "add the constraint `: positive`, so that fitting keeps `a` inside the prior's support"),
        ("W108", "add the constraint `: unit`, so that fitting keeps `b` inside the prior's support"),
        ("W108", "add the constraint `: interval(-1, 1)`, so that fitting keeps `c` inside the prior's support"),
    ]


# ---- 3. initial values that are not finite or that float32 cannot hold -------


@pytest.mark.parametrize(
    "state",
    ["state x = log(0)", "state x = 1e400", "state x = 1" + "0" * 400, "state x = [1, 0 / 0]", "let z = -1 / 0\nstate x = z"],
)
def test_an_initial_value_that_is_not_finite_is_refused_as_a_parameters_is(state):
    [(code, message)] = _errors(f"model m\n{state}\ndx = -x dt + dW\n")
    assert code == "E240" and message.startswith("state `x` = ") and "not a finite number" in message


def test_an_initial_value_float32_cannot_hold_is_warned_once():
    """A state's own value gets W106; a state that starts at a parameter
    already warned about is not warned twice."""
    text = "model m\nparam s = 1e39\nlet z = 2 * 2e38\nstate x = 1e-50\nstate y = s\nstate w = [1, z]\ndx = -x dt\ndy = -y dt\ndw = -w dt\n"
    found = [(w.message.split(" = ")[0], w.span.line) for w in _passes(text).warnings if w.code == FLOAT32_RANGE]
    assert found == [("`s`", 2), ("state `x`", 4), ("state `w`", 6)]


# ---- 4. a boolean target -----------------------------------------------------


@pytest.mark.parametrize("target", ["q > 0", "not (q < 0)", "ok", "(q > 0) and (q < 1)"])
def test_a_target_that_is_a_condition_is_refused(target):
    [(code, message)] = _errors(f"model m\nstate q = 0\nlet ok = q > 0\ntarget {target}\n")
    assert code == "E270" and "the target is a condition" in message


def test_a_target_that_uses_a_condition_in_arithmetic_passes():
    _passes("model m\nstate q = 0\ntarget -q^2 / 2 - 10 * (q < 0)\n")


# ---- 5. expectations ---------------------------------------------------------


@pytest.mark.parametrize("rhs", ["-1", "-c", "[1, -1] * (1 + c)", "1 - 2 * K"])
def test_a_constant_negative_variance_is_refused(rhs):
    text = f"model m\ndim K = 2\nconst c = 1\nstate x[K] = 0\ndx = -x dt + dW\nexpect var(x) = {rhs}\n"
    [(code, message)] = _errors(text)
    assert code == "E272" and "a variance is never negative" in message


@pytest.mark.parametrize("rhs", ["0", "s^2 * t", "-s", "1 - t"])
def test_a_variance_that_reads_parameters_or_time_is_left_to_dync_test(rhs):
    _passes(f"model m\nparam s = 1 : positive\n{OU}expect var(x) = {rhs}\n")


@pytest.mark.parametrize("lhs", ["mean(theta)", "var(theta * t)", "mean(t)", "mean(1)"])
def test_an_expectation_that_reads_no_state_is_refused(lhs):
    [(code, message)] = _errors(f"model m\nparam theta = 1\n{OU}expect {lhs} = 1\n")
    assert code == "E272" and "reads no state" in message


def test_an_expectation_of_a_condition_of_the_state_passes():
    _passes("model m\n" + OU + "let pos = x > 0\nexpect mean(x > 0) = 0.5\nexpect mean(pos) = 0.5\n")
