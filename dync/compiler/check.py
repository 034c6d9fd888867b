"""Stages 2–4 of the pipeline: resolve names, check, lower to IR.

:func:`resolve_names` collects the declarations (duplicates, reserved words)
and folds the dims; :func:`check_model` checks every declaration, expression
and equation and returns their checked parts; :func:`lower_to_ir` assembles
the :class:`~dync.compiler.ir.ModelIR`. Every independent error is collected
(a failed sub-expression yields a placeholder that suppresses cascades) and
raised together as :class:`~dync.errors.SpecErrors` by :func:`check_model`.

The checks themselves are split by job: names and declarations
(:mod:`.names`), expressions and shapes (:mod:`.expressions`), equations and
noise (:mod:`.equations`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from .._deep import deepest_statement, run_deep
from ..dsl import ast
from ..errors import DyncError, InvalidSpec, Span, SpecErrors
from . import ir
from .analysis import analyse
from .consteval import Budget
from .equations import EquationChecks
from .expressions import ExprChecker
from .names import DeclarationChecks
from .shapes import BAD, Bad
from .statements import StatementChecks

__all__ = ["Checker", "CheckedModel", "check_model", "check_spec", "lower_to_ir", "resolve_names"]


class Checker(DeclarationChecks, EquationChecks, StatementChecks):
    """The state of checking one spec: its symbol table, the values known at
    compile time, and the errors found so far.

    The methods of each job live in their own module (:mod:`.names`,
    :mod:`.equations`, :mod:`.expressions`, :mod:`.statements`); the stage functions below call
    them in order."""

    def __init__(self, spec: ast.Spec, dims: Mapping[str, int] | None = None, fbm_num_ou: int | None = None):
        self.spec = spec
        self.overrides = dict(dims or {})
        self.errors: list[DyncError] = []
        self.fbm_num_ou = fbm_num_ou
        self.symbols: dict[str, tuple[str, object]] = {}  # name -> (kind, shape or info)
        self.consts: dict[str, np.ndarray] = {}  # dims, params, consts values
        self.lets: dict[str, ir.IExpr] = {}
        self.nets: dict[str, ir.NetIR] = {}
        self.states: dict[str, ast.State] = {}
        self.state_shapes: dict[str, tuple] = {}
        self.brownians: dict[str, ast.Brownian] = {}
        self.brownian_shapes: dict[str, tuple] = {}
        self.fractional: dict[str, ir.IExpr] = {}
        #: declarations that failed their own check: later uses stay silent
        self.failed: set[str] = set()
        #: declarations that lost a misspelt YAML key (a partial spec): the
        #: reading error is reported; their uses and equations stay silent
        self.incomplete: frozenset[str] = spec.incomplete
        self.failed |= self.incomplete
        #: checked initial values of states, so each is checked (and any
        #: error in it reported) once
        self._state_values: dict[str, object] = {}
        #: the values of the state-free lets known at compile time (computed
        #: when an initial value first reads a let)
        self._constant_let_values: dict[str, np.ndarray] | None = None
        #: the work those values and the initial values may take together
        #: (past it, a value is left to the run time, never an error)
        self._values_budget = Budget()
        #: why a let is not state-free (set by ``_check_constant_lets``)
        self._let_blocker: dict[str, str] = {}
        #: whether ``_check_constant_lets`` has run (a let still unknown after it is in a cycle)
        self._constant_lets_checked = False
        self._drawing: str | None = None  # the parameter whose `~ init` draw is being checked
        #: the first expression that failed before any error was reported (see check_model)
        self.silently_bad: Span | None = None
        #: the dims' values (with overrides), once names are resolved
        self.dims: dict[str, int] = {}

    @property
    def inputs_are_data(self) -> bool:
        """Whether the model's inputs are static data arrays rather than
        time signals: a ``target`` model with no equation at all
        (docs/language.md §2.14, "Data in a target model")."""
        return bool(self.spec.of_type(ast.Target)) and not self.spec.of_type(ast.Equation)

    # ----------------------------------------------------------- utilities

    def err(self, cls, message: str, span: Span | None, hint: str | None = None) -> Bad:
        self.errors.append(cls(message, span, hint=hint))
        return BAD

    def _declared_span(self, name: str) -> str:
        node = self._decl_nodes.get(name)
        if node is not None and node.span.line > 0:
            kind = {"Param": "a param", "Const": "a const", "State": "a state", "Dim": "a dim", "Let": "a let",
                    "Brownian": "a brownian", "Input": "an input", "Net": "a net", "Observe": "an observation"}.get(type(node).__name__, "")
            return f"`{name}` was first declared {'as ' + kind + ' ' if kind else ''}on line {node.span.line}; rename one of them"
        return f"`{name}` is already declared"

    def _num_ou(self) -> int:
        if self.fbm_num_ou is not None:
            return self.fbm_num_ou
        from .fbm_defaults import DEFAULT_NUM_OU

        return DEFAULT_NUM_OU

    # --------------------------------------------------------- expressions

    def _expr(self, e: ast.Expr, allow_states: bool, allow_time: bool | None = None, time_hint: str | None = None, state_hint: str | None = None):
        return ExprChecker(self, allow_states, allow_time, time_hint, state_hint).check(e)


@dataclasses.dataclass(frozen=True)
class CheckedModel:
    """The checked parts of a model, ready to be lowered to its IR."""

    scope: Checker
    params: tuple[ir.ParamIR, ...]
    inputs: tuple[tuple[str, tuple], ...]
    states: tuple[ir.StateIR, ...]
    state_size: int
    drift: tuple
    noise: tuple
    noise_blocks: tuple
    noise_size: int
    observations: tuple[ir.ObservationIR, ...]
    target: ir.IExpr | None = None
    target_text: str | None = None
    score: ir.ScoreIR | None = None
    expectations: tuple[ir.ExpectationIR, ...] = ()
    has_dynamics: bool = True
    data_dim: str | None = None


def resolve_names(spec: ast.Spec, dims: Mapping[str, int] | None = None, fbm_num_ou: int | None = None) -> Checker:
    """Stage 2: collect the declarations of ``spec`` and fold its dims.

    Args:
        spec: the parsed spec (either form).
        dims: overrides of ``dim`` values (``--set K=16``).
        fbm_num_ou: number of OU processes per fractional Brownian motion.

    Returns:
        The scope: every declared name, the dims' values, and the errors found
        so far (raised by :func:`check_model`, with the rest).
    """
    scope = Checker(spec, dims, fbm_num_ou)
    scope._collect_declarations()
    scope.dims = scope._check_dims()
    return scope


def check_model(scope: Checker) -> CheckedModel:
    """Stage 3: check every declaration, expression and equation, then the
    ``target``, ``score`` and ``expect`` statements.

    Raises:
        SpecErrors: every independent error (this stage's and
            :func:`resolve_names`'s), sorted by position.
    """
    params = scope._check_params()
    inputs = scope._check_inputs()
    scope._check_brownians()
    scope._check_constant_lets()
    states = scope._check_state_decls()
    scope._check_nets()
    scope._check_lets()
    states_ir, drift, noise, blocks, n, m = scope._check_equations(states)
    observations = scope._check_observations()
    target, target_text = scope._check_target()
    data_dim = scope._check_data_inputs()
    score = scope._check_score()
    expectations = scope._check_expectations()
    if not scope.errors and not scope.incomplete and scope.silently_bad is not None:
        # an expression failed with no error to show for it: never compile
        # such a spec (a dropped term would silently change the model)
        scope.err(
            InvalidSpec,
            "dync could not check this expression, yet found no error in it",
            scope.silently_bad,
            hint="this is a bug in dync: please report it with the spec",
        )
    if scope.errors:
        raise SpecErrors(scope.errors)
    return CheckedModel(
        scope=scope,
        params=tuple(params),
        inputs=tuple(inputs),
        states=tuple(states_ir),
        state_size=n,
        drift=tuple(drift.items()),
        noise=tuple((k, tuple(v)) for k, v in noise.items()),
        noise_blocks=tuple(blocks),
        noise_size=m,
        observations=tuple(observations),
        target=target,
        target_text=target_text,
        score=score,
        expectations=tuple(expectations),
        has_dynamics=all(s.name in scope.equation_states for s in states_ir if not s.hidden),
        data_dim=data_dim,
    )


def lower_to_ir(checked: CheckedModel) -> ir.ModelIR:
    """Stage 4: assemble the model's IR (not yet analysed: see
    :func:`~dync.compiler.analysis.analyse`)."""
    scope = checked.scope
    return ir.ModelIR(
        name=scope._model_name(),
        doc=scope.spec.doc,
        calculus=scope._calculus(),
        dims=tuple(scope.dims.items()),
        params=checked.params,
        states=checked.states,
        state_size=checked.state_size,
        inputs=checked.inputs,
        lets=tuple(scope.lets.items()),
        nets=tuple(scope.nets.values()),
        drift=checked.drift,
        noise=checked.noise,
        noise_blocks=checked.noise_blocks,
        noise_size=checked.noise_size,
        observations=checked.observations,
        fbm_num_ou=scope._num_ou() if scope.fractional else 0,
        target=checked.target,
        target_text=checked.target_text,
        score=checked.score,
        expectations=checked.expectations,
        has_dynamics=checked.has_dynamics,
        data_dim=checked.data_dim,
    )


def check_spec(spec: ast.Spec, dims: Mapping[str, int] | None = None, fbm_num_ou: int | None = None) -> ir.ModelIR:
    """Stages 2–5 on a parsed spec: resolve names, check, lower, analyse.

    Args:
        spec: the parsed spec (either form).
        dims: overrides of ``dim`` values (``--set K=16``).
        fbm_num_ou: number of OU processes per fractional Brownian motion.

    Raises:
        SpecErrors: every independent error, sorted by position; E290 at
            the deepest statement when an expression is nested too deeply.
    """

    def stages() -> ir.ModelIR:
        scope = resolve_names(spec, dims, fbm_num_ou)
        return analyse(lower_to_ir(check_model(scope)))

    return run_deep(lambda: deepest_statement(spec), stages)
