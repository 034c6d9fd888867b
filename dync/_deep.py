"""Headroom for deeply nested specs.

The passes over expressions (the parser's tree builder, the checker, code
generation, the formatter) recurse once per level of nesting, and a flat sum
``x + x + ... + x`` is nested as deep as it is long, because ``+`` is
left-associative. Python's default recursion limit (1000) is reached by a sum
of a few hundred terms.

:func:`run_deep` runs such a pass as it is and, only when it hits the
recursion limit, runs it again on a thread with a large stack and a raised
limit (some 50,000 levels of nesting; the passes are pure, so running one
twice is safe). A spec nested deeper still is a located E290 diagnostic,
never a ``RecursionError`` traceback.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from .errors import InvalidSpec, Span, SpecErrors

T = TypeVar("T")

#: the recursion limit while retrying
DEEP_RECURSION_LIMIT = 250_000
#: the stack of the retrying thread; the passes use under 1 KiB of C stack per
#: level of recursion, so this leaves more than twofold headroom at the limit
DEEP_STACK_BYTES = 256 << 20

_lock = threading.Lock()
_local = threading.local()


def _is_recursion(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or wraps, a ``RecursionError`` (Lark wraps errors
    raised inside its transformer callbacks in a ``VisitError``)."""
    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, RecursionError):
            return True
        exc = getattr(exc, "orig_exc", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def too_deep(span: Span | None) -> SpecErrors:
    """The diagnostic for a spec nested beyond even the raised limit."""
    return SpecErrors(
        [
            InvalidSpec(
                "this expression is nested too deeply to compile",
                span,
                hint="split a long sum or a deep nesting into named parts with `let`",
            )
        ]
    )


def run_deep(locate: Callable[[], Span | None], fn: Callable[..., T], *args) -> T:
    """``fn(*args)``, retried with recursion headroom if it hits the limit.

    Args:
        locate: where to point the diagnostic if even the retry is too deep.
        fn: a pure function (it may run twice).

    Raises:
        SpecErrors: E290 at ``locate()`` when the nesting is beyond
            :data:`DEEP_RECURSION_LIMIT`; whatever ``fn`` raises otherwise.
    """
    if getattr(_local, "deep", False):  # already retrying: let the outer call decide
        return fn(*args)
    try:
        return fn(*args)
    except Exception as exc:
        if not _is_recursion(exc):
            raise
    box: dict[str, object] = {}

    def target() -> None:
        _local.deep = True
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the calling thread
            box["error"] = exc

    with _lock:
        old_limit = sys.getrecursionlimit()
        try:
            old_stack = threading.stack_size(DEEP_STACK_BYTES)
        except (ValueError, RuntimeError):  # a platform that cannot size stacks
            raise too_deep(locate()) from None
        try:
            thread = threading.Thread(target=target, name="dync-deep", daemon=True)
            sys.setrecursionlimit(max(old_limit, DEEP_RECURSION_LIMIT))
            thread.start()
        finally:
            threading.stack_size(old_stack)
        try:
            thread.join()
        finally:
            sys.setrecursionlimit(old_limit)
    if "error" in box:
        error = box["error"]
        if _is_recursion(error):  # type: ignore[arg-type]
            raise too_deep(locate()) from None
        raise error  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def busiest_line(text: str, path: str) -> Span:
    """The line with the most operators and brackets: where a text too deep to
    parse most likely nests (used before there is an AST to search)."""
    best, best_score = 0, -1
    lines = text.splitlines()
    for i, line in enumerate(lines):
        score = sum(line.count(c) for c in "+-*/@^([")
        if score > best_score:
            best, best_score = i, score
    length = len(lines[best]) if lines else 0
    return Span(path, best + 1, 1, best + 1, max(length, 1) + 1, text)


def deepest_statement(spec) -> Span | None:
    """The span of the statement of ``spec`` (a :class:`dync.dsl.ast.Spec`)
    with the deepest expression, found without recursion."""
    import dataclasses

    best, best_depth = None, -1
    for stmt in spec.statements:
        stack = [(stmt, 0)]
        deepest = 0
        while stack:
            node, depth = stack.pop()
            deepest = max(deepest, depth)
            if isinstance(node, (tuple, list)):
                stack.extend((x, depth) for x in node)
            elif dataclasses.is_dataclass(node) and not isinstance(node, Span):
                stack.extend((getattr(node, f.name), depth + 1) for f in dataclasses.fields(node))
        if deepest > best_depth:
            best, best_depth = getattr(stmt, "span", None), deepest
    return best
