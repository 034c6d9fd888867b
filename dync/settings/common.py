"""What every command's settings share: merging a spec's section with flags,
`--set` overrides, and the number checks."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..dsl import ast
from ..dsl.sections import SECTIONS, SettingKey
from ..dsl.compile_time import compile_time_params, read_when_compiling
from ..errors import BadValue, InvalidSpec, SpecErrors, UsageError, did_you_mean

_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------- generic


def merge_section(spec: ast.Spec, section: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """One section's settings: each flag given (not ``None``) over the spec's
    section over the declared default.

    Args:
        spec: the parsed spec (its ``settings`` hold the YAML sections).
        section: ``"simulate"``, ...: a section declared in
            :data:`dync.dsl.sections.SECTIONS` with a table of keys.
        flags: values given by the caller, by key name; ``None`` = not given.

    Raises:
        UsageError: a flag names no key of the section.
    """
    table: tuple[SettingKey, ...] = SECTIONS[section] or ()
    names = [k.name for k in table]
    for name in flags:
        if name not in names:
            hint = did_you_mean(name, names) or "expected one of " + ", ".join(f"`{n}`" for n in names)
            raise UsageError(f"unknown {section} setting `{name}`", hint=hint)
    given = spec.setting(section)
    out: dict[str, Any] = {}
    for key in table:
        value = flags.get(key.name)
        if value is None:
            value = given.get(key.name, key.default)
        if isinstance(value, float) and not math.isfinite(value):
            # no setting means anything at inf or nan (an inf learning rate
            # made a fit of nan estimates that reported success)
            flag = "--" + key.name.replace("_", "-")
            raise UsageError(f"{flag} {value}: must be a finite number")
        if key.name == "seed" and value is not None:
            check_seed(value, f"--seed {value}")
        out[key.name] = value
    return out


def check_seed(value: Any, what: str) -> None:
    """A seed is a whole number a JAX key takes (a larger one was an
    OverflowError traceback); ``what`` starts the message.

    Raises:
        UsageError: not a whole number in ``0 .. 2**63 - 1``.
    """
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < 2**63:
        raise UsageError(f"{what}: a seed is a whole number from 0 to 2^63 - 1")


def located_in_section(section: str) -> Callable[[_F], _F]:
    """Decorate a ``*_settings(spec, ..., **flags)`` function so that its
    error about ``--KEY`` points at the YAML spec's ``section: {KEY: ...}``
    when the value came from there (not from the flag): a located E261 with
    the line and a caret, not a flag the user never typed."""

    def decorate(settings: _F) -> _F:
        @functools.wraps(settings)
        def wrapper(spec: ast.Spec, *args: Any, **flags: Any):
            try:
                return settings(spec, *args, **flags)
            except UsageError as err:
                m = re.match(r"`?--([a-z][a-z0-9-]*)\b", err.message)
                if m is not None:
                    key = m.group(1).replace("-", "_")
                    span = spec.setting_span(section, key) if flags.get(key) is None else None
                    if span is not None:
                        message = f"{section}.{key}{err.message[m.end():].lstrip('`')}"
                        raise SpecErrors([BadValue(message, span, hint=err.hint)]) from None
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what}: `{text}` is not a number") from None


def _parameter_value(text: str, what: str) -> float | list:
    """A ``--set`` value: a number, or a bracketed list of numbers (nested
    for a matrix) for a vector parameter, `--set theta=[1, 2.5]`."""
    text = str(text).strip()
    if not text.startswith("["):
        return _number(text, what)
    import json

    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in _flat(value)):
        raise UsageError(f"{what}: `{text}` is not a number or a list of numbers", hint="e.g. --set theta=[1, 2.5]")
    return value


def _flat(value: Any) -> list:
    """The numbers of a number or a nested list of them."""
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


def as_items(value: Any) -> Any:
    """A single ``NAME=VALUE`` string as a list of one (from Python,
    ``fix="mu=1"`` is one item, not its characters); anything else as given."""
    return [value] if isinstance(value, str) else value


def refuse_flags_of_other_methods(
    flags: Mapping[str, Any], used_by: Mapping[str, tuple[str, ...]], method: str, hint: Callable[[str, tuple[str, ...]], str]
) -> None:
    """Refuse a flag given for a method that does not read it (`dync fit
    --method mle --chains 3`, `dync sample --method nuts --friction 2`).

    Args:
        flags: the command's flags (``None``: not given).
        used_by: flag key → the methods that read it.
        method: the run's method.
        hint: the hint for a flag (``--chains``) and the methods that read it.

    Raises:
        UsageError: the first such flag.
    """
    for key, methods in used_by.items():
        if flags.get(key) is not None and method not in methods:
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"{flag} is a setting of --method {' / '.join(methods)}; --method {method} does not use it",
                hint=hint(flag, methods),
            )


def parse_sets(sets: Iterable[str] | Mapping[str, object] | None) -> dict[str, str]:
    """``--set NAME=VALUE`` items (or a mapping) as ``{name: value text}``.

    Raises:
        UsageError: an item is not ``NAME=VALUE`` or its name is not a name.
    """
    sets = as_items(sets)
    if isinstance(sets, Mapping):
        sets = [f"{k}={v}" for k, v in sets.items()]
    out: dict[str, str] = {}
    for item in sets or []:
        if "=" not in item:
            raise UsageError(f"`--set {item}`: expected NAME=VALUE", hint="for example `--set K=16` or `--set theta=0.5`")
        name, value = item.split("=", 1)
        name, value = name.strip(), value.strip()
        if not name.isidentifier():
            raise UsageError(f"`--set {item}`: `{name}` is not a name")
        out[name] = value
    return out


def split_sets(spec: ast.Spec, sets: Mapping[str, str]) -> tuple[dict[str, int], dict[str, float]]:
    """Split overrides into dims (for the compiler) and parameter values.

    Raises:
        UsageError: a value is not a number, or a dim's is not a positive
            integer.
    """
    dim_names = {d.name for d in spec.of_type(ast.Dim)}
    dims: dict[str, int] = {}
    params: dict[str, float] = {}
    for name, value in sets.items():
        if name in dim_names:
            v = _number(value, f"--set {name}")
            if not float(v).is_integer() or v < 1:
                raise UsageError(f"`--set {name}={value}`: a dim must be a positive integer")
            dims[name] = int(v)
        else:
            params[name] = _parameter_value(value, f"--set {name}")
    _warn_about_stale_values(spec, params)
    refuse_compile_time_parameters(spec, params, "--set")
    for name, brownian in _hurst_parameters(spec).items():
        if name in params and not all(0 < v < 1 for v in _flat(params[name])):
            raise UsageError(
                f"`--set {name}={sets[name]}`: `{name}` is the Hurst index of the fractional Brownian motion "
                f"`{brownian}`, which must lie in (0, 1)",
                hint=f"give {name} a value strictly between 0 and 1",
            )
    return dims, params


def refuse_compile_time_parameters(spec: ast.Spec, values: Mapping[str, Any] | Iterable[str], flag: str) -> None:
    """Refuse to set a parameter that the compiler reads when the spec
    compiles: an index or a declared shape (`x[k]`, `state x[K]`), a library
    call's compile-time argument (`roll(x, k)`, `zeros(k)`, `sum(x, axis = k)`),
    a network's size or a constraint's bound. The compiled model keeps the
    spec's value, so a new one would be silently ignored (`--set k=5` ran with
    `x[1]`).

    Args:
        spec: the parsed spec.
        values: name → the value given (a number, a list, the values of a
            sweep); a value equal to the spec's literal value changes nothing
            and is accepted (`--set k=1` for `param k = 1`). Names alone are
            all refused.
        flag: ``"--set"`` or ``"--sweep"``, for the message.

    Raises:
        UsageError: naming the parameter, where it is read, and the fix.
    """
    read = compile_time_params(spec, consts=True)
    given = values if isinstance(values, Mapping) else dict.fromkeys(values)
    for name, value in given.items():
        if name in read:
            param, span, what = read[name]
            if value is not None and _is_spec_value(param.value, value):
                continue
            raise UsageError(
                f"`{flag} {name}=...`: {read_when_compiling(name, span, what)}, so a new value would be ignored",
                hint=f"change its value in the spec (a constraint's bounds are fixed when it compiles)"
                if what.startswith("a bound of the constraint")
                else f"change its value in the spec, or declare it `dim {name} = ...` (a dim may be set, and recompiles)",
            )


def refuse_fitting_compile_time_parameters(
    spec: ast.Spec, fixed: Mapping[str, float], command: str, flagged: Iterable[str] = ()
) -> None:
    """Refuse to fit (or sample the posterior of) a parameter that the
    compiler reads when the spec compiles (``x[k]``, ``state x[K]``,
    ``roll(x, k)``...): the compiled code keeps its spec value, so its
    gradient is zero and its "estimate" is whatever the estimator leaves it
    at. A ``const``, or a parameter held with ``--fix`` at its value, is not
    fitted.

    Args:
        spec: the parsed spec.
        fixed: the held values (``--fix`` over the section's ``fix:``).
        command: ``"dync fit"``, for the message.
        flagged: the names ``--fix`` gave (the others came from the
            section, and an error about them points at it).

    Raises:
        SpecErrors: one error per such parameter left free, at its
            declaration, naming what reads it and the two ways out; a
            section's ``fix:`` at another value than a literal spec value.
        UsageError: ``--fix`` at another value than a literal spec value (a
            computed one is compared when the model is built).
    """
    from ..dsl.format import format_expr

    flagged = set(flagged)
    errors = []
    for p, span, what in compile_time_params(spec).values():
        value = format_expr(p.value) if p.value is not None else "VALUE"
        if p.name in fixed:
            literal = _literal_number(p.value)
            if literal is None or math.isclose(fixed[p.name], literal, rel_tol=1e-6):
                continue
            message = (f"{read_when_compiling(p.name, span, what)}, so the compiled model keeps its value {value}: "
                       f"the value given ({fixed[p.name]:g}) would be ignored")  # fmt: skip
            hint = f"hold it at {value}, or change its value in the spec"
            section = spec.setting_span("fit", f"fix.{p.name}") or spec.setting_span("fit", "fix")
            if p.name in flagged or section is None:
                raise UsageError(f"`--fix {p.name}={fixed[p.name]:g}`: {message}", hint=hint)
            errors.append(BadValue(f"fit.fix: {message}", section, hint=hint))
            continue
        errors.append(
            InvalidSpec(
                f"{read_when_compiling(p.name, span, what)}, so the compiled model keeps its value and {command} "
                "cannot fit it",
                p.name_span if p.name_span.line else p.span,
                hint=f"declare it `const {p.name} = {value}`, or hold it with --fix {p.name}={value}"
                + (f" (YAML: `{command.split()[-1]}: {{fix: {{{p.name}: {value}}}}}`)" if spec.path.endswith((".yaml", ".yml")) else ""),
            )
        )
    if errors:
        raise SpecErrors(errors)


def _is_spec_value(expr: ast.Expr | None, value: Any) -> bool:
    """Whether ``value`` (a number, a nested list of numbers or an array of
    them) is, element by element, the number the spec writes as ``expr``
    (within the tolerance the runtime compares a held value with); ``False``
    for a value the spec computes (`2 * j`), which only the compiled model
    knows."""
    literal = _literal_number(expr)
    if literal is None:
        return False
    numbers = _flat(value.tolist() if hasattr(value, "tolist") else value)
    return bool(numbers) and all(
        isinstance(v, (int, float)) and math.isclose(float(v), literal, rel_tol=1e-6) for v in numbers
    )


def _literal_number(expr: ast.Expr | None) -> float | None:
    """The number a literal value writes (``1``, ``-2.5``), else ``None``."""
    if isinstance(expr, ast.Number):
        return float(expr.value)
    if isinstance(expr, ast.Unary) and expr.op in "+-" and isinstance(expr.operand, ast.Number):
        return float(expr.operand.value) * (-1.0 if expr.op == "-" else 1.0)
    return None


def _warn_about_stale_values(spec: ast.Spec, sets: Mapping[str, float]) -> None:
    """Warn when ``--set`` changes a parameter that another parameter's
    value was computed from (`param b = 2 * a`, `--set a=5`): a value is
    evaluated once, with the spec's values, so `b` stays 2 unless set too."""
    import warnings

    declared = {p.name: p.value for p in spec.of_type(ast.Param)}
    # a parameter set to its own spec value changes nothing computed from it
    changed = {name for name, value in sets.items() if not _is_spec_value(declared.get(name), value)}
    for stmt in spec.of_type(ast.Param):
        if stmt.name in sets or stmt.value is None:
            continue
        used = sorted(ast.free_names(stmt.value) & changed)
        if used:
            names = ", ".join(f"`{n}`" for n in used)
            warnings.warn(
                f"the value of {'constant' if stmt.fixed else 'parameter'} `{stmt.name}` is computed from {names} with "
                f"the spec's value{'s' if len(used) > 1 else ''}; --set does not change it"
                + ("" if stmt.fixed else f" (set `{stmt.name}` too, or make it a `let`)"),
                UserWarning,
                stacklevel=3,
            )


def _hurst_parameters(spec: ast.Spec) -> dict[str, str]:
    """Parameter name → the fractional Brownian motion whose Hurst index it
    is, for every ``brownian B : fractional(hurst = NAME)``."""
    out: dict[str, str] = {}
    for b in spec.of_type(ast.Brownian):
        if isinstance(b.kind, ast.Call) and b.kind.func == "fractional":
            values = [kw.value for kw in b.kind.kwargs if kw.name == "hurst"] + list(b.kind.args[:1])
            if values and isinstance(values[0], ast.Name):
                out.setdefault(values[0].id, b.name)
    return out


def dims_only(spec: ast.Spec, sets: Iterable[str] | Mapping[str, object] | None) -> dict[str, int]:
    """The dim overrides of a command that takes no parameter values
    (``check``, ``compile``).

    Raises:
        UsageError: an override names no dim of the spec, or is malformed.
    """
    dims, params = split_sets(spec, parse_sets(sets))
    if params:
        name = next(iter(params))
        declared = sorted(d.name for d in spec.of_type(ast.Dim))
        hint = did_you_mean(name, declared) or (
            f"the spec's dims are {', '.join(declared)}" if declared else "the spec declares no dims"
        )
        raise UsageError(f"`--set {name}=...`: the spec has no dim `{name}` (only dims can be set here)", hint=hint)
    return dims


def parse_prior(value: Any, flag: str = "--prior") -> ast.Call | None:
    """A ``prior`` setting as a parsed distribution: a YAML ``prior:`` comes
    parsed already (its spans in the YAML file); a flag's or a Python
    argument's text is parsed here by the spec grammar, never evaluated, and
    its errors point into that text (``--prior:1:8``).

    Raises:
        DyncSyntaxError: the text is not a distribution, located in it.
        UsageError: a value that is not text.
    """
    if value is None or isinstance(value, ast.Call):
        return value
    if not isinstance(value, str):
        raise UsageError(f"{flag}: expected a distribution such as `Normal(0, 1)`, got {value!r}")
    from ..dsl.parser import SpanMapper, parse_fragment

    return parse_fragment(value, "dist", SpanMapper(flag, value))


def _whole(value: Any, flag: str, least: int) -> int:
    if isinstance(value, bool) or float(value) != int(value) or int(value) < least:
        words = {0: "a non-negative whole number", 1: "a positive whole number"}.get(least, f"a whole number of at least {least}")
        raise UsageError(f"{flag} {value}: expected {words}")
    return int(value)
