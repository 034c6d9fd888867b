"""The settings of ``dync simulate``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..dsl import ast
from ..errors import UsageError, did_you_mean
from .common import _number, as_items, located_in_section, merge_section, parse_sets, refuse_compile_time_parameters, split_sets


# -------------------------------------------------------------- simulate


@dataclasses.dataclass(frozen=True)
class SimulateSettings:
    """Everything ``dync simulate`` (and :func:`dync.simulate_file`) runs with.

    Attributes:
        paths, t0, t1, dt: the number of paths and the time grid.
        save: ``"final"``, a number of steps between saves, or a list of times.
        solver, adaptive, chunk_size, max_steps, on_nonfinite, seed: as in
            :func:`dync.simulate`.
        dims: dim overrides, for the compiler.
        params: parameter values, for the runtime.
        x64: compute in float64 (JAX's ``jax_enable_x64``; the same seed then
            draws other numbers than in float32).
        sweep: parameter name → the values swept (an array each).
    """

    paths: int
    t0: float
    t1: float
    dt: float
    save: Any
    solver: str = "auto"
    seed: int = 0
    adaptive: bool = False
    chunk_size: int | None = None
    max_steps: int | None = None
    on_nonfinite: str = "raise"
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)
    sweep: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    x64: bool = False

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`dync.simulate` (all but the model,
        ``progress`` and the output)."""
        return dict(
            paths=self.paths,
            t1=self.t1,
            dt=self.dt,
            t0=self.t0,
            save=self.save,
            solver=self.solver,
            params=dict(self.params) or None,
            sweep=dict(self.sweep) or None,
            chunk_size=self.chunk_size,
            adaptive=self.adaptive,
            seed=self.seed,
            max_steps=self.max_steps,
            on_nonfinite=self.on_nonfinite,
        )


def _save_plan(save_every, save):
    """The save plan from ``save_every``, else ``save`` (``final``, ``10`` =
    every 10th step, ``[0.5, 1.0]`` or ``"0.5,1"`` = those times)."""
    if save_every is not None:
        if isinstance(save_every, bool) or int(save_every) != save_every or save_every < 1:
            raise UsageError(f"--save-every {save_every}: expected a positive whole number of steps")
        return int(save_every)
    if isinstance(save, bool):
        raise UsageError(f"save: {save}: use `final`, a number of steps, or a list of times")
    if isinstance(save, int):
        return _save_plan(save, None)
    if isinstance(save, (list, tuple)):
        return [_number(str(v), "save") for v in save]
    text = str(save).strip()
    if text == "final":
        return "final"
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(
            f"--save {save}: use `--save final`, `--save 0.5,1,2` (times) or `--save-every K`"
        ) from None


def _check_grid(t0: float, t1: float, dt: float, save: Any, solver: str, adaptive: bool) -> None:
    """What the run would refuse, refused here, where a value from the YAML
    section gets its line (``located_in_section``): an unknown solver, a
    fixed step that does not divide the span (far from it: the runtime's own
    tolerance, 1e-6 of a step, decides the rest), save times out of order
    or outside ``[t0, t1]``."""
    from ..info.solvers import SOLVERS

    if solver != "auto" and solver not in SOLVERS:
        raise UsageError(
            f"--solver {solver}: unknown solver; the solvers are: {', '.join(sorted(SOLVERS))}",
            hint=did_you_mean(solver, list(SOLVERS)) or "or `auto`, the model's choice",
        )
    steps = (t1 - t0) / dt
    if not adaptive and abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        n = max(1, math.ceil(steps - 1e-6))
        raise UsageError(
            f"--dt {dt:g}: t1 - t0 = {t1 - t0:g} is not a whole number of steps",
            hint=f"use dt = {(t1 - t0) / n:.10g} ({n} step{'s' if n != 1 else ''})",
        )
    if isinstance(save, list):
        times = [float(x) for x in save]
        if any(not math.isfinite(x) for x in times) or any(b <= a for a, b in zip(times, times[1:])):
            raise UsageError(f"--save {','.join(f'{x:g}' for x in times)}: save times must be finite and strictly increasing")
        outside = [x for x in times if not t0 <= x <= t1]
        if outside:
            raise UsageError(
                f"--save {','.join(f'{x:g}' for x in times)}: {outside[0]:g} lies outside [t0, t1] = [{t0:g}, {t1:g}]",
                hint="save times lie between the start and the end time",
            )


def _parse_sweeps(sweep: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(sweep, Mapping):
        return dict(sweep)
    if not sweep:
        return {}
    sweep = as_items(sweep)
    import numpy as np  # only a sweep needs it

    out = {}
    for item in sweep:
        name, _, rng = item.partition("=")
        parts = rng.split(":")
        if not name.isidentifier() or len(parts) != 3:
            raise UsageError(f"`--sweep {item}`: expected NAME=LO:HI:N", hint="for example `--sweep sigma=0.1:1.0:10`")
        lo, hi, n = _number(parts[0], "--sweep"), _number(parts[1], "--sweep"), _number(parts[2], "--sweep")
        if not float(n).is_integer() or n < 1:
            raise UsageError(f"`--sweep {item}`: N must be a positive integer")
        if name in out:
            raise UsageError(f"`--sweep {item}`: `{name}` is swept twice", hint="give one --sweep per parameter")
        out[name] = np.linspace(lo, hi, int(n))
    return out


@located_in_section("simulate")
def simulate_settings(
    spec: ast.Spec,
    *,
    sets: Iterable[str] | Mapping[str, object] | None = None,
    sweep: Iterable[str] | Mapping[str, Any] | None = None,
    **flags: Any,
) -> SimulateSettings:
    """The settings of one simulation: ``flags`` over the spec's ``simulate:``
    section over the defaults, validated.

    Args:
        spec: the parsed spec.
        sets: overrides of dims and parameter values: ``NAME=VALUE`` strings
            (``--set``) or a mapping; dims go to the compiler, the rest are
            parameter values.
        sweep: ``NAME=LO:HI:N`` strings (``--sweep``), or a mapping from a
            parameter name to its values.
        **flags: any key of :data:`dync.dsl.sections.SIMULATE` (``paths``,
            ``t0``, ``t1``, ``dt``, ``save``, ``save_every``, ``solver``,
            ``seed``, ``chunk_size``, ``adaptive``, ``max_steps``,
            ``on_nonfinite``, ``x64``); ``None`` means not given.

    Raises:
        UsageError: a setting is missing (``t1``, ``dt``), out of range, or
            unknown, or an override is malformed; the message names the flag.
    """
    v = merge_section(spec, "simulate", flags)
    paths, t1, dt, t0 = int(v["paths"]), v["t1"], v["dt"], float(v["t0"])
    if t1 is None or dt is None:
        missing = "--t1" if t1 is None else "--dt"
        raise UsageError(
            f"{missing} is required",
            hint="give --t1 and --dt (t1=, dt= in Python), or a `simulate:` section in a YAML spec",
        )
    if flags.get("save") is not None and flags.get("save_every") is not None:
        raise UsageError(
            f"--save {flags['save']} and --save-every {flags['save_every']} say two different things",
            hint="give one: --save final, --save 0.5,1 (times) or --save-every K",
        )
    # a flag overrides the YAML section, whichever of the two keys each gives
    save_every = None if flags.get("save") is not None else v["save_every"]
    save = _save_plan(save_every, v["save"])
    if paths < 1:
        raise UsageError(f"--paths {paths}: need at least 1 path")
    if not float(dt) > 0:
        raise UsageError(f"--dt {dt}: the step must be positive")
    if not float(t1) > t0:
        raise UsageError(f"--t1 {t1}: the end time must come after --t0 {t0}")
    _check_grid(t0, float(t1), float(dt), save, str(v["solver"]), bool(v["adaptive"]))
    dims, params = split_sets(spec, parse_sets(sets))
    sweeps = _parse_sweeps(sweep)
    refuse_compile_time_parameters(spec, sweeps, "--sweep")
    return SimulateSettings(
        paths=paths,
        t0=t0,
        t1=float(t1),
        dt=float(dt),
        save=save,
        solver=str(v["solver"]),
        seed=int(v["seed"]),
        adaptive=bool(v["adaptive"]),
        chunk_size=None if v["chunk_size"] is None else int(v["chunk_size"]),
        max_steps=None if v["max_steps"] is None else int(v["max_steps"]),
        on_nonfinite=str(v["on_nonfinite"]),
        dims=dims,
        params=params,
        sweep=sweeps,
        x64=bool(v["x64"]),
    )
