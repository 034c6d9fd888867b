"""Language 1.1 in the front end: `expect`, `target`, `score`, `state x ~ data`
and the `test:` / `sample:` sections read the same from both forms, print
canonically, and round-trip (LANGUAGE.md §8–§10)."""

from __future__ import annotations

import textwrap

import pytest

from dync.dsl import ast
from dync.dsl.format import canonical, format_text, format_yaml
from dync.dsl.parser import SpanMapper, parse_fragment, parse_spec
from dync.dsl.yaml_loader import load_yaml_spec
from dync.errors import SpecErrors

from .test_format import check_laws

# the examples of LANGUAGE.md §8, §9 and §10, verbatim
LANGUAGE_MD = {
    "ou_tested": """\
        model ou_tested
        param theta = 1.0 : positive
        param mu = 0.5
        param sigma = 0.5 : positive
        const x0 = 2.0
        state x = x0
        dx = theta * (mu - x) dt + sigma dW
        expect mean(x) = mu + (x0 - mu) * exp(-theta * t)
        expect var(x) = sigma^2 / (2 * theta) * (1 - exp(-2 * theta * t))
        expect stationary x ~ Normal(mu, sigma / sqrt(2 * theta))
        """,
    "banana": """\
        model banana
        param b = 0.1
        state q[2] = 0
        let U = q[0]^2 / 2 + (q[1] - b * q[0]^2)^2 / 2
        target -U
        """,
    "vp_sde": """\
        model vp_sde
        dim D = 2
        param beta_min = 0.1 : positive
        param beta_max = 20.0 : positive
        net s = mlp(in = 3, out = 2, width = 128, depth = 3, activation = silu)
        let beta = beta_min + t * (beta_max - beta_min)
        state x[D] ~ data
        dx = -0.5 * beta * x dt + sqrt(beta) dW
        score x = s(x, t)
        """,
}


@pytest.mark.parametrize("name", sorted(LANGUAGE_MD))
def test_language_md_examples_parse_and_obey_the_laws(name):
    spec = parse_spec(textwrap.dedent(LANGUAGE_MD[name]))
    check_laws(spec)


@pytest.mark.parametrize("name", sorted(LANGUAGE_MD))
def test_language_md_examples_compile(name):
    from dync.compiler.driver import compile_ast

    compiled = compile_ast(parse_spec(textwrap.dedent(LANGUAGE_MD[name])))
    compile(compiled.source, name, "exec")


def test_each_statement_reads_into_its_node():
    spec = parse_spec(textwrap.dedent(LANGUAGE_MD["ou_tested"]) + "expect always x > -10 and not x == 99\n")
    kinds = [(e.kind, e.state) for e in spec.of_type(ast.Expect)]
    assert kinds == [("mean", None), ("var", None), ("stationary", "x"), ("always", None)]
    always = spec.of_type(ast.Expect)[-1]
    assert isinstance(always.lhs, ast.Binary) and always.lhs.op == "and"
    banana = parse_spec(textwrap.dedent(LANGUAGE_MD["banana"]))
    (target,) = banana.of_type(ast.Target)
    assert target.value == ast.Unary("-", ast.Name("U"))
    vp = parse_spec(textwrap.dedent(LANGUAGE_MD["vp_sde"]))
    (score,) = vp.of_type(ast.Score)
    assert score.state == "x" and isinstance(score.value, ast.Call) and len(score.value.args) == 2
    (state,) = vp.of_type(ast.State)
    assert state.data and state.init is None and state.value is None


YAML_FORM = """\
dync: 1
model: ou_tested
params:
  theta: {value: 1.0, constraint: positive}
  mu: 0.5
  sigma: {value: 0.5, constraint: positive}
  x0: {value: 2.0, fixed: true}
states:
  x: x0
  z: {shape: [2], init: data}
equations:
  - dx = theta * (mu - x) dt + sigma dW
target: -x^2 - sum(z^2)
score:
  z: -z * t
expect:
  - mean(x) = mu + (x0 - mu) * exp(-theta * t)
  - var(x) = sigma^2 / (2 * theta) * (1 - exp(-2 * theta * t))
  - stationary x ~ Normal(mu, sigma / sqrt(2 * theta))
  - always x > -10
test:
  paths: 100
  t1: 2.0
  alpha: 0.001
  ranges: {theta: [0.5, 2.0], sigma: [0.2, 1]}
sample:
  method: nuts
  chains: 2
  step: 0.1
"""


def test_yaml_form_equals_text_form_and_round_trips():
    spec = load_yaml_spec(YAML_FORM)
    check_laws(spec)
    assert format_yaml(spec) == YAML_FORM
    text = format_text(spec)
    assert "state z[2] ~ data" in text and "target -x^2 - sum(z^2)" in text and "score z = -z * t" in text
    assert canonical(parse_spec(text)).statements == canonical(spec).statements
    assert spec.setting("test") == {"paths": 100, "t1": 2.0, "alpha": 0.001, "ranges": {"theta": (0.5, 2.0), "sigma": (0.2, 1)}}
    assert spec.setting("sample") == {"method": "nuts", "chains": 2, "step": 0.1}


def test_yaml_spans_point_into_the_file():
    spec = load_yaml_spec(YAML_FORM, "s.yaml")
    mean = spec.of_type(ast.Expect)[0]
    assert (mean.span.line, mean.span.column) == (17, 5)
    assert (mean.kind_span.line, mean.kind_span.column) == (17, 5)
    (target,) = spec.of_type(ast.Target)
    assert (target.value.span.line, target.value.span.column) == (13, 9)
    (score,) = spec.of_type(ast.Score)
    assert (score.state_span.line, score.state_span.column) == (15, 3)


def test_expectation_fragments_parse_alone():
    mapper = SpanMapper("<test>", "")
    e = parse_fragment("stationary x ~ Gamma(2, 1)", "expectation", mapper)
    assert e == ast.Expect("stationary", state="x", dist=parse_fragment("Gamma(2, 1)", "dist", mapper))


@pytest.mark.parametrize(
    "section, message",
    [
        ("test: {ranges: {theta: [2.0, 1.0]}}", "`test.ranges.theta` is [2.0, 1.0]: the lower bound must be below the upper one"),
        ("test: {ranges: {theta: [1.0]}}", "`test.ranges.theta` expects two numbers `[LO, HI]`, found a list"),
        ("test: {ranges: [1, 2]}", "`test.ranges` expects a mapping NAME: [LO, HI], found a list"),
        ("test: {paths: many}", "`test.paths` expects an integer"),
        ("sample: {chain: 2}", "unknown key `chain` in `sample`"),
        ("expect: {mean: x}", "`expect` expects a list of expectations"),
        ("expect: [x > 0]", "unexpected `>`"),
        ("score: [x]", "`score` expects a mapping `STATE: EXPR`"),
    ],
)
def test_bad_yaml_sections_are_located_errors(section, message):
    text = "model: m\nstates: {x: 0}\nequations: [dx = -x dt]\n" + section + "\n"
    with pytest.raises(SpecErrors) as err:
        load_yaml_spec(text, "s.yaml")
    assert message in err.value.render()
    assert "s.yaml:4:" in err.value.render()


def test_new_words_are_names_wherever_a_name_stands():
    spec = parse_spec(
        "model m\nparam target = 1\nparam data = 2\nparam score = 3\nparam expect = 4\n"
        "state always = 0\nstate stationary = 0\n"
        "dalways = -target * always dt + data * score dW\ndstationary = -expect * stationary dt\n"
        "target -always^2\nexpect stationary stationary ~ Normal(0, 1)\n"
    )
    check_laws(spec)
    from dync.compiler.driver import compile_ast

    compiled = compile_ast(spec)
    assert "score_" in compiled.source  # the param `score` does not hide the method
