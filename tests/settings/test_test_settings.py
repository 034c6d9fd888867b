"""dync test's settings: flags over the spec's test: section over defaults."""

import pytest

from dync.dsl.loading import load_spec
from dync.errors import UsageError
from dync.settings.test import DEFAULT_T1, DEFAULT_T1_STATIONARY, test_settings as settings_of

OU = "model m\nparam theta = 1 : positive\nstate x = 1\ndx = -theta * x dt + dW\n"


def _spec(text, name="m.dync"):
    return load_spec(name, text)


def test_defaults_and_the_stationary_end_time():
    s = settings_of(_spec(OU))
    assert (s.paths, s.examples, s.seed, s.alpha, s.t1) == (1000, 20, 0, 1e-3, DEFAULT_T1)
    assert s.dt == pytest.approx(DEFAULT_T1 / 200)
    stationary = settings_of(_spec(OU + "expect stationary x ~ Normal(0, sqrt(0.5))\n"))
    assert stationary.t1 == DEFAULT_T1_STATIONARY


def test_the_yaml_section_then_flags():
    text = (
        "model: m\nparams:\n  theta: {value: 1.0, constraint: positive}\nstates:\n  x: 1\n"
        "equations:\n  - dx = -theta * x dt + dW\n"
        "test:\n  paths: 300\n  t1: 2\n  examples: 4\n  ranges: {theta: [0.5, 2.0]}\n  skip: forms\n"
    )
    spec = _spec(text, "m.yaml")
    s = settings_of(spec)
    assert (s.paths, s.t1, s.examples, s.ranges, s.skip) == (300, 2.0, 4, {"theta": (0.5, 2.0)}, ("forms",))
    s = settings_of(spec, paths=50, ranges=["theta=1:3"], skip="gradients,reproducible")
    assert (s.paths, s.ranges, s.skip) == (50, {"theta": (1.0, 3.0)}, ("gradients", "reproducible"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alpha=2.0), "false-alarm rate"),
        (dict(dt=-1.0), "the step must be positive"),
        (dict(paths=1), "--paths"),
        (dict(ranges=["theta=2:1"]), "the lower bound must be below the upper one"),
        (dict(ranges=["theta"]), "expected NAME=LO:HI"),
        (dict(skip="finit"), "did you mean `finite`"),
    ],
)
def test_bad_settings_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        settings_of(_spec(OU), **kwargs)


def test_set_holds_parameters_and_dims():
    spec = _spec("model m\ndim K = 2\nparam a = 1\nstate x[K] = 0\ndx = -a * x dt + dW\n")
    s = settings_of(spec, sets=["K=3", "a=0.5"])
    assert s.dims == {"K": 3} and s.params == {"a": 0.5}


def test_a_range_of_a_dim_draws_sizes():
    spec = _spec("model m\ndim K = 2\nparam a = 1 : positive\nstate x[K] = 0\ndx = -a * x dt + dW\n")
    s = settings_of(spec, ranges=["K=2:5", "a=0.5:2"])
    assert s.dim_ranges == {"K": (2, 5)} and s.ranges == {"a": (0.5, 2.0)}
    assert settings_of(spec, ranges=["K=2:5"], sets=["K=3"]).dim_ranges == {}  # --set wins
    with pytest.raises(UsageError, match="whole numbers of at least 1"):
        settings_of(spec, ranges=["K=0.5:2"])


def test_a_range_of_a_parameter_read_when_the_spec_compiles_is_refused():
    """`--range k=0:2` for `x[k]`: the compiled model keeps k = 1, so the
    draws would claim coverage they do not have. A flag is a usage error; a
    `test: ranges:` entry is located at the section."""
    from dync.errors import SpecErrors

    text = "model m\nparam k = 1\nparam a = 1 : positive\nstate x[3] = 1\ndx = -a * x dt + 0.1 * x[k] dW\n"
    with pytest.raises(UsageError) as err:
        settings_of(_spec(text), ranges=["k=0:2"])
    assert err.value.message.startswith("`--range k=...`: parameter `k` is read as an index or a size (line 5)")
    assert "dync test holds it at its spec value" in err.value.message
    assert "declare it `dim k = ...`" in err.value.hint
    assert settings_of(_spec(text), ranges=["a=0.5:2"]).ranges == {"a": (0.5, 2.0)}
    yaml = (
        "model: m\nparams:\n  k: 1\n  a: {value: 1, constraint: positive}\nstates:\n  x: [1, 1, 1]\n"
        "equations:\n  - dx = -a * x dt + 0.1 * x[k] dW\ntest:\n  ranges: {k: [0, 2]}\n"
    )
    with pytest.raises(SpecErrors) as located:
        settings_of(_spec(yaml, "m.yaml"))
    e = located.value.errors[0]
    assert (e.code, e.span.line) == ("E261", 10)
    assert e.message.startswith("test.ranges: parameter `k` is read as an index or a size (line 8)")
