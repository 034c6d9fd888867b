"""Run settings: a spec's YAML section merged with flags and defaults.

Every command that runs a model (``simulate`` now; ``fit``, ``sample``,
``train``, ``test`` next) reads its settings here, and so does the Python API:
the flags given win over the spec's section (``simulate:``), which wins over
the defaults declared in :mod:`dync.dsl.sections`. Each section's keys are
declared there once; the YAML loader refuses unknown keys with a located error
(E260) and this module refuses unknown keyword arguments with a
:class:`~dync.errors.UsageError`.

This module imports neither JAX nor numpy at import time, so that the fast
commands (``dync check``, ``dync fmt``) can use it.

Example:
    >>> from dync.dsl.loading import load_spec
    >>> spec = load_spec("specs/ou.dync")
    >>> s = simulate_settings(spec, t1=1.0, dt=1e-3, sets=["theta=0.5"])
    >>> s.paths, s.params
    (1000, {'theta': 0.5})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from .dsl import ast
from .dsl.sections import SECTIONS, SettingKey
from .errors import UsageError, did_you_mean

__all__ = [
    "FIT_METHODS",
    "FitSettings",
    "SAMPLE_METHODS",
    "SampleSettings",
    "SimulateSettings",
    "dims_only",
    "fit_settings",
    "merge_section",
    "parse_fix",
    "parse_sets",
    "sample_settings",
    "simulate_settings",
    "split_sets",
]


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
        out[key.name] = value
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what}: `{text}` is not a number") from None


def parse_sets(sets: Iterable[str] | Mapping[str, object] | None) -> dict[str, str]:
    """``--set NAME=VALUE`` items (or a mapping) as ``{name: value text}``.

    Raises:
        UsageError: an item is not ``NAME=VALUE`` or its name is not a name.
    """
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
            params[name] = _number(value, f"--set {name}")
    return dims, params


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


def _parse_sweeps(sweep: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(sweep, Mapping):
        return dict(sweep)
    if not sweep:
        return {}
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
        out[name] = np.linspace(lo, hi, int(n))
    return out


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
            ``on_nonfinite``); ``None`` means not given.

    Raises:
        UsageError: a setting is missing (``t1``, ``dt``), out of range, or
            unknown, or an override is malformed; the message names the flag.
    """
    v = merge_section(spec, "simulate", flags)
    paths, t1, dt, t0 = int(v["paths"]), v["t1"], v["dt"], float(v["t0"])
    if t1 is None or dt is None:
        missing = "--t1" if t1 is None else "--dt"
        raise UsageError(f"{missing} is required", hint="give --t1 and --dt, or a `simulate:` section in a YAML spec")
    save = _save_plan(v["save_every"], v["save"])
    if paths < 1:
        raise UsageError(f"--paths {paths}: need at least 1 path")
    if not float(dt) > 0:
        raise UsageError(f"--dt {dt}: the step must be positive")
    if not float(t1) > t0:
        raise UsageError(f"--t1 {t1}: the end time must come after --t0 {t0}")
    dims, params = split_sets(spec, parse_sets(sets))
    sweeps = _parse_sweeps(sweep)
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
    )


# ------------------------------------------------------------------- fit

#: the estimators of ``dync fit``
FIT_METHODS = ("mle", "map", "nuts")


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """Everything ``dync fit`` (and :func:`dync.fit`) runs with.

    Attributes:
        method: ``"mle"``, ``"map"`` or ``"nuts"``.
        likelihood: ``"auto"``, ``"kalman"`` or ``"particle"``.
        seed: the run's random seed (NUTS, the particle filter's fixed key).
        fix: name → value of parameters held fixed.
        chains, warmup, draws, target_accept: NUTS.
        steps, learning_rate, tolerance: MLE/MAP (Adam in the unconstrained
            space; ``tolerance`` on the final gradient norm).
        particles, dt: the particle filter.
        x64: compute in float64.
        pointwise: write the ``log_likelihood`` group (each series'
            log-likelihood at each draw).
        checkpoint_every: steps between checkpoints (``None``: every chunk).
        dims: dim overrides, for the compiler.
        params: starting parameter values (``--set``).
    """

    method: str = "mle"
    likelihood: str = "auto"
    seed: int = 0
    fix: Mapping[str, float] = dataclasses.field(default_factory=dict)
    chains: int = 4
    warmup: int = 500
    draws: int = 500
    target_accept: float = 0.8
    steps: int = 2000
    learning_rate: float = 0.05
    tolerance: float = 1e-3
    particles: int = 1000
    dt: float | None = None
    x64: bool = False
    pointwise: bool = True
    checkpoint_every: int | None = None
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`dync.runtime.fit.fit_model`."""
        return dict(
            method=self.method, likelihood=self.likelihood, seed=self.seed, fix=dict(self.fix) or None,
            chains=self.chains, warmup=self.warmup, draws=self.draws, target_accept=self.target_accept,
            steps=self.steps, learning_rate=self.learning_rate, tolerance=self.tolerance,
            particles=self.particles, dt=self.dt, pointwise=self.pointwise,
            checkpoint_every=self.checkpoint_every,
        )  # fmt: skip


def parse_fix(fix: Iterable[str] | Mapping[str, object] | None) -> dict[str, float]:
    """``--fix NAME=VALUE`` items (or a mapping) as ``{name: value}``.

    Raises:
        UsageError: an item is not ``NAME=VALUE`` with a number.
    """
    if fix is None:
        return {}
    if isinstance(fix, Mapping):
        items = [(str(k), v) for k, v in fix.items()]
    else:
        items = []
        for item in fix:
            if "=" not in str(item):
                raise UsageError(f"`--fix {item}`: expected NAME=VALUE", hint="for example `--fix sigma=0.5`")
            name, value = str(item).split("=", 1)
            items.append((name.strip(), value.strip()))
    out: dict[str, float] = {}
    for name, value in items:
        if not name.isidentifier():
            raise UsageError(f"`--fix {name}={value}`: `{name}` is not a name")
        if isinstance(value, bool):
            raise UsageError(f"`--fix {name}={value}`: expected a number")
        out[name] = _number(str(value), f"--fix {name}")
    return out


def _whole(value: Any, flag: str, least: int) -> int:
    if isinstance(value, bool) or float(value) != int(value) or int(value) < least:
        word = "positive" if least >= 1 else "non-negative"
        raise UsageError(f"{flag} {value}: expected a {word} whole number")
    return int(value)


def fit_settings(
    spec: ast.Spec,
    *,
    sets: Iterable[str] | Mapping[str, object] | None = None,
    fix: Iterable[str] | Mapping[str, object] | None = None,
    **flags: Any,
) -> FitSettings:
    """The settings of one fit: ``flags`` over the spec's ``fit:`` section
    over the defaults, validated.

    ``fix`` given as flags adds to (and overrides per name) the section's
    ``fix:`` mapping.

    Args:
        spec: the parsed spec.
        sets: dims (for the compiler) and starting parameter values,
            ``NAME=VALUE`` strings (``--set``) or a mapping.
        fix: ``NAME=VALUE`` strings (``--fix``) or a mapping: parameters
            held fixed at these values.
        **flags: any key of :data:`dync.dsl.sections.FIT`; ``None`` means
            not given.

    Raises:
        UsageError: an unknown method or setting, a value out of range; the
            message names the flag.
    """
    v = merge_section(spec, "fit", {k: val for k, val in flags.items()})
    method = str(v["method"])
    if method not in FIT_METHODS:
        hint = did_you_mean(method, FIT_METHODS) or "use mle, map or nuts"
        raise UsageError(f"--method {method}: unknown estimator", hint=hint)
    likelihood = str(v["likelihood"])
    if likelihood not in ("auto", "kalman", "particle"):
        hint = did_you_mean(likelihood, ("auto", "kalman", "particle")) or "use auto, kalman or particle"
        raise UsageError(f"--likelihood {likelihood}: unknown likelihood", hint=hint)
    fixed = parse_fix(spec.setting("fit").get("fix"))
    fixed.update(parse_fix(fix))
    target = float(v["target_accept"])
    if not 0.0 < target < 1.0:
        raise UsageError(f"--target-accept {target:g}: must lie strictly between 0 and 1")
    learning_rate = float(v["learning_rate"])
    if not learning_rate > 0:
        raise UsageError(f"--learning-rate {learning_rate:g}: must be positive")
    tolerance = float(v["tolerance"])
    if not tolerance > 0:
        raise UsageError(f"--tolerance {tolerance:g}: must be positive")
    dt = v["dt"]
    if dt is not None and not float(dt) > 0:
        raise UsageError(f"--dt {dt}: the step must be positive")
    every = v["checkpoint_every"]
    dims, params = split_sets(spec, parse_sets(sets))
    return FitSettings(
        method=method,
        likelihood=likelihood,
        seed=_whole(v["seed"], "--seed", 0),
        fix=fixed,
        chains=_whole(v["chains"], "--chains", 1),
        warmup=_whole(v["warmup"], "--warmup", 0),
        draws=_whole(v["draws"], "--draws", 1),
        target_accept=target,
        steps=_whole(v["steps"], "--steps", 1),
        learning_rate=learning_rate,
        tolerance=tolerance,
        particles=_whole(v["particles"], "--particles", 1),
        dt=None if dt is None else float(dt),
        x64=bool(v["x64"]),
        pointwise=bool(v["pointwise"]),
        checkpoint_every=None if every is None else _whole(every, "--checkpoint-every", 1),
        dims=dims,
        params=params,
    )


# ---------------------------------------------------------------- sample


@dataclasses.dataclass(frozen=True)
class SampleSettings:
    """Everything ``dync sample`` (and :func:`dync.sample`) runs with.

    Attributes:
        method: ``ula``, ``mala``, ``baoab``, ``hmc``, ``nuts`` or
            ``dynamics``.
        chains, warmup, samples, step, thin, seed, friction, mass: as in
            :func:`dync.runtime.sampling.sample_model`.
        dims: dim overrides, for the compiler.
        params: parameter values (``--set``).
    """

    method: str = "nuts"
    chains: int = 4
    warmup: int = 500
    samples: int = 1000
    step: float | None = None
    thin: int = 1
    seed: int = 0
    friction: float = 1.0
    mass: float = 1.0
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`dync.runtime.sampling.sample_model`."""
        return dict(
            method=self.method, chains=self.chains, warmup=self.warmup, samples=self.samples, step=self.step,
            thin=self.thin, seed=self.seed, friction=self.friction, mass=self.mass,
        )  # fmt: skip


#: the methods of ``dync sample``
SAMPLE_METHODS = ("ula", "mala", "baoab", "hmc", "nuts", "dynamics")


def sample_settings(
    spec: ast.Spec, *, sets: Iterable[str] | Mapping[str, object] | None = None, **flags: Any
) -> SampleSettings:
    """The settings of one ``dync sample`` run: ``flags`` over the spec's
    ``sample:`` section over the defaults, validated.

    Raises:
        UsageError: an unknown method or setting, a value out of range; the
            message names the flag.
    """
    v = merge_section(spec, "sample", flags)
    method = str(v["method"])
    if method not in SAMPLE_METHODS:
        hint = did_you_mean(method, SAMPLE_METHODS) or "use one of " + ", ".join(SAMPLE_METHODS)
        raise UsageError(f"--method {method}: unknown sampler", hint=hint)
    step = v["step"]
    if step is not None and not float(step) > 0:
        raise UsageError(f"--step {step}: the step must be positive")
    friction, mass = float(v["friction"]), float(v["mass"])
    if not friction > 0:
        raise UsageError(f"--friction {friction:g}: must be positive")
    if not mass > 0:
        raise UsageError(f"--mass {mass:g}: must be positive")
    dims, params = split_sets(spec, parse_sets(sets))
    return SampleSettings(
        method=method,
        chains=_whole(v["chains"], "--chains", 1),
        warmup=_whole(v["warmup"], "--warmup", 0),
        samples=_whole(v["samples"], "--samples", 1),
        step=None if step is None else float(step),
        thin=_whole(v["thin"], "--thin", 1),
        seed=_whole(v["seed"], "--seed", 0),
        friction=friction,
        mass=mass,
        dims=dims,
        params=params,
    )
