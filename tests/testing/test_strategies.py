"""The spec strategies keep their promise: every spec `valid_specs` draws
compiles, agrees with the metadata drawn with it, generates a module that is
valid Python importing only what generated code may import, and (for a few)
loads and evaluates to finite values of the right shapes."""

from __future__ import annotations

import ast as pyast

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dync.compiler.driver import compile_file
from dync.dsl.parser import parse_spec
from dync.errors import DyncError
from dync.testing.strategies import valid_specs

#: what generated code may import (STYLE.md: jax, equinox, diffrax, dync.runtime)
ALLOWED_IMPORTS = ("jax", "equinox", "diffrax", "dync.runtime", "dync.info")


def compile_or_fail(text: str):
    try:
        return compile_file("x.dync", text=text)
    except DyncError as err:
        raise AssertionError(f"a valid spec did not compile:\n{text}\n{err.render()}") from err


def imported_modules(source: str) -> set[str]:
    out = set()
    for node in pyast.walk(pyast.parse(source)):
        if isinstance(node, pyast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, pyast.ImportFrom):
            out.add(node.module or "")
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(tricky_names=True) | valid_specs())
def test_every_valid_spec_compiles_to_python_matching_its_metadata(spec):
    text, meta = spec
    compiled = compile_or_fail(text)
    model = compiled.model

    # the generated module is Python that imports only the runtime's libraries
    compile(compiled.source, "<generated>", "exec")
    for module in imported_modules(compiled.source):
        assert module == "__future__" or module.startswith(ALLOWED_IMPORTS), (module, text)

    # the compiler read what the strategy meant to write
    assert model.name == meta.name
    assert model.calculus == meta.calculus
    assert dict(model.dims) == dict(meta.dims)
    declared = {s.name: s.shape for s in model.states if not s.hidden}
    assert declared == dict(meta.states), text
    assert sum(s.size for s in model.states if not s.hidden) == meta.state_size
    assert model.state_size >= meta.state_size
    params = {p.name: p for p in model.params}
    assert set(params) == set(meta.params), text
    for name, pm in meta.params.items():
        assert params[name].shape == pm.shape, (name, text)
        assert params[name].fixed == pm.fixed, (name, text)
        if not pm.fixed:
            assert params[name].constraint == pm.constraint, (name, text)
    assert {o.name for o in model.observations} == set(meta.observations)
    if not meta.noise_terms and all(b.kind != "fractional" for b in meta.brownians.values()):
        # (a fractional motion drives its hidden states even if no equation uses it)
        assert model.noise_structure == "none", text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(tricky_names=True))
def test_every_valid_spec_parses_to_the_declarations_it_names(spec):
    from dync.dsl import ast

    text, meta = spec
    parsed = parse_spec(text, "x.dync")
    assert parsed.name == meta.name
    assert {s.name for s in parsed.of_type(ast.State)} == set(meta.states)
    assert {s.name for s in parsed.of_type(ast.Brownian)} == set(meta.brownians)
    assert sorted(e.lhs for e in parsed.of_type(ast.Equation)) == sorted("d" + s for s in meta.states)
    noise_terms = [t for e in parsed.of_type(ast.Equation) for t in e.terms if t.differential != "dt"]
    assert len(noise_terms) == len(meta.noise_terms), text


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_specs(max_states=2), st.integers(0, 2**31 - 1))
def test_a_loaded_valid_spec_evaluates_to_finite_values_of_the_right_shapes(spec, seed):
    import jax
    import jax.numpy as jnp

    import dync

    text, meta = spec
    try:
        model = dync.load("x.dync", jax.random.key(seed), text=text)
    except DyncError as err:
        raise AssertionError(f"a valid spec did not load:\n{text}\n{err.render()}") from err
    n, m = model.info.state_size, model.info.noise_size
    hidden = sum(s.size for s in model.info.states if s.hidden)
    assert n == meta.state_size + hidden
    # only a fractional motion that drives an equation has hidden states
    used = {t.noise for t in meta.noise_terms}
    assert (hidden > 0) == any(b.kind == "fractional" and name in used for name, b in meta.brownians.items())
    assert m == sum(b.size for b in model.info.noises)

    k_init, k_y, k_w = jax.random.split(jax.random.key(seed), 3)
    y0 = model.initial_state(k_init)
    # a random state of moderate size: the strategy keeps every function in its domain there
    y = jax.random.uniform(k_y, (n,), minval=-1.0, maxval=1.0)
    dw = jax.random.normal(k_w, (m,))
    t = jnp.asarray(0.5)
    f = model.drift(t, y)
    g = model.noise(t, y, dw)
    for name, value, shape in (("initial_state", y0, (n,)), ("drift", f, (n,)), ("noise", g, (n,))):
        value = np.asarray(value)
        assert value.shape == shape, (name, value.shape, text)
        assert np.all(np.isfinite(value)), (name, value, text)


def test_python_keywords_are_valid_names_in_generated_code():
    # found by the property above (`valid_specs(tricky_names=True)`): a model,
    # dim, parameter or state named like a Python keyword must still compile
    text = (
        "model lambda\ndim in = 2\nparam if = 0.5 : positive\nconst is = 1.0\nbrownian for[in]\n"
        "state class[in] = 0\nlet def = sum(class^2)\n"
        "dclass = -if * class * is dt + grad(def, class) dt + 0.1 dW + 0.1 dfor\n"
        "observe with ~ Normal(def, 0.1)\n"
    )
    compiled = compile_or_fail(text)
    compile(compiled.source, "<generated>", "exec")
    assert compiled.model.name == "lambda"
    assert [s.name for s in compiled.model.states] == ["class"]
    assert {p.name: p.attr for p in compiled.model.params} == {"if": "if_", "is": "is_"}
