"""The settings of `dync fit` (dync/settings/fit.py): a parameter the
compiler reads when the spec compiles is never fitted."""

from __future__ import annotations

import pytest

from dync.dsl.loading import load_spec
from dync.errors import SpecErrors
from dync.settings import fit_settings

#: `k` is an index, `K` a shape, `w` a network's width: the compiled code keeps their spec values
SPEC = (
    "model m\nparam k = 1\nparam K = 3\nparam w = 4\nparam a = 1 : positive\nstate x[K] = 0\n"
    "net f = mlp(in = 1, out = 1, width = w, depth = 1, activation = tanh)\n"
    "dx = -a * x dt + f(x[k:k + 1])[0] dW\nobserve y ~ Normal(x[0], 0.1)\n"
)


def test_fitting_a_parameter_read_when_the_spec_compiles_is_refused_at_its_declaration():
    """`dync fit` fitted `k` of `x[k]`: a zero gradient, an "estimate" the
    model never saw, and NaN standard errors for every parameter. Now each
    such parameter is a located error at its declaration that names what
    reads it and the two ways out (const, --fix at its value)."""
    spec = load_spec("m.dync", text=SPEC)
    with pytest.raises(SpecErrors) as err:
        fit_settings(spec)
    errors = err.value.errors
    assert [(e.code, e.span.line, e.span.column) for e in errors] == [("E290", 2, 7), ("E290", 3, 7), ("E290", 4, 7)]
    assert "parameter `k` is read as an index or a size (line 8) when the spec compiles" in errors[0].message
    assert "dync fit cannot fit it" in errors[0].message
    assert errors[0].hint == "declare it `const k = 1`, or hold it with --fix k=1"
    assert "the `width` of network `f` (line 7)" in errors[2].message
    rendered = err.value.render()
    assert "m.dync:2:7: error[E290]" in rendered and "2 | param k = 1" in rendered


def test_a_parameter_held_by_fix_or_declared_const_is_fitted_around():
    spec = load_spec("m.dync", text=SPEC)
    settings = fit_settings(spec, fix=["k=1", "K=3", "w=4"])
    assert settings.fix == {"k": 1.0, "K": 3.0, "w": 4.0}
    const = load_spec("m.dync", text=SPEC.replace("param k", "const k").replace("param K", "const K").replace("param w", "const w"))
    assert fit_settings(const).fix == {}


def test_a_yaml_fit_section_may_hold_it_and_the_hint_says_how():
    text = (
        "model: m\nparams:\n  k: 1\n  a: {value: 1, constraint: positive}\nstates:\n  x: [0, 0, 0]\n"
        "equations:\n  - dx = -a * x dt + x[k] dW\nobserve:\n  y: Normal(x[0], 0.1)\n"
    )
    with pytest.raises(SpecErrors) as err:
        fit_settings(load_spec("m.yaml", text=text))
    assert err.value.errors[0].span.line == 3
    assert "(YAML: `fit: {fix: {k: 1}}`)" in err.value.errors[0].hint
    held = load_spec("m.yaml", text=text + "fit:\n  fix: {k: 1}\n")
    assert fit_settings(held).fix == {"k": 1.0}


def test_holding_it_at_another_value_is_refused_as_the_flag_or_at_the_section():
    """The compiled model would ignore `--fix k=2`: a usage error naming the
    flag; from a YAML `fit: fix:` it points at the section (a computed spec
    value is compared when the model is built, dync/runtime/params.py)."""
    from dync.errors import UsageError

    with pytest.raises(UsageError) as err:
        fit_settings(load_spec("m.dync", text=SPEC), fix=["k=2", "K=3", "w=4"])
    assert err.value.message.startswith("`--fix k=2`: parameter `k` is read as an index or a size (line 8)")
    assert "keeps its value 1: the value given (2) would be ignored" in err.value.message
    text = (
        "model: m\nparams:\n  k: -1\n  a: {value: 1, constraint: positive}\nstates:\n  x: [0, 0, 0]\n"
        "equations:\n  - dx = -a * x dt + x[k] dW\nobserve:\n  y: Normal(x[0], 0.1)\nfit:\n  fix: {k: 0}\n"
    )
    with pytest.raises(SpecErrors) as located:
        fit_settings(load_spec("m.yaml", text=text))
    e = located.value.errors[0]
    assert (e.code, e.span.line) == ("E261", 12) and e.message.startswith("fit.fix: parameter `k`")
    assert fit_settings(load_spec("m.yaml", text=text.replace("{k: 0}", "{k: -1}"))).fix == {"k": -1.0}


def test_a_vector_parameter_can_be_fixed_with_a_list_as_it_can_be_set():
    # `--fix mu=[1.0, 2.0]` was "`[1.0, 2.0]` is not a number", though
    # `--set mu=[1.0, 2.0]` worked and the runtime holds a vector fixed
    from dync.errors import UsageError
    from dync.settings import parse_fix

    assert parse_fix(["mu=[1.0, 2.0]", "s=0.5"]) == {"mu": [1.0, 2.0], "s": 0.5}
    assert parse_fix({"mu": [1, 2]}) == {"mu": [1, 2]}  # a YAML `fit: fix:` list
    with pytest.raises(UsageError, match="not a number or a list of numbers"):
        parse_fix(["mu=[1, x]"])
