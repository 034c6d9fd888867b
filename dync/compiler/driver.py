"""The one driver: spec file → AST → checked IR → generated module.

Both the command line and the Python API call these functions; warnings are
returned, never printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import types
from collections.abc import Mapping
from pathlib import Path

from .._deep import deepest_statement, run_deep
from ..dsl import ast
from ..dsl.loading import load_spec
from ..errors import SpecErrors, UsageError, did_you_mean
from . import ir
from .check import check_spec
from .codegen import generate_module


@dataclasses.dataclass(frozen=True)
class CompiledSpec:
    """Everything the compiler knows about one spec."""

    spec: ast.Spec
    model: ir.ModelIR
    source: str  # the generated Python module
    warnings: tuple[str, ...] = ()


def _warnings(spec: ast.Spec, model: ir.ModelIR) -> tuple[str, ...]:
    out = []
    used = {b.name for b in model.noise_blocks}
    for b in spec.of_type(ast.Brownian):
        if b.name not in used:
            out.append(f"{spec.path}:{b.span.line}: warning: Brownian motion `{b.name}` drives no equation")
    return tuple(out)


def compile_ast(spec: ast.Spec, dims: Mapping[str, int] | None = None) -> CompiledSpec:
    """Check and generate code for a parsed spec.

    Raises:
        SpecErrors: every error of the spec.
        UsageError: a ``dims`` override names no ``dim`` of the spec.
    """
    dims = dict(dims or {})
    declared = {d.name for d in spec.of_type(ast.Dim)}
    for name in dims:
        if name not in declared:
            hint = did_you_mean(name, declared) or (
                f"the spec's dims are {', '.join(sorted(declared))}" if declared else "the spec declares no dims"
            )
            raise UsageError(f"`--set {name}=...`: the spec has no dim `{name}`", hint=hint)
    model = check_spec(spec, dims)
    source = run_deep(lambda: deepest_statement(spec), generate_module, model)
    return CompiledSpec(spec, model, source, _warnings(spec, model))


def compile_file(path: str | Path, dims: Mapping[str, int] | None = None, text: str | None = None) -> CompiledSpec:
    """Read a ``.dync`` or ``.yaml`` spec and compile it.

    Raises:
        SpecErrors: every error of the spec. When reading found only errors
            that dropped a part of the spec (an unknown YAML key), the rest is
            still checked, so that one run reports all independent errors.
    """
    return compile_ast(read_spec(path, text, dims), dims)


def read_spec(path: str | Path, text: str | None = None, dims: Mapping[str, int] | None = None) -> ast.Spec:
    """:func:`~dync.dsl.loading.load_spec`, reporting every independent error.

    When reading the spec found only errors that dropped a part of it (an
    unknown YAML key), the rest is still checked, so that one run reports the
    reading errors and the checker's together.

    Raises:
        SpecErrors: every error found.
    """
    try:
        return load_spec(path, text)
    except SpecErrors as err:
        if err.partial is None:
            raise
        try:
            check_spec(err.partial, {k: v for k, v in (dims or {}).items() if k in {d.name for d in err.partial.of_type(ast.Dim)}})
        except SpecErrors as more:
            raise SpecErrors(err.errors + more.errors) from None
        raise


def module_from_source(source: str, name: str) -> types.ModuleType:
    """Import generated code as a module (the code is ours, built from checked IR
    with validated identifiers only; no user text reaches it)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"dync._generated.{name}_{digest}"
    if modname in sys.modules:
        return sys.modules[modname]
    module = types.ModuleType(modname)
    module.__file__ = f"<dync:{name}>"
    code = compile(source, module.__file__, "exec")
    exec(code, module.__dict__)  # noqa: S102 - generated code, see docstring
    sys.modules[modname] = module
    return module


def model_class(compiled: CompiledSpec) -> type:
    """The generated ``Model`` class, with the spec's doc and text attached."""
    module = module_from_source(compiled.source, compiled.model.name)
    cls = module.Model
    info = dataclasses.replace(
        cls.info, doc=compiled.spec.doc, spec_text=compiled.spec.source, spec_path=str(compiled.spec.path)
    )
    return type(cls.__name__, (cls,), {"info": info, "__module__": module.__name__})


def load(path: str | Path, key=None, *, text: str | None = None, **dims: int):
    """Compile a spec in-process and build its model.

    Args:
        path: a ``.dync`` or ``.yaml`` spec.
        key: PRNG key for parameters drawn with ``~ init`` and network weights
            (default ``jax.random.key(0)``).
        text: the spec's text, when it is not to be read from ``path``.
        **dims: overrides of the spec's ``dim`` values.

    Example:
        >>> model = dync.load("specs/ou.dync")
        >>> model.drift(0.0, model.initial_state(jax.random.key(0)))
    """
    compiled = compile_file(path, dims, text)
    return model_class(compiled)(key)
