"""`check_law_arguments`: values given on the command line (`--set`,
`--fix`, `--sweep`) replace a spec's after the compiler checked its laws'
constant arguments, so they are checked again against the laws that read
them (a `Binomial` count set to 5.5 or -3 ran silently before)."""

from __future__ import annotations

import pytest

from dync.compiler.driver import read_spec
from dync.compiler.overrides import check_law_arguments
from dync.errors import UsageError

SPEC = """model m
const ntrial = 20
param s = 0.5
param p[2] = 0.3
state x = 0
dx = -x dt + dW
observe k ~ Binomial(ntrial, sigmoid(x))
observe y ~ Normal(x, s)
observe b[2] ~ Bernoulli(p)
"""


@pytest.fixture(scope="module")
def spec():
    return read_spec("m.dync", SPEC)


@pytest.mark.parametrize(
    ("values", "flag", "says"),
    [
        ({"ntrial": 5.5}, "--set", "`--set ntrial=5.5`: the `n` of `Binomial` must be a whole number of at least 0, got 5.5"),
        ({"ntrial": -3}, "--fix", "`--fix ntrial=-3`: the `n` of `Binomial` must be a whole number"),
        ({"s": -1.0}, "--set", "`--set s=-1`: the `scale` of `Normal` must be positive, got -1"),
        ({"p": [0.5, 1.5]}, "--set", "the `p` of `Bernoulli` must be a probability in [0, 1], got 1.5"),
    ],
)
def test_a_value_the_law_does_not_allow_is_a_usage_error_at_the_law(spec, values, flag, says):
    with pytest.raises(UsageError) as caught:
        check_law_arguments(spec, None, values, flag)
    message = caught.value.message
    assert says in message
    assert "in the law at m.dync:" in message  # located at the law that reads it


@pytest.mark.parametrize("values", [{"ntrial": 12}, {"s": 2.0}, {"p": [0.0, 1.0]}, {"nope": -1.0}, {}])
def test_allowed_values_and_unknown_names_pass(spec, values):
    check_law_arguments(spec, None, values)  # unknown names are the caller's to refuse

