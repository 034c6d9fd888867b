"""A ``prior`` for the reverse processes of a trained score (``dync sample
--reverse --prior "Normal(0, 1)"``, or ``prior:`` in a YAML spec's
``sample:`` section): the law the reverse-time SDE starts from at ``t1``.

The text is parsed by the spec language's own grammar (a distribution, as
after ``~``; :func:`dync.settings.common.parse_prior`), and checked here
against the compiled model: a known continuous law, its arguments constant
(numbers, the spec's dims and parameters, evaluated with numpy by
:func:`~dync.compiler.consteval.const_eval`, never ``eval``), broadcasting to
the state's shape, with the values its parameters allow. The result is plain
data (:class:`PriorLaw`) that the runtime turns into a distribution.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..dsl import ast
from ..errors import BadArguments, BadValue, DyncError, ShapeMismatch, SpecErrors, UnknownDistribution, did_you_mean
from . import ir
from .consteval import Budget, NotConstant, const_eval
from .library import DISTRIBUTIONS, FOREIGN_LAW_PARAMETERS, FUNCTIONS
from .shapes import fmt_shape

__all__ = ["PriorLaw", "check_prior"]

#: the arguments that must be positive, by name (any law)
_POSITIVE = ("scale", "rate", "df", "a", "b", "shape")


@dataclasses.dataclass(frozen=True)
class PriorLaw:
    """A checked prior: independent components of the named law.

    Attributes:
        name: the distribution (a key of
            :data:`dync.runtime.distributions.REGISTRY`).
        args: its arguments in constructor order, each broadcast to ``shape``.
        shape: the state's shape.
        text: how the user wrote it (for messages and the output's attributes).
    """

    name: str
    args: tuple[tuple[str, np.ndarray], ...]
    shape: tuple[int, ...]
    text: str


def _fail(kind: type[DyncError], message: str, span, hint: str | None = None):
    raise SpecErrors([kind(message, span, hint=hint)])


def _bind(call: ast.Call) -> dict[str, ast.Expr]:
    """The call's arguments by parameter name (positional, then keywords)."""
    sig = DISTRIBUTIONS.get(call.func)
    if sig is None or sig.discrete:
        continuous = [n for n, d in DISTRIBUTIONS.items() if not d.discrete]
        if sig is not None:
            _fail(UnknownDistribution, f"`{call.func}` is a discrete law; the reverse processes start from a "
                  "continuous one", call.func_span, hint="for example `Normal(0, 1)`")  # fmt: skip
        what = "a function, not a distribution" if call.func in FUNCTIONS else "not a distribution"
        _fail(UnknownDistribution, f"`{call.func}` is {what}", call.func_span,
              hint=did_you_mean(call.func, continuous) or f"known: {', '.join(continuous)}")  # fmt: skip
    params = sig.params
    if len(call.args) > len(params):
        _fail(BadArguments, f"`{call.func}` takes {len(params)} argument{'s' if len(params) != 1 else ''} "
              f"({', '.join(params)}), got {len(call.args)}", call.span, hint=f"write `{call.func}({', '.join(params)})`")  # fmt: skip
    bound = dict(zip(params, call.args))
    for k in call.kwargs:
        if k.name not in params:
            _fail(BadArguments, f"`{call.func}` has no parameter `{k.name}`", k.span,
                  hint=FOREIGN_LAW_PARAMETERS.get((call.func, k.name)) or did_you_mean(k.name, params)
                  or f"its parameters are {', '.join(params)}")  # fmt: skip
        if k.name in bound:
            _fail(BadArguments, f"`{k.name}` is given twice", k.span)
        bound[k.name] = k.value
    missing = [p for p in params if p not in bound]
    if missing:
        _fail(BadArguments, f"`{call.func}` is missing its `{missing[0]}`", call.span,
              hint=f"write `{call.func}({', '.join(params)})`")  # fmt: skip
    return {p: bound[p] for p in params}


def check_prior(call: ast.Call, model: ir.ModelIR, state: str, text: str = "") -> PriorLaw:
    """Check a prior for ``state`` of the compiled ``model``.

    Args:
        call: the parsed distribution (``Normal(0, 1)``), with spans into
            the flag's text or the YAML file.
        model: the model's IR (its dims and parameter values may be named).
        state: the state the prior is for (the score's).
        text: how the user wrote it.

    Returns:
        The law with numeric arguments broadcast to the state's shape.

    Raises:
        SpecErrors: located at the offending part: an unknown or discrete
            law, wrong arguments, an argument that is not a constant, shapes
            that do not broadcast to the state's, a value outside what the
            law allows.
    """
    shape = tuple(model.state(state).shape)
    env = {name: np.asarray(float(v)) for name, v in model.dims}
    env.update({p.name: np.asarray(p.value, dtype=float) for p in model.params if p.value is not None})
    env["pi"] = np.asarray(np.pi)
    budget = Budget()
    args = []
    for name, expr in _bind(call).items():
        try:
            value = const_eval(expr, env, budget)
        except NotConstant as err:
            _fail(BadArguments, f"the prior's `{name}` reads `{err.name}`, which is not a constant", err.span,
                  hint="write numbers, or the spec's dims and parameters")  # fmt: skip
        try:
            value = np.broadcast_to(value, np.broadcast_shapes(value.shape, shape))
        except ValueError:
            value = None
        if value is None or value.shape != shape:
            _fail(ShapeMismatch, f"the prior's `{name}` does not broadcast to the shape {fmt_shape(shape)} of `{state}`",
                  expr.span, hint=f"give a number, or an array of shape {fmt_shape(shape)}")  # fmt: skip
        if not np.all(np.isfinite(value)):
            _fail(BadValue, f"the prior's `{name}` is not finite", expr.span)
        if name in _POSITIVE and not np.all(value > 0):
            _fail(BadValue, f"the prior's `{name}` must be positive", expr.span)
        args.append((name, np.array(value, dtype=float)))
    if call.func == "Uniform" and not np.all(args[0][1] < args[1][1]):
        _fail(BadValue, "the prior's `low` must be below its `high`", call.span)
    return PriorLaw(call.func, tuple(args), shape, text)
