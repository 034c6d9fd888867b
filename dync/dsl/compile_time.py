"""Which names the compiler reads when a spec compiles (an index, a shape,
a library call's static argument, a network's size, a constraint's bound):
a parameter read there keeps its spec value in the compiled model, so no
command may set, fit or draw it (``docs/language.md`` §2.3)."""

from __future__ import annotations

import dataclasses

from ..errors import Span
from . import ast
from .vocabulary import COMPILE_TIME_ARGUMENTS

__all__ = ["compile_time_params", "compile_time_uses", "read_when_compiling"]


def compile_time_uses(spec: ast.Spec) -> dict[str, tuple[Span, str]]:
    """The names the compiler reads when the spec compiles, each with the
    first place that reads it and what reads it there: an index (`x[k]`,
    `x[0:k]`) or a declared shape (`state x[K]`) ("an index or a size"), a
    library call's compile-time argument (`roll(x, k)`: "the `shift` of
    `roll`", per :data:`dync.dsl.vocabulary.COMPILE_TIME_ARGUMENTS`), a
    network's option (`mlp(width = k)`) or a constraint's bound."""
    found: dict[str, tuple[Span, str]] = {}

    def note(expr, what: str = "an index or a size") -> None:
        if expr is not None:
            for n in ast.free_names(expr):
                found.setdefault(n, (expr.span, what))

    def call_arguments(call: ast.Call) -> None:
        static = COMPILE_TIME_ARGUMENTS.get(call.func, {})
        for a, position in static.items():
            if a == "*":
                for arg in call.args:
                    note(arg, f"a size of `{call.func}`")
            elif position is not None and position < len(call.args):
                note(call.args[position], f"the `{a}` of `{call.func}`")
        for kw in call.kwargs:
            if kw.name in static:
                note(kw.value, f"the `{kw.name}` of `{call.func}`")

    def visit(node) -> None:
        if isinstance(node, (tuple, list)):
            for x in node:
                visit(x)
            return
        if not dataclasses.is_dataclass(node) or isinstance(node, (type, Span)):
            return
        if isinstance(node, ast.Index):
            for item in node.items:
                for part in (item.start, item.stop, item.step) if isinstance(item, ast.Slice) else (item,):
                    note(part)
        elif isinstance(node, ast.Call):
            call_arguments(node)
        elif isinstance(node, ast.Net):
            for kw in node.call.kwargs:
                if kw.name != "activation":
                    note(kw.value, f"the `{kw.name}` of network `{node.name}`")
        elif isinstance(node, ast.Param) and isinstance(node.constraint, ast.Call):
            for arg in node.constraint.args:
                note(arg, f"a bound of the constraint of `{node.name}`")
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if field.name == "shape" and isinstance(value, tuple):
                for e in value:
                    note(e)
            visit(value)

    visit(list(spec.statements))
    return found


def compile_time_params(spec: ast.Spec, *, consts: bool = False) -> dict[str, tuple[ast.Param, Span, str]]:
    """The ``param``s (and with ``consts`` the ``const``s) that the compiler
    reads when the spec compiles, by name in declaration order: the
    declaration, and where and as what it is first read
    (:func:`compile_time_uses`)."""
    uses = compile_time_uses(spec)
    return {p.name: (p, *uses[p.name]) for p in spec.of_type(ast.Param) if (consts or not p.fixed) and p.name in uses}


def read_when_compiling(name: str, span: Span, what: str) -> str:
    """The start of every message about such a parameter."""
    return f"parameter `{name}` is read as {what} (line {span.line}) when the spec compiles"
