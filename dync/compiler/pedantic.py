"""``dync check --pedantic``: warnings about what is legal but often a mistake
(in the spirit of Stan's ``--warn-pedantic``). Each is a located
:class:`~dync.errors.SpecWarning` with a hint; none is an error, so the
check still passes (exit code 0)."""

from __future__ import annotations

import dataclasses

from ..dsl import ast
from ..errors import SpecWarning
from . import ir


def pedantic_warnings(spec: ast.Spec, model: ir.ModelIR) -> tuple[SpecWarning, ...]:
    """The pedantic warnings of a checked spec, sorted by position."""
    del spec, model
    return ()


def with_pedantic_warnings(checked):
    """``checked`` (a :class:`~dync.compiler.driver.CheckedSpec`) with the
    pedantic warnings added after its own."""
    extra = pedantic_warnings(checked.spec, checked.model)
    return dataclasses.replace(checked, warnings=tuple(checked.warnings) + extra)
