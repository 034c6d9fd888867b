"""The settings of ``dync test`` (LANGUAGE.md §8)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..dsl import ast
from ..errors import BadValue, SpecErrors, UsageError, did_you_mean
from ..info.constraints import AbstractConstraint, make_constraint
from ..dsl.compile_time import compile_time_params, read_when_compiling
from .common import _number, _whole, as_items, located_in_section, merge_section, parse_sets, split_sets

#: the built-in checks ``dync test`` runs on every model (``--skip`` names them)
BUILTIN_CHECKS = ("finite", "shapes", "reproducible", "forms", "stratonovich", "gradients")

#: the end time when neither a flag nor a section gives one: long enough for a
#: ``stationary`` check of a model relaxing on time scales of order 1
DEFAULT_T1, DEFAULT_T1_STATIONARY = 1.0, 10.0
#: steps on ``[0, t1]`` when no ``dt`` is given
DEFAULT_STEPS = 200


@dataclasses.dataclass(frozen=True)
class TestSettings:
    """Everything ``dync test`` (and :func:`dync.testing.run_spec_tests`) runs with.

    Attributes:
        paths: paths in each simulated ensemble.
        t1, dt: the time grid ``[0, t1]`` with step ``dt``.
        examples: parameter draws (hypothesis examples).
        seed: seeds hypothesis's draws and every ensemble's noise.
        alpha: the false-alarm rate of the whole run (Bonferroni-split).
        ranges: parameter name → ``(lo, hi)``, narrowing its draws.
        dim_ranges: dim name → ``(lo, hi)`` whole numbers: the dim is drawn
            in that range (each size drawn compiles the model once).
        solver: the solver (``auto``: the model's choice).
        skip: built-in checks switched off (names in :data:`BUILTIN_CHECKS`).
        convergence: also check the solver's weak order.
        sbc: simulation-based calibration replications (0: off).
        dims: dim overrides, for the compiler.
        params: parameter values held fixed (``--set``): not drawn.
        inputs: the model's ``input`` series, name → ``(times, values)``
            (read from ``--inputs FILE`` by :mod:`dync.commands.testing`);
            every run of the test reads them.
        inputs_file: that file, for the reproducing command line.
    """

    __test__ = False  # not a pytest class

    paths: int = 1000
    t1: float = DEFAULT_T1
    dt: float = DEFAULT_T1 / DEFAULT_STEPS
    examples: int = 20
    seed: int = 0
    alpha: float = 1e-3
    ranges: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    dim_ranges: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    solver: str = "auto"
    skip: tuple[str, ...] = ()
    convergence: bool = False
    sbc: int = 0
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)
    inputs: Mapping[str, Any] | None = None
    inputs_file: str | None = None


def _parse_ranges(ranges: Iterable[str] | Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    """``--range NAME=LO:HI`` items (or the section's mapping) as ``{name: (lo, hi)}``."""
    if not ranges:
        return {}
    ranges = as_items(ranges)
    if isinstance(ranges, Mapping):
        items = {str(k): v for k, v in ranges.items()}
    else:
        items = {}
        for item in ranges:
            name, sep, span = str(item).partition("=")
            parts = span.replace(",", ":").split(":")
            if not sep or not name.strip().isidentifier() or len(parts) != 2:
                raise UsageError(f"`--range {item}`: expected NAME=LO:HI", hint="for example `--range theta=0.5:2`")
            items[name.strip()] = parts
    out = {}
    for name, pair in items.items():
        if isinstance(pair, str) or len(pair) != 2:
            raise UsageError(f"range of `{name}`: expected two numbers [LO, HI], got {pair!r}")
        lo, hi = (_number(str(v), f"--range {name}") for v in pair)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise UsageError(f"range of `{name}`: the bounds must be finite, got [{lo:g}, {hi:g}]")
        if not lo < hi:
            raise UsageError(
                f"range of `{name}`: the lower bound must be below the upper one, got [{lo:g}, {hi:g}]",
                hint=f"write [{min(lo, hi):g}, {max(lo, hi):g}]" if lo != hi else "to hold a value fixed, use --set NAME=VALUE",
            )
        out[name] = (lo, hi)
    return out


def _section_ranges(spec: ast.Spec, ranges: Any) -> dict[str, tuple[float, float]]:
    """The ``test:`` section's ``ranges``, checked against the spec's names:
    an error is located at the section's ``ranges:`` (E261), since no flag was
    typed."""
    span = spec.setting_span("test", "ranges")
    try:
        chosen = _parse_ranges(ranges)
    except UsageError as err:
        if span is None:
            raise
        raise SpecErrors([BadValue(f"test.ranges: {err.message}", span, hint=err.hint)]) from None
    known = [p.name for p in spec.of_type(ast.Param)] + [d.name for d in spec.of_type(ast.Dim)]
    params = {p.name: p for p in spec.of_type(ast.Param)}
    for name, (lo, hi) in chosen.items():
        if name not in known and span is not None:
            hint = did_you_mean(name, known) or ("the parameters are " + ", ".join(f"`{k}`" for k in known) if known else None)
            raise SpecErrors([BadValue(f"test.ranges: the spec has no parameter or dim `{name}`", span, hint=hint)])
        constraint = _literal_constraint(params[name].constraint) if name in params else None
        if constraint is not None and span is not None:
            clo, chi = constraint.bounds()
            if lo < clo or hi > chi:
                raise SpecErrors([BadValue(
                    f"test.ranges: the range of `{name}` is [{lo:g}, {hi:g}], outside its constraint `{constraint.describe()}`",
                    span,
                    hint=f"give a range inside ({clo:g}, {chi:g})",
                )])  # fmt: skip
    if span is not None:
        try:
            _refuse_compile_time_ranges(spec, chosen, "test.ranges")
        except UsageError as err:
            raise SpecErrors([BadValue(err.message, span, hint=err.hint)]) from None
    return chosen


def _refuse_compile_time_ranges(spec: ast.Spec, ranges: Mapping[str, Any], what: str) -> None:
    """Refuse a range for a parameter the compiler reads when the spec
    compiles (`x[k]`, `state x[K]`, `roll(x, k)`): its drawn values would
    never reach the compiled model, so the draws would claim a coverage the
    run does not have. Such a parameter is held at its spec value.

    Raises:
        UsageError: the first such range, naming what reads the parameter.
    """
    read = compile_time_params(spec)
    for name in ranges:
        if name in read:
            _, use, read_as = read[name]
            raise UsageError(
                f"{f'`--range {name}=...`' if what == '--range' else what}: {read_when_compiling(name, use, read_as)}, "
                "so a drawn value would never reach the compiled model; dync test holds it at its spec value",
                hint=f"drop its range; to test other values, change it in the spec, or declare it `dim {name} = ...` "
                f"and give the dim a range (each size drawn compiles once)",
            )


def _literal_constraint(node: ast.Name | ast.Call | None) -> AbstractConstraint | None:
    """A parameter's constraint when its bounds are written as numbers (a
    bound that is an expression is checked when the model is built)."""
    if node is None:
        return None

    def number(e: ast.Expr) -> float | None:
        if isinstance(e, ast.Number):
            return float(e.value)
        if isinstance(e, ast.Unary) and e.op in "+-" and isinstance(e.operand, ast.Number):
            return float(e.operand.value) * (-1 if e.op == "-" else 1)
        return None

    kind, args = (node.id, []) if isinstance(node, ast.Name) else (node.func, list(node.args))
    bounds = [number(a) for a in args]
    if any(b is None for b in bounds):
        return None
    try:
        return make_constraint(kind, *bounds)
    except ValueError:  # an unknown or malformed constraint: the checker reports it
        return None


def _parse_skip(skip: Iterable[str] | str | None) -> tuple[str, ...]:
    if not skip:
        return ()
    names = [s.strip() for s in (skip.split(",") if isinstance(skip, str) else skip) for s in s.split(",")]
    out = []
    for name in filter(None, names):
        if name not in BUILTIN_CHECKS:
            hint = did_you_mean(name, BUILTIN_CHECKS) or "the built-in checks are " + ", ".join(BUILTIN_CHECKS)
            raise UsageError(f"`--skip {name}`: no built-in check of that name", hint=hint)
        out.append(name)
    return tuple(dict.fromkeys(out))


@located_in_section("test")
def test_settings(
    spec: ast.Spec,
    *,
    sets: Iterable[str] | Mapping[str, object] | None = None,
    ranges: Iterable[str] | Mapping[str, Any] | None = None,
    skip: Iterable[str] | str | None = None,
    **flags: Any,
) -> TestSettings:
    """The settings of one ``dync test`` run: ``flags`` over the spec's
    ``test:`` section over the defaults, validated.

    ``t1`` falls back to the ``simulate:`` section's, then to 1 (10 when the
    spec has a ``stationary`` expectation); ``dt`` to the ``simulate:``
    section's when it divides ``t1``, then to ``t1 / 200``.

    Args:
        spec: the parsed spec.
        sets: ``NAME=VALUE`` overrides: dims for the compiler, parameter
            values held fixed (not drawn).
        ranges: ``NAME=LO:HI`` strings (``--range``) or a mapping; they
            replace the section's ``ranges`` when given.
        skip: built-in checks to switch off.
        **flags: any other key of :data:`dync.dsl.sections.TEST`; ``None``
            means not given.

    Raises:
        UsageError: a setting is out of range, unknown or malformed.
    """
    v = merge_section(spec, "test", {"ranges": None, "skip": None, **flags})
    simulate = spec.setting("simulate")
    stationary = any(e.kind == "stationary" for e in spec.of_type(ast.Expect))
    t1 = v["t1"] if v["t1"] is not None else simulate.get("t1")
    t1 = float(t1) if t1 is not None else (DEFAULT_T1_STATIONARY if stationary else DEFAULT_T1)
    if not (math.isfinite(t1) and t1 > 0):
        raise UsageError(f"--t1 {t1:g}: the end time must be positive", hint="the runs start at t = 0")
    dt = v["dt"]
    if dt is None:
        sim_dt = simulate.get("dt")
        fits = sim_dt is not None and float(sim_dt) > 0 and abs(t1 / float(sim_dt) - round(t1 / float(sim_dt))) < 1e-9
        dt = float(sim_dt) if fits else t1 / DEFAULT_STEPS
    dt = float(dt)
    if not (math.isfinite(dt) and 0 < dt <= t1):
        raise UsageError(f"--dt {dt:g}: the step must be positive and at most --t1 {t1:g}")
    alpha = float(v["alpha"])
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha {alpha:g}: the false-alarm rate must lie in (0, 1)", hint="the default is 1e-3")
    dims, params = split_sets(spec, parse_sets(sets))
    if ranges:
        chosen = _parse_ranges(ranges)
        _refuse_compile_time_ranges(spec, chosen, "--range")
    else:
        chosen = _section_ranges(spec, v["ranges"])
    dim_names = {d.name for d in spec.of_type(ast.Dim)}
    dim_ranges = {}
    for name in [n for n in chosen if n in dim_names]:
        lo, hi = chosen.pop(name)
        if not (float(lo).is_integer() and float(hi).is_integer() and lo >= 1):
            raise UsageError(f"range of dim `{name}`: [{lo:g}, {hi:g}] must be whole numbers of at least 1", hint=f"for example `--range {name}=2:8`")
        if name not in dims:  # a size held by --set wins
            dim_ranges[name] = (int(lo), int(hi))
    return TestSettings(
        paths=_whole(v["paths"], "--paths", 2),
        t1=t1,
        dt=dt,
        examples=_whole(v["examples"], "--examples", 1),
        seed=_whole(v["seed"], "--seed", 0),
        alpha=alpha,
        ranges=chosen,
        dim_ranges=dim_ranges,
        solver=str(v["solver"]),
        skip=_parse_skip(skip if skip else v["skip"]),
        convergence=bool(v["convergence"]),
        sbc=_whole(v["sbc"], "--sbc", 0),
        dims=dims,
        params=params,
    )


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
