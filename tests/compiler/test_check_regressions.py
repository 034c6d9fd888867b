"""Regressions found by review: each test names the bug it pins down.

Specs are given inline (both forms where the rule is a language rule) and
compiled through the driver, as `dync check` / `dync compile` / `dync.load` do.
"""

from __future__ import annotations

import keyword
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.compiler.driver import compile_file, model_class
from dync.compiler.describe import describe_model
from dync.compiler.summary import check_file
from dync.dsl.format import format_text, format_yaml
from dync.errors import SpecErrors

ROOT = Path(__file__).resolve().parents[2]


def _errors(path: str, text: str) -> list:
    with pytest.raises(SpecErrors) as info:
        compile_file(path, text=text)
    assert "Traceback" not in info.value.render()
    return info.value.errors


def _codes(path: str, text: str) -> list[str]:
    return [e.code for e in _errors(path, text)]


# ---- 1. Python keywords as names ---------------------------------------------

_KEYWORDS = ["lambda", "in", "is", "class", "from", "def", "return", "yield", "None", "True", "import"]
_KINDS = ("dim", "param", "const", "input", "net", "brownian", "state", "let", "observe")


@pytest.mark.parametrize("offset", range(len(_KEYWORDS)))
def test_python_keywords_name_every_kind_of_declaration(offset):
    # kind j is named by keyword (offset + j): every keyword names every kind once
    n = {kind: _KEYWORDS[(offset + j) % len(_KEYWORDS)] for j, kind in enumerate(_KINDS)}
    text = (
        "model m\n"
        f"dim {n['dim']} = 1\n"
        f"param {n['param']} = 2.0 : positive ~ LogNormal(0, 1)\n"
        f"const {n['const']} = 0.5\n"
        f"input {n['input']}\n"
        f"net {n['net']} = mlp(in = 1, out = 1, width = 4, depth = 1)\n"
        f"brownian {n['brownian']}[{n['dim']}]\n"
        f"state {n['state']}[{n['dim']}] = 1.0\n"
        f"let {n['let']} = {n['param']} * {n['state']}\n"
        f"d{n['state']} = -{n['let']} * {n['input']} dt + {n['const']} * sum({n['net']}({n['state']})) d{n['brownian']}\n"
        f"observe {n['observe']} ~ Normal({n['state']}, 1)\n"
    )
    model = dync.load("kw.dync", jax.random.key(2), text=text)
    y = model.initial_state(jax.random.key(0))
    args = {"inputs": {n["input"]: lambda t: jnp.asarray(1.0)}}
    np.testing.assert_allclose(model.drift(0.0, y, args), [-2.0], rtol=1e-6)
    assert model.noise(0.0, y, jnp.ones(1), args).shape == (1,)
    params = model.constrained_params()
    assert float(params[n["param"]]) == pytest.approx(2.0) and float(params[n["const"]]) == 0.5
    assert np.isfinite(model.log_prior())
    assert np.isfinite(model.observation_log_prob(0.0, y, {n["observe"]: jnp.asarray(0.5)}))
    assert set(model.observation_sample(jax.random.key(1), 0.0, y)) == {n["observe"]}
    for p in model.info.params:
        assert not keyword.iskeyword(p.field) and p.field == f"{p.name}_"


def test_mangled_attributes_never_clash():
    text = "model m\nparam lambda = 2.0 : positive\nparam lambda_ = 3.0\nparam lambda__ = 5.0\nstate x = 1.0\ndx = -lambda * lambda_ * lambda__ * x dt\n"
    model = dync.load("kw.dync", text=text)
    fields = [p.field for p in model.info.params]
    assert len(set(fields)) == 3 and fields[1:] == ["lambda_", "lambda__"]
    params = model.constrained_params()
    assert {k: float(v) for k, v in params.items()} == pytest.approx({"lambda": 2.0, "lambda_": 3.0, "lambda__": 5.0})
    np.testing.assert_allclose(model.drift(0.0, jnp.array([1.0])), [-30.0], rtol=1e-6)


def test_model_attributes_the_checker_protects_cover_the_model_class():
    from dync.compiler.names import _MODEL_ATTRS
    from dync.runtime.model import AbstractModel

    public = {n for n in dir(AbstractModel) if not n.startswith("_")}
    assert public <= _MODEL_ATTRS


# ---- 2. a parameter with no value and no constraint ----------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("a.dync", "model m\nparam a\nstate x = 0\ndx = -x dt\n"),
        ("a.dync", "model m\nparam a ~ Normal(0, 1)\nstate x = 0\ndx = -x dt\n"),
        ("a.yaml", "model: m\nparams: {a: }\nstates: {x: 0}\nequations: [dx = -x dt]\n"),
        ("a.yaml", "model: m\nparams: {a: {prior: Normal(0, 1)}}\nstates: {x: 0}\nequations: [dx = -x dt]\n"),
    ],
)
def test_unconstrained_parameter_without_value_starts_at_zero(path, text):
    (p,) = compile_file(path, text=text).model.params
    assert float(p.value) == 0.0


@pytest.mark.parametrize(
    ("constraint", "value"),
    [("positive", 1.0), ("negative", -1.0), ("unit", 0.5), ("interval(-1, 3)", 1.0), ("lower(2)", 3.0), ("upper(-2)", -3.0)],
)
def test_constrained_parameter_without_value_starts_inside(constraint, value):
    text = f"model m\nparam a : {constraint} ~ Normal(0, 1)\nstate x = 0\ndx = -x dt\n"
    (p,) = compile_file("a.dync", text=text).model.params
    assert float(p.value) == value


# ---- 3. which names may be declared: the same rule in both forms --------------


@pytest.mark.parametrize("word", ["model", "param", "state", "let", "init", "dim", "observe", "calculus"])
def test_statement_words_name_declarations_in_both_forms(word, tmp_path):
    text = f"model m\nparam {word} = 1\nstate x = 1\ndx = -{word} * x dt\n"
    compiled = compile_file("k.dync", text=text)
    yaml_text = format_yaml(compiled.spec)
    again = compile_file("k.yaml", text=yaml_text)  # `dync fmt --to yaml` output loads back
    assert again.source == compiled.source
    assert compile_file("k2.dync", text=format_text(again.spec)).source == compiled.source


@pytest.mark.parametrize("word", ["not", "and", "or"])
def test_operator_words_are_reserved_in_both_forms(word):
    text_errors = _errors("k.dync", f"model m\nparam {word} = 1\nstate x = 1\ndx = -x dt\n")
    yaml_errors = _errors("k.yaml", f"model: m\nparams: {{{word}: 1}}\nstates: {{x: 1}}\nequations: [dx = -x dt]\n")
    for errs in (text_errors, yaml_errors):
        (err,) = errs
        assert err.code == "E203"
        assert err.message == f"`{word}` is an operator of the spec language and cannot be declared"


def test_a_state_named_im_has_the_equation_dim_in_both_forms():
    # `dim = ...` is an equation (of `im`), `dim NAME = ...` a size: the grammar tells them apart
    from dync.compiler.driver import compile_file
    from dync.dsl.format import canonical, format_text, format_yaml
    from dync.dsl.parser import parse_spec
    from dync.dsl.yaml_loader import load_yaml_spec

    text = "model m\ndim im2 = 2\nstate im = 1\ndim = -im dt + 0.5 dW\n"
    yaml = "model: m\ndims: {im2: 2}\nstates: {im: 1}\nequations: [dim = -im dt + 0.5 dW]\n"
    for name, source in (("k.dync", text), ("k.yaml", yaml)):
        model = compile_file(name, text=source).model
        assert [s.name for s in model.states] == ["im"] and dict(model.dims) == {"im2": 2}
        assert model.noise_structure == "additive"
    spec = parse_spec(text, "k.dync")
    formatted = format_text(spec)
    assert "\ndim = " in formatted and canonical(parse_spec(formatted, "k.dync")) == canonical(spec)
    assert load_yaml_spec(format_yaml(spec)) == canonical(spec)


# ---- 4. a negated bare differential --------------------------------------------


@pytest.mark.parametrize(
    ("equation", "drift", "noise"),
    [
        ("dx = -dW", 0.0, -1.0),
        ("dx = -dt + dW", -1.0, 1.0),
        ("dx = x dt - dW", 2.0, -1.0),
        ("dx = -dt - dW", -1.0, -1.0),
        ("dx = +dW - x dt", -2.0, 1.0),
    ],
)
@pytest.mark.parametrize("form", ["dync", "yaml"])
def test_negated_bare_differentials(equation, drift, noise, form):
    if form == "dync":
        text = f"model m\nstate x = 1\n{equation}\n"
    else:
        text = f"model: m\nstates: {{x: 1}}\nequations: ['{equation}']\n"
    model = dync.load(f"n.{form}", text=text)
    y = jnp.array([2.0])
    np.testing.assert_allclose(model.drift(0.0, y), [drift])
    np.testing.assert_allclose(model.noise(0.0, y, jnp.ones(1)), [noise])


# ---- 5. long flat sums and deep nesting -----------------------------------------


def _long_sum(n: int) -> str:
    return "model m\nstate x = 0.0\ndx = (" + "+".join(["x"] * n) + ") dt + dW\n"


def test_a_sum_of_thousands_of_terms_checks_compiles_and_runs():
    text = _long_sum(3000)
    summary = check_file("s.dync", text=text)
    assert summary.model.noise_structure == "additive"
    compiled = compile_file("s.dync", text=text)
    # generated code stays shallow: long chains are split into locals
    assert max(len(line) for line in compiled.source.splitlines()) < 1000
    model = model_class(compiled)()
    np.testing.assert_allclose(model.drift(0.0, jnp.array([2.0])), [6000.0])


def test_deep_nesting_and_long_constants_compile_in_both_forms():
    nested = "(" * 2000 + "x" + ")" * 2000
    model = dync.load("s.dync", text=f"model m\nparam a = {'+'.join(['1'] * 2000)}\nstate x = 0.0\ndx = -a * {nested} dt\n")
    np.testing.assert_allclose(model.drift(0.0, jnp.array([1.0])), [-2000.0])
    yaml_text = "model: m\nstates: {x: 0.0}\nequations: ['dx = (" + "+".join(["x"] * 2000) + ") dt']\n"
    compiled = compile_file("s.yaml", text=yaml_text)
    assert format_text(compiled.spec).count("+") == 1999


def test_beyond_the_raised_limit_is_a_located_error(monkeypatch):
    import dync._deep as deep

    monkeypatch.setattr(deep, "DEEP_RECURSION_LIMIT", 1500)
    (err,) = _errors("s.dync", "model m\nparam a = 1\nstate x = 0.0\n" + _long_sum(3000).split("\n", 2)[2])
    assert err.code == "E290"
    assert err.message == "this expression is nested too deeply to compile"
    assert err.span.line == 4


# ---- 6. `~ init` draws against the constraint -----------------------------------


@pytest.mark.parametrize(
    ("decl", "hint"),
    [
        ("param s[4] : positive ~ init Normal(0, 1)", "`HalfNormal`, `LogNormal`, `Exponential`, `Gamma`"),
        ("param s : positive ~ init Poisson(3)", "`HalfNormal`"),
        ("param s : unit ~ init LogNormal(0, 1)", "`Beta`"),
        ("param s : interval(0, 2) ~ init Uniform(0, 3)", "`Uniform(0, 2)`"),
        ("param s : negative ~ init HalfNormal(1)", "`Uniform(lo, hi)`"),
    ],
)
@pytest.mark.parametrize("form", ["dync", "yaml"])
def test_init_draws_outside_the_constraint_are_errors(decl, hint, form):
    name_shape, rest = decl[len("param "):].split(" : ")
    constraint, dist = rest.split(" ~ init ")
    if form == "dync":
        text = f"model m\n{decl}\nstate x = 1\ndx = -x dt\n"
    else:
        name = name_shape.split("[")[0]
        shape = ", shape: [4]" if "[" in name_shape else ""
        text = f"model: m\nparams:\n  {name}: {{constraint: {constraint}, init: {dist}{shape}}}\nstates: {{x: 1}}\nequations: [dx = -x dt]\n"
    (err,) = _errors(f"i.{form}", text)
    assert err.code == "E240"
    assert f"is drawn from `{dist.split('(')[0]}`, which can give values outside its constraint `{constraint}`" in err.message
    assert hint in err.hint


@pytest.mark.parametrize(
    "decl",
    [
        "param s[4] : positive ~ init LogNormal(0, 1)",
        "param s : unit ~ init Beta(2, 2)",
        "param s : interval(-1, 3) ~ init Uniform(0, 3)",
        "param s : lower(-1) ~ init Poisson(2)",
        "param s : positive ~ init Uniform(0, 1)",
        "param s ~ init Normal(0, 1)",
    ],
)
def test_init_draws_inside_the_constraint_are_finite(decl):
    model = dync.load("i.dync", text=f"model m\n{decl}\nstate x = 1\ndx = -x dt\n", key=jax.random.key(3))
    assert np.all(np.isfinite(model.constrained_params()["s"]))


# ---- 7. booleans in arithmetic ---------------------------------------------------


def test_comparisons_are_zero_or_one_in_arithmetic():
    text = (
        "model m\nstate x = 1\nlet c = x < 3\nlet k = 2 * x\nstate z = 0\n"
        "dx = (-(x > 0) * x) dt + (x > 0) dW\n"
        "dz = where(c, 1, -1) dt + (c and x > 0) * 0.1 dW + (not k) dW\n"
        "observe o ~ Normal(x > 1, 1)\n"
    )
    model = dync.load("b.dync", text=text)
    y = jnp.array([2.0, 0.0])
    with jax.numpy_dtype_promotion("strict"):
        np.testing.assert_allclose(model.drift(0.0, y), [-2.0, 1.0])
        np.testing.assert_allclose(jax.jit(model.noise)(0.0, y, jnp.ones(2)), [1.0, 0.1], rtol=1e-6)
        np.testing.assert_allclose(model.observation_log_prob(0.0, y, {"o": jnp.asarray(1.0)}), -0.5 * np.log(2 * np.pi), rtol=1e-6)
        np.testing.assert_allclose(jax.grad(lambda v: model.drift(0.0, v).sum())(y), [-1.0, 0.0])


def test_comparisons_in_constants_are_numbers():
    (p,) = compile_file("b.dync", text="model m\nparam a = -(1 > 0) + 2 * (3 > 4)\nstate x = 1\ndx = a * x dt\n").model.params
    assert float(p.value) == -1.0


# ---- 8. an unused fractional Brownian motion ------------------------------------


def test_unused_fractional_noise_adds_nothing_and_is_warned_about():
    text = "model m\nbrownian B : fractional(hurst = 0.7)\nstate x = 1\ndx = -x dt + 0.1 dW\n"
    compiled = compile_file("u.dync", text=text)
    m = compiled.model
    assert (m.state_size, m.noise_size, m.fbm_num_ou) == (1, 1, 0)
    assert [s.name for s in m.states] == ["x"]
    assert "self.fbm_horizon = None" in compiled.source  # a declared field, unset
    assert [w.render() for w in compiled.warnings] == ["u.dync:2: warning: Brownian motion `B` drives no equation"]
    assert [(w.code, w.span.line) for w in compiled.warnings] == [("W100", 2)]
    assert check_file("u.dync", text=text).warnings == compiled.warnings


def test_used_fractional_noise_keeps_its_hidden_states():
    m = compile_file(ROOT / "specs" / "fractional_ou.dync").model
    assert m.fbm_num_ou > 0 and any(s.hidden for s in m.states)


# ---- 9. each diagnostic once -------------------------------------------------------


@pytest.mark.parametrize(
    ("decl", "code"),
    [("state x = t", "E290"), ("state x = y", "E201"), ("input u\nstate x = u", "E290"), ("state x = Normal(0, 1)", "E220")],
)
def test_an_error_in_a_state_value_is_reported_once(decl, code):
    assert _codes("r.dync", f"model m\n{decl}\ndx = -x dt\n") == [code]


@pytest.mark.parametrize(
    "yaml_text",
    [
        "model: m\nstates: {x: {init: 0.0, shpe: [2]}}\nequations: [dx = -A @ x dt]\nparams: {A: [[1, 0], [0, 1]]}\n",
        "model: m\nstates: {x: {int: 0.0}}\nequations: [dx = -x dt]\n",
        "model: m\nstates: {x: 0}\nbrownian: {B: {kind: fractional, hurts: 0.7}}\nequations: [dx = -x dt + dB]\n",
        "model: m\nstates: {x: 0}\ninputs: {u: {shap: [2]}}\nequations: [dx = -sum(u) * x dt]\n",
        "model: m\nstates: {x: 0}\nnets: {f: {typ: mlp, in: 1, out: 1}}\nequations: [dx = -sum(f(x)) dt]\n",
        "model: m\nstates: {x: 0}\nnets: {f: {type: mlp, inn: 1, out: 1}}\nequations: [dx = -sum(f(x)) dt]\n",
        "model: m\nstates: {x: 0}\nequations: [dx = -x dt]\nobserve: {y: {dsit: Normal(x, 1)}}\n",
        "model: m\nparams: {s: {value: 1, shpe: [2]}}\nstates: {x: [0, 0]}\nequations: [dx = -s @ x dt]\n",
    ],
)
def test_a_misspelt_yaml_key_is_the_only_error(yaml_text):
    assert _codes("r.yaml", yaml_text) == ["E260"]


def test_misspelt_keys_still_let_independent_errors_through():
    text = "model: m\nstates: {x: {init: 0.0, shpe: [2]}, y: 0}\nequations: [dx = -x dt, dy = -sigm dt]\n"
    assert _codes("r.yaml", text) == ["E260", "E201"]


# ---- 10. E230 for matrix noise ------------------------------------------------------


def test_matrix_noise_with_scalars_reads_well():
    (err,) = _errors("e.dync", "model m\nstate x = 1\ndx = -x dt + x @ dW\n")
    assert err.message == "`@ dW` is a matrix product, but the coefficient and `dW` are scalars"
    assert err.hint == "write `EXPR dW` without `@` for elementwise noise"


def test_matrix_noise_with_wrong_shapes_names_the_shape_needed():
    (err,) = _errors("e.dync", "model m\nbrownian W[3]\nstate x[2] = 1\ndx = -x dt + ones(3, 2) @ dW\n")
    assert err.message == (
        "a coefficient of shape (3, 2) cannot multiply `dW` of shape (3,) with `@` for state `x` "
        "of shape (2,): the inner sizes do not match"
    )
    assert err.hint == "the coefficient needs shape (2, 3)"


# ---- 11. the solver line of `dync check` ---------------------------------------------

_EXTRA_SPECS = {
    "ode.dync": "model ode\nstate x = 1\ndx = -x dt\n",
    "coupled.dync": "model c\nstate x = 1\nstate y = 1\ndx = -x dt + y dW\ndy = -y dt + x dW\n",
    "coupled_strat.dync": "model c\ncalculus stratonovich\nstate x = 1\nstate y = 1\ndx = -x dt + y dW\ndy = -y dt + x dW\n",
    "scalar.dync": "model s\nbrownian W\nstate x[2] = 1\ndx = -x dt + x dW\n",
}


def _all_specs():
    for path in sorted((ROOT / "specs").iterdir()):
        if path.suffix in (".dync", ".yaml"):  # not specs/fit/, not data
            yield path.name, compile_file(path)
    for name, text in _EXTRA_SPECS.items():
        yield name, compile_file(name, text=text)


def test_generated_info_is_the_compilers_description_and_picks_every_solver():
    """The generated module embeds the very description `dync check` reads
    its solver line from (one rule, `dync.info.choose_solver`)."""
    from dync.info import choose_solver

    seen = set()
    for name, compiled in _all_specs():
        info = model_class(compiled).info
        assert info == describe_model(compiled.model), name
        for adaptive in (False, True):
            seen.add(choose_solver(info, "auto", adaptive).name)
    assert {"tsit5", "milstein", "euler_maruyama", "heun", "baoab", "shark", "heun_diffrax"} <= seen


def test_summary_solver_line_for_an_ode_and_a_non_elementwise_diagonal_model():
    ode = check_file("ode.dync", text=_EXTRA_SPECS["ode.dync"]).to_text()
    assert "solver      auto → tsit5 (diffrax, fixed step); adaptive with --adaptive" in ode
    coupled = check_file("c.dync", text=_EXTRA_SPECS["coupled.dync"]).to_text()
    assert "solver      auto → euler_maruyama (fused, fixed step); heun_diffrax with --adaptive" in coupled


# ---- 12. initial values from state-free lets ----------------------------------------
# Bug: lets were checked after the states, so `state x = U` with a state-free
# `let U` silently started x at 0 (and took shape () whatever U's shape), and
# `state x = y + 1` with `y` declared further down passed `dync check`.

_LET_INIT = {
    "li.dync": "model li\nparam k = 2\nlet V = U + 1\nlet U = [3 * k, k]\nstate x = V\ndx = -x dt\n",
    "li.yaml": "model: li\nparams: {k: 2}\nlet: {V: U + 1, U: '[3 * k, k]'}\nstates: {x: V}\nequations:\n  - dx = -x dt\n",
}


@pytest.mark.parametrize("path", sorted(_LET_INIT))
def test_a_state_starts_at_a_state_free_let_and_takes_its_shape(path):
    model = dync.load(path, jax.random.key(0), text=_LET_INIT[path])
    np.testing.assert_allclose(model.initial_state(jax.random.key(1)), [7.0, 3.0])


@pytest.mark.parametrize(
    "text, message",
    [
        ("model m\nstate x = y + 1\nstate y = 5\ndx = -x dt\ndy = -y dt\n", "state `y` is not known here"),
        ("model m\nstate y = 5\nlet U = y * 2\nstate x = U\ndx = -x dt\ndy = -y dt\n", "`U` depends on the state"),
        ("model m\nlet T = exp(-t)\nstate x = T\ndx = -x dt\n", "`T` depends on time"),
        ("model m\ninput u\nlet W = u + 1\nstate x = W\ndx = -x dt\n", "`W` depends on the input `u`"),
    ],
)
def test_an_initial_value_that_reads_the_state_time_or_inputs_is_an_error(text, message):
    (err,) = _errors("m.dync", text)
    assert err.code == "E290" and message in err.message


def test_the_differential_of_a_param_name_is_an_implicit_noise():
    """LANGUAGE.md §3 reserves `d` + a state or Brownian name only: with
    `param W = 2`, `W dW` is noise of scale 2 (was E214); `dx` of a state
    stays an error."""
    import dync

    model = dync.load("m.dync", text="model m\nparam W = 2\nstate x = 0\ndx = -x dt + W dW\n")
    assert model.info.noise_structure == "additive" and model.info.noise_size == 1
    np.testing.assert_allclose(model.diffusion_diagonal(0.0, jnp.zeros(1)), [2.0])
    with pytest.raises(SpecErrors, match="differential of state"):
        dync.load("m.dync", text="model m\nstate x = 0\nstate y = 0\ndx = -x dt + dy\ndy = -y dt\n")


@pytest.mark.parametrize(
    ("equation", "code", "message", "hint", "columns"),
    [
        # `-exp dt`: the function is the term's coefficient, used as a value
        ("dx = -exp dt + dW", "E201", "`exp` is a function, used here as a value", "`-exp(x) * dt`", (7, 10)),
        # `-log x + 1 dt`: its argument `x` is read as the term's differential
        ("dx = -log x + 1 dt + dW", "E214", "`log x`: a function's argument goes in parentheses", "`-log(x) * dt`", (7, 12)),
        ("dx = -x dt + exp x", "E214", "`exp x`: a function's argument goes in parentheses", "`exp(x) * dt`", (14, 19)),
    ],
)
def test_a_function_written_without_parentheses_is_told_to_take_them(equation, code, message, hint, columns):
    (err,) = _errors("m.dync", f"model m\nstate x = 1\n{equation}\n")
    assert (err.code, err.message) == (code, message)
    assert hint in err.hint
    assert (err.span.line, err.span.column, err.span.end_column) == (3, *columns)


def test_a_declared_name_that_shadows_a_function_is_not_taken_for_one():
    """`param exp = 2` may be used as a value (docs/language.md §17 item 9),
    and `exp dW` closes a term with a declared Brownian's differential."""
    compile_file("m.dync", text="model m\nparam exp = 2\nstate x = 1\ndx = -exp dt + dW\n")
    (err,) = _errors("m.dync", "model m\nparam sigma = 2\nstate x = 1\ndx = -x dt + sigma y\n")
    assert err.code == "E214" and err.message == "`y` is not a differential"
