"""Compile-time evaluation of constant expressions (dims, shapes, initial
values, indices, constraint bounds) with numpy — never with ``eval``.

Specs are data from anywhere, so every operation is sized before numpy runs
it: a result with more than :data:`~dync.dsl.limits.MAX_RANK` axes or
:data:`~dync.dsl.limits.MAX_CONSTANT_ELEMENTS` numbers, or a spec whose
constants take more than :data:`~dync.dsl.limits.MAX_CONSTANT_WORK`
operations, is a located error before anything is allocated; so is a numpy
failure (a bad axis, a number indexed). Sizes (``dim N = 2^64``) are read as
exact integers by :func:`exact_int`, never through a float.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ..dsl import ast
from ..dsl.limits import MAX_CONSTANT_ELEMENTS, MAX_CONSTANT_TOTAL, MAX_CONSTANT_WORK, MAX_FILLED_ELEMENTS, MAX_RANK
from ..errors import BadArguments, DyncError, InvalidSpec, Span
from .shapes import broadcast, fmt_shape, matmul_shape


class NotConstant(Exception):
    """Raised when an expression refers to something known only at run time."""

    def __init__(self, name: str, span: Span):
        super().__init__(name)
        self.name = name
        self.span = span


class Budget:
    """The work and storage one spec's constants have used so far.

    One budget is shared by every :func:`const_eval` of a spec, so a spec of a
    million small evaluations is bounded as surely as one large one.

    Attributes:
        work: numbers produced by constant operations (multiply-adds for ``@``).
        stored: numbers kept in constant arrays (parameter values, ``eye``).
    """

    def __init__(self) -> None:
        self.work = 0
        self.stored = 0

    def spend(self, n: int, span: Span | None) -> None:
        """Count ``n`` operations.

        Raises:
            InvalidSpec: past :data:`~dync.dsl.limits.MAX_CONSTANT_WORK`.
        """
        self.work += int(n)
        if self.work > MAX_CONSTANT_WORK:
            raise InvalidSpec(
                f"the constants of this spec take more than {MAX_CONSTANT_WORK:,} operations to evaluate",
                span,
                hint="compile-time constants are for small arrays; compute large ones in the model, or draw them (`~ init`)",
            )

    def store(self, n: int, span: Span | None) -> None:
        """Count ``n`` numbers kept in a constant array.

        Raises:
            InvalidSpec: past :data:`~dync.dsl.limits.MAX_CONSTANT_TOTAL`.
        """
        self.stored += int(n)
        if self.stored > MAX_CONSTANT_TOTAL:
            raise InvalidSpec(
                f"the constant arrays of this spec hold more than {MAX_CONSTANT_TOTAL:,} numbers together",
                span,
                hint="constants are written into the compiled model: keep them small, or draw large parameters (`~ init`)",
            )


def check_constant_size(shape: tuple[int, ...], span: Span | None, what: str = "this constant", filled: bool = False) -> None:
    """Refuse a constant array of ``shape`` before it is allocated.

    Args:
        shape: its shape.
        span: where it is written.
        what: how to name it in the message.
        filled: it is one repeated value (``zeros``, ``ones``, a scalar
            filling a shape), bounded by :data:`~dync.dsl.limits.MAX_FILLED_ELEMENTS`.

    Raises:
        InvalidSpec: more than :data:`~dync.dsl.limits.MAX_RANK` axes or
            :data:`~dync.dsl.limits.MAX_CONSTANT_ELEMENTS` numbers.
    """
    limit = MAX_FILLED_ELEMENTS if filled else MAX_CONSTANT_ELEMENTS
    if len(shape) > MAX_RANK:
        raise InvalidSpec(
            f"{what} would have {len(shape)} axes; arrays have at most {MAX_RANK}",
            span,
            hint="nest arrays less deeply",
        )
    size = math.prod(int(s) for s in shape)
    if size > limit:
        kind = "a constant of one repeated value" if filled else "a constant"
        raise InvalidSpec(
            f"{what} would be a constant of {size:,} numbers, shape {fmt_shape(shape)}; {kind} holds at most {limit:,}",
            span,
            hint="constants are written into the compiled model: keep them small, or draw a large parameter (`~ init Normal(0, 1)`)",
        )


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
    "erf": np.vectorize(math.erf, otypes=[float]),
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

#: what numpy may raise on a bad constant operation (a bad axis, a shape
#: mismatch, a wrong number of arguments, an integer out of range)
_NUMPY_FAILURES = (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError, MemoryError)


def const_eval(expr: ast.Expr, env: Mapping[str, np.ndarray], budget: Budget | None = None) -> np.ndarray:
    """Evaluate ``expr`` with the constants in ``env``.

    Args:
        expr: the expression.
        env: name → value of the constants known so far.
        budget: the spec's :class:`Budget` (a fresh one when ``None``).

    Raises:
        NotConstant: the expression names something not in ``env``.
        DyncError: an unknown function, a numpy failure (shape mismatch, bad
            axis, a number indexed) or a bound of :mod:`dync.dsl.limits`
            passed, located at the offending part.
    """
    ev = _Evaluator(env, budget if budget is not None else Budget())
    with np.errstate(all="ignore"):
        return np.asarray(ev.eval(expr), dtype=float)


def known_values(named: Iterable[tuple[str, ast.Expr]], env: Mapping[str, np.ndarray], budget: Budget | None = None) -> dict[str, np.ndarray]:
    """The values of the named expressions that are constants, evaluated in
    order, each with ``env`` and the values found before it (state-free lets
    in dependency order, then initial values).

    An expression that reads something not constant, or that fails, is left
    out: its own check reports it. Every evaluation spends from one
    ``budget`` (a fresh one when ``None``), so the whole stays bounded.
    """
    budget = budget if budget is not None else Budget()
    scope = dict(env)
    out: dict[str, np.ndarray] = {}
    for name, expr in named:
        try:
            value = const_eval(expr, scope, budget)
        except (NotConstant, DyncError):
            continue
        scope[name] = out[name] = value
    return out


def _whole(v, span: Span | None, what: str) -> int:
    """``v`` as an exact Python integer.

    Raises:
        InvalidSpec: ``v`` is an array, not finite or not whole.
    """
    a = np.asarray(v)
    if a.shape != ():
        raise InvalidSpec(f"{what} must be a single number, not an array of shape {fmt_shape(a.shape)}", span)
    f = float(a)
    if not math.isfinite(f) or not f.is_integer():
        raise InvalidSpec(f"{what} must be a whole number, not {f:g}", span)
    return int(f)


class _Evaluator:
    """One evaluation: the constants in scope and the spec's budget."""

    def __init__(self, env: Mapping[str, np.ndarray], budget: Budget):
        self.env = env
        self.budget = budget

    def result(self, shape, span: Span | None, what: str, work: int | None = None, filled: bool = False) -> None:
        """Size a result of ``shape`` before computing it and charge its work."""
        shape = tuple(int(s) for s in shape)
        check_constant_size(shape, span, what, filled)
        self.budget.spend(math.prod(shape) if work is None else work, span)

    def eval(self, e: ast.Expr):
        if isinstance(e, ast.Number):
            return float(e.value)
        if isinstance(e, ast.Name):
            if e.id == "pi":
                return math.pi
            if e.id in self.env:
                return self.env[e.id]
            raise NotConstant(e.id, e.span)
        if isinstance(e, ast.Unary):
            v = self.eval(e.operand)
            self.budget.spend(np.size(v), e.span)
            if e.op == "-":
                return np.negative(v)
            if e.op == "not":
                return np.asarray(np.logical_not(v), dtype=float)
            return v
        if isinstance(e, ast.Binary):
            return self.binary(e)
        if isinstance(e, ast.ArrayLit):
            return self.array(e)
        if isinstance(e, ast.Index):
            return self.index(e)
        if isinstance(e, ast.Call):
            return self.call(e)
        raise DyncError("unsupported constant expression", getattr(e, "span", None))

    def binary(self, e: ast.Binary):
        a, b = np.asarray(self.eval(e.left)), np.asarray(self.eval(e.right))
        if e.op == "@":
            shape = matmul_shape(a.shape, b.shape)
            if shape is None:
                raise InvalidSpec(
                    f"cannot multiply matrices of shapes {fmt_shape(a.shape)} @ {fmt_shape(b.shape)}",
                    e.op_span,
                    hint="`@` needs the last size on the left to equal the first (or second-to-last) size on the right",
                )
            inner = a.shape[-1]
            self.result(shape, e.span, f"`{e.op}`", work=max(math.prod(shape), 1) * max(inner, 1))
        else:
            shape = broadcast(a.shape, b.shape)
            if shape is None:
                raise InvalidSpec(
                    f"shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not broadcast for `{e.op}`",
                    e.op_span,
                    hint="sizes must be equal or 1, counting from the last axis",
                )
            self.result(shape, e.span, f"the result of `{e.op}`")
        try:
            return _BINARY[e.op](a, b)
        except _NUMPY_FAILURES as exc:
            raise InvalidSpec(f"cannot evaluate `{e.op}`: {exc}", e.op_span) from None

    def array(self, e: ast.ArrayLit):
        items = [np.asarray(self.eval(x), dtype=float) for x in e.elements]
        if len({i.shape for i in items}) > 1:
            raise InvalidSpec("array elements have different shapes", e.span)
        if not items:
            return np.zeros((0,))
        self.result((len(items),) + items[0].shape, e.span, "this array")
        return np.stack(items)

    def index(self, e: ast.Index):
        v = np.asarray(self.eval(e.value))
        if v.ndim == 0:
            raise InvalidSpec(
                "a number cannot be indexed",
                e.span,
                hint="only arrays have elements; if `[...]` is an array of its own, put an operator (`*`, `@`) before it",
            )
        if len(e.items) > v.ndim:
            raise InvalidSpec(
                f"{len(e.items)} indices for an array of shape {fmt_shape(v.shape)}",
                e.span,
                hint=f"it has {v.ndim} ax{'is' if v.ndim == 1 else 'es'}",
            )
        idx: list = []
        for it in e.items:
            if isinstance(it, ast.Slice):
                parts = [
                    None if p is None else _whole(self.eval(p), p.span, "a slice bound")
                    for p in (it.start, it.stop, it.step)
                ]
                if parts[2] == 0:
                    raise InvalidSpec("a slice step cannot be 0", it.span)
                idx.append(slice(*parts))
            else:
                idx.append(_whole(self.eval(it), getattr(it, "span", e.span), "an index"))
        try:
            return v[tuple(idx)]
        except _NUMPY_FAILURES as exc:
            raise InvalidSpec(f"index out of range: {exc}", e.span) from None

    def call(self, e: ast.Call):
        args = [self.eval(a) for a in e.args]
        kwargs = {k.name: self.eval(k.value) for k in e.kwargs}
        f = e.func
        if f not in _UNARY and f not in _REDUCE and f not in _CALLS:
            raise NotConstant(f, e.func_span)
        if f in _UNARY and (len(args) != 1 or kwargs):
            raise NotConstant(f, e.func_span)
        try:
            return _CALLS.get(f, _apply_simple)(self, e, f, args, kwargs)
        except DyncError:
            raise
        except _NUMPY_FAILURES as exc:
            raise InvalidSpec(f"cannot evaluate `{f}(...)`: {exc}", e.span) from None


def _apply_simple(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    """Elementwise functions and reductions: the result is no larger than the
    argument."""
    if f in _UNARY:
        ev.budget.spend(np.size(args[0]), e.span)
        return _UNARY[f](args[0])
    axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
    ev.budget.spend(np.size(args[0]) if args else 0, e.span)
    return _REDUCE[f](args[0], axis=None if axis is None else _whole(axis, e.span, "`axis`"))


def _broadcasting(fn: Callable) -> Callable:
    def apply(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
        shape: tuple | None = ()
        for a in list(args) + list(kwargs.values()):
            shape = broadcast(shape, np.shape(a)) if shape is not None else None
        if shape is not None:
            ev.result(shape, e.span, f"`{f}(...)`")
        return fn(*args, **kwargs)

    return apply


def _clip(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    lo = kwargs.get("lo", args[1] if len(args) > 1 else None)
    hi = kwargs.get("hi", args[2] if len(args) > 2 else None)
    ev.budget.spend(np.size(args[0]), e.span)
    return np.clip(args[0], lo, hi)


def _eye(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    n = _whole(args[0] if args else kwargs.get("n"), e.span, "the size of `eye`")
    if n < 1:
        raise InvalidSpec("`eye` needs a positive size", e.span)
    ev.result((n, n), e.span, f"`eye({n})`")
    return np.eye(n)


def _filled(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    shape = tuple(_whole(a, e.span, f"a size of `{f}`") for a in args)
    if any(s < 1 for s in shape):
        raise InvalidSpec(f"sizes of `{f}` must be positive", e.span)
    ev.result(shape, e.span, f"`{f}(...)`", filled=True)
    return np.zeros(shape) if f == "zeros" else np.ones(shape)


def _diag(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    x = np.asarray(args[0])
    if x.ndim == 1:
        ev.result((x.size, x.size), e.span, "`diag(...)`")
    else:
        ev.budget.spend(x.size, e.span)
    return np.diag(x)


def _outer(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    ev.result(tuple(np.size(a) for a in args[:2]), e.span, "`outer(...)`")
    return np.outer(*args)


def _dot(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    a, b = (np.asarray(x) for x in args[:2]) if len(args) >= 2 else (None, None)
    if a is not None and a.ndim and b.ndim:
        shape = a.shape[:-1] + (b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else ())
        ev.result(shape, e.span, "`dot(...)`", work=max(math.prod(shape), 1) * max(a.shape[-1], 1))
    elif a is not None:
        ev.result(broadcast(a.shape, b.shape) or (), e.span, "`dot(...)`")
    return np.dot(*args)


def _roll(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    shift = _whole(kwargs.get("shift", args[1] if len(args) > 1 else 1), e.span, "`shift`")
    axis = _whole(kwargs.get("axis", args[2] if len(args) > 2 else 0), e.span, "`axis`")
    ev.budget.spend(np.size(args[0]), e.span)
    return np.roll(args[0], shift, axis=axis)


def bracketed_join(e: ast.Call) -> tuple[str, Span | None, str] | None:
    """``(message, span, hint)`` when ``concat``/``stack`` is called as
    NumPy's ``np.stack([a, b])`` is, with one bracketed literal of several
    elements: here the brackets make one array, and joining one array is a
    no-op (``concat``) or a new axis of size 1 (``stack``), never the intent.
    ``None`` otherwise."""
    if len(e.args) != 1 or not isinstance(e.args[0], ast.ArrayLit) or not e.args[0].elements:
        return None
    f = e.func
    n = len(e.args[0].elements)
    parts = ", ".join("…" for _ in range(min(n, 3))) + (", …" if n > 3 else "")
    hint = f"drop the brackets: `{f}(a, b)`"
    if f == "stack":
        hint += "; a vector of scalars is the literal `[a, b]` alone"
    return (
        f"`{f}` takes its arrays as separate arguments; `{f}([{parts}])` is the {f} of one array, the bracketed literal",
        e.args[0].span,
        hint,
    )


def _join(ev: _Evaluator, e: ast.Call, f: str, args: list, kwargs: dict):
    bracketed = bracketed_join(e)
    if bracketed:
        raise BadArguments(bracketed[0], bracketed[1], hint=bracketed[2])
    axis = _whole(kwargs.get("axis", 0), e.span, "`axis`")
    arrs = [np.atleast_1d(a) if f == "concat" else np.asarray(a) for a in args]
    total = sum(a.size for a in arrs)
    rank = max((a.ndim for a in arrs), default=0) + (1 if f == "stack" else 0)
    ev.result((total,) + (1,) * max(rank - 1, 0), e.span, f"`{f}(...)`")
    return np.concatenate(arrs, axis=axis) if f == "concat" else np.stack(arrs, axis=axis)


_CALLS: dict[str, Callable] = {
    "minimum": _broadcasting(np.minimum),
    "maximum": _broadcasting(np.maximum),
    "where": _broadcasting(np.where),
    "clip": _clip,
    "eye": _eye,
    "zeros": _filled,
    "ones": _filled,
    "diag": _diag,
    "transpose": lambda ev, e, f, args, kwargs: np.transpose(args[0]),
    "dot": _dot,
    "outer": _outer,
    "roll": _roll,
    "concat": _join,
    "stack": _join,
}


# ------------------------------------------------------------------ exact sizes


class TooLarge(Exception):
    """An exact integer expression whose value has more than
    :data:`_EXACT_BITS` bits (``2^(10^9)``): too large for any size."""


#: integers this wide or wider are not computed (any size bound is far below)
_EXACT_BITS = 4096


def exact_int(e: ast.Expr, ints: Mapping[str, int]) -> int | None:
    """The exact integer value of a size expression, or ``None`` when it is
    not integer arithmetic (then evaluate it with :func:`const_eval`).

    Integer literals, the names in ``ints`` (dims), ``+ - *`` and ``^`` with a
    non-negative exponent are computed with Python integers, so that
    ``dim N = 18446744073709551617`` or ``2^64`` is read exactly.

    Raises:
        TooLarge: the value has thousands of bits.
    """
    if isinstance(e, ast.Number):
        text = e.text.strip()
        if text.isdigit():
            if len(text) > _EXACT_BITS // 3:
                raise TooLarge()
            return int(text)
        return None
    if isinstance(e, ast.Name):
        return ints.get(e.id)
    if isinstance(e, ast.Unary) and e.op in "+-":
        v = exact_int(e.operand, ints)
        return None if v is None else (-v if e.op == "-" else v)
    if isinstance(e, ast.Binary) and e.op in ("+", "-", "*", "^"):
        a = exact_int(e.left, ints)
        if a is None:
            return None
        b = exact_int(e.right, ints)
        if b is None:
            return None
        if e.op == "+":
            r = a + b
        elif e.op == "-":
            r = a - b
        elif e.op == "*":
            r = a * b
        else:
            if b < 0:
                return None
            if abs(a) > 1 and b * abs(a).bit_length() > _EXACT_BITS:
                raise TooLarge()
            r = a**b
        if r.bit_length() > _EXACT_BITS:
            raise TooLarge()
        return r
    return None
