"""Overrides shared by every command (dync/settings/common.py)."""

from __future__ import annotations

import warnings

import pytest

from dync.dsl.loading import load_spec
from dync.errors import UsageError
from dync.settings.common import split_sets

SPEC = "model h\ndim n = 2\nparam G = 0.7\nparam s = 1\nbrownian B : fractional(hurst = G)\nstate x = 0\ndx = -x dt + s dB\n"


def test_dims_and_parameters_are_split():
    dims, params = split_sets(load_spec("h.dync", text=SPEC), {"n": "3", "s": "2.5", "G": "0.3"})
    assert dims == {"n": 3} and params == {"s": 2.5, "G": 0.3}


@pytest.mark.parametrize("value", ["1.5", "0", "1", "-0.2"])
def test_a_hurst_parameter_set_outside_0_1_is_a_usage_error(value):
    """It used to simulate silently (H = 1.5 has no fractional Brownian motion)."""
    with pytest.raises(UsageError, match=r"`G` is the Hurst index of the fractional Brownian motion `B`, which must lie in \(0, 1\)"):
        split_sets(load_spec("h.dync", text=SPEC), {"G": value})


def test_a_bad_value_from_a_yaml_section_points_at_the_yaml_not_at_a_flag():
    from dync.errors import SpecErrors
    from dync.settings.simulate import simulate_settings

    text = "model: m\nstates: {x: 0}\nequations:\n  - dx = -x dt\nsimulate: {paths: -5, t1: 1, dt: 0.1}\n"
    spec = load_spec("m.yaml", text=text)
    with pytest.raises(SpecErrors) as info:
        simulate_settings(spec)
    (err,) = info.value.errors
    assert err.code == "E261" and err.message == "simulate.paths -5: need at least 1 path"
    assert (err.span.line, err.span.column) == (5, 19)
    with pytest.raises(UsageError, match="--paths -3: need at least 1 path"):  # a flag stays a flag
        simulate_settings(spec, paths=-3)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_setting_is_a_usage_error(value):
    from dync.settings.simulate import simulate_settings

    spec = load_spec("h.dync", text=SPEC)
    with pytest.raises(UsageError, match="--t1 .*: must be a finite number"):
        simulate_settings(spec, t1=value, dt=0.1)


def test_setting_a_parameter_another_value_was_computed_from_warns():
    spec = load_spec("d.dync", text="model d\nparam a = 1\nparam b = 2 * a\nconst c = a + 1\nstate x = 0\ndx = -b * x dt\n")
    with pytest.warns(UserWarning) as caught:
        split_sets(spec, {"a": "5"})
    messages = [str(w.message) for w in caught]
    assert any("parameter `b` is computed from `a`" in m and "set `b` too" in m for m in messages), messages
    assert any("constant `c` is computed from `a`" in m for m in messages), messages
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_sets(spec, {"a": "5", "b": "10", "c": "6"})  # each set itself: nothing stale


def test_conflicting_simulate_flags_are_usage_errors():
    from dync.settings.simulate import simulate_settings

    spec = load_spec("h.dync", text=SPEC)
    with pytest.raises(UsageError, match="say two different things"):
        simulate_settings(spec, t1=1.0, dt=0.1, save="0.5,1", save_every=2)
    with pytest.raises(UsageError, match="`G` is swept twice"):
        simulate_settings(spec, t1=1.0, dt=0.1, sweep=["G=0.2:0.4:2", "G=0.5:0.6:2"])
    # a --save flag overrides a YAML save_every
    yaml = load_spec("h.yaml", text="model: h\nstates: {x: 0}\nequations:\n  - dx = -x dt\nsimulate: {save_every: 5}\n")
    assert simulate_settings(yaml, t1=1.0, dt=0.1, save="final").save == "final"


def test_a_vector_parameter_can_be_set_with_a_list():
    spec = load_spec("v.dync", text="model v\ndim K = 2\nparam theta[K] = 1 : positive\nstate x[K] = 1\ndx = -theta * x dt\n")
    _, params = split_sets(spec, {"theta": "[1, 2.5]"})
    assert params == {"theta": [1, 2.5]}
    with pytest.raises(UsageError, match="is not a number or a list of numbers"):
        split_sets(spec, {"theta": "[1, x]"})


def test_one_string_is_one_item_not_its_characters():
    """`fix="mu=1"`, `sets="K=16"`, `ranges="k=1:2"`, `sweep="k=1:2:3"` from
    Python: each a single NAME=VALUE item (was split into characters)."""
    from dync.settings import parse_fix, parse_sets
    from dync.settings.simulate import _parse_sweeps
    from dync.settings.test import _parse_ranges

    assert parse_fix("mu=1") == {"mu": 1.0}
    assert parse_sets("K=16") == {"K": "16"}
    assert _parse_ranges("k=1:2") == {"k": (1.0, 2.0)}
    assert list(_parse_sweeps("k=1:2:3")["k"]) == [1.0, 1.5, 2.0]


def test_a_parameter_read_as_an_index_or_a_size_cannot_be_set():
    """`dx = ... x[k] dW` with `--set k=5` ran with x[1] (the compiler fixes
    indices and shapes); now the override is refused, naming the line and
    the fix (a dim). Other parameters are set as before."""
    from dync.settings import simulate_settings

    spec = load_spec("m.dync", text="model m\nparam k = 1\nparam K = 3\nparam a = 1\nstate x[K] = 0\ndx = -a * x dt + x[k] dW\n")
    for name, line in (("k", 6), ("K", 5)):
        with pytest.raises(UsageError) as err:
            simulate_settings(spec, t1=1.0, dt=0.1, sets=[f"{name}=2"])
        assert f"parameter `{name}` is read as an index or a size (line {line})" in err.value.message
        assert f"declare it `dim {name} = ...`" in err.value.hint
    with pytest.raises(UsageError, match="`--sweep k=...`"):
        simulate_settings(spec, t1=1.0, dt=0.1, sweep=["k=1:2:2"])
    assert simulate_settings(spec, t1=1.0, dt=0.1, sets=["a=2"]).params == {"a": 2.0}


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("dx = -roll(x, k) dt + dW", "the `shift` of `roll`"),
        ("dx = -sum(x, axis = k) dt + dW", "the `axis` of `sum`"),
        ("let z = zeros(k)\ndx = (sum(z) - x) dt + dW", "a size of `zeros`"),
        ("let z = eye(k)\ndx = (sum(z) - x) dt + dW", "the `n` of `eye`"),
        ("dx = -concat(x, x, axis = k)[0] dt + dW", "the `axis` of `concat`"),
    ],
)
def test_a_parameter_read_as_a_compile_time_argument_cannot_be_set(line, what):
    """`roll(x, k)`, `zeros(k)`: the compiler reads `k` once (the table of
    compile-time arguments in dync/dsl/vocabulary.py), so `--set k=3` ran
    with the spec's value; now it is refused like an index."""
    from dync.settings import simulate_settings

    spec = load_spec("m.dync", text=f"model m\nparam k = 0\nstate x[3] = 1\n{line}\n")
    with pytest.raises(UsageError) as err:
        simulate_settings(spec, t1=1.0, dt=0.1, sets=["k=2"])
    assert f"parameter `k` is read as {what} (line 4)" in err.value.message
    with pytest.raises(UsageError, match=r"`--sweep k=\.\.\.`"):
        simulate_settings(spec, t1=1.0, dt=0.1, sweep=["k=1:2:2"])


def test_a_network_size_or_a_constraint_bound_read_from_a_parameter_cannot_be_set():
    from dync.settings import simulate_settings

    spec = load_spec(
        "m.dync",
        text="model m\nparam w = 4\nparam lo = 0.5\nparam a = 1 : lower(lo)\n"
        "net f = mlp(in = 1, out = 1, width = w, depth = 1, activation = tanh)\nstate x = 1\ndx = -a * f(x)[0] dt + dW\n",
    )
    with pytest.raises(UsageError, match=r"`w` is read as the `width` of network `f` \(line 5\)"):
        simulate_settings(spec, t1=1.0, dt=0.1, sets=["w=3"])
    with pytest.raises(UsageError, match=r"`lo` is read as a bound of the constraint of `a` \(line 4\)") as err:
        simulate_settings(spec, t1=1.0, dt=0.1, sets=["lo=2"])
    assert "dim" not in err.value.hint
    assert simulate_settings(spec, t1=1.0, dt=0.1, sets=["a=2"]).params == {"a": 2.0}


def test_the_library_reads_its_compile_time_arguments_from_the_vocabulary():
    """One source of truth: each static argument of the compiler's library
    is in the vocabulary's table, at the position the signature gives it."""
    from dync.compiler.library import FUNCTIONS
    from dync.dsl.vocabulary import COMPILE_TIME_ARGUMENTS

    for name, args in COMPILE_TIME_ARGUMENTS.items():
        sig = FUNCTIONS[name]
        assert sig.static == tuple(a for a in args if a != "*")
        for a, position in args.items():
            if a == "*":
                assert sig.variadic
            elif position is None:
                assert sig.variadic and a in sig.params
            else:
                assert sig.params.index(a) == position
    assert {n for n, s in FUNCTIONS.items() if s.static} <= set(COMPILE_TIME_ARGUMENTS)


def test_a_compile_time_parameter_may_be_given_its_own_spec_value():
    """`--set k=1` for `param k = 1` read as an index changes nothing: it is
    accepted (was refused like any other value); another value, or a value
    the spec computes (`param K = 2 * k`), is still refused, and so is a
    sweep that reaches another value."""
    from dync.settings import simulate_settings

    spec = load_spec(
        "m.dync",
        text="model m\nparam k = 1\nparam n = -2\nparam K = 2 * k\nparam a = 1\nstate x[3] = 0\n"
        "dx = -a * roll(x, n) dt + x[k] * x[K] dW\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor is `K = 2 * k` stale
        assert simulate_settings(spec, t1=1.0, dt=0.1, sets=["k=1"]).params == {"k": 1.0}
    assert simulate_settings(spec, t1=1.0, dt=0.1, sets=["k=1.0", "n=-2"]).params == {"k": 1.0, "n": -2.0}
    for refused in ("k=2", "n=2", "K=2"):
        with warnings.catch_warnings(), pytest.raises(UsageError, match=rf"`--set {refused[0]}=\.\.\.`: parameter `{refused[0]}` is read as"):
            warnings.simplefilter("ignore")  # `K = 2 * k` would be stale
            simulate_settings(spec, t1=1.0, dt=0.1, sets=[refused])
    assert list(simulate_settings(spec, t1=1.0, dt=0.1, sweep=["k=1:1:3"]).sweep["k"]) == [1.0, 1.0, 1.0]
    with pytest.raises(UsageError, match=r"`--sweep k=\.\.\.`"):
        simulate_settings(spec, t1=1.0, dt=0.1, sweep=["k=1:2:2"])
