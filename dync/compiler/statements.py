"""The statements of language 1.1 that say what to do with a model rather
than what it is: ``target`` (a density to sample), ``score`` (a learned
score) and ``expect`` (what ``dync test`` checks). See LANGUAGE.md §8–§10
and docs/language.md §2.14–§2.16.

Each is checked after the declarations, lets and equations, and lowered to
the IR fields :attr:`~dync.compiler.ir.ModelIR.target`,
:attr:`~dync.compiler.ir.ModelIR.score` and
:attr:`~dync.compiler.ir.ModelIR.expectations`.
"""

from __future__ import annotations

import math

import numpy as np

from ..dsl import ast
from ..dsl.format import format_expectation, format_expr
from ..errors import DuplicateDeclaration, ShapeMismatch, SpecError, UndefinedName, did_you_mean
from . import ir
from .consteval import known_values
from .dependencies import depends_on_state
from .shapes import BAD, broadcast, fmt_shape

__all__ = ["BadDataInput", "BadExpectation", "BadScore", "BadTarget", "StatementChecks"]


class BadTarget(SpecError):
    """A ``target`` that is not a scalar log-density of the states."""

    code = "E270"


class BadScore(SpecError):
    """A ``score`` for something that is not a state."""

    code = "E271"


class BadExpectation(SpecError):
    """An ``expect`` statement of an unknown kind, a condition that is not
    boolean, or a right side that is not deterministic."""

    code = "E272"


class BadDataInput(SpecError):
    """An input of a target model (a static data array) whose leading axis
    is not the data-point dim all of them share."""

    code = "E273"


def _inputs_read(e, lets) -> list[str]:
    """The inputs ``e`` reads, through lets."""
    out: list[str] = []
    for x in ir.walk(e, lets):
        if isinstance(x, ir.Ref) and x.kind == "input" and x.name not in out:
            out.append(x.name)
    return out


_RHS_HINT = "the right side is the exact value: an expression of `t`, params and consts"
_LAW_HINT = "a stationary law is fixed: its arguments are numbers, params and consts"
_TARGET_TIME_HINT = "a target is a density of the states: it cannot depend on time"


class StatementChecks:
    """``target``, ``score`` and ``expect`` (a part of
    :class:`~dync.compiler.check.Checker`)."""

    @property
    def _yaml(self) -> bool:
        """Whether the spec is in the YAML form (hints show that form)."""
        return self.spec.path.endswith((".yaml", ".yml"))

    def _state_named(self, name: str, span, what: str, cls) -> bool:
        """Whether ``name`` is a checked state; reports why not."""
        if name in self.states:
            return True
        if name in self.failed or name in self._duplicated:
            return False
        if name in self._decl_nodes:
            kind = type(self._decl_nodes[name]).__name__.lower()
            self.err(cls, f"{what} is taken of a state, and `{name}` is a {kind}", span, hint=did_you_mean(name, list(self.states)) or self._states_hint())
            return False
        self.err(UndefinedName, f"undefined state `{name}`", span, hint=did_you_mean(name, list(self.states)) or self._states_hint())
        return False

    def _states_hint(self) -> str:
        names = ", ".join(f"`{n}`" for n in self.states)
        return f"the model's states are {names}" if names else "declare the state with `state NAME = 0`"

    # -------------------------------------------------------------- target

    def _check_target(self) -> tuple[ir.IExpr | None, str | None]:
        targets = self.spec.of_type(ast.Target)
        for extra in targets[1:]:
            self.err(DuplicateDeclaration, "the target is given twice", extra.span, hint=f"keep one `target` line (the first is on line {targets[0].span.line})")
        if not targets:
            return None, None
        node = targets[0]
        value = self._expr(node.value, allow_states=True, allow_time=False, time_hint=_TARGET_TIME_HINT)
        if value is BAD:
            return None, None
        span = node.value.span
        inputs = [] if self.inputs_are_data else _inputs_read(value, self.lets)
        if inputs:
            self.err(BadTarget, f"the target reads the input `{inputs[0]}`, which is known only along a path in time", span, hint=_TARGET_TIME_HINT)
            return None, None
        if value.shape != ():
            self.err(
                BadTarget,
                f"the target must be a scalar log-density, but this has shape {fmt_shape(value.shape)}",
                span,
                hint="sum it over the components: `target sum(...)`",
            )
            return None, None
        if ir.is_condition(value, self.lets):
            first = next(iter(self.states), "x")
            normal = f"-{first}^2 / 2" if not self.state_shapes.get(first) else f"-sum({first}^2) / 2"
            self.err(
                BadTarget,
                "the target is a condition (true or false), but a target is a log-density: a real number",
                span,
                hint=f"write the log-density itself, such as `target{':' if self._yaml else ''} -U` with a potential "
                f"`{'let: {U: ...}' if self._yaml else 'let U = ...'}` (`target{':' if self._yaml else ''} {normal}` is a standard normal)",
            )
            return None, None
        if not depends_on_state(value, self.lets):
            self.err(
                BadTarget,
                "the target mentions no state, so there is nothing to sample",
                span,
                hint="a target is the log-density of the states, such as `target -sum(x^2) / 2`",
            )
            return None, None
        # a state with no equation is drawn from the target alone: one the
        # target does not mention would have a flat, improper density
        flat = [
            n for n in self.states
            if n not in self.equation_states and not depends_on_state(value, self.lets, frozenset({n}))
        ]  # fmt: skip
        if flat:
            names = ", ".join(f"`{n}`" for n in flat)
            self.err(
                BadTarget,
                f"the target does not mention the state {names}, so its density in {names} is flat and cannot be sampled",
                span,
                hint=f"add a term for {names} to the target (such as `- {flat[0]}^2 / 2`), "
                "or make it a `param` or `const` if it is not to be sampled",
            )
            return None, None
        return value, format_expr(node.value)

    # ---------------------------------------------------------- data inputs

    def _check_data_inputs(self) -> str | None:
        """The data-point dim of a target model's inputs (``None`` when the
        model has equations or no input): every input is a data array whose
        leading axis is the same named ``dim`` (docs/language.md §2.14)."""
        if not self.inputs_are_data:
            return None
        decls = [i for i in self.spec.of_type(ast.Input) if self._decl_nodes.get(i.name) is i and i.name not in self.failed]
        hint = "declare the number of data points as a dim and put it first: `dim N = 100` and `input X[N, 3]`"
        first: tuple[str, ast.Input] | None = None
        for node in decls:
            lead = node.shape[0] if node.shape else None
            if lead is None:
                self.err(
                    BadDataInput,
                    f"the input `{node.name}` of a target model is a data array, but it has no data-point axis",
                    node.name_span if node.name_span.line else node.span,
                    hint=f"give it one, e.g. `input {node.name}[N]` with `dim N = ...`: the data points run along the first axis",
                )
                continue
            if not (isinstance(lead, ast.Name) and self.symbols.get(lead.id, ("",))[0] == "dim"):
                self.err(
                    BadDataInput,
                    f"the first axis of the data input `{node.name}` counts the data points, so it must be a named dim",
                    lead.span,
                    hint=hint + "; its size then comes from the data file",
                )
                continue
            if first is None:
                first = (lead.id, node)
            elif lead.id != first[0]:
                self.err(
                    BadDataInput,
                    f"the data input `{node.name}` runs along `{lead.id}`, but `{first[1].name}` runs along `{first[0]}`: "
                    "the inputs of a target model share their first axis, the data points",
                    lead.span,
                    hint=f"index every data input by the same dim first: `input {node.name}"
                    f"[{', '.join([first[0]] + [format_expr(x) for x in node.shape[1:]])}]`",
                )
        return None if first is None else first[0]

    # --------------------------------------------------------------- score

    def _check_score(self) -> ir.ScoreIR | None:
        scores = self.spec.of_type(ast.Score)
        for extra in scores[1:]:
            self.err(DuplicateDeclaration, "the score is given twice", extra.span, hint=f"a model has one `score` line (the first is on line {scores[0].span.line})")
        if not scores:
            return None
        node = scores[0]
        known = self._state_named(node.state, node.state_span, "a score", BadScore)
        value = self._expr(node.value, allow_states=True)
        if not known or value is BAD:
            return None
        shape = self.state_shapes[node.state]
        if tuple(value.shape) != tuple(shape):
            # exactly the state's shape: a score that broadcasts (a scalar, an
            # `out = 1` net, `x[0]`) gives every component the same value,
            # which is never the gradient the user meant
            self.err(
                ShapeMismatch,
                f"the score of `{node.state}` has shape {fmt_shape(value.shape)}, but the state has shape {fmt_shape(shape)}",
                node.value.span,
                hint=(
                    (
                        f"a net's output is a vector even with `out = 1`: take its element, `{node.state}: ...[0]` "
                        f"under `score:`, or give the state `shape: [1]`"
                        if self._yaml
                        else f"a net's output is a vector even with `out = 1`: take its element, `score {node.state} = ...[0]`, "
                        f"or declare `state {node.state}[1]`"
                    )
                    if tuple(shape) == () and tuple(value.shape) == (1,)
                    else f"a score is the gradient of a log-density with respect to the state: it has the state's shape {fmt_shape(shape)}"
                    + (f" (a net giving it has `out = {math.prod(shape)}`)" if isinstance(node.value, ast.Call) else "")
                ),
            )
            return None
        declared = self._decl_nodes.get(node.state)
        if isinstance(declared, ast.State) and not declared.data:
            # `dync train` learns the score from samples of the state's
            # initial law and `dync sample --reverse` starts from their
            # moments: without `~ data` neither can run (it failed there,
            # unlocated)
            dims = ", ".join(format_expr(e) for e in declared.shape or ())
            if self._yaml:
                written = f"{node.state}: {{{f'shape: [{dims}], ' if dims else ''}init: data}}"
            else:
                written = f"state {node.state}{f'[{dims}]' if dims else ''} ~ data"
            self.err(
                BadScore,
                f"a score is learned from data, but the initial law of `{node.state}` is not a data set "
                f"(line {declared.span.line})",
                node.state_span,
                hint=f"declare `{written}`, the samples `dync train SPEC DATA` reads "
                "(LANGUAGE.md §10)",
            )
            return None
        return ir.ScoreIR(node.state, value, format_expr(node.value))

    # -------------------------------------------------------- expectations

    def _check_expectations(self) -> list[ir.ExpectationIR]:
        out = []
        for node in self.spec.of_type(ast.Expect):
            checked = self._check_expectation(node)
            if checked is not None:
                out.append(checked)
        return out

    def _check_expectation(self, node: ast.Expect) -> ir.ExpectationIR | None:
        where = (node.span.line, node.span.column)
        if node.rhs is not None and node.kind not in ("mean", "var"):
            self.err(
                BadExpectation,
                f"unknown expectation `{node.kind}(...) = ...`: an expected value is `mean(...)` or `var(...)`",
                node.kind_span,
                hint=did_you_mean(node.kind, ("mean", "var"))
                or "write `expect always COND`, `expect mean(EXPR) = RHS`, `expect var(EXPR) = RHS` or `expect stationary STATE ~ DIST`",
            )
            return None
        text = format_expectation(node)
        if node.kind == "stationary":
            known = self._state_named(node.state, node.state_span, "a stationary law", BadExpectation)
            dist = self._dist(node.dist, allow_states=False, state_hint=_LAW_HINT, time_hint=_LAW_HINT)
            if not known or dist is BAD:
                return None
            shape = self.state_shapes[node.state]
            if broadcast(dist.shape, shape) != tuple(shape):
                self.err(
                    ShapeMismatch,
                    f"the stationary law of `{node.state}` has shape {fmt_shape(dist.shape)}, but the state has shape {fmt_shape(shape)}",
                    node.dist.span,
                )
                return None
            lhs = ir.Ref("state", node.state, tuple(shape))
            return ir.ExpectationIR("stationary", lhs, None, dist, node.state, node.state, text.split(" ~ ", 1)[1], *where)
        lhs = self._expr(node.lhs, allow_states=True)
        if node.kind == "always":
            if lhs is BAD:
                return None
            if not ir.is_condition(lhs, self.lets):
                self.err(
                    BadExpectation,
                    "`expect always` needs a condition, but this is a number",
                    node.lhs.span,
                    hint="compare it: `expect always x > 0` (`and`, `or`, `not` combine conditions)",
                )
                return None
            return ir.ExpectationIR("always", lhs, None, None, "", format_expr(node.lhs), "", *where)
        rhs = self._expr(node.rhs, allow_states=False, allow_time=True, time_hint=_RHS_HINT, state_hint=_RHS_HINT)
        if lhs is not BAD and not depends_on_state(lhs, self.lets):
            # LANGUAGE.md §8: an ensemble mean or variance over paths; what reads
            # no state is the same on every path and tests nothing of the model
            shown = format_expr(node.lhs)
            self.err(
                BadExpectation,
                f"`{node.kind}({shown if len(shown) <= 60 else '...'})` reads no state: it is the same on every path, "
                "so this expectation tests nothing about the model",
                node.lhs.span,
                hint=f"take the {'mean' if node.kind == 'mean' else 'variance'} of an expression of the states, "
                f"such as `{'' if self._yaml else 'expect '}{node.kind}({next(iter(self.states), 'x')}) = ...`",
            )
            return None
        if lhs is BAD or rhs is BAD:
            return None
        if node.kind == "var" and self._negative_variance(node.rhs):
            return None
        if broadcast(rhs.shape, lhs.shape) != tuple(lhs.shape):
            self.err(
                ShapeMismatch,
                f"the right side has shape {fmt_shape(rhs.shape)}, but `{node.kind}(...)` has shape {fmt_shape(lhs.shape)}",
                node.rhs.span,
            )
            return None
        return ir.ExpectationIR(node.kind, lhs, rhs, None, "", format_expr(node.lhs), format_expr(node.rhs), *where)

    def _negative_variance(self, rhs: ast.Expr) -> bool:
        """Report `expect var(x) = -1`: a right side of numbers, dims and
        consts (no parameter, which the tests vary, and no `t`) that is
        negative somewhere."""
        fixed = {
            n: v for n, v in self.consts.items()
            if isinstance(self._decl_nodes.get(n), ast.Dim) or getattr(self._decl_nodes.get(n), "fixed", False)
        }  # fmt: skip
        value = known_values([("rhs", rhs)], fixed).get("rhs")
        if value is None or not np.any(value < 0):
            return False
        bad = float(value[value < 0].flat[0]) if value.ndim else float(value)
        self.err(
            BadExpectation,
            f"a variance is never negative, but the right side is {bad:g}",
            rhs.span,
            hint="give the variance's exact value, 0 or more (a standard deviation s has variance s^2)",
        )
        return True
