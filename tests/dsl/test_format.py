"""The canonical form: printing laws over every spec in `specs/`, over
hand-written specs and over random ASTs; the minimum-parentheses printer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dync.dsl import ast
from dync.dsl.format import canonical, format_equation, format_expr, format_text, format_yaml
from dync.dsl.parser import SpanMapper, parse_fragment, parse_spec
from dync.dsl.vocabulary import DISTRIBUTION_NAMES, NET_OPTIONS
from dync.dsl.yaml_loader import load_yaml_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"
SPEC_FILES = sorted(SPECS.glob("*.dync")) + sorted(SPECS.glob("*.yaml"))
PAIRS = [p for p in sorted(SPECS.glob("*.dync")) if p.with_suffix(".yaml").exists()]
MAPPER = SpanMapper("<test>", "")


def read(path: Path) -> ast.Spec:
    text = path.read_text(encoding="utf-8")
    return load_yaml_spec(text, str(path)) if path.suffix == ".yaml" else parse_spec(text, str(path))


def expr(text: str):
    return parse_fragment(text, "expr", MAPPER)


def check_laws(spec: ast.Spec) -> None:
    """Every law of the canonical form, for one spec."""
    text = format_text(spec)
    reparsed = parse_spec(text)
    assert canonical(reparsed) == canonical(spec), text
    assert reparsed.doc == spec.doc
    assert format_text(reparsed) == text  # idempotent
    yaml_text = format_yaml(spec)
    from_yaml = load_yaml_spec(yaml_text)
    assert from_yaml == canonical(spec), yaml_text
    assert from_yaml.doc == spec.doc
    assert format_text(from_yaml) == text  # text -> YAML -> text is the canonical text
    assert format_yaml(from_yaml) == yaml_text
    assert dict(load_yaml_spec(yaml_text).settings) == dict(spec.settings)


# ------------------------------------------------------------ the spec library


@pytest.mark.skipif(not SPEC_FILES, reason="no specs yet")
@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_laws_hold_for_every_library_spec(path):
    check_laws(read(path))


@pytest.mark.skipif(not PAIRS, reason="no text/YAML pairs yet")
@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_text_and_yaml_forms_of_a_library_spec_are_the_same_model(path):
    text_form, yaml_form = read(path), read(path.with_suffix(".yaml"))
    assert canonical(yaml_form).statements == canonical(text_form).statements
    assert yaml_form.name == text_form.name
    assert yaml_form.doc == text_form.doc
    assert format_text(yaml_form) == format_text(text_form)


# ------------------------------------------------------------ hand-written specs

HAND_WRITTEN = {
    "language_md_langevin": """\
        model langevin_oscillators
        dim K = 8
        dim N = 50
        param gamma = 0.5 : positive
        param omega[K] = 1.0 : positive
        param kappa = 0.2
        const T = 0.05
        param C[N, K] ~ init Normal(0, 0.3)
        param b[N] = -1.0
        state x[K] ~ Normal(0, 1)
        state v[K] = 0
        let U = sum(0.5 * omega^2 * x^2) - kappa * sum(cos(x - roll(x, 1)))
        dx = v dt
        dv = (-gamma * v - grad(U, x)) dt + sqrt(2 * gamma * T) dW
        observe spikes[N] ~ Poisson(softplus(C @ x + b) * 0.01)
        """,
    "everything_out_of_order": """\
        # top comment is not the doc when the model line has its own
        observe y[2] ~ Normal(x[0:2], 0.1)
        dx = -(a - b) * x dt - s * x dW + L @ dW + dB
        model messy
        # the doc
        #
        # after a blank doc line
        state x[N] ~ Normal(0, 1)   # trailing comment
        calculus stratonovich
        net f = mlp(activation = tanh, in = 2, out = 2)
        brownian B : fractional(hurst = H)
        brownian W[2]
        input u[N]
        let V = not (a < b) and c or d
        param H = 0.7 : interval(0, 1)
        const L[2, 2] = [[1, 0], [0.5, 1e-3]]
        param a = -2^-3 ** 2 : lower(-1) ~ init Normal(0, 1) ~ Gamma(2, 1)
        dim N = 2 * 3
        """,
    "no_model_line": """\
        # a spec without a model line keeps its doc
        state x = 0
        dx = -x dt + dW
        """,
    "ito_is_the_default": """\
        model m
        calculus ito
        state x = 0
        dx = -x dt
        """,
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_laws_hold_for_hand_written_specs(name):
    check_laws(parse_spec(textwrap.dedent(HAND_WRITTEN[name])))


def test_canonical_text_of_a_messy_spec():
    spec = parse_spec(textwrap.dedent(HAND_WRITTEN["everything_out_of_order"]))
    assert format_text(spec) == textwrap.dedent(
        """\
        model messy
        # the doc
        #
        # after a blank doc line

        calculus stratonovich

        dim N = 2 * 3

        param H = 0.7 : interval(0, 1)
        const L[2, 2] = [[1, 0], [0.5, 1e-3]]
        param a = -2^-3^2 : lower(-1) ~ init Normal(0, 1) ~ Gamma(2, 1)

        input u[N]

        brownian B : fractional(hurst = H)
        brownian W[2]

        state x[N] ~ Normal(0, 1)

        let V = not a < b and c or d

        net f = mlp(in = 2, out = 2, activation = tanh)

        dx = -(a - b) * x dt - s * x dW + L @ dW + dB

        observe y[2] ~ Normal(x[0:2], 0.1)
        """
    )


def test_canonical_yaml_of_a_messy_spec():
    spec = parse_spec(textwrap.dedent(HAND_WRITTEN["everything_out_of_order"]))
    assert format_yaml(spec) == textwrap.dedent(
        """\
        dync: 1
        model: messy
        doc: |-
          the doc

          after a blank doc line
        calculus: stratonovich
        dims:
          N: 2 * 3
        params:
          H:
            value: 0.7
            constraint: interval(0, 1)
          L: {value: [[1, 0], [0.5, 1e-3]], shape: [2, 2], fixed: true}
          a:
            value: -2^-3^2
            constraint: lower(-1)
            prior: Gamma(2, 1)
            init: Normal(0, 1)
        inputs:
          u: {shape: [N]}
        brownian:
          B: {kind: fractional, hurst: H}
          W: {shape: [2]}
        states:
          x:
            shape: [N]
            init: Normal(0, 1)
        let:
          V: not a < b and c or d
        nets:
          f: {type: mlp, in: 2, out: 2, activation: tanh}
        equations:
          - dx = -(a - b) * x dt - s * x dW + L @ dW + dB
        observe:
          y:
            shape: [2]
            dist: Normal(x[0:2], 0.1)
        """
    )


def test_yaml_quotes_only_where_yaml_needs_it():
    spec = parse_spec("model m\nlet a = yes\nlet b = [1, 2] @ x\nlet c = 0.5\nlet d = -1\nlet e = null\n")
    out = format_yaml(spec)
    assert "a: 'yes'" in out and "b: '[1, 2] @ x'" in out and "e: 'null'" in out
    assert "c: 0.5\n" in out and "d: -1\n" in out
    check_laws(spec)


def test_settings_are_written_after_the_model_in_yaml_and_dropped_from_text():
    spec = load_yaml_spec("model: m\nsimulate: {paths: 4, save: [0.5, 1.0]}\nfit: {steps: 3}\n")
    out = format_yaml(spec)
    assert out.endswith("simulate:\n  paths: 4\n  save: [0.5, 1.0]\nfit:\n  steps: 3\n")
    assert format_text(spec) == "model m\n"
    check_laws(spec)


def test_comments_other_than_the_doc_are_not_kept():
    spec = parse_spec("model m\n# doc\nstate x = 0  # start at rest\n# a note\ndx = -x dt\n")
    assert format_text(spec) == "model m\n# doc\n\nstate x = 0\n\ndx = -x dt\n"


# ------------------------------------------------------------ canonical


def test_canonical_sorts_stably_and_drops_ito():
    spec = parse_spec("let b = 1\nstate x = 0\ncalculus ito\nlet a = 2\nmodel m\nconst c = 1\nparam p\n")
    got = canonical(spec)
    assert [type(s).__name__ for s in got.statements] == ["ModelName", "Param", "Param", "State", "Let", "Let"]
    assert [s.name for s in got.of_type(ast.Let)] == ["b", "a"]
    assert [s.name for s in got.of_type(ast.Param)] == ["c", "p"]
    assert canonical(got) == got


def test_canonical_terms_take_the_parsers_representation():
    bare = ast.Term(1, None, "dW")
    matrix = ast.Term(1, ast.Name("L"), "dW", matrix=True)
    eq = ast.Equation("dx", (ast.Term(1, ast.Name("a"), "dt"), matrix, bare))
    spec = ast.Spec("m", "", (ast.ModelName("m"), eq))
    assert format_equation(eq) == "dx = a dt + L @ dW + dW"
    assert canonical(spec) == canonical(parse_spec("model m\ndx = a dt + L @ dW + dW\n"))
    check_laws(spec)


# ------------------------------------------------------------ expressions


@pytest.mark.parametrize(
    "source, printed",
    [
        ("-x^2", "-x^2"),
        ("(-x)^2", "(-x)^2"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("a / (b * c)", "a / (b * c)"),
        ("2^3^4", "2^3^4"),
        ("(2^3)^4", "(2^3)^4"),
        ("2 ** -x", "2^-x"),
        ("x^(a * b)", "x^(a * b)"),
        ("(a + b)[0]", "(a + b)[0]"),
        ("f(x)[1:3, :, ::2]", "f(x)[1:3, :, ::2]"),
        ("-(a + b)", "-(a + b)"),
        ("- -a", "- -a"),
        ("(a < b) < c", "(a < b) < c"),
        ("not (a and b)", "not (a and b)"),
        ("(not a) and b", "not a and b"),
        ("a + (not b)", "a + (not b)"),
        ("(a or b) and c", "(a or b) and c"),
        ("a or (b and c)", "a or b and c"),
        ("clip(x, lo = -1, hi=1)", "clip(x, lo = -1, hi = 1)"),
        ("[[1, 0],[0, 1]] @ x", "[[1, 0], [0, 1]] @ x"),
        ("((((1.50))))", "1.50"),
        ("1e-3 * .5", "1e-3 * .5"),
        ("a * (b @ c)", "a * (b @ c)"),
        ("(a * -b) + c", "a * -b + c"),
    ],
)
def test_expressions_print_with_the_fewest_parentheses(source, printed):
    tree = expr(source)
    assert format_expr(tree) == printed
    assert expr(printed) == tree


NAMES = st.sampled_from(["a", "b", "x", "mu", "sigma", "dW", "t", "null", "on"])
NUMBER_TEXTS = st.sampled_from(["0", "1", "2", "2.5", "0.001", "1e-3", "10", "3.0e+2", ".5", "1."])
NUMBERS = NUMBER_TEXTS.map(lambda s: ast.Number(float(s), s))
FUNCS = st.sampled_from(["f", "sqrt", "sum", "clip"])


def _extend(children):
    keywords = st.builds(ast.Keyword, st.sampled_from(["lo", "hi", "axis"]), children)
    slices = st.builds(ast.Slice, st.none() | children, st.none() | children, st.none() | children)
    return st.one_of(
        st.builds(
            ast.Binary,
            st.sampled_from(["or", "and", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/", "@", "^"]),
            children,
            children,
        ),
        st.builds(ast.Unary, st.sampled_from(["-", "+", "not"]), children),
        st.builds(
            ast.Call,
            FUNCS,
            st.lists(children, max_size=3).map(tuple),
            st.lists(keywords, max_size=2).map(tuple),
        ),
        st.builds(ast.Index, children, st.lists(children | slices, min_size=1, max_size=3).map(tuple)),
        st.builds(ast.ArrayLit, st.lists(children, min_size=1, max_size=3).map(tuple)),
    )


EXPRS = st.recursive(NUMBERS | NAMES.map(ast.Name), _extend, max_leaves=10)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(EXPRS)
def test_printed_expressions_parse_back_to_the_same_tree(tree):
    assert expr(format_expr(tree)) == tree


# ------------------------------------------------------------ random specs

DECL_NAMES = st.sampled_from(["a", "b", "c", "x", "y", "K", "N", "theta", "on", "null"])
SMALL = st.recursive(NUMBERS | NAMES.map(ast.Name), _extend, max_leaves=4)
SHAPES = st.none() | st.lists(NUMBERS | DECL_NAMES.map(ast.Name), min_size=1, max_size=3).map(tuple)
DISTS = st.builds(ast.Call, st.sampled_from(sorted(DISTRIBUTION_NAMES)), st.lists(SMALL, max_size=2).map(tuple))
KINDS = st.one_of(
    st.sampled_from(["positive", "unit"]).map(ast.Name),
    st.builds(ast.Call, st.sampled_from(["interval", "lower"]), st.lists(SMALL, min_size=1, max_size=2).map(tuple)),
)
NOT_A_DIST = SMALL.filter(lambda e: not (isinstance(e, ast.Call) and e.func in DISTRIBUTION_NAMES))


def _unique(strategy_of_names, build):
    return st.lists(strategy_of_names, unique=True, max_size=3).flatmap(
        lambda names: st.tuples(*[build(n) for n in names]) if names else st.just(())
    )


def _param(name):
    free = st.builds(
        ast.Param,
        st.just(name),
        SHAPES,
        st.none() | SMALL,
        st.none() | KINDS,
        st.none() | DISTS,
        st.none() | DISTS,
        st.just(False),
    )
    fixed = st.builds(ast.Param, st.just(name), SHAPES, SMALL, fixed=st.just(True))
    return free | fixed


def _state(name):
    return st.builds(ast.State, st.just(name), SHAPES, NOT_A_DIST) | st.builds(
        ast.State, st.just(name), SHAPES, st.none(), DISTS
    )


def _brownian(name):
    fractional = st.builds(lambda h: ast.Call("fractional", (), (ast.Keyword("hurst", h),)), SMALL)
    return st.builds(ast.Brownian, st.just(name), SHAPES, st.none() | st.just(ast.Name("fractional")) | fractional)


def _net(name):
    options = st.lists(st.sampled_from(NET_OPTIONS), unique=True, max_size=5)
    call = options.flatmap(
        lambda opts: st.tuples(*[SMALL.map(lambda v, o=o: ast.Keyword(o, v)) for o in opts]) if opts else st.just(())
    ).map(lambda kws: ast.Call("mlp", (), kws))
    return st.builds(ast.Net, st.just(name), call)


TERMS = st.builds(
    ast.Term,
    st.sampled_from([1, -1]),
    SMALL,
    st.sampled_from(["dt", "dW", "dB", None]),
)


def _equations(names):
    def build(name):
        return st.lists(TERMS, min_size=1, max_size=3).map(
            lambda ts: ast.Equation("d" + name, (ast.Term(1, ts[0].coefficient, ts[0].differential),) + tuple(ts[1:]))
        )

    return st.tuples(*[build(n) for n in names]) if names else st.just(())


@st.composite
def specs(draw):
    model = draw(st.none() | st.sampled_from(["m", "model_1"]))
    line = st.text(st.sampled_from("abc xyz,.:;()-'#\"!0123"), min_size=1, max_size=12).map(str.strip).filter(bool)
    doc_lines = draw(st.lists(line | st.just(""), max_size=3).filter(lambda ls: not ls or (ls[0] and ls[-1])))
    statements: list = []
    if model:
        statements.append(ast.ModelName(model))
    statements += draw(st.sampled_from([[], [ast.Calculus("stratonovich")], [ast.Calculus("ito")]]))
    statements += draw(_unique(DECL_NAMES, lambda n: st.builds(ast.Dim, st.just(n), SMALL)))
    statements += draw(_unique(DECL_NAMES, _param))
    statements += draw(_unique(DECL_NAMES, lambda n: st.builds(ast.Input, st.just(n), SHAPES)))
    statements += draw(_unique(DECL_NAMES, _brownian))
    state_names = draw(st.lists(DECL_NAMES, unique=True, max_size=3))
    for name in state_names:
        statements.append(draw(_state(name)))
    statements += draw(_unique(DECL_NAMES, lambda n: st.builds(ast.Let, st.just(n), SMALL)))
    statements += draw(_unique(DECL_NAMES, _net))
    statements += draw(_equations(state_names))
    statements += draw(_unique(DECL_NAMES, lambda n: st.builds(ast.Observe, st.just(n), SHAPES, DISTS)))
    shuffled = draw(st.permutations(statements))
    return ast.Spec(model or "", "\n".join(doc_lines), tuple(shuffled))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_laws_hold_for_random_specs(spec):
    check_laws(spec)


def test_a_doc_keeps_its_own_marks_and_indentation_in_both_forms():
    """`## Title` became `# # Title` and indented doc lines lost their indentation."""
    text = "model m\n## Title\n#   indented line\n# plain\n\nstate x = 0\n\ndx = -x dt\n"
    spec = parse_spec(text)
    assert spec.doc == "# Title\n  indented line\nplain"
    assert format_text(spec) == text
    again = load_yaml_spec(format_yaml(spec), "m.yaml")
    assert again.doc == spec.doc and format_text(again) == text
