"""Check parameter and constant values given on the command line against
the laws that read them.

A spec's own values pass the compiler's checks of a law's constant
arguments (a whole `n` for `Binomial`, a positive scale, a probability in
[0, 1]). ``--set``, ``--fix`` and ``--sweep`` replace values after that check
and without recompiling, so `--set ntrial=5.5` for `const ntrial = 20` in
`Binomial(ntrial, p)` ran with a fractional trial count, and `--set ntrial=-3`
drew NaN observations, both silently. :func:`check_law_arguments` runs the
checker once more on the spec with the new values written in and turns any
complaint about a law's arguments into a usage error naming the flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..dsl import ast
from ..errors import BadArguments, SpecErrors, UsageError
from .check import check_model, resolve_names

__all__ = ["check_law_arguments"]


def _literal(value: np.ndarray, span) -> ast.Expr:
    """``value`` as a number or a (nested) array literal at ``span``."""
    if value.ndim == 0:
        return ast.Number(float(value), f"{float(value)!r}", span=span)
    return ast.ArrayLit(tuple(_literal(v, span) for v in value), span=span)


def _with_values(spec: ast.Spec, values: Mapping[str, Any]) -> ast.Spec:
    """``spec`` with the values of the named params and consts replaced."""
    statements = []
    for s in spec.statements:
        if isinstance(s, ast.Param) and s.name in values and s.init is None:
            value = np.asarray(values[s.name], dtype=np.float64)
            s = dataclasses.replace(s, value=_literal(value, s.value.span if s.value is not None else s.span))
        statements.append(s)
    return dataclasses.replace(spec, statements=tuple(statements))


def check_law_arguments(
    spec: ast.Spec, dims: Mapping[str, int] | None, values: Mapping[str, Any], flag: str = "--set"
) -> None:
    """Refuse values that a law of the spec does not allow as its argument.

    Args:
        spec: the parsed spec, which compiles with its own values.
        dims: the dims it is compiled with.
        values: name → the value given (a number or a nested list); names
            that are not params or consts of the spec are left to the
            caller's own checks.
        flag: how the values were given (``"--set"``, ``"--fix"``), for the
            message.

    Raises:
        UsageError: a value makes a law's constant argument invalid (a
            fractional or negative `Binomial` count, a scale that is not
            positive, a probability outside [0, 1]); the message names the
            flag and the value, and points at the law in the spec.
    """
    declared = {p.name for p in spec.of_type(ast.Param)}
    given = {k: v for k, v in values.items() if k in declared}
    if not given:
        return
    try:
        changed = _with_values(spec, given)
    except (TypeError, ValueError):  # a ragged list: the runtime's shape check says so
        return
    try:
        check_model(resolve_names(changed, dims))
    except SpecErrors as errors:
        for e in errors.errors:
            if isinstance(e, BadArguments) and e.span is not None:
                shown = ", ".join(f"{flag} {k}={_shown(v)}" for k, v in given.items())
                where = f"{e.span.path}:{e.span.line}:{e.span.column}"
                line = e.span.source.splitlines()[e.span.line - 1].strip() if e.span.source else ""
                raise UsageError(
                    f"`{shown}`: {e.message} in the law at {where}" + (f" (`{line}`)" if line else ""),
                    hint=e.hint or "give a value the law allows",
                ) from None


def _shown(value: Any) -> str:
    v = np.asarray(value, dtype=float)
    return f"{v.item():g}" if v.ndim == 0 else str(v.tolist())
