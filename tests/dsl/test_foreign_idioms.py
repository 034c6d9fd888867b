"""A line written the way Stan or Python writes it gets a located hint with
the dync way (dync/dsl/parser.py `_foreign_idiom`), not a generic "unexpected
token". The golden files 220-227 show the whole diagnostics."""

from __future__ import annotations

import pytest

from dync.dsl.parser import parse_spec
from dync.errors import SpecErrors

HEAD = "model m\nparam a = 1\nstate x = 1\n"


def _error(line: str):
    with pytest.raises(SpecErrors) as err:
        parse_spec(HEAD + line + "\n", "m.dync")
    first = err.value.errors[0]
    assert first.span.line == 4, first.render()
    return first


@pytest.mark.parametrize(
    ("line", "message", "hint", "caret"),
    [
        ("real<lower=0> s;", "is a Stan declaration", "`param s : positive`", (1, 17)),
        ("real<lower=0, upper=1> p;", "Stan declaration", "`param p : unit`", (1, 26)),
        ("real<lower=-1, upper=1> r = 0.5;", "Stan declaration", "`param r = 0.5 : interval(-1, 1)`", (1, 33)),
        ("vector<lower=2>[K] w;", "Stan declaration", "`param w[K] : lower(2)`", (1, 22)),
        ("int n;", "Stan declaration", "`param n`", (1, 7)),
        ("dx = -np.exp(x) dt + dW", "`np.exp` is from NumPy", "`exp(...)`", (7, 13)),
        ("dx = -jnp.linalg.norm(x) dt + dW", "`jnp.linalg.norm` is from JAX", "`norm(...)`", (7, 22)),
        ("dx = -math.sqrt(x) dt + dW", "`math.sqrt` is from Python's math", "`sqrt(...)`", (7, 16)),
        ("dx = -np.pi * x dt + dW", "`np.pi` is from NumPy", "write `pi`", (7, 12)),
        ("dx = -np.power(x, 3) dt + dW", "NumPy", "`a ^ b`", (7, 15)),
        ("dx = -x dt + np.random.normal() dW", "NumPy", "noise enters through `dW`", (14, 30)),
        ("for i in range(3):", "no loops (`for`)", "declare `state x[N]`", (1, 4)),
        ("for (i in 1:N) {", "no loops (`for`)", "elementwise", (1, 4)),
        ("while x < 1:", "no loops (`while`)", "elementwise", (1, 6)),
        ("def f(x):", "no function definitions", "`let NAME = EXPR`", (1, 4)),
        ("x += 1", "`+=` does not exist", "`dx = DRIFT dt + NOISE dW`", (3, 5)),
        ("x[0] -= 1", "`-=` does not exist", "`dx = DRIFT dt", (6, 8)),
        ("a **= 2", "`**=` does not exist", "`da = DRIFT dt", (3, 6)),
        ("let f = lambda y: y * 2", "no `lambda` functions", "`net NAME = mlp(...)`", (9, 15)),
        ("dx = -exp x dt + dW", "`exp x`: a function's argument goes in parentheses", "`-exp(x) * dt`", (7, 12)),
        ("dx = sqrt a * x dt + dW", "`sqrt a`", "write `sqrt(a)`", (6, 12)),
    ],
)
def test_a_stan_or_python_idiom_gets_the_dync_way(line, message, hint, caret):
    err = _error(line)
    assert message in err.message
    assert hint in err.hint
    assert (err.span.column, err.span.end_column) == caret
    assert "Traceback" not in err.render()


@pytest.mark.parametrize("line", ["dx = -x ** 2 dt + dW", "dx = -x^2 dt + dW", "dx = -exp(x) * dt + dW"])
def test_powers_with_either_operator_and_a_product_with_dt_are_legal(line):
    parse_spec(HEAD + line + "\n", "m.dync")


def test_a_name_that_looks_foreign_is_still_a_name():
    """`lambda`, `real`, `def` are valid names (docs/language.md §17 item 10):
    the hints fire only on a line that does not parse, and only for the
    idiom itself, not another error on a line that uses such a name."""
    parse_spec("model m\nparam lambda = 1 : positive\nparam real = 2\nstate x = 1\ndx = -lambda * real * x dt + dW\n", "m.dync")
    with pytest.raises(SpecErrors) as err:
        parse_spec("model m\nparam lambda : positive ~ Normal(0, 1\nstate x = 1\ndx = -x dt + dW\n", "m.dync")
    assert "never closed" in err.value.errors[0].message


def test_an_equation_for_one_component_says_one_equation_covers_the_state():
    with pytest.raises(SpecErrors) as err:
        parse_spec("model m\nstate x[3] = 1\ndx[0] = -x[0] dt + dW\n", "m.dync")
    assert "write `dx = ...` once" in err.value.errors[0].hint


def test_the_vocabulary_names_every_library_function():
    from dync.compiler.library import FUNCTIONS
    from dync.dsl.vocabulary import FUNCTION_NAMES

    assert FUNCTION_NAMES == set(FUNCTIONS)


def test_a_function_whose_argument_is_the_refused_token_gets_the_same_hint():
    """`-sqrt 2 * x dt`: the parser stops at `2` itself."""
    err = _error("dx = -sqrt 2 * x dt + dW")
    assert err.message == "`sqrt 2`: a function's argument goes in parentheses"
    assert err.hint == "write `sqrt(2)`"
    assert (err.span.column, err.span.end_column) == (7, 13)
    err = _error("dx = -x dt + sqrt 2 dW")
    assert err.hint == "write `sqrt(2)`: `sqrt(2) * dW` (or `sqrt(2) dW`, the same product)"


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        ("import numpy as np", "a spec imports nothing (`import`)", "built in"),
        ("from math import exp", "a spec imports nothing (`from`)", "built in"),
        ("let y = 1 if x > 0 else 2", "`A if C else B` is Python", "write `where(x > 0, 1, 2)`"),
        ("a ~ normal(0, 1);", "`a ~ ...` is a Stan sampling statement", "`param a ~ Normal(...)`"),
        ("target += normal_lpdf(x | 0, 1);", "`target +=` is Stan", "write `target EXPR`"),
        ("let s = x.sum()", "`x.sum`: a spec has no methods or attributes", "`sum(x)`"),
        ("let s = x.T @ x", "`x.T`: a spec has no methods or attributes", "`transpose(x)`"),
    ],
)
def test_more_python_and_stan_habits(line, message, hint):
    err = _error(line)
    assert message in err.message
    assert hint in err.hint
