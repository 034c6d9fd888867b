"""The one driver: spec file → AST → checked IR → generated module.

The pipeline, each stage a call that returns a value::

    spec   = read_spec(path)                 # dync.dsl: text or YAML → AST
    scope  = resolve_names(spec, dims)       # compiler.names: declarations, dims
    parts  = check_model(scope)              # compiler.check: shapes, equations, noise
    model  = lower_to_ir(parts)              # compiler.check: → ir.ModelIR
    model  = analyse(model)                  # compiler.analysis: noise structure, Langevin
    source = generate_module(model)          # compiler.codegen: → Python module

:func:`check_ast` (``dync check``) runs up to ``analyse``; :func:`compile_ast`
(``dync compile``, ``simulate``, :func:`load`) to ``generate_module``. Both
take a parsed spec, so a command reads its spec once. Both the command line
and the Python API call these functions; warnings are returned as
:class:`~dync.errors.SpecWarning` values, never printed.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
from collections.abc import Mapping
from pathlib import Path

from .._deep import deepest_statement, run_deep
from ..dsl import ast
from ..dsl.loading import load_spec
from ..errors import FLOAT32_RANGE, DyncRuntimeError, RenderedWarning, SpecErrors, SpecWarning, UsageError, did_you_mean
from ..info.model import SpecSource
from . import ir
from .analysis import spec_warnings
from .check import check_spec


@dataclasses.dataclass(frozen=True)
class CheckedSpec:
    """A spec that passed every check: its AST, its analysed IR and the
    warnings found (values; render each with :func:`~dync.errors.render_warning`)."""

    spec: ast.Spec
    model: ir.ModelIR
    warnings: tuple[SpecWarning, ...] = ()


@dataclasses.dataclass(frozen=True)
class CompiledSpec:
    """A checked spec and its generated Python module."""

    spec: ast.Spec
    model: ir.ModelIR
    source: str  # the generated Python module
    warnings: tuple[SpecWarning, ...] = ()


# ------------------------------------------------------------------ stages


def read_spec(path: str | Path, text: str | None = None, dims: Mapping[str, int] | None = None) -> ast.Spec:
    """Stage 1, read: :func:`~dync.dsl.loading.load_spec`, reporting every
    independent error.

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


def check_dim_overrides(spec: ast.Spec, dims: Mapping[str, int]) -> None:
    """Refuse a ``dims`` override that names no ``dim`` of the spec.

    Raises:
        UsageError: naming the override, with the closest dim as a hint.
    """
    declared = {d.name for d in spec.of_type(ast.Dim)}
    for name in dims:
        if name not in declared:
            hint = did_you_mean(name, declared) or (
                f"the spec's dims are {', '.join(sorted(declared))}" if declared else "the spec declares no dims"
            )
            raise UsageError(f"`--set {name}=...`: the spec has no dim `{name}`", hint=hint)
        value = dims[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or int(value) < 1:
            # refused here, at the override: the spec's `dim` line is not what is wrong
            raise UsageError(f"`--set {name}={value}`: a dim must be a positive integer", hint=f"for example {name}=8")


def check_ast(spec: ast.Spec, dims: Mapping[str, int] | None = None) -> CheckedSpec:
    """Check a parsed spec with ``dims`` overrides, without generating code
    (what ``dync check`` needs).

    Raises:
        SpecErrors: every error of the spec.
        UsageError: a ``dims`` override names no ``dim`` of the spec.
    """
    dims = dict(dims or {})
    check_dim_overrides(spec, dims)
    model = check_spec(spec, dims)  # resolve_names → check_model → lower_to_ir → analyse
    return CheckedSpec(spec, model, spec_warnings(spec, model))


def compile_ast(spec: ast.Spec, dims: Mapping[str, int] | None = None) -> CompiledSpec:
    """Check a parsed spec and generate its module (stage 6, generate): what
    ``dync compile``, ``dync simulate`` and :func:`load` need.

    Raises:
        SpecErrors: every error of the spec.
        UsageError: a ``dims`` override names no ``dim`` of the spec.
    """
    checked = check_ast(spec, dims)
    from .codegen import generate_module  # only code generation needs it

    source = run_deep(lambda: deepest_statement(spec), generate_module, checked.model)
    return CompiledSpec(checked.spec, checked.model, source, checked.warnings)


def compile_file(path: str | Path, dims: Mapping[str, int] | None = None, text: str | None = None) -> CompiledSpec:
    """Read a ``.dync`` or ``.yaml`` spec and compile it.

    Raises:
        SpecErrors: every error of the spec. When reading found only errors
            that dropped a part of the spec (an unknown YAML key), the rest is
            still checked, so that one run reports all independent errors.
    """
    return compile_ast(read_spec(path, text, dims), dims)


def compile_source(source: str, filename: str) -> types.CodeType:
    """Python's ``compile`` of a generated module, with the recursion headroom
    of :func:`~dync._deep.run_deep`: a sum of thousands of terms is one
    expression nested as deep as it is long, past the compiler's default
    recursion limit.

    Raises:
        SpecErrors: E290 when even the raised limit is too low.
    """
    return run_deep(lambda: None, compile, source, filename, "exec")


def module_from_source(source: str, name: str) -> types.ModuleType:
    """Import generated code as a module (the code is ours, built from checked IR
    with validated identifiers only; no user text reaches it)."""
    import hashlib

    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"dync._generated.{name}_{digest}"
    if modname in sys.modules:
        return sys.modules[modname]
    module = types.ModuleType(modname)
    module.__file__ = f"<dync:{name}>"
    code = compile_source(source, module.__file__)
    sys.modules[modname] = module  # before running it, as importlib does (dataclasses look it up)
    try:
        exec(code, module.__dict__)  # noqa: S102 - generated code, see docstring
    except BaseException:
        del sys.modules[modname]
        raise
    return module


def model_class(compiled: CompiledSpec) -> type:
    """The generated ``Model`` class (a final class: build it with
    ``cls(key, source=spec_source(compiled))``)."""
    return module_from_source(compiled.source, compiled.model.name).Model


def spec_source(compiled: CompiledSpec) -> SpecSource:
    """Where the compiled spec came from: its path, text and doc comment."""
    spec = compiled.spec
    return SpecSource(path=str(spec.path), text=spec.source, doc=spec.doc)


def build_model(compiled: CompiledSpec, key=None):
    """An instance of the compiled model, with its :class:`~dync.info.SpecSource`.

    Args:
        compiled: the compiled spec.
        key: PRNG key for parameters drawn with ``~ init`` and network
            weights; required exactly when the model draws any.

    Raises:
        UsageError: the model draws numbers and ``key`` is ``None``.
        DyncRuntimeError: its parameters and networks cannot fit in memory
            (refused before anything is allocated: XLA would abort).
    """
    check_model_fits(compiled.model)
    _warn_float32_range(compiled)
    return model_class(compiled)(key, source=spec_source(compiled))


def _warn_float32_range(compiled: CompiledSpec) -> None:
    """Repeat the spec's float32-range warnings (W106) as Python warnings when
    the model is built to run in float32: `dync check` shows them, but a run
    would otherwise silently compute with 0 or infinity."""
    import sys
    import warnings

    jax = sys.modules.get("jax")  # the compiler imports no JAX; the model it builds has
    if jax is not None and jax.config.jax_enable_x64:
        return
    for w in compiled.warnings:
        if w.code == FLOAT32_RANGE:
            warnings.warn(RenderedWarning(w.render()), stacklevel=3)


def check_model_fits(model: ir.ModelIR, itemsize: int = 4, memory: int | None = None) -> None:
    """Refuse a model whose parameters and networks alone cannot fit in the
    host's memory (:func:`dync._memory.host_memory_bytes`), naming the
    largest.

    Args:
        model: the checked model.
        itemsize: bytes of a number (4, the least JAX uses: only what cannot
            fit at all is refused).
        memory: bytes available (default: the host's).

    Raises:
        DyncRuntimeError: what does not fit, and its size.
    """
    from .._memory import MEMORY_SHARE, format_bytes, host_memory_bytes, mlp_weights

    parts = [(f"parameter `{p.name}`", math.prod(p.shape)) for p in model.params]
    parts += [
        (f"network `{n.name}` (mlp {n.in_size}→{n.out_size}, width {n.width}, depth {n.depth})", mlp_weights(n))
        for n in model.nets
    ]
    memory = host_memory_bytes() if memory is None else memory
    total = sum(n for _, n in parts) * itemsize
    if not parts or memory is None or total <= MEMORY_SHARE * memory:
        return
    what, numbers = max(parts, key=lambda x: x[1])
    raise DyncRuntimeError(
        f"the parameters and networks of model `{model.name}` need {format_bytes(total)}, more than the "
        f"{format_bytes(memory)} of memory available: {what} alone has {numbers:,} numbers",
        hint="make it smaller: a network's `width` and `depth`, a parameter's dims (`--set NAME=VALUE`)",
    )


def load(path: str | Path, key=None, *, text: str | None = None, **dims: int):
    """Compile a spec in-process and build its model.

    Args:
        path: a ``.dync`` or ``.yaml`` spec.
        key: PRNG key for parameters drawn with ``~ init`` and network
            weights; required exactly when the spec has either (there is no
            hidden default key).
        text: the spec's text, when it is not to be read from ``path``.
        **dims: overrides of the spec's ``dim`` values.

    Example:
        >>> model = dync.load("specs/ou.dync")
        >>> net_model = dync.load("specs/neural_langevin.dync", jax.random.key(0))
        >>> model.drift(0.0, model.initial_state(jax.random.key(0)))
    """
    return build_model(compile_file(path, dims, text), key)
