"""Compile-time evaluation of constant expressions (dims, shapes, initial
values, indices, constraint bounds) with numpy — never with ``eval``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from ..dsl import ast
from ..errors import DyncError, InvalidSpec, Span


class NotConstant(Exception):
    """Raised when an expression refers to something known only at run time."""

    def __init__(self, name: str, span: Span):
        super().__init__(name)
        self.name = name
        self.span = span


_UNARY: dict[str, Callable] = {
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "arctan": np.arctan,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.maximum(x, 0.0),
    "erf": np.vectorize(math.erf),
}
_REDUCE: dict[str, Callable] = {
    "sum": np.sum,
    "mean": np.mean,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "norm": lambda x, axis=None: np.sqrt(np.sum(np.square(x), axis=axis)),
    "logsumexp": lambda x, axis=None: np.log(np.sum(np.exp(x), axis=axis)),
}
def _as_number(fn: Callable) -> Callable:
    """A comparison or logical operator whose booleans are the numbers 0 and 1
    (so that ``-(a > b)`` and ``(a > b) * c`` evaluate, as at run time)."""
    return lambda a, b: np.asarray(fn(a, b), dtype=float)


_BINARY: dict[str, Callable] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "@": np.matmul,
    "^": np.power,
    "<": _as_number(np.less),
    "<=": _as_number(np.less_equal),
    ">": _as_number(np.greater),
    ">=": _as_number(np.greater_equal),
    "==": _as_number(np.equal),
    "!=": _as_number(np.not_equal),
    "and": _as_number(np.logical_and),
    "or": _as_number(np.logical_or),
}


def const_eval(expr: ast.Expr, env: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate ``expr`` with the constants in ``env``.

    Raises:
        NotConstant: the expression names something not in ``env``.
        DyncError: an unknown function or a numpy failure (shape mismatch).
    """
    with np.errstate(all="ignore"):
        return np.asarray(_eval(expr, env), dtype=float)


def _eval(e: ast.Expr, env: Mapping[str, np.ndarray]):
    if isinstance(e, ast.Number):
        return float(e.value)
    if isinstance(e, ast.Name):
        if e.id == "pi":
            return math.pi
        if e.id in env:
            return env[e.id]
        raise NotConstant(e.id, e.span)
    if isinstance(e, ast.Unary):
        v = _eval(e.operand, env)
        if e.op == "-":
            return np.negative(v)
        if e.op == "not":
            return np.asarray(np.logical_not(v), dtype=float)
        return v
    if isinstance(e, ast.Binary):
        a, b = _eval(e.left, env), _eval(e.right, env)
        try:
            return _BINARY[e.op](a, b)
        except ValueError as exc:
            raise InvalidSpec(f"cannot evaluate `{e.op}`: {exc}", e.op_span) from None
    if isinstance(e, ast.ArrayLit):
        items = [np.asarray(_eval(x, env), dtype=float) for x in e.elements]
        if len({i.shape for i in items}) > 1:
            raise InvalidSpec("array elements have different shapes", e.span)
        return np.stack(items) if items else np.zeros((0,))
    if isinstance(e, ast.Index):
        v = np.asarray(_eval(e.value, env))
        idx = []
        for it in e.items:
            if isinstance(it, ast.Slice):
                parts = [None if p is None else int(_eval(p, env)) for p in (it.start, it.stop, it.step)]
                idx.append(slice(*parts))
            else:
                idx.append(int(_eval(it, env)))
        try:
            return v[tuple(idx)]
        except IndexError as exc:
            raise InvalidSpec(f"index out of range: {exc}", e.span) from None
    if isinstance(e, ast.Call):
        args = [_eval(a, env) for a in e.args]
        kwargs = {k.name: _eval(k.value, env) for k in e.kwargs}
        f = e.func
        if f in _UNARY and len(args) == 1 and not kwargs:
            return _UNARY[f](args[0])
        if f in _REDUCE:
            axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
            return _REDUCE[f](args[0], axis=None if axis is None else int(axis))
        if f in ("minimum", "maximum"):
            return (np.minimum if f == "minimum" else np.maximum)(*args)
        if f == "clip":
            lo = kwargs.get("lo", args[1] if len(args) > 1 else None)
            hi = kwargs.get("hi", args[2] if len(args) > 2 else None)
            return np.clip(args[0], lo, hi)
        if f == "where":
            return np.where(*args)
        if f == "eye":
            return np.eye(int(args[0]))
        if f in ("zeros", "ones"):
            shape = tuple(int(a) for a in args)
            return np.zeros(shape) if f == "zeros" else np.ones(shape)
        if f == "diag":
            return np.diag(args[0])
        if f == "transpose":
            return np.transpose(args[0])
        if f == "dot":
            return np.dot(*args)
        if f == "outer":
            return np.outer(*args)
        if f == "roll":
            shift = int(kwargs.get("shift", args[1] if len(args) > 1 else 1))
            axis = int(kwargs.get("axis", args[2] if len(args) > 2 else 0))
            return np.roll(args[0], shift, axis=axis)
        if f in ("concat", "stack"):
            axis = int(kwargs.get("axis", 0))
            arrs = [np.atleast_1d(a) if f == "concat" else np.asarray(a) for a in args]
            return np.concatenate(arrs, axis=axis) if f == "concat" else np.stack(arrs, axis=axis)
        raise NotConstant(f, e.func_span)
    raise DyncError("unsupported constant expression", getattr(e, "span", None))
