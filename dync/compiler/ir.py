"""The checked intermediate representation.

A :class:`ModelIR` exists only after every check has passed: names are
resolved to what they refer to, every expression node carries its concrete
shape, dims are folded to integers, and equations are split into drift and
noise terms on known noise blocks. Code generation reads nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Union

import numpy as np

Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Const:
    """A compile-time constant (float scalar or numpy array)."""

    value: np.ndarray
    shape: Shape


@dataclasses.dataclass(frozen=True, eq=False)
class Ref:
    """A reference: ``kind`` is param, state, input, let, time or pi."""

    kind: str
    name: str
    shape: Shape


@dataclasses.dataclass(frozen=True, eq=False)
class Op:
    """An operator or library function applied to array arguments.

    ``op`` is an operator symbol (``+ - * / @ ^ neg pos not < <= > >= == !=
    and or``) or ``call:NAME`` for a library function; ``static`` holds its
    compile-time keyword arguments (``axis``, ``shift``, ...).
    """

    op: str
    args: tuple[IExpr, ...]
    shape: Shape
    static: tuple[tuple[str, object], ...] = ()


@dataclasses.dataclass(frozen=True, eq=False)
class Index:
    """Static indexing: each item an ``int`` or a ``(start, stop, step)`` triple."""

    value: IExpr
    items: tuple[object, ...]
    shape: Shape


@dataclasses.dataclass(frozen=True, eq=False)
class Array:
    elements: tuple[IExpr, ...]
    shape: Shape


@dataclasses.dataclass(frozen=True, eq=False)
class Grad:
    """$\\nabla_x E$ where ``body`` is scalar and ``wrt`` names a state."""

    body: IExpr
    wrt: str
    shape: Shape


@dataclasses.dataclass(frozen=True, eq=False)
class NetCall:
    net: str
    arg: IExpr
    shape: Shape


@dataclasses.dataclass(frozen=True, eq=False)
class FbmDrift:
    """$\\sum_k \\omega_k \\gamma_k Y_k$ of a fractional Brownian motion's OU state."""

    brownian: str
    shape: Shape = ()


IExpr = Union[Const, Ref, Op, Index, Array, Grad, NetCall, FbmDrift]


@dataclasses.dataclass(frozen=True, eq=False)
class DistIR:
    name: str
    args: tuple[tuple[str, IExpr], ...]  # (parameter name, value)
    shape: Shape  # broadcast shape of the arguments


@dataclasses.dataclass(frozen=True, eq=False)
class ParamIR:
    name: str
    attr: str  # attribute name on the generated module
    shape: Shape
    constraint: tuple
    value: np.ndarray | None
    init: DistIR | None
    prior: DistIR | None
    fixed: bool
    #: what reads it when the spec compiles ("an index or a size (line 6)"),
    #: "" if nothing: the compiled code keeps its spec value
    compile_time: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class StateIR:
    name: str
    shape: Shape
    offset: int
    size: int
    value: IExpr | None
    init: DistIR | None
    hidden: bool = False
    #: ``state x ~ data``: the initial law is a data set given at run time
    data: bool = False


@dataclasses.dataclass(frozen=True, eq=False)
class NetIR:
    name: str
    attr: str
    in_size: int
    out_size: int
    width: int
    depth: int
    activation: str


@dataclasses.dataclass(frozen=True, eq=False)
class NoiseBlock:
    """A slice of the driving-noise vector: an implicit per-equation noise or a
    declared Brownian motion (for a fractional one, its driving W)."""

    name: str
    shape: Shape
    offset: int
    size: int
    implicit: bool
    kind: str = "brownian"
    hurst: IExpr | None = None
    fbm_state: str | None = None  # hidden OU state of a fractional motion


@dataclasses.dataclass(frozen=True, eq=False)
class NoiseTerm:
    """``coefficient * dB`` (elementwise) or ``coefficient @ dB`` (matrix)."""

    coefficient: IExpr
    block: str
    matrix: bool


@dataclasses.dataclass(frozen=True, eq=False)
class ObservationIR:
    name: str
    shape: Shape
    dist: DistIR


@dataclasses.dataclass(frozen=True, eq=False)
class ExpectationIR:
    """One checked ``expect`` statement (LANGUAGE.md §8).

    ``kind`` is ``always`` (``lhs`` a boolean expression), ``mean`` or
    ``var`` (``lhs`` the expression, ``rhs`` its value, a function of time
    and parameters only), or ``stationary`` (``lhs`` the state's value,
    ``dist`` its limiting law, deterministic). ``lhs_text`` / ``rhs_text``
    are the canonical spellings (``dync fmt``), ``line`` / ``column`` where
    the statement stands.
    """

    kind: str
    lhs: IExpr
    rhs: IExpr | None
    dist: DistIR | None
    state: str
    lhs_text: str
    rhs_text: str
    line: int
    column: int


@dataclasses.dataclass(frozen=True, eq=False)
class ScoreIR:
    """``score STATE = EXPR``: ``value`` has the state's shape (broadcast)."""

    state: str
    value: IExpr
    text: str


@dataclasses.dataclass(frozen=True, eq=False)
class ModelIR:
    name: str
    doc: str
    calculus: str
    dims: tuple[tuple[str, int], ...]
    params: tuple[ParamIR, ...]
    states: tuple[StateIR, ...]
    state_size: int
    inputs: tuple[tuple[str, Shape], ...]
    lets: tuple[tuple[str, IExpr], ...]  # in dependency order
    nets: tuple[NetIR, ...]
    drift: tuple[tuple[str, IExpr | None], ...]  # per state, broadcast to its shape
    noise: tuple[tuple[str, tuple[NoiseTerm, ...]], ...]  # per state
    noise_blocks: tuple[NoiseBlock, ...]
    noise_size: int
    observations: tuple[ObservationIR, ...]
    noise_structure: str = "none"
    diffusion_is_elementwise: bool = False
    langevin: tuple[str, str] | None = None
    fbm_num_ou: int = 0
    #: ``target EXPR``: the scalar log-density of the states, and its canonical text
    target: IExpr | None = None
    target_text: str | None = None
    score: ScoreIR | None = None
    expectations: tuple[ExpectationIR, ...] = ()
    #: every state has an equation (a model with a ``target`` may have none)
    has_dynamics: bool = True
    #: a target model's inputs are static data arrays whose leading axis is
    #: this dim, the data points (``None``: inputs are time signals, or none)
    data_dim: str | None = None

    def let(self, name: str) -> IExpr:
        return dict(self.lets)[name]

    def state(self, name: str) -> StateIR:
        return {s.name: s for s in self.states}[name]


#: the operators whose values are booleans
COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
LOGICAL = frozenset({"and", "or", "not"})


def is_condition(e, lets) -> bool:
    """Whether ``e`` evaluates to booleans: a comparison, ``and``/``or``/``not``,
    an index into one, or a let (``lets``: name -> expression) holding one."""
    while True:
        if isinstance(e, Index):
            e = e.value
        elif isinstance(e, Ref) and e.kind == "let":
            e = lets[e.name]
        else:
            return isinstance(e, Op) and (e.op in COMPARISONS or e.op in LOGICAL)


def children(e) -> tuple:
    """The sub-expressions of ``e`` (not through ``let`` references): the one
    statement of the IR's tree shape that every walker reads."""
    if isinstance(e, Op):
        return tuple(e.args)
    if isinstance(e, Index):
        return (e.value,)
    if isinstance(e, Array):
        return tuple(e.elements)
    if isinstance(e, Grad):
        return (e.body,)
    if isinstance(e, NetCall):
        return (e.arg,)
    if isinstance(e, DistIR):
        return tuple(v for _, v in e.args)
    return ()


def walk(e, lets: dict | None = None):
    """Every node under ``e``, each once, iteratively (no recursion limit);
    with ``lets`` (name -> expression) also through each ``let`` it reads."""
    seen: set[int] = set()
    stack = [e]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if lets is not None and isinstance(node, Ref) and node.kind == "let" and node.name in lets:
            stack.append(lets[node.name])
        stack.extend(children(node))


def states_read(e, let_states: dict[str, frozenset]) -> frozenset:
    """The states an expression reads, through gradients, networks and
    laws, with each ``let``'s states looked up in ``let_states`` (a let not
    in it reads none). An iterative walk: each node once, no recursion
    limit. Fractional-noise drifts read their hidden state
    ``_fbm_<brownian>``."""
    out: set = set()
    for node in walk(e):
        if isinstance(node, Ref):
            if node.kind == "state":
                out.add(node.name)
            elif node.kind == "let":
                out |= let_states.get(node.name, frozenset())
        elif isinstance(node, Grad):
            out.add(node.wrt)
        elif isinstance(node, FbmDrift):
            out.add(f"_fbm_{node.brownian}")
    return frozenset(out)

