"""The dync abstract syntax tree: immutable nodes, each with a source span.

Both the text parser and the YAML loader build these nodes, so everything
downstream (checks, formatting, code generation, error messages) is shared.
Spans are excluded from equality: two specs that say the same thing compare
equal whatever their layout, which is what the round-trip properties test.
"""

from __future__ import annotations

import dataclasses
from typing import Union

from ..errors import Span

_NOSPAN = Span("<generated>", 0, 0, 0, 0)


def _span_field():
    return dataclasses.field(default=_NOSPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclasses.dataclass(frozen=True)
class Number:
    """A numeric literal; ``text`` keeps the user's spelling for formatting."""

    value: float
    text: str = dataclasses.field(default="", compare=False)
    span: Span = _span_field()

    @property
    def is_integer(self) -> bool:
        t = self.text or repr(self.value)
        return not any(c in t for c in ".eE") and float(self.value).is_integer()


@dataclasses.dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Unary:
    """``-x``, ``+x`` or ``not x``."""

    op: str
    operand: Expr
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Binary:
    """A binary operation; ``**`` is normalised to ``^``."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span_field()
    op_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Call:
    """``func(args..., key = value...)``: a function, distribution, constraint
    or noise kind, depending on where it stands."""

    func: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[Keyword, ...] = ()
    span: Span = _span_field()
    func_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Slice:
    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Index:
    value: Expr
    items: tuple[Expr | Slice, ...]
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class ArrayLit:
    elements: tuple[Expr, ...]
    span: Span = _span_field()


Expr = Union[Number, Name, Unary, Binary, Call, Index, ArrayLit]


# ------------------------------------------------------------------ equations


@dataclasses.dataclass(frozen=True)
class Term:
    """One term of an equation: ``sign * coefficient`` times a differential.

    ``differential`` is the differential's name (``dt``, ``dW``, ``dB``), or
    ``None`` for a term the user wrote without one (an error the checker
    reports). ``matrix`` is true for ``coefficient @ dW``. A bare differential
    has ``coefficient=None``.
    """

    sign: int
    coefficient: Expr | None
    differential: str | None
    matrix: bool = False
    span: Span = _span_field()
    differential_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Equation:
    """``dX = term + term ...``; ``lhs`` is the name as written (``dX``)."""

    lhs: str
    terms: tuple[Term, ...]
    span: Span = _span_field()
    lhs_span: Span = _span_field()


# --------------------------------------------------------------- declarations


@dataclasses.dataclass(frozen=True)
class Dim:
    name: str
    value: Expr
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Param:
    """``param`` (``fixed=False``) or ``const`` (``fixed=True``).

    ``constraint`` is a :class:`Name` (``positive``) or :class:`Call`
    (``interval(-1, 1)``); ``prior`` and ``init`` are distribution calls.
    """

    name: str
    shape: tuple[Expr, ...] | None = None
    value: Expr | None = None
    constraint: Name | Call | None = None
    prior: Call | None = None
    init: Call | None = None
    fixed: bool = False
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class State:
    """A state with a fixed initial ``value``, an initial distribution
    ``init``, or (``data=True``, ``state x ~ data``) the training data set
    as its initial law."""

    name: str
    shape: tuple[Expr, ...] | None = None
    value: Expr | None = None
    init: Call | None = None
    span: Span = _span_field()
    name_span: Span = _span_field()
    data: bool = False


@dataclasses.dataclass(frozen=True)
class Brownian:
    """``brownian W[m]`` or ``brownian B : fractional(hurst = H)``."""

    name: str
    shape: tuple[Expr, ...] | None = None
    kind: Name | Call | None = None
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Input:
    name: str
    shape: tuple[Expr, ...] | None = None
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Net:
    """``net f = mlp(in = 8, out = 8, width = 64, depth = 2, activation = tanh)``."""

    name: str
    call: Call
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Observe:
    name: str
    shape: tuple[Expr, ...] | None
    dist: Call
    span: Span = _span_field()
    name_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Calculus:
    value: str
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Expect:
    """``expect ...``: what ``dync test`` checks (LANGUAGE.md §8).

    ``kind`` is ``always`` (``lhs`` a condition), ``mean`` or ``var``
    (``lhs`` the expression, ``rhs`` its deterministic value), or
    ``stationary`` (``state`` and its limiting law ``dist``). For ``mean`` and
    ``var``, ``kind`` is the name the user wrote before ``(``, which the
    checker verifies (``kind_span`` points at it).
    """

    kind: str
    lhs: Expr | None = None
    rhs: Expr | None = None
    state: str | None = None
    dist: Call | None = None
    span: Span = _span_field()
    kind_span: Span = _span_field()
    state_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Target:
    """``target EXPR``: the unnormalised log-density of the states."""

    value: Expr
    span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class Score:
    """``score STATE = EXPR``: a (learned) approximation of the score
    $\\nabla_x \\log p_t(x)$ of the state's marginal law."""

    state: str
    value: Expr
    span: Span = _span_field()
    state_span: Span = _span_field()


@dataclasses.dataclass(frozen=True)
class ModelName:
    name: str
    span: Span = _span_field()


Declaration = Union[
    Dim, Param, State, Brownian, Input, Let, Net, Observe, Calculus, ModelName, Equation, Expect, Target, Score
]


#: in :attr:`Spec.incomplete`: the YAML's `equations:` key was misspelt (its
#: E260 says so), so the checker does not report every state as having no equation
MISSPELT_EQUATIONS = "<equations>"
#: in :attr:`Spec.incomplete`: the YAML's `states:` key was misspelt, so the
#: checker does not report every equation as one for an undeclared state
MISSPELT_STATES = "<states>"


@dataclasses.dataclass(frozen=True)
class Spec:
    """A whole spec, in declaration order.

    ``settings`` holds the YAML-only run sections (``simulate:``, ``fit:``,
    ``check:``, ``test:``, ``sample:``) as plain data, and ``setting_spans``
    where each value stands; the text form has none.
    """

    name: str
    doc: str
    statements: tuple[Declaration, ...]
    settings: tuple[tuple[str, object], ...] = dataclasses.field(default=(), compare=False)
    path: str = dataclasses.field(default="<string>", compare=False)
    source: str = dataclasses.field(default="", compare=False, repr=False)
    span: Span = _span_field()
    #: names whose declaration lost a part to a reading error (a misspelt
    #: YAML key): the checker of a partial spec stays silent about their uses
    incomplete: frozenset[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)
    #: ``(section, key, span of the value)`` of every run setting read from YAML
    setting_spans: tuple[tuple[str, str, Span], ...] = dataclasses.field(default=(), compare=False, repr=False)

    def of_type(self, kind: type) -> list:
        return [s for s in self.statements if isinstance(s, kind)]

    def setting_span(self, section: str, key: str) -> Span | None:
        """Where the YAML spec gives ``section.key`` (``None``: not given);
        ``key`` may name an entry of a mapping-valued setting, ``fix.k``."""
        for sec, name, span in self.setting_spans:
            if sec == section and name == key:
                return span
        return None

    def setting(self, section: str) -> dict:
        for key, value in self.settings:
            if key == section:
                return dict(value)  # type: ignore[arg-type]
        return {}


def free_names(e) -> set[str]:
    """Every name an expression reads (not the functions it calls)."""
    out: set[str] = set()

    def walk(x):
        if isinstance(x, Name):
            out.add(x.id)
        elif isinstance(x, Unary):
            walk(x.operand)
        elif isinstance(x, Binary):
            walk(x.left)
            walk(x.right)
        elif isinstance(x, Call):
            for a in x.args:
                walk(a)
            for k in x.kwargs:
                walk(k.value)
        elif isinstance(x, Index):
            walk(x.value)
            for it in x.items:
                walk(it)
        elif isinstance(x, Slice):
            for p in (x.start, x.stop, x.step):
                if p is not None:
                    walk(p)
        elif isinstance(x, ArrayLit):
            for a in x.elements:
                walk(a)

    walk(e)
    return out
