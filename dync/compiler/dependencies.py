"""What a checked expression reads: a state, the time, an input.

Shared by the checker (a `let` used where only constants may go) and the
analyses (additive noise); they import it from here, so neither imports the
other."""

from __future__ import annotations

from collections.abc import Mapping

from . import ir


def depends_on_state(e, lets: Mapping[str, ir.IExpr], states: frozenset | None = None) -> bool:
    """Whether ``e`` reads a state (any state, or one in ``states``)."""
    if isinstance(e, ir.Ref):
        if e.kind == "state":
            return states is None or e.name in states
        if e.kind == "let":
            return depends_on_state(lets[e.name], lets, states)
        return False
    if isinstance(e, ir.Const):
        return False
    if isinstance(e, ir.FbmDrift):
        return True
    if isinstance(e, ir.Grad):
        return states is None or e.wrt in states or depends_on_state(e.body, lets, states)
    if isinstance(e, ir.Op):
        return any(depends_on_state(a, lets, states) for a in e.args)
    if isinstance(e, ir.Index):
        return depends_on_state(e.value, lets, states)
    if isinstance(e, ir.Array):
        return any(depends_on_state(a, lets, states) for a in e.elements)
    if isinstance(e, ir.NetCall):
        return depends_on_state(e.arg, lets, states)
    return True


def reads_time(e, lets) -> bool:
    if isinstance(e, ir.Ref):
        if e.kind in ("time", "input"):
            return True
        if e.kind == "let":
            return reads_time(lets[e.name], lets)
        return False
    if isinstance(e, ir.Op):
        return any(reads_time(a, lets) for a in e.args)
    if isinstance(e, ir.Index):
        return reads_time(e.value, lets)
    if isinstance(e, ir.Array):
        return any(reads_time(a, lets) for a in e.elements)
    if isinstance(e, (ir.NetCall,)):
        return reads_time(e.arg, lets)
    if isinstance(e, ir.Grad):
        return reads_time(e.body, lets)
    return False
