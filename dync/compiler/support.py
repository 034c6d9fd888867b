"""Where a prior gives a parameter a finite log-density, known at compile
time: the values a parameter may start from (a value outside its prior's
support makes the log-prior $-\\infty$, and fitting fails at its first
step), and the constraint that keeps fitting inside that support.

The tests mirror the masks of the laws' ``log_prob`` in
:mod:`dync.runtime.distributions` (which this module must not import: the
compiler runs without JAX). A support end that a parameter of the law holds
(``Uniform``'s bounds, ``Binomial``'s ``n``) is used when it is known at
compile time; an end whose density depends on an unknown argument (``Gamma``
at 0) is given the benefit of the doubt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..dsl import ast
from ..dsl.format import format_expr

__all__ = ["prior_support", "support_constraint", "value_outside_prior"]

#: continuous laws whose draws are positive: the constraint that fits them
_POSITIVE_LAWS = ("HalfNormal", "LogNormal", "Exponential", "Gamma")


def _arg(args: Mapping[str, np.ndarray], name: str, default: float) -> np.ndarray:
    value = args.get(name)
    return np.asarray(default if value is None else value, np.float64)


def _whole(v: np.ndarray) -> np.ndarray:
    return v == np.floor(v)


def prior_support(law: str, args: Mapping[str, np.ndarray]) -> tuple[Callable[[np.ndarray], np.ndarray], str] | None:
    """The values at which the prior ``law`` has a finite log-density.

    Args:
        law: the distribution's name (a key of
            :data:`~dync.compiler.library.DISTRIBUTIONS`).
        args: its arguments known at compile time, by parameter name.

    Returns:
        ``(inside, words)``: ``inside`` maps an array of values to a boolean
        array (broadcast with the arguments), ``words`` says what the support
        is; ``None`` for a law whose support is every real number, or whose
        ends are not known (a ``Uniform`` whose bounds read a drawn parameter).

    Example:
        >>> inside, words = prior_support("Beta", {"a": np.asarray(2.0), "b": np.asarray(2.0)})
        >>> bool(inside(np.asarray(2.0))), words
        (False, 'values strictly between 0 and 1')
    """
    if law == "Uniform":
        low, high = args.get("low"), args.get("high")
        if low is None or high is None:
            return None
        words = f"values in [{float(low):g}, {float(high):g}]" if np.ndim(low) == np.ndim(high) == 0 else "values in [low, high]"
        return (lambda v: (v >= low) & (v <= high)), words
    if law in ("HalfNormal", "Exponential"):
        return (lambda v: v >= 0), "values >= 0"
    if law == "LogNormal":
        return (lambda v: v > 0), "values > 0"
    if law == "Gamma":
        # the density at 0 is finite only for shape 1 (an exponential law)
        shape = _arg(args, "shape", 1.0)
        words = "values >= 0" if np.all(shape == 1) else "values > 0"
        return (lambda v: (v > 0) | ((v == 0) & (shape == 1))), words
    if law == "Beta":
        a, b = _arg(args, "a", 1.0), _arg(args, "b", 1.0)
        return (lambda v: ((v > 0) | ((v == 0) & (a == 1))) & ((v < 1) | ((v == 1) & (b == 1)))), "values strictly between 0 and 1"
    if law in ("Poisson", "NegativeBinomial"):
        return (lambda v: (v >= 0) & _whole(v)), "counts 0, 1, 2, ..."
    if law == "Bernoulli":
        return (lambda v: (v == 0) | (v == 1)), "0 or 1"
    if law == "Binomial":
        n = _arg(args, "n", np.inf)
        return (lambda v: (v >= 0) & (v <= n) & _whole(v)), "whole numbers from 0 to n"
    return None


def value_outside_prior(law: str, args: Mapping[str, np.ndarray], value: np.ndarray) -> tuple[str, str] | None:
    """The first component of ``value`` outside the support of the prior
    ``law`` (as text) and the words for that support; ``None`` when every
    component is inside, the support is not known, or the prior's shape does
    not fit the value's (the runtime says so)."""
    support = prior_support(law, args)
    if support is None:
        return None
    inside, words = support
    try:
        ok = np.asarray(inside(np.asarray(value)))
        value = np.broadcast_to(value, ok.shape)
    except ValueError:
        return None
    if np.all(ok):
        return None
    return f"{float(value[~ok].flat[0]) if value.ndim else float(value):g}", words


def support_constraint(call: ast.Call) -> str | None:
    """The constraint (as written after ``:``) that keeps a parameter inside
    the support of its prior ``call``: ``positive`` for a law of positive
    draws, ``unit`` for ``Beta``, ``interval(lo, hi)`` for a ``Uniform`` with
    number bounds; ``None`` for any other law.

    Example:
        >>> from dync.dsl.parser import parse_spec
        >>> param = parse_spec("model m\\nparam a = 0.5 ~ Uniform(-1, 2)\\n").of_type(ast.Param)[0]
        >>> support_constraint(param.prior)
        'interval(-1, 2)'
    """
    if call.func in _POSITIVE_LAWS:
        return "positive"
    if call.func == "Beta":
        return "unit"
    if call.func == "Uniform":
        bound = dict(zip(("low", "high"), call.args))
        bound.update((k.name, k.value) for k in call.kwargs)
        if set(bound) == {"low", "high"} and all(_is_number(e) for e in bound.values()):
            return f"interval({format_expr(bound['low'])}, {format_expr(bound['high'])})"
    return None


def _is_number(e: ast.Expr) -> bool:
    """A number, possibly signed (``-1``)."""
    while isinstance(e, ast.Unary) and e.op in ("-", "+"):
        e = e.operand
    return isinstance(e, ast.Number)
