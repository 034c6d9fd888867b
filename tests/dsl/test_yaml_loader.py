"""The YAML form: every key, the shorthand forms, every error with its location,
and spans that point inside YAML strings of every style."""

from __future__ import annotations

import textwrap

import pytest

from dync.dsl import ast
from dync.dsl.format import canonical
from dync.dsl.parser import parse_spec
from dync.dsl.yaml_loader import MAX_DEPTH, MAX_SPEC_BYTES, load_yaml_spec
from dync.errors import (
    BadValue,
    DuplicateDeclaration,
    DyncSyntaxError,
    InvalidSpec,
    SpecErrors,
    UnknownKey,
)


def load(text: str, path: str = "spec.yaml") -> ast.Spec:
    return load_yaml_spec(textwrap.dedent(text), path)


def errors_of(text: str) -> list:
    with pytest.raises(SpecErrors) as info:
        load(text)
    return info.value.errors


def rendered(text: str) -> str:
    with pytest.raises(SpecErrors) as info:
        load(text)
    return info.value.render()


def same_as_text(yaml_text: str, dync_text: str) -> None:
    got = canonical(load(yaml_text))
    want = canonical(parse_spec(textwrap.dedent(dync_text)))
    assert got.statements == want.statements
    assert got.doc == want.doc
    assert got.name == want.name


# ------------------------------------------------------------ every key


def test_language_md_first_model_reads_as_written():
    # LANGUAGE.md §1 writes `{..., prior: LogNormal(0, 1)}`: the comma stays in the call
    same_as_text(
        """\
        dync: 1
        model: ornstein_uhlenbeck
        doc: mean-reverting process
        params:
          theta: {value: 1.0, constraint: positive, prior: LogNormal(0, 1)}
          mu: 0.0
          sigma: {value: 0.5, constraint: positive}
        states:
          x: {init: Normal(mu, sigma / sqrt(2 * theta))}
        equations:
          - dx = theta * (mu - x) dt + sigma dW
        observe:
          y: Normal(x, 0.1)
        """,
        """\
        model ornstein_uhlenbeck
        # mean-reverting process
        param theta = 1.0 : positive ~ LogNormal(0, 1)
        param mu = 0.0
        param sigma = 0.5 : positive
        state x ~ Normal(mu, sigma / sqrt(2 * theta))
        dx = theta * (mu - x) dt + sigma dW
        observe y ~ Normal(x, 0.1)
        """,
    )


def test_every_section_and_key():
    same_as_text(
        """\
        dync: 1
        model: everything
        doc: |
          first line
          second line
        calculus: stratonovich
        dims: {K: 8, N: "2 * K"}
        params:
          a: 1.5
          b: "2 * a"
          c: [1, 2, 3]
          M: [[1, 0], [0, 1]]
          e: {value: -0.7, constraint: "interval(-1, 1)", prior: "Normal(0, 1)"}
          C: {shape: [N, K], init: "Normal(0, 0.3)"}
          T: {value: 0.05, fixed: true}
          g: {value: 1, shape: K, fixed: false, constraint: positive}
          h: {shape: "[N, 2]"}
          i:
        inputs:
          u: {shape: [K]}
          v:
          w: {}
        brownian:
          W: {shape: [2]}
          B: {kind: fractional, hurst: 0.7}
          Z:
          Y: {}
          F: {kind: "fractional(hurst = 0.3)"}
          G: {kind: fractional}
        states:
          x: {shape: [K], init: "Normal(0, 1)"}
          y: 0.0
          z: Normal(0, 1)
          q: {init: [1.0, -1.0], shape: [2]}
          r: {init: "exp(a)"}
        let:
          U: sum(x^2)
          V: "-U"
          S: 3
        nets:
          f: {type: mlp, in: 8, out: 8, width: 64, depth: 2, activation: tanh}
          g: {type: mlp, activation: relu, out: 1}
        equations:
          - dx = -x dt + dW
          - dy = (a - y) dt - b * y dW
          - dz = 0 dt
          - dq = -q dt + M @ dW
          - dr = -r dt
        observe:
          obs: Normal(x, 0.1)
          counts: {shape: [N], dist: "Poisson(exp(C @ x))"}
        simulate: {paths: 10, t1: 1.0, dt: 0.01}
        """,
        """\
        model everything
        # first line
        # second line
        calculus stratonovich
        dim K = 8
        dim N = 2 * K
        param a = 1.5
        param b = 2 * a
        param c = [1, 2, 3]
        param M = [[1, 0], [0, 1]]
        param e = -0.7 : interval(-1, 1) ~ Normal(0, 1)
        param C[N, K] ~ init Normal(0, 0.3)
        const T = 0.05
        param g[K] = 1 : positive
        param h[N, 2]
        param i
        input u[K]
        input v
        input w
        brownian W[2]
        brownian B : fractional(hurst = 0.7)
        brownian Z
        brownian Y
        brownian F : fractional(hurst = 0.3)
        brownian G : fractional
        state x[K] ~ Normal(0, 1)
        state y = 0.0
        state z ~ Normal(0, 1)
        state q[2] = [1.0, -1.0]
        state r = exp(a)
        let U = sum(x^2)
        let V = -U
        let S = 3
        net f = mlp(in = 8, out = 8, width = 64, depth = 2, activation = tanh)
        net g = mlp(out = 1, activation = relu)
        dx = -x dt + dW
        dy = (a - y) dt - b * y dW
        dz = 0 dt
        dq = -q dt + M @ dW
        dr = -r dt
        observe obs ~ Normal(x, 0.1)
        observe counts[N] ~ Poisson(exp(C @ x))
        """,
    )


def test_statements_come_out_in_canonical_order_with_let_and_equation_order_kept():
    spec = load(
        """\
        equations: [dy = x dt, dx = y dt]
        let: {b: 1, a: 2}
        states: {y: 0, x: 0}
        model: m
        calculus: ito
        """
    )
    kinds = [type(s).__name__ for s in spec.statements]
    assert kinds == ["ModelName", "Calculus", "State", "State", "Let", "Let", "Equation", "Equation"]
    assert [s.name for s in spec.of_type(ast.Let)] == ["b", "a"]
    assert [s.lhs for s in spec.of_type(ast.Equation)] == ["dy", "dx"]
    assert spec == canonical(spec) or spec.of_type(ast.Calculus)  # only `calculus: ito` differs


def test_settings_are_kept_as_plain_data():
    spec = load(
        """\
        model: m
        simulate: {paths: 64, t0: 0, t1: 10.0, dt: 0.01, save: [0.5, 1.0], save_every: 10,
                   solver: euler, seed: 3, chunk_size: 8, adaptive: false}
        fit: {steps: 100, learning_rate: 0.01, fix: {a: 1.5}, method: map}
        check:
        """
    )
    assert spec.setting("simulate") == {
        "paths": 64,
        "t0": 0,
        "t1": 10.0,
        "dt": 0.01,
        "save": (0.5, 1.0),
        "save_every": 10,
        "solver": "euler",
        "seed": 3,
        "chunk_size": 8,
        "adaptive": False,
    }
    assert spec.setting("fit") == {"steps": 100, "learning_rate": 0.01, "fix": {"a": 1.5}, "method": "map"}
    assert spec.setting("check") == {}
    assert [section for section, _ in spec.settings] == ["simulate", "fit", "check"]


def test_empty_document_and_empty_sections():
    assert load("").statements == ()
    assert load("# only a comment\n").statements == ()
    spec = load("model: m\nparams:\nstates:\nequations:\n")
    assert [type(s) for s in spec.statements] == [ast.ModelName]


def test_numbers_keep_their_yaml_spelling_and_sign():
    spec = load("params: {a: 1e-3, b: 2.50, c: -1.0, d: 8, e: 0x1F, f: 1_000, g: +2}\n")
    values = {p.name: p.value for p in spec.of_type(ast.Param)}
    assert values["a"] == ast.Number(0.001) and values["a"].text == "1e-3"
    assert values["b"].text == "2.50"
    assert values["c"] == ast.Unary("-", ast.Number(1.0)) and values["c"].operand.text == "1.0"
    assert values["d"].text == "8" and values["d"].is_integer
    assert values["e"] == ast.Number(31.0) and values["e"].text == "31"
    assert values["f"] == ast.Number(1000.0)
    assert values["g"] == ast.Unary("+", ast.Number(2.0))


def test_yaml_words_in_expression_positions_are_names():
    # `yes`/`on` are YAML booleans, but in an expression they are names
    spec = load("let: {a: yes, b: on}\n")
    assert [s.value for s in spec.of_type(ast.Let)] == [ast.Name("yes"), ast.Name("on")]


def test_net_keywords_come_in_canonical_order():
    spec = load("nets:\n  f: {activation: tanh, depth: 2, type: mlp, out: 1, in: 4, width: 8}\n")
    (net,) = spec.of_type(ast.Net)
    assert [k.name for k in net.call.kwargs] == ["in", "out", "width", "depth", "activation"]
    assert net.call.kwargs[-1].value == ast.Name("tanh")
    assert net.call.func == "mlp"


def test_flow_extension_keeps_bracketed_commas_and_standard_flow_lists_still_split():
    spec = load(
        """\
        let: {a: f(x, [1, 2])[0], b: x[:, 0], c: g(h(1, 2), 3)}
        params: {v: [f(a, b), c, [1, 2]]}
        """
    )
    lets = {s.name: s.value for s in spec.of_type(ast.Let)}
    assert lets["b"] == ast.Index(ast.Name("x"), (ast.Slice(None, None, None), ast.Number(0.0)))
    assert lets["c"] == ast.Call("g", (ast.Call("h", (ast.Number(1.0), ast.Number(2.0))), ast.Number(3.0)))
    (param,) = spec.of_type(ast.Param)
    assert isinstance(param.value, ast.ArrayLit) and len(param.value.elements) == 3
    assert param.value.elements[0] == ast.Call("f", (ast.Name("a"), ast.Name("b")))


# ------------------------------------------------------------ spans


def _find(node, kind, pred):
    """The first node of type ``kind`` under ``node`` satisfying ``pred``."""
    import dataclasses

    if isinstance(node, kind) and pred(node):
        return node
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            found = _find(getattr(node, f.name), kind, pred)
            if found is not None:
                return found
    if isinstance(node, tuple):
        for item in node:
            found = _find(item, kind, pred)
            if found is not None:
                return found
    return None


def _span_of(spec, name):
    node = _find(spec.statements, ast.Name, lambda n: n.id == name)
    assert node is not None, name
    s = node.span
    return (s.line, s.column, s.end_line, s.end_column)


@pytest.mark.parametrize(
    "line",
    [
        "  - dx = theta * (mu - x) dt + sigm dW",
        "  - 'dx = theta * (mu - x) dt + sigm dW'",
        '  - "dx = theta * (mu - x) dt + sigm dW"',
        "  - {dx = theta * (mu - x) dt + sigm dW}".replace("{", "").replace("}", ""),
    ],
)
def test_a_name_inside_an_equation_string_points_at_its_column(line):
    text = f"model: m\nequations:\n{line}\n"
    spec = load_yaml_spec(text, "m.yaml")
    column = line.index("sigm") + 1
    assert _span_of(spec, "sigm") == (3, column, 3, column + 4)
    (eq,) = spec.of_type(ast.Equation)
    assert eq.lhs_span.line == 3 and eq.lhs_span.column == line.index("dx") + 1
    assert eq.span.path == "m.yaml" and eq.span.source == text


def test_spans_in_flow_mappings_and_flow_lists():
    text = "states:\n  x: {init: Normal(mu, sigm / sqrt(2 * theta))}\nlet: {U: [a, sigm]}\n"
    spec = load_yaml_spec(text, "m.yaml")
    state = spec.of_type(ast.State)[0]
    sigm = _find(state, ast.Name, lambda n: n.id == "sigm")
    assert (sigm.span.line, sigm.span.column) == (2, text.splitlines()[1].index("sigm") + 1)
    let = spec.of_type(ast.Let)[0]
    assert (let.value.elements[1].span.line, let.value.elements[1].span.column) == (3, 14)


def test_spans_inside_a_literal_block_scalar():
    text = "let:\n  U: |\n    sum(x^2)\n      + kappa * sigm\n"
    spec = load_yaml_spec(text, "m.yaml")
    assert _span_of(spec, "sigm") == (4, 17, 4, 21)
    assert _span_of(spec, "x") == (3, 9, 3, 10)


def test_spans_inside_a_folded_block_scalar_and_a_multiline_plain_scalar():
    text = "let:\n  U: >-\n    sum(x^2) +\n    sigm\n  V: a +\n    sigm * 2\n"
    spec = load_yaml_spec(text, "m.yaml")
    lets = {s.name: s for s in spec.of_type(ast.Let)}
    u = _find(lets["U"], ast.Name, lambda n: n.id == "sigm").span
    v = _find(lets["V"], ast.Name, lambda n: n.id == "sigm").span
    assert (u.line, u.column) == (4, 5)
    assert (v.line, v.column, v.end_column) == (6, 5, 9)


def test_spans_survive_escapes_and_doubled_quotes():
    text = "let:\n  a: \"\\x41 + sigm\"\n  b: 'a + ''sigm'\n"
    # the first is `A + sigm` after decoding; the second is not valid YAML-in-YAML
    # but shows where the parse error lands
    with pytest.raises(SpecErrors) as info:
        load_yaml_spec(text, "m.yaml")
    (err,) = info.value.errors
    assert isinstance(err, DyncSyntaxError)
    assert (err.span.line, err.span.column) == (3, 11)
    spec = load_yaml_spec(text.splitlines(keepends=True)[0] + text.splitlines(keepends=True)[1], "m.yaml")
    assert _span_of(spec, "A") == (2, 7, 2, 11)
    assert _span_of(spec, "sigm") == (2, 14, 2, 18)


def test_numbers_and_names_from_scalars_take_the_scalar_span():
    text = "dims:\n  K: 8\nnets:\n  f: {type: mlp, activation: tanh}\nmodel: m\n"
    spec = load_yaml_spec(text, "m.yaml")
    (dim,) = spec.of_type(ast.Dim)
    assert (dim.value.span.line, dim.value.span.column, dim.value.span.end_column) == (2, 6, 7)
    assert (dim.name_span.line, dim.name_span.column) == (2, 3)
    assert _span_of(spec, "tanh") == (4, 30, 4, 34)
    (model,) = spec.of_type(ast.ModelName)
    assert (model.span.line, model.span.column, model.span.end_column) == (5, 8, 9)


# ------------------------------------------------------------ errors


def test_unknown_keys_everywhere_with_did_you_mean():
    errs = errors_of(
        """\
        model: m
        parms: {}
        params:
          a: {vale: 1}
        states:
          x: {int: 0}
        brownian:
          W: {shap: [2]}
        observe:
          y: {dist: "Normal(x, 1)", shpe: [2]}
        simulate: {pathz: 3}
        """
    )
    assert all(isinstance(e, UnknownKey) and e.code == "E260" for e in errs)
    assert [(e.span.line, e.span.column) for e in errs] == [(2, 1), (4, 7), (6, 7), (8, 7), (10, 29), (11, 12)]
    assert [e.hint for e in errs] == [
        "did you mean `params`?",
        "did you mean `value`?",
        "did you mean `init`?",
        "did you mean `shape`?",
        "did you mean `shape`?",
        "did you mean `paths`?",
    ]


def test_unknown_top_level_key_renders_whole():
    assert rendered("model: m\nequatons:\n  - dx = -x dt\n") == textwrap.dedent(
        """\
        spec.yaml:2:1: error[E260]: unknown key `equatons` at the top level
          |
        2 | equatons:
          | ^^^^^^^^
          = hint: did you mean `equations`?"""
    )


def test_unknown_key_without_a_close_match_lists_the_allowed_keys():
    (err,) = errors_of("params:\n  a: {zzz: 1}\n")
    assert err.hint == "expected one of `value`, `shape`, `constraint`, `prior`, `init`, `fixed`"


def test_wrong_yaml_types_name_the_expected_type():
    errs = errors_of(
        """\
        model: [m]
        params: [a, b]
        states:
          x: {init: {a: 1}}
        let:
          U: {a: 1}
        observe:
          y: [1, 2]
        equations: dx = -x dt
        dims: {K: }
        simulate: {paths: many}
        doc: [x]
        """
    )
    assert all(isinstance(e, BadValue) and e.code == "E261" for e in errs)
    messages = [e.message for e in errs]
    assert messages == [
        "`model` expects a name, found a list",
        "`params` expects a mapping (`key: value`), found a list",
        "`states.x.init` expects a number or an expression, found a mapping",
        "`let.U` expects a number or an expression, found a mapping",
        "`observe.y` expects a distribution such as `Normal(0, 1)`, found a list",
        "`equations` expects a list of equations, found the string `dx = -x dt`",
        "`dims.K` expects a number or an expression, found nothing",
        "`simulate.paths` expects an integer, found the string `many`",
        "`doc` expects a string, found a list",
    ]


def test_wrong_type_renders_whole():
    assert rendered("model: m\nstates:\n  x: {shape: {K: 1}, init: 0}\n") == textwrap.dedent(
        """\
        spec.yaml:3:14: error[E261]: `states.x.shape` expects a shape like `[N, K]`, found a mapping
          |
        3 |   x: {shape: {K: 1}, init: 0}
          |              ^^^^^^
          = hint: write a shape as a list of sizes, like `[N, K]`"""
    )


def test_duplicate_keys_are_reported_at_the_second():
    errs = errors_of("model: m\nparams:\n  a: 1\n  b: 2\n  a: 3\nmodel: n\n")
    assert all(isinstance(e, DuplicateDeclaration) and e.code == "E202" for e in errs)
    assert [(e.span.line, e.span.column, e.hint) for e in errs] == [
        (5, 3, "first given at line 3, column 3"),
        (6, 1, "first given at line 1, column 1"),
    ]


def test_yaml_syntax_error_is_located_at_the_problem_mark():
    assert rendered("model: m\nparams:\n  a: 1\n   b: 2\n") == textwrap.dedent(
        """\
        spec.yaml:4:4: error[E100]: invalid YAML: `b:` is indented more than `a:` (line 3), so it is read as the rest of the value `1` of `a`
          |
        4 |    b: 2
          |    ^
          = hint: indent it 2 spaces like `a:` to make it a key of `params:`"""
    )
    (err,) = errors_of("params: {a: 1\n")
    assert isinstance(err, DyncSyntaxError)
    assert (err.span.line, err.span.column) == (1, 14)
    assert "flow mapping at line 1, column 9" in err.hint
    (err,) = errors_of("model: m\n\tparams: 1\n")
    assert err.hint == "indent with spaces: YAML does not allow tabs"
    (err,) = errors_of("model: a\n---\nmodel: b\n")
    assert isinstance(err, DyncSyntaxError) and err.span.line == 2
    (err,) = errors_of('let: {a: "1 \x01"}\n')
    assert isinstance(err, DyncSyntaxError) and "#x0001" in err.message and err.span.column == 13


def test_syntax_errors_inside_strings_are_all_collected():
    errs = errors_of(
        """\
        params:
          a: "1 + * 2"
          b: {prior: "Normal(0, 1"}
        equations:
          - dx = -x dt +
          - dy = -y dt + dW ; x
        """
    )
    assert all(isinstance(e, DyncSyntaxError) for e in errs)
    assert [(e.span.line, e.span.column) for e in errs] == [(2, 11), (3, 21), (5, 17), (6, 21)]


def test_too_deep_too_large_and_aliases_are_refused():
    deep = "let: {a: " + "[" * (MAX_DEPTH + 5) + "1" + "]" * (MAX_DEPTH + 5) + "}\n"
    (err,) = errors_of(deep)
    assert isinstance(err, InvalidSpec) and err.code == "E290" and "32 levels" in err.message
    # the top-level mapping and `{` count: the 31st `[` is one level too deep
    assert (err.span.line, err.span.column) == (1, 10 + MAX_DEPTH - 2)
    ok = "let: {a: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "}\n"
    assert load(ok).of_type(ast.Let)
    # deep enough to overflow a recursive composer: still a located error
    (err,) = errors_of("a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n")
    assert isinstance(err, InvalidSpec)

    big = "model: m\n" + "# padding\n" * (MAX_SPEC_BYTES // 10 + 1)
    (err,) = errors_of(big)
    assert isinstance(err, InvalidSpec) and "1 MiB" in err.message and err.span.line == 1

    (err,) = errors_of("dims: {K: &k 8}\nlet: {a: *k}\n")
    assert isinstance(err, InvalidSpec) and (err.span.line, err.span.column) == (2, 10)


def test_tags_are_refused():
    (err,) = errors_of("let:\n  u: !!python/object:os.system x\n")
    assert err.message == "the YAML tag `!!python/object:os.system` is not allowed in a spec"


def test_version_and_calculus_values():
    (err,) = errors_of("dync: 2\n")
    assert isinstance(err, BadValue) and err.hint == "this dync reads `dync: 1`"
    (err,) = errors_of("calculus: stratonovic\n")
    assert isinstance(err, BadValue) and err.hint == "did you mean `stratonovich`?"
    assert load("dync: 1\n").statements == ()


def test_structural_errors():
    errs = errors_of(
        """\
        params:
          T: {value: 1, fixed: true, prior: "Normal(0, 1)"}
          U: {fixed: true}
          V: {value: 1, fixed: yes-ish}
        states:
          x:
          y: {shape: [2]}
        brownian:
          B: {hurst: 0.7}
          C: {kind: "fractional(hurst = 0.5)", hurst: 0.7}
          D: fractional
        nets:
          f: {in: 4}
          g: mlp
        observe:
          o: {shape: [2]}
        """
    )
    got = [(type(e).__name__, e.span.line, e.message) for e in errs]
    assert got == [
        ("InvalidSpec", 2, "a fixed parameter takes only `value` and `shape`, not `prior`"),
        ("InvalidSpec", 3, "the fixed parameter `U` needs a `value`"),
        ("BadValue", 4, "`params.V.fixed` expects `true` or `false`, found the string `yes-ish`"),
        ("InvalidSpec", 6, "the state `x` needs `init`: an initial value or distribution"),
        ("InvalidSpec", 7, "the state `y` needs `init`: an initial value or distribution"),
        ("InvalidSpec", 9, "`hurst` needs `kind: fractional`"),
        ("InvalidSpec", 10, "`hurst` is given twice: in `kind` and as its own key"),
        ("BadValue", 11, "`brownian.D` expects a mapping (`{shape, kind, hurst}`) or nothing, found the string `fractional`"),
        ("InvalidSpec", 13, "the network `f` needs a `type`"),
        ("BadValue", 14, "`nets.g` expects a mapping (`{type: mlp, in: ..., out: ...}`), found the string `mlp`"),
        ("InvalidSpec", 16, "the observation `o` needs `dist`"),
    ]


def test_names_must_be_identifiers():
    # reserved words (`and`) are the checker's business, as in the text form
    # (tests/compiler/test_check_regressions.py); the loader reads them
    (err,) = errors_of("params:\n  2a: 1\n  and: 2\nstates:\n  init: {init: 0}\n")
    assert type(err) is BadValue
    assert err.message == "`2a` is not a valid parameter name"
    spec = load("params:\n  and: 2\nstates:\n  init: {init: 0}\n")
    assert [s.name for s in spec.statements] == ["and", "init"]


def test_a_text_form_shape_in_a_key_gets_the_yaml_spelling_as_hint():
    # a user who knows `observe y[M] ~ ...` writes `y[M]:` in YAML
    (err,) = errors_of("observe:\n  y[M]: Normal(x, 0.3)\n")
    assert err.message == "`y[M]` is not a valid observation name"
    assert err.hint == "in YAML the shape is a key of its own: write `y: {shape: [M], dist: ...}`"
    (err,) = errors_of("states:\n  x[K, 2]: {init: 0}\n")
    assert err.hint == "in YAML the shape is a key of its own: write `x: {shape: [K, 2], init: ...}`"
    (err,) = errors_of("params:\n  2a: 1\n")
    assert err.hint.startswith("a name starts with a letter")


def test_non_finite_numbers_are_refused():
    (err,) = errors_of("params: {a: .inf}\n")
    assert err.message == "`params.a` must be a finite number, found `.inf`"


def test_shapes_in_every_spelling():
    spec = load('params:\n  a: {shape: [N, 2]}\n  b: {shape: N}\n  c: {shape: 3}\n  d: {shape: "[N, K]"}\n  e: {shape: "N + 1"}\n')
    shapes = [p.shape for p in spec.of_type(ast.Param)]
    assert shapes == [
        (ast.Name("N"), ast.Number(2.0)),
        (ast.Name("N"),),
        (ast.Number(3.0),),
        (ast.Name("N"), ast.Name("K")),
        (ast.Binary("+", ast.Name("N"), ast.Number(1.0)),),
    ]
    (err,) = errors_of("params:\n  a: {shape: []}\n")
    assert err.hint == "leave `shape` out for a scalar"
    (err,) = errors_of("params:\n  a: {shape: [[1]]}\n")
    assert err.message == "`params.a.shape` expects a size (a number or a name), found a list"


def test_all_independent_errors_come_in_one_raise_sorted_by_position():
    with pytest.raises(SpecErrors) as info:
        load("zzz: 1\nparams: {a: {vale: 1}, b: '1 +'}\nmodel: [m]\n")
    errs = info.value.errors
    assert [(e.code, e.span.line, e.span.column) for e in errs] == [
        ("E260", 1, 1),
        ("E260", 2, 14),
        ("E100", 2, 31),
        ("E261", 3, 8),
    ]
    assert info.value.render().count("error[") == 4


def test_yaml_1_1_base_60_numbers_are_refused_not_read_as_60ths():
    """`a: 1:3` is 63 to YAML 1.1; the text form refuses `1:3`, and so does
    the YAML form (it would otherwise run with a = 63)."""
    (err,) = errors_of("params: {a: 1:3}\n")
    assert "not a dync expression" in err.message and "63" in err.message
    assert (err.span.line, err.span.column) == (1, 13)


def test_yaml_dates_merge_keys_and_equals_are_text_for_the_grammar():
    """YAML 1.1 resolves `2001-12-14` to a date, `=` to a "value" and `<<`
    to a merge key; a spec reads them as the text form does (no tag error)."""
    spec = load("let: {d: 2001-12-14}\n")
    (let,) = spec.of_type(ast.Let)
    assert isinstance(let.value, ast.Binary)
    (err,) = errors_of("params: {a: =}\n")
    assert "unexpected `=`" in err.message and "tag" not in err.message


def test_exponent_numbers_without_a_dot_are_numbers_as_in_yaml_1_2():
    """`alpha: 1e-3` is a string to YAML 1.1 (PyYAML) and was refused as
    one; it is the number 0.001 in YAML 1.2 and in the text form."""
    spec = load("model: m\nstates: {x: 1}\nequations: ['dx = -x dt']\ntest: {alpha: 1e-3, t1: 2E1}\nsimulate: {dt: 1e-2, t1: 1}\n")
    assert dict(spec.settings)["test"] == (("alpha", 0.001), ("t1", 20.0))
    assert dict(dict(spec.settings)["simulate"])["dt"] == 0.01


# ------------------------------------------------- mis-indented keys


def test_a_key_between_two_indentation_levels_is_named_with_both_fixes():
    text = "model: m\nparams:\n  # the rates\n  k: 1.0\n\n s: 2.0\nstates:\n  x: 0\nequations:\n  - dx = -k * x dt + s dW\n"
    (err,) = errors_of(text)
    assert err.message == "invalid YAML: `s:` is indented 1 space, but the keys above it are indented 2 or 0: it belongs to none of their mappings"
    assert (err.span.line, err.span.column, err.span.end_column) == (6, 2, 3)
    assert "indent it 2 spaces to make it a key of `params:` like `k:` (line 4)" in err.hint


def test_a_key_indented_more_than_the_one_above_is_read_as_its_value_and_says_so():
    text = "model: m\nparams:\n  k: 1.0\n   s: 2.0\nstates:\n  x: 0\nequations:\n  - dx = -k * x dt + s dW\n"
    (err,) = errors_of(text)
    assert err.message == "invalid YAML: `s:` is indented more than `k:` (line 3), so it is read as the rest of the value `1.0` of `k`"
    assert (err.span.line, err.span.column) == (4, 4)
    assert err.hint == "indent it 2 spaces like `k:` to make it a key of `params:`"


def test_an_option_lined_up_with_its_declaration_is_not_a_declaration():
    """`shape:` one level too shallow is valid YAML: a state named `shape`,
    then an E290 about its missing `init`; now one located error saying so."""
    text = "model: m\nstates:\n  x:\n    init: 0\n  shape: [2]\nequations:\n  - dx = -x dt + dW\n"
    (err,) = errors_of(text)
    assert err.message == "`shape:` is lined up with `x:`, so it is read as a state of its own, not as a key of `x`"
    assert err.hint == "indent it like `init:` (line 4), 4 spaces, to make it a key of `x`"


def test_a_declaration_named_like_an_option_after_a_flow_mapping_is_still_a_declaration():
    spec = load("model: m\nparams:\n  k: {value: 1.0}\n  value: 2.0\nstates:\n  x: 0\nequations:\n  - dx = -k * value * x dt\n")
    assert [p.name for p in spec.of_type(ast.Param)] == ["k", "value"]


def test_entries_of_an_empty_section_written_in_column_1_say_to_indent_them_without_follow_ons():
    text = "model: m\nstates:\nx: 0\nequations:\n  - dx = -x dt + dW\n"
    with pytest.raises(SpecErrors) as err:
        from dync.compiler.driver import check_ast

        check_ast(load_yaml_spec(text, "spec.yaml"))
    (only,) = err.value.errors
    assert only.message == "unknown key `x` at the top level"
    assert only.hint == "`states:` (line 2) is empty: indent `x:` below it (2 spaces) to make it an entry of `states`"
