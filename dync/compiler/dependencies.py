"""What a checked expression reads: a state, the time, an input.

Shared by the checker (a `let` used where only constants may go) and the
analyses (additive noise); they import it from here, so neither imports the
other.

Both questions are answered by one iterative walk that visits each node of
the expression once (a `let` read many times, or a sum of 20,000 terms, costs
its size, not its size squared, and no Python recursion)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import ir


def _children(e, lets: Mapping[str, ir.IExpr]) -> tuple:
    if isinstance(e, ir.Ref):
        return (lets[e.name],) if e.kind == "let" and e.name in lets else ()
    return ir.children(e)


def _reads(e, lets: Mapping[str, ir.IExpr], leaf: Callable[[object], bool | None], memo: dict[int, bool]) -> bool:
    """Whether some node under ``e`` (through lets) makes ``leaf`` true.

    ``leaf(node)`` answers for a node on its own (``True``/``False``) or
    says to look at its children (``None``). ``memo`` maps ``id(node)`` to
    the answer; the nodes stay alive in the expression, so ids are stable
    for the caller's lifetime of ``memo``."""
    if id(e) in memo:
        return memo[id(e)]
    stack: list[tuple[object, bool]] = [(e, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if key in memo:
            continue
        if not expanded:
            answer = leaf(node)
            if answer is not None:
                memo[key] = answer
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node, lets) if id(c) not in memo)
        else:
            memo[key] = any(memo.get(id(c), False) for c in _children(node, lets))
    return memo[id(e)]


def _state_leaf(states: frozenset | None) -> Callable[[object], bool | None]:
    def leaf(e) -> bool | None:
        if isinstance(e, ir.Ref):
            if e.kind == "state":
                return states is None or e.name in states
            return None if e.kind == "let" else False
        if isinstance(e, ir.Const):
            return False
        if isinstance(e, ir.FbmDrift):
            return True
        if isinstance(e, ir.Grad):
            return True if states is None or e.wrt in states else None
        if isinstance(e, (ir.Op, ir.Index, ir.Array, ir.NetCall)):
            return None
        return True

    return leaf


def _time_leaf(e) -> bool | None:
    if isinstance(e, ir.Ref):
        if e.kind in ("time", "input"):
            return True
        return None if e.kind == "let" else False
    if isinstance(e, (ir.Op, ir.Index, ir.Array, ir.NetCall, ir.Grad)):
        return None
    return False


def depends_on_state(
    e, lets: Mapping[str, ir.IExpr], states: frozenset | None = None, memo: dict[int, bool] | None = None
) -> bool:
    """Whether ``e`` reads a state (any state, or one in ``states``).

    Args:
        memo: answers to share between calls about parts of one expression
            with the same ``lets`` and ``states`` (makes a walk that asks
            about every sub-expression linear).
    """
    return _reads(e, lets, _state_leaf(states), {} if memo is None else memo)


def _time_only_leaf(e) -> bool | None:
    if isinstance(e, ir.Ref) and e.kind == "input":
        return False
    return _time_leaf(e)


def reads_time(e, lets, memo: dict[int, bool] | None = None, *, inputs: bool = True) -> bool:
    """Whether ``e`` reads the time or (with ``inputs``) an input.

    Args:
        inputs: count an input as time-varying (its meaning in a model with
            equations); ``False`` in a target model, whose inputs are static
            data arrays (docs/language.md §2.14).
    """
    return _reads(e, lets, _time_leaf if inputs else _time_only_leaf, {} if memo is None else memo)
