"""The grammar builds as LALR(1) in strict mode: any conflict fails CI."""

from dync.dsl.parser import build_parser, parse_spec


def test_grammar_builds_in_strict_mode_without_conflicts():
    build_parser.cache_clear()
    assert build_parser(strict=True) is not None
    build_parser.cache_clear()


def test_every_language_md_statement_parses():
    text = """model everything
dim K = 3
param theta = 1.0 : positive ~ LogNormal(0, 1)
param C[K, K] ~ init Normal(0, 0.3)
param rho = 0.5 : interval(-1, 1)
const T = 0.05
input u[K]
brownian W[K]
brownian B : fractional(hurst = 0.7)
state x[K] ~ Normal(0, 1)
state z = 0
let U = sum(0.5 * x^2) - 0.1 * sum(cos(x - roll(x, 1)))
net f = mlp(in = 3, out = 1, width = 8, depth = 2, activation = tanh)
dx = (-grad(U, x) + u) dt + C @ dW
dz = -theta * z dt + dB
observe y[K] ~ Normal(x, 0.1)
calculus stratonovich
"""
    spec = parse_spec(text, "everything.dync")
    kinds = [type(s).__name__ for s in spec.statements]
    assert kinds.count("Param") == 4 and kinds.count("Equation") == 2
    assert spec.name == "everything"


def test_long_expressions_may_continue_inside_brackets():
    spec = parse_spec("model m\nstate x = 0\nlet a = clip(x,\n    lo = -1,\n    hi = 1)\ndx = -a dt\n")
    assert len(spec.statements) == 4


def test_power_binds_tighter_than_unary_minus():
    from dync.dsl import ast

    spec = parse_spec("model m\nlet a = -x^2\n")
    let = spec.statements[1]
    assert isinstance(let.value, ast.Unary) and isinstance(let.value.operand, ast.Binary)
