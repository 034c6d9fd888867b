"""Hypothesis strategies for dync specs and parameter values.

Three strategies, for our own tests and for users who test their models:

* :func:`valid_specs` draws random *valid* ``.dync`` texts, shape-correct by
  construction, together with a :class:`SpecMeta` saying what was generated;
* :func:`mutated_specs` draws small corruptions of given spec texts (the input
  of the "the parser never crashes" properties);
* :func:`param_values` draws parameter values inside each parameter's
  constraint, for properties of compiled models.

Example:
    >>> from hypothesis import given
    >>> @given(valid_specs())
    ... def test_compiles(spec):
    ...     text, meta = spec
    ...     check_spec(parse_spec(text))

This module imports neither JAX nor the compiler's later stages: it only writes
text, so it can drive tests of every stage.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..compiler.library import RESERVED
from ..info.constraints import AbstractConstraint, Real, from_tuple, make_constraint
from ..dsl.vocabulary import KEYWORDS

__all__ = [
    "BrownianMeta",
    "NoiseTermMeta",
    "ParamMeta",
    "SpecMeta",
    "mutated_specs",
    "param_values",
    "valid_specs",
]


# ------------------------------------------------------------------ metadata


@dataclasses.dataclass(frozen=True)
class ParamMeta:
    """A generated ``param`` (or ``const`` when ``fixed``).

    ``constraint`` is a :mod:`dync.info.constraints` object, as in
    :class:`dync.info.ParamInfo`.
    """

    shape: tuple[int, ...]
    constraint: AbstractConstraint
    fixed: bool = False
    has_prior: bool = False
    has_init: bool = False


@dataclasses.dataclass(frozen=True)
class BrownianMeta:
    """A declared ``brownian``: its shape and kind (``brownian`` or ``fractional``)."""

    shape: tuple[int, ...]
    kind: str = "brownian"


@dataclasses.dataclass(frozen=True)
class NoiseTermMeta:
    """One noise term of an equation.

    ``kind`` is ``implicit`` (``dW`` private to the equation), ``shared``
    (``EXPR dW`` of a declared Brownian motion), ``matrix`` (``EXPR @ dW``) or
    ``fractional``; ``noise`` is the noise's name (``W`` for ``dW``).
    """

    state: str
    kind: str
    noise: str


@dataclasses.dataclass(frozen=True)
class SpecMeta:
    """What :func:`valid_specs` generated, for tests to assert on."""

    name: str
    dims: Mapping[str, int]
    params: Mapping[str, ParamMeta]
    states: Mapping[str, tuple[int, ...]]
    lets: Mapping[str, tuple[int, ...]]
    brownians: Mapping[str, BrownianMeta]
    noise_terms: tuple[NoiseTermMeta, ...]
    calculus: str
    observations: Mapping[str, str]

    @property
    def noise_kinds(self) -> frozenset[str]:
        """The kinds of noise the spec's equations use (empty for an ODE)."""
        return frozenset(t.kind for t in self.noise_terms)

    @property
    def state_size(self) -> int:
        """Length of the flat state vector, without hidden (fractional) states."""
        return int(sum(int(np.prod(s, dtype=int)) for s in self.states.values()))


# ------------------------------------------------------------------- names

#: identifiers that are valid in the language but stress code generation:
#: Python keywords, attributes of the model class, locals and imports of the
#: generated module, library words, and keyword prefixes for the lexer.
TRICKY_NAMES: tuple[str, ...] = (
    "lambda", "if", "in", "is", "for", "class", "def", "return", "None", "True",
    "False", "import", "with", "as", "pass", "yield", "del", "global", "while",
    "im", "info", "drift", "noise", "diffusion", "pack", "unpack", "log_prior", "drift_",
    "info_", "fbm_horizon", "fbm_high", "key", "keys", "lp", "dtype", "self", "y", "dw", "args",
    "jnp", "jax", "eqx", "np", "C", "D", "F", "FBM", "NN", "INFO", "Model",
    "AbstractModel", "float", "p_x", "s_x", "w_0", "g_x", "l_x", "grad_1",
    "exp", "sum", "roll", "where", "eye", "grad", "mlp", "Normal", "Poisson",
    "positive", "interval", "unit", "ito", "stratonovich", "fractional",
    "models", "notx", "order", "android", "initial", "letter", "states", "dims",
    "e1", "E5", "inf", "nan", "_x", "x_", "__init__",
)

_SIMPLE_NAME = st.from_regex(r"[a-z][a-z0-9]{0,3}", fullmatch=True)
_CAP_NAME = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,4}", fullmatch=True)


def _name_strategy(tricky: bool) -> st.SearchStrategy[str]:
    options = [_SIMPLE_NAME, _SIMPLE_NAME, _CAP_NAME]
    if tricky:
        options.append(st.sampled_from(TRICKY_NAMES))
    return st.one_of(*options)


def _usable(name: str, used: set[str]) -> bool:
    """Not reserved, not a keyword, not taken, and no ``d<name>`` clash either way."""
    if name in RESERVED or name in KEYWORDS or name in used:
        return False
    if f"d{name}" in used:
        return False
    if name.startswith("d") and name[1:] in used:
        return False
    return True


# --------------------------------------------------------- expressions as text

# precedence levels of the grammar, lowest first
_SUM, _PROD, _UNARY, _POW, _ATOM = 1, 2, 3, 4, 5


@dataclasses.dataclass(frozen=True)
class _E:
    """A generated expression: its text, precedence level and shape."""

    text: str
    prec: int
    shape: tuple[int, ...]


def _p(e: _E, level: int) -> str:
    """``e``'s text, parenthesised when it binds weaker than ``level``."""
    return e.text if e.prec >= level else f"({e.text})"


def _fmt(v: float) -> str:
    """A number in the language's spelling (a negative one is a unary minus)."""
    if float(v).is_integer() and abs(v) < 1e6:
        s = str(int(v))
    else:
        s = repr(round(float(v), 4))
    return s


def _num(v: float) -> _E:
    s = _fmt(v)
    return _E(s, _UNARY if s.startswith("-") else _ATOM, ())


def _binary(op: str, a: _E, b: _E, shape) -> _E:
    if op in ("+", "-"):
        return _E(f"{_p(a, _SUM)} {op} {_p(b, _PROD)}", _SUM, shape)
    return _E(f"{_p(a, _PROD)} {op} {_p(b, _UNARY)}", _PROD, shape)


def _call(func: str, args: Sequence[_E | str], shape) -> _E:
    parts = [a if isinstance(a, str) else a.text for a in args]
    return _E(f"{func}({', '.join(parts)})", _ATOM, shape)


@dataclasses.dataclass(frozen=True)
class _Sym:
    name: str
    shape: tuple[int, ...]
    kind: str  # dim | param | state | let
    positive: bool = False


_TOTAL = ("abs", "sign", "sin", "cos", "tanh", "arctan", "sigmoid", "softplus", "relu", "erf")
_BOUNDED_ARG = ("exp", "expm1", "sinh", "cosh", "tan")
_POSITIVE_ARG = ("log", "sqrt", "log1p")
_REDUCTIONS = ("sum", "mean", "prod", "max", "min", "logsumexp")


class _ExprGen:
    """Draws shape-correct expressions whose value is finite for moderate inputs.

    Every method returns an expression of exactly the requested shape, except
    ``broadcastable`` which may return a scalar. Functions with a restricted
    domain get arguments built to lie inside it (``log(1 + e^2)``,
    ``exp(tanh(e))``), so compiled models can be evaluated and checked finite.
    ``smooth`` leaves out ``norm`` (not differentiable at 0), for expressions
    that are differentiated (``grad`` bodies, lets, noise coefficients).
    """

    def __init__(self, draw, syms: Sequence[_Sym], dims: Mapping[str, int], dynamic: bool,
                 smooth: bool = False, allow_grad: bool = True):
        self.draw = draw
        self.syms = list(syms)
        self.dims = dict(dims)
        self.dynamic = dynamic
        self.smooth = smooth
        self.allow_grad = allow_grad and dynamic

    # ---- helpers
    def _pick(self, options):
        return self.draw(st.sampled_from(options))

    def _size(self, n: int) -> str:
        named = [d for d, v in self.dims.items() if v == n]
        if named and self.draw(st.booleans()):
            return self._pick(named)
        return str(n)

    def _with(self, shape):
        return [s for s in self.syms if s.shape == shape and (self.dynamic or s.kind in ("dim", "param"))]

    def _shapes_of_rank(self, rank: int) -> list[tuple[int, ...]]:
        out = {s.shape for s in self.syms if len(s.shape) == rank}
        sizes = sorted(set(self.dims.values())) or [2]
        if rank == 1:
            out |= {(n,) for n in sizes}
        elif rank == 2:
            out |= {(a, b) for a in sizes for b in sizes}
        return sorted(out)

    def number(self) -> _E:
        v = self.draw(st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 0.1, 1.5, 2.0, 0.25, 1e-3, -0.3])))
        return _num(v)

    # ---- leaves
    def leaf(self, shape) -> _E:
        syms = self._with(shape)
        options = ["sym"] * (3 if syms else 0)
        if shape == ():
            options += ["num", "num", "pi"] + (["t"] if self.dynamic else [])
        else:
            options += ["literal", "ones"]
        choice = self._pick(options)
        if choice == "sym":
            s = self._pick(syms)
            return _E(s.name, _ATOM, shape)
        if choice == "num":
            return self.number()
        if choice in ("pi", "t"):
            return _E(choice, _ATOM, ())
        if choice == "ones":
            fn = self._pick(["ones", "zeros"])
            e = _call(fn, [self._size(n) for n in shape], shape)
            if fn == "ones" and self.draw(st.booleans()):
                return _binary("*", e, self.number(), shape)
            return e
        return self.literal(shape)

    def literal(self, shape) -> _E:
        def rec(sh):
            if not sh:
                return _fmt(self.draw(st.sampled_from([0, 1, -1, 0.5, 2, -0.25, 0.1])))
            return "[" + ", ".join(rec(sh[1:]) for _ in range(sh[0])) + "]"

        return _E(rec(shape), _ATOM, shape)

    # ---- composite
    def expr(self, shape, depth: int) -> _E:
        if depth <= 0:
            return self.leaf(shape)
        kinds = ["leaf", "neg", "binop", "binop", "total", "bounded", "positive_fn", "pow", "div",
                 "minmax", "clip", "where", "struct", "struct"]
        kind = self._pick(kinds)
        d = depth - 1
        if kind == "leaf":
            return self.leaf(shape)
        if kind == "neg":
            return _E(f"-{_p(self.expr(shape, d), _POW)}", _UNARY, shape)
        if kind == "binop":
            op = self._pick(["+", "-", "*"])
            a, b = self.expr(shape, d), self.broadcastable(shape, d)
            if self.draw(st.booleans()):
                a, b = b, a
            return _binary(op, a, b, shape)
        if kind == "total":
            return _call(self._pick(_TOTAL), [self.expr(shape, d)], shape)
        if kind == "bounded":
            return _call(self._pick(_BOUNDED_ARG), [self.bounded(shape, d)], shape)
        if kind == "positive_fn":
            return _call(self._pick(_POSITIVE_ARG), [self.positive(shape, d)], shape)
        if kind == "pow":
            # the base holds no power of its own, so values stay moderate
            base = self.bounded(shape, d) if self.draw(st.booleans()) else self.leaf(shape)
            op = self._pick(["^", "^", "**"])
            k = self._pick(["2", "3", "2"])
            return _E(f"{_p(base, _ATOM)}{op}{k}", _POW, shape)
        if kind == "div":
            return _binary("/", self.expr(shape, d), self.positive_b(shape, d), shape)
        if kind == "minmax":
            a, b = self.expr(shape, d), self.broadcastable(shape, d)
            return _call(self._pick(["minimum", "maximum"]), [a, b], shape)
        if kind == "clip":
            x = self.expr(shape, d)
            form = self._pick(["kw", "pos", "lo"])
            if form == "kw":
                return _call("clip", [x, "lo = -1", "hi = 1"], shape)
            if form == "lo":
                return _call("clip", [x, "lo = 0"], shape)
            return _call("clip", [x, "-2", "2.5"], shape)
        if kind == "where":
            return _call("where", [self.condition(shape, d), self.expr(shape, d), self.broadcastable(shape, d)], shape)
        return self.struct(shape, depth)

    def broadcastable(self, shape, depth: int) -> _E:
        if shape != () and self.draw(st.booleans()):
            return self.expr((), depth)
        return self.expr(shape, depth)

    def condition(self, shape, depth: int) -> _E:
        a = self.broadcastable(shape, depth)
        b = self.expr((), 0)
        op = self._pick(["<", "<=", ">", ">=", "==", "!="])
        cond = f"{_p(a, _SUM)} {op} {_p(b, _SUM)}"
        extra = self._pick(["", "", "and", "or", "not"])
        if extra == "not":
            return _E(f"not {cond}", 0, shape)
        if extra:
            c = self.expr((), 0)
            cond = f"{cond} {extra} {_p(c, _SUM)} > 0"
        return _E(cond, 0, shape)

    def bounded(self, shape, depth: int) -> _E:
        """An expression with values in [-1, 1]."""
        if depth <= 0 or self.draw(st.integers(0, 3)) == 0:
            if shape == ():
                return _num(self.draw(st.sampled_from([0.5, -0.5, 1, 0, 0.25])))
            return _call(self._pick(["tanh", "sin", "cos"]), [self.leaf(shape)], shape)
        fn = self._pick(["tanh", "sin", "cos", "sigmoid", "erf"])
        return _call(fn, [self.expr(shape, depth - 1)], shape)

    def positive(self, shape, depth: int) -> _E:
        """An expression with values > 0 (bounded away from 0)."""
        pos = [s for s in self._with(shape) if s.positive]
        options = ["square", "softplus", "exp", "cosh"] + (["sym"] if pos else [])
        kind = self._pick(options)
        d = max(depth - 1, 0)
        if kind == "sym":
            return _E(self._pick(pos).name, _ATOM, shape)
        if kind == "square":
            return _E(f"1 + {_p(self.bounded(shape, d) if self.draw(st.booleans()) else self.leaf(shape), _ATOM)}^2", _SUM, shape)
        if kind == "softplus":
            return _binary("+", _call("softplus", [self.expr(shape, d)], shape), _num(0.5), shape)
        return _call(kind, [self.bounded(shape, d)], shape)

    def positive_b(self, shape, depth: int) -> _E:
        if shape != () and self.draw(st.booleans()):
            if self.draw(st.booleans()):
                return _num(self.draw(st.sampled_from([2, 0.5, 3.0, 10])))
            return self.positive((), depth)
        return self.positive(shape, depth)

    def vector_shape(self) -> tuple[int, ...]:
        return self._pick(self._shapes_of_rank(1))

    def struct(self, shape, depth: int) -> _E:
        """Shape-changing constructions: indexing, reductions, ``@``, ``roll``..."""
        d = depth - 1
        draw = self.draw
        rank = len(shape)
        options: list[str] = []
        if rank == 0:
            options += ["index", "reduce", "dot", "matvec_scalar"]
            if not self.smooth:
                options.append("norm")
            if any(len(s.shape) == 2 for s in self._with_any()):
                options.append("index2")
        elif rank == 1:
            n = shape[0]
            options += ["matvec", "roll", "reduce_axis", "column"]
            if n >= 2:
                options.append("concat")
            if any(len(s.shape) == 1 and s.shape[0] > n for s in self._with_any()):
                options.append("slice")
            if self.allow_grad and any(s.kind == "state" and s.shape == shape for s in self.syms):
                options.append("grad")
            options.append("diag_of")
        else:
            n, m = shape
            options += ["outer", "transpose"]
            if n == m:
                options += ["diag_mat", "eye"]
        if rank == 0 and self.allow_grad and any(s.kind == "state" and s.shape == () for s in self.syms):
            options.append("grad")
        kind = self._pick(options)

        if kind == "index":
            vs = self.vector_shape()
            v = self.expr(vs, d)
            i = draw(st.integers(-vs[0], vs[0] - 1))
            return _E(f"{_p(v, _ATOM)}[{i}]", _ATOM, ())
        if kind == "index2":
            s = self._pick([s for s in self._with_any() if len(s.shape) == 2])
            i, j = draw(st.integers(0, s.shape[0] - 1)), draw(st.integers(0, s.shape[1] - 1))
            return _E(f"{s.name}[{i}, {j}]", _ATOM, ())
        if kind == "reduce":
            vs = self._pick(self._shapes_of_rank(1) + self._shapes_of_rank(2))
            return _call(self._pick(_REDUCTIONS), [self.expr(vs, d)], ())
        if kind == "norm":
            return _call("norm", [self.expr(self.vector_shape(), d)], ())
        if kind == "dot":
            vs = self.vector_shape()
            return _call("dot", [self.expr(vs, d), self.expr(vs, d)], ())
        if kind == "matvec_scalar":
            vs = self.vector_shape()
            return _binary("@", self.expr(vs, d), self.expr(vs, d), ())
        if kind == "matvec":
            n = shape[0]
            mats = [s for s in self._with_any() if len(s.shape) == 2 and n in s.shape]
            if mats and draw(st.integers(0, 2)):
                s = self._pick(mats)
                if s.shape[0] == n:
                    return _binary("@", _E(s.name, _ATOM, s.shape), self.expr((s.shape[1],), d), shape)
                return _binary("@", self.expr((s.shape[0],), d), _E(s.name, _ATOM, s.shape), shape)
            m = self._pick(sorted(set(self.dims.values()) | {1, 2}))
            return _binary("@", self.expr((n, m), d), self.expr((m,), d), shape)
        if kind == "roll":
            x = self.expr(shape, d)
            form = self._pick(["1", "-1", "shift = 2", "1, axis = 0"])
            return _call("roll", [x, form], shape)
        if kind == "reduce_axis":
            m = self._pick(sorted(set(self.dims.values()) | {2}))
            axis = draw(st.integers(0, 1))
            src = (shape[0], m) if axis == 1 else (m, shape[0])
            fn = self._pick(["sum", "mean", "max", "min", "logsumexp"])
            return _call(fn, [self.expr(src, d), f"axis = {axis}"], shape)
        if kind == "column":
            n = shape[0]
            mats = [s for s in self._with_any() if len(s.shape) == 2 and n in s.shape]
            if not mats:
                return self.leaf(shape)
            s = self._pick(mats)
            if s.shape[0] == n:
                j = draw(st.integers(0, s.shape[1] - 1))
                return _E(f"{s.name}[:, {j}]", _ATOM, shape)
            i = draw(st.integers(0, s.shape[0] - 1))
            return _E(f"{s.name}[{i}]" if draw(st.booleans()) else f"{s.name}[{i}, :]", _ATOM, shape)
        if kind == "slice":
            n = shape[0]
            s = self._pick([s for s in self._with_any() if len(s.shape) == 1 and s.shape[0] > n])
            a = draw(st.integers(0, s.shape[0] - n))
            start = "" if a == 0 and draw(st.booleans()) else str(a)
            stop = "" if a + n == s.shape[0] and draw(st.booleans()) else str(a + n)
            return _E(f"{s.name}[{start}:{stop}]", _ATOM, shape)
        if kind == "concat":
            n = shape[0]
            k = draw(st.integers(1, n - 1))
            return _call("concat", [self.expr((k,), d), self.expr((n - k,), d)], shape)
        if kind == "diag_of":
            n = shape[0]
            return _call("diag", [self.expr((n, n), d)], shape)
        if kind == "grad":
            state = self._pick([s for s in self.syms if s.kind == "state" and s.shape == shape])
            inner = _ExprGen(self.draw, self.syms, self.dims, self.dynamic, smooth=True, allow_grad=False)
            body = inner.expr((), max(d, 1))
            # make the body depend on the state most of the time
            if self.draw(st.booleans()):
                sq = _E(f"{state.name}^2", _POW, state.shape)
                body = _binary("+", body, _call("sum", [sq], ()) if state.shape else sq, ())
            return _call("grad", [body, state.name], shape)
        if kind == "outer":
            n, m = shape
            return _call("outer", [self.expr((n,), d), self.expr((m,), d)], shape)
        if kind == "transpose":
            n, m = shape
            return _call("transpose", [self.expr((m, n), d)], shape)
        if kind == "diag_mat":
            return _call("diag", [self.expr((shape[0],), d)], shape)
        if kind == "eye":
            return _call("eye", [self._size(shape[0])], shape)
        return self.leaf(shape)

    def _with_any(self) -> list[_Sym]:
        return [s for s in self.syms if self.dynamic or s.kind in ("dim", "param")]


# ------------------------------------------------------------- spec generator


_PRIORS = {
    "real": ["Normal(0, 1)", "StudentT(3, 0, 1)", "Cauchy(0, 2)", "Laplace(0, 1)"],
    "positive": ["LogNormal(0, 1)", "HalfNormal(1)", "Exponential(1)", "Gamma(2, 1)"],
    "unit": ["Beta(2, 2)", "Uniform(0, 1)"],
}


def _constraint_text(c: AbstractConstraint) -> str:
    bounds = c.bound_values()
    return f"{c.kind}({', '.join(_fmt(b) for b in bounds)})" if bounds else c.kind


def _value_inside(draw, c: AbstractConstraint) -> float:
    """A round number strictly inside the constraint."""
    kind = c.kind
    lo, hi = c.bounds()
    u = draw(st.integers(1, 19)) / 20.0
    if kind == "real":
        return round(draw(st.integers(-30, 30)) / 10.0, 2)
    if kind == "positive":
        return round(0.1 + 4.9 * u, 2)
    if kind == "negative":
        return -round(0.1 + 4.9 * u, 2)
    if kind == "unit":
        return u
    if kind == "interval":
        return lo + (hi - lo) * u
    if kind == "lower":
        return lo + round(0.1 + 4.9 * u, 2)
    return hi - round(0.1 + 4.9 * u, 2)


def _positive_constraint(c: AbstractConstraint) -> bool:
    return c.bounds()[0] >= 0


@st.composite
def _constraint(draw) -> AbstractConstraint:
    kind = draw(st.sampled_from(["real", "real", "positive", "positive", "unit", "negative", "interval", "lower", "upper"]))
    if kind == "interval":
        lo = draw(st.sampled_from([-2, -1, 0, 0.5, 1]))
        return make_constraint("interval", float(lo), float(lo + draw(st.sampled_from([0.5, 1, 2, 4]))))
    if kind in ("lower", "upper"):
        return make_constraint(kind, float(draw(st.sampled_from([-1, 0, 0.5, 2]))))
    return make_constraint(kind)


@st.composite
def valid_specs(draw, *, max_states: int = 3, tricky_names: bool = False, fractional: bool = True,
                grad: bool = True) -> tuple[str, SpecMeta]:
    """Random valid ``.dync`` texts with a :class:`SpecMeta` of what they hold.

    A spec has 1–3 dims (sizes 1–5), 1–4 parameters (constrained, with
    optional shapes, values, ``~ init`` draws and priors; one more per matrix
    noise term), 1–``max_states`` scalar or vector states, optional ``let``s,
    one equation per state whose drift and noise coefficients are random
    well-typed expressions, noise terms of every kind, and optional
    ``calculus stratonovich`` and observations. Expressions are built with
    their shapes tracked, and with functions whose arguments lie in their
    domain, so that the compiled model's drift, noise and initial state are
    finite.

    Args:
        max_states: the largest number of states.
        tricky_names: also draw names that are Python keywords or clash with
            names in generated code (``lambda``, ``info``, ``self``, ``key``);
            valid in the language, so the compiler must cope.
        fractional: allow ``brownian B : fractional(hurst = H)``.
        grad: allow ``grad(U, x)`` in drifts.

    Returns:
        A strategy of ``(text, meta)``.
    """
    names = _name_strategy(tricky_names)
    used: set[str] = set()

    def fresh() -> str:
        n = draw(names.filter(lambda s: _usable(s, used)))
        used.add(n)
        return n

    lines: list[str] = []
    model_name = fresh()
    lines.append(f"model {model_name}")
    if draw(st.booleans()):
        lines.append("# " + draw(st.text(st.characters(codec="ascii", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"), max_size=20)))

    # ---- dims
    dims: dict[str, int] = {}
    for _ in range(draw(st.integers(1, 3))):
        name = fresh()
        dims[name] = draw(st.integers(1, 5))
        lines.append(f"dim {name} = {dims[name]}")
    dim_names = list(dims)

    def shape_text(shape: tuple[int, ...]) -> str:
        parts = []
        for n in shape:
            named = [d for d in dim_names if dims[d] == n]
            parts.append(draw(st.sampled_from(named)) if named and draw(st.integers(0, 3)) else str(n))
        return "[" + ", ".join(parts) + "]"

    def random_shape(max_rank: int = 2) -> tuple[int, ...]:
        rank = draw(st.sampled_from([0, 0, 1, 1, 2][: 2 * max_rank + 1]))
        return tuple(dims[draw(st.sampled_from(dim_names))] for _ in range(rank))

    syms: list[_Sym] = [_Sym(d, (), "dim", True) for d in dims]
    params: dict[str, ParamMeta] = {}
    param_lines: list[str] = []

    def add_param(shape: tuple[int, ...], constraint: AbstractConstraint | None = None, fixed: bool | None = None) -> str:
        name = fresh()
        if constraint is None:
            constraint = draw(_constraint())
        fixed = draw(st.integers(0, 5)) == 0 if fixed is None else fixed
        # a shaped parameter usually says its shape; otherwise its value gives it
        text_shape = shape_text(shape) if shape and draw(st.integers(0, 4)) else ""
        literal = _literal_inside(draw, shape, constraint) if shape and not text_shape else None
        if fixed:
            # a const has no constraint in the language: its value is recorded as real
            value = literal if literal is not None else _fmt(_value_inside(draw, constraint))
            param_lines.append(f"const {name}{text_shape} = {value}")
            params[name] = ParamMeta(shape, Real(), True)
            syms.append(_Sym(name, shape, "param", _positive_constraint(constraint)))
            return name
        parts = [f"param {name}{text_shape}"]
        has_init = False
        if literal is not None:
            parts.append(f"= {literal}")
        else:
            how = draw(st.sampled_from(["value", "value", "literal", "default", "init"]))
            if how == "init" and constraint.kind not in ("real", "positive", "unit", "interval"):
                how = "value"
            if how == "default" and constraint == Real():
                how = "value"
            if how == "literal" and not shape:
                how = "value"
            if how == "value":
                parts.append(f"= {_fmt(_value_inside(draw, constraint))}")
            elif how == "literal":
                parts.append(f"= {_literal_inside(draw, shape, constraint)}")
            elif how == "init":
                has_init = True
        if constraint != Real() or draw(st.integers(0, 9)) == 0:
            parts.append(f": {_constraint_text(constraint)}")
        if has_init:
            parts.append(f"~ init {_init_dist(draw, constraint)}")
        prior = None
        if constraint.kind in _PRIORS and draw(st.booleans()):
            prior = draw(st.sampled_from(_PRIORS[constraint.kind]))
        elif constraint.kind == "interval" and draw(st.booleans()):
            prior = f"Uniform({_fmt(constraint.lo)}, {_fmt(constraint.hi)})"
        if prior:
            parts.append(f"~ {prior}")
        params[name] = ParamMeta(shape, constraint, False, prior is not None, has_init)
        syms.append(_Sym(name, shape, "param", _positive_constraint(constraint)))
        param_lines.append(" ".join(parts))
        return name

    for _ in range(draw(st.integers(1, 4))):
        add_param(random_shape())

    # ---- states
    states: dict[str, tuple[int, ...]] = {}
    state_lines: list[str] = []
    n_states = draw(st.integers(1, max(1, max_states)))
    for _ in range(n_states):
        name = fresh()
        shape = random_shape(max_rank=1)
        static = _ExprGen(draw, syms, dims, dynamic=False, allow_grad=False)
        how = draw(st.sampled_from(["value", "expr", "dist", "dist", "noshape"]))
        if how == "noshape" and shape:
            state_lines.append(f"state {name} = {static.literal(shape).text}")
        elif how == "value" or how == "noshape":
            state_lines.append(f"state {name}{shape_text(shape) if shape else ''} = {static.number().text}")
        elif how == "expr":
            state_lines.append(f"state {name}{shape_text(shape) if shape else ''} = {static.expr(shape, 1).text}")
        else:
            state_lines.append(f"state {name}{shape_text(shape) if shape else ''} ~ {_state_dist(draw, static, shape)}")
        states[name] = shape

    # ---- declared Brownian motions and the noise plan
    brownians: dict[str, BrownianMeta] = {}
    brownian_lines: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        name = fresh()
        kind = draw(st.sampled_from(["scalar", "vector", "fractional"] if fractional else ["scalar", "vector"]))
        if kind == "fractional":
            unit = [p for p, m in params.items() if m.shape == () and not m.fixed and
                    (m.constraint.bounds()[0] >= 0 and m.constraint.bounds()[1] <= 1)]
            hurst = draw(st.sampled_from(unit)) if unit and draw(st.booleans()) else _fmt(draw(st.sampled_from([0.3, 0.5, 0.7, 0.85])))
            form = draw(st.sampled_from([f"fractional(hurst = {hurst})", f"fractional({hurst})"]))
            brownian_lines.append(f"brownian {name} : {form}")
            brownians[name] = BrownianMeta((), "fractional")
        elif kind == "vector":
            shape = random_shape(max_rank=1) or (dims[dim_names[0]],)
            brownian_lines.append(f"brownian {name}{shape_text(shape)}")
            brownians[name] = BrownianMeta(shape)
        else:
            brownian_lines.append(f"brownian {name}" + (" : brownian" if draw(st.integers(0, 5)) == 0 else ""))
            brownians[name] = BrownianMeta(())

    implicit_names = [fresh() for _ in range(draw(st.integers(1, 2)))]

    # plan the noise terms first: a matrix term needs a parameter of its shape
    plans: dict[str, list[tuple]] = {}
    for s, shape in states.items():
        terms = []
        for _ in range(draw(st.integers(0, 2))):
            options = ["implicit", "implicit", "bare"]
            shared = [b for b, m in brownians.items() if m.kind == "brownian" and (m.shape == () or m.shape == shape)]
            vectors = [b for b, m in brownians.items() if m.kind == "brownian" and m.shape != ()]
            fractionals = [b for b, m in brownians.items() if m.kind == "fractional"]
            options += ["shared"] * bool(shared) + ["matrix"] * bool(vectors) + ["fractional"] * bool(fractionals)
            kind = draw(st.sampled_from(options))
            if kind in ("implicit", "bare"):
                terms.append((kind, draw(st.sampled_from(implicit_names)), None))
            elif kind == "shared":
                terms.append((kind, draw(st.sampled_from(shared)), None))
            elif kind == "fractional":
                terms.append((kind, draw(st.sampled_from(fractionals)), None))
            else:
                b = draw(st.sampled_from(vectors))
                mshape = shape + brownians[b].shape
                existing = [x.name for x in syms if x.kind == "param" and x.shape == mshape]
                how = draw(st.sampled_from(["existing", "new", "expr"] if existing else ["new", "expr"]))
                if how == "existing":
                    coef = draw(st.sampled_from(existing))
                elif how == "new":
                    coef = add_param(mshape, Real(), False)
                else:
                    coef = None  # a random expression of the matrix's shape
                terms.append((kind, b, (mshape, coef)))
        plans[s] = terms

    # ---- lets
    dyn_syms = syms + [_Sym(s, sh, "state") for s, sh in states.items()]
    lets: dict[str, tuple[int, ...]] = {}
    let_lines: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        name = fresh()
        shape = draw(st.sampled_from(sorted({()} | {sh for sh in states.values()})))
        gen = _ExprGen(draw, dyn_syms, dims, dynamic=True, smooth=True, allow_grad=grad)
        let_lines.append(f"let {name} = {gen.expr(shape, draw(st.integers(0, 3))).text}")
        lets[name] = shape
        dyn_syms.append(_Sym(name, shape, "let"))

    # ---- equations
    eq_lines: list[str] = []
    noise_terms: list[NoiseTermMeta] = []
    for s, shape in states.items():
        drift_gen = _ExprGen(draw, dyn_syms, dims, dynamic=True, allow_grad=grad)
        noise_gen = _ExprGen(draw, dyn_syms, dims, dynamic=True, smooth=True, allow_grad=False)
        terms: list[str] = []
        for _ in range(draw(st.integers(0 if plans[s] else 1, 2))):
            c = drift_gen.broadcastable(shape, draw(st.integers(0, 3)))
            terms.append(f"{_p(c, _PROD)} dt")
        for kind, noise, extra in plans[s]:
            if kind == "bare":
                terms.append(f"d{noise}")
                noise_terms.append(NoiseTermMeta(s, "implicit", noise))
                continue
            if kind == "matrix":
                mshape, coef = extra
                c = _E(coef, _ATOM, mshape) if coef else noise_gen.expr(mshape, draw(st.integers(0, 2)))
                terms.append(f"{_p(c, _PROD)} @ d{noise}")
            else:
                c = noise_gen.broadcastable(shape, draw(st.integers(0, 2)))
                terms.append(f"{_p(c, _PROD)} d{noise}")
            noise_terms.append(NoiseTermMeta(s, kind, noise))
        rhs = terms[0]
        for t in terms[1:]:
            rhs += f" {draw(st.sampled_from(['+', '+', '-']))} {t}"
        eq_lines.append(f"d{s} = {rhs}")

    # ---- observations and calculus
    observations: dict[str, str] = {}
    obs_lines: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        name = fresh()
        shape = draw(st.sampled_from(sorted({()} | set(states.values()))))
        gen = _ExprGen(draw, dyn_syms, dims, dynamic=True, allow_grad=False)
        e = gen.expr(shape, draw(st.integers(0, 2)))
        dist = draw(st.sampled_from(["Normal", "Normal", "Poisson", "Bernoulli", "StudentT"]))
        if dist == "Normal":
            text = f"Normal({e.text}, 0.1)"
        elif dist == "Poisson":
            text = f"Poisson(softplus({e.text}))"
        elif dist == "Bernoulli":
            text = f"Bernoulli(logits = {e.text})"
        else:
            text = f"StudentT(4, {e.text}, 0.5)"
        decl = f"observe {name}{shape_text(shape) if shape and draw(st.booleans()) else ''} ~ {text}"
        obs_lines.append(decl)
        observations[name] = dist
    calculus = draw(st.sampled_from(["ito", "ito", "stratonovich", "default"]))
    calc_lines = [] if calculus == "default" else [f"calculus {calculus}"]
    calculus = "ito" if calculus == "default" else calculus

    body = param_lines + brownian_lines + state_lines + let_lines + eq_lines + obs_lines
    if calc_lines:
        body.insert(draw(st.integers(0, len(body))), calc_lines[0])
    for _ in range(draw(st.integers(0, 2))):
        body.insert(draw(st.integers(0, len(body))), draw(st.sampled_from(["", "# a comment", "   "])))
    text = "\n".join(lines + body) + ("\n" if draw(st.integers(0, 4)) else "")
    meta = SpecMeta(
        name=model_name,
        dims=dims,
        params=params,
        states=states,
        lets=lets,
        brownians=brownians,
        noise_terms=tuple(noise_terms),
        calculus=calculus,
        observations=observations,
    )
    return text, meta


def _literal_inside(draw, shape: tuple[int, ...], constraint: tuple) -> str:
    def rec(sh):
        if not sh:
            return _fmt(_value_inside(draw, constraint))
        return "[" + ", ".join(rec(sh[1:]) for _ in range(sh[0])) + "]"

    return rec(shape)


def _init_dist(draw, c: AbstractConstraint) -> str:
    kind = c.kind
    if kind == "real":
        return draw(st.sampled_from(["Normal(0, 0.3)", "Normal(1, 2)", "Laplace(0, 1)"]))
    if kind == "positive":
        return draw(st.sampled_from(["LogNormal(0, 0.5)", "Gamma(2, 2)", "Exponential(1)"]))
    if kind == "unit":
        return draw(st.sampled_from(["Beta(2, 2)", "Uniform(0.1, 0.9)"]))
    lo, hi = c.bounds()
    w = hi - lo
    return f"Uniform({_fmt(lo + 0.1 * w)}, {_fmt(hi - 0.1 * w)})"


def _state_dist(draw, gen: _ExprGen, shape) -> str:
    kind = draw(st.sampled_from(["Normal", "Normal", "Uniform", "Laplace", "LogNormal"]))
    if kind == "Normal":
        loc = gen.broadcastable(shape, draw(st.integers(0, 1)))
        return f"Normal({loc.text}, {gen.positive_b(shape, 0).text})"
    if kind == "Uniform":
        return "Uniform(-1, 1)" if draw(st.booleans()) else "Uniform(-pi, pi)"
    if kind == "Laplace":
        return f"Laplace(0, {gen.positive_b(shape, 0).text})"
    return "LogNormal(0, 0.5)"


# ------------------------------------------------------------- mutated specs

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.?\d*(?:[eE][+-]?\d+)?|\*\*|[<>=!]=|\S")
_SYMBOLS = "()[]=~:+-*/@^,.#"
_WORDS = (
    "model", "dim", "param", "const", "state", "brownian", "input", "let", "net", "observe",
    "calculus", "init", "not", "and", "or", "dt", "dW", "t", "pi", "x", "sigma", "Normal",
    "positive", "interval", "fractional", "hurst", "sum", "grad", "mlp", "1", "0.5", "1e-3",
    "stratonovich", "ito", "lambda", "None", "class", "info", "@", "**",
)


def _mutate(draw, text: str) -> str:
    kind = draw(st.sampled_from([
        "delete_char", "duplicate_char", "swap_chars", "delete_token", "duplicate_token",
        "swap_tokens", "insert_symbol", "insert_word", "replace_token", "truncate_line",
        "delete_line", "duplicate_line", "swap_lines",
    ]))
    if kind.endswith("_char") or kind == "swap_chars" or kind.startswith("insert"):
        pos = draw(st.integers(0, len(text)))
        if kind == "delete_char" and text:
            pos = min(pos, len(text) - 1)
            return text[:pos] + text[pos + 1:]
        if kind == "duplicate_char" and text:
            pos = min(pos, len(text) - 1)
            return text[:pos] + text[pos] + text[pos:]
        if kind == "swap_chars" and len(text) >= 2:
            pos = min(pos, len(text) - 2)
            return text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
        if kind == "insert_symbol":
            return text[:pos] + draw(st.sampled_from(_SYMBOLS)) + text[pos:]
        word = draw(st.sampled_from(_WORDS))
        sep = draw(st.sampled_from(["", " "]))
        return text[:pos] + sep + word + sep + text[pos:]
    if kind.endswith("_token") or kind == "swap_tokens":
        toks = list(_TOKEN.finditer(text))
        if not toks:
            return text
        i = draw(st.integers(0, len(toks) - 1))
        a = toks[i]
        if kind == "delete_token":
            return text[: a.start()] + text[a.end():]
        if kind == "duplicate_token":
            return text[: a.end()] + " " + a.group() + text[a.end():]
        if kind == "replace_token":
            return text[: a.start()] + draw(st.sampled_from(_WORDS + tuple(_SYMBOLS))) + text[a.end():]
        j = draw(st.integers(0, len(toks) - 1))
        b = toks[j]
        if i == j:
            return text
        a, b = (a, b) if a.start() < b.start() else (b, a)
        return text[: a.start()] + b.group() + text[a.end(): b.start()] + a.group() + text[b.end():]
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "truncate_line":
        cut = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:cut]
    elif kind == "delete_line":
        del lines[i]
    elif kind == "duplicate_line":
        lines.insert(i, lines[i])
    else:
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


@st.composite
def mutated_specs(draw, base_texts: Sequence[str] | st.SearchStrategy[str], max_mutations: int = 3) -> str:
    """Small corruptions of valid spec texts: 1 to ``max_mutations`` of

    deleting, duplicating or swapping a character, a token or a line,
    replacing a token, inserting one of ``()[]=~:+-*/@^,.#`` or a word, and
    truncating a line. The result is usually invalid, sometimes still valid:
    whatever it is, the compiler must answer with located errors, never a
    traceback.

    Args:
        base_texts: the texts to start from (e.g. the files in ``specs/``), or a
            strategy of texts (e.g. ``valid_specs().map(lambda s: s[0])``).
    """
    if isinstance(base_texts, st.SearchStrategy):
        text = draw(base_texts)
    else:
        texts = list(base_texts)
        if not texts:
            raise ValueError("mutated_specs needs at least one base text")
        text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, max_mutations))):
        text = _mutate(draw, text)
    return text


# ----------------------------------------------------------- parameter values


def _elements_inside(constraint: AbstractConstraint, margin: float, scale: float) -> st.SearchStrategy[float]:
    a, b = constraint.bounds()
    if math.isinf(a) and math.isinf(b):
        lo, hi = -scale, scale
    elif math.isinf(b):
        lo, hi = a + margin, a + scale
    elif math.isinf(a):
        lo, hi = b - scale, b - margin
    else:
        w = b - a
        lo, hi = a + margin * w, b - margin * w
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def param_values(info: Any, *, include_fixed: bool = False, margin: float = 1e-2,
                 scale: float = 10.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Draws of parameter values, each inside its ``ParamInfo.constraint``.

    Values keep ``margin`` away from every bound (relative to the width of an
    interval) so that the unconstrained image stays finite in float32, and lie
    within ``scale`` of 0 or of the one bound.

    Args:
        info: a :class:`~dync.runtime.model.ModelInfo`, a model (anything with
            ``.info``) or an iterable of :class:`~dync.runtime.model.ParamInfo`.
        include_fixed: also draw values for constants.

    A parameter the compiler reads when the spec compiles
    (``ParamInfo.compile_time``: an index, a shape, ``roll(x, k)``) is never
    drawn: the compiled model keeps its spec value.

    Returns:
        A strategy of ``{name: float64 array of the parameter's shape}``.

    Example:
        >>> @given(param_values(model.info))
        ... def test_roundtrip(values): ...
    """
    if hasattr(info, "info") and not hasattr(info, "params"):
        info = info.info
    params: Iterable = info.params if hasattr(info, "params") else info
    # a parameter the compiler reads (x[k], state x[K]) keeps its spec value:
    # a drawn one would never reach the model (and with_params refuses it)
    chosen = [p for p in params if (include_fixed or not p.fixed) and not getattr(p, "compile_time", "")]
    return st.fixed_dictionaries({
        p.name: hnp.arrays(np.float64, tuple(p.shape), elements=_elements_inside(from_tuple(p.constraint), margin, scale))
        for p in chosen
    })
