"""The settings of ``dync fit``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..dsl import ast
from ..errors import UsageError, did_you_mean
from .common import (
    _parameter_value,
    _whole,
    as_items,
    located_in_section,
    merge_section,
    parse_sets,
    refuse_fitting_compile_time_parameters,
    refuse_flags_of_other_methods,
    split_sets,
)


# ------------------------------------------------------------------- fit

#: the estimators of ``dync fit``
FIT_METHODS = ("mle", "map", "nuts", "pmmh", "vi")

#: Adam's default step size per method (a neural encoder wants a smaller one)
DEFAULT_LEARNING_RATE = {"mle": 0.05, "map": 0.05, "nuts": 0.05, "pmmh": 0.05, "vi": 0.01}


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """Everything ``dync fit`` (and :func:`dync.fit`) runs with.

    Attributes:
        method: ``"mle"``, ``"map"``, ``"nuts"``, ``"pmmh"`` or ``"vi"``.
        likelihood: ``"auto"``, ``"kalman"`` or ``"particle"``.
        seed: the run's random seed (NUTS, the particle filter's fixed key).
        fix: name → value of parameters held fixed.
        fix_flagged: the names of ``fix`` that ``--fix`` gave (the others
            came from the YAML ``fit: fix:`` section, and an error about one
            points there).
        chains, warmup, draws, target_accept: NUTS and PMMH (``None``: the
            method's default, :data:`dync.runtime.fit.SAMPLER_DEFAULTS`).
        steps, learning_rate, tolerance: MLE/MAP (Adam in the unconstrained
            space; ``tolerance`` on the final gradient norm).
        particles, dt: the particle filter.
        x64: compute in float64.
        pointwise: write the ``log_likelihood`` group (each series'
            log-likelihood at each draw).
        checkpoint_every: steps between checkpoints (``None``: every chunk).
        samples, batch_size, kl_anneal, hidden, context: VI (latent paths
            sampled per series, series per optimiser step, steps over which
            the KL weight rises from 0 to 1, the encoder's GRU width and the
            context size; ``docs/latent.md``).
        dims: dim overrides, for the compiler.
        params: starting parameter values (``--set``).
    """

    method: str = "mle"
    likelihood: str = "auto"
    seed: int = 0
    fix: Mapping[str, float] = dataclasses.field(default_factory=dict)
    fix_flagged: frozenset[str] = frozenset()
    chains: int = 4
    warmup: int | None = None
    draws: int | None = None
    target_accept: float | None = None
    steps: int = 2000
    learning_rate: float = 0.05
    tolerance: float = 1e-3
    particles: int = 1000
    dt: float | None = None
    x64: bool = False
    pointwise: bool = True
    checkpoint_every: int | None = None
    samples: int = 4
    batch_size: int = 32
    kl_anneal: int | None = None
    hidden: int = 64
    context: int = 16
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
            **({"samples": self.samples, "batch_size": self.batch_size, "kl_anneal": self.kl_anneal,
                "hidden": self.hidden, "context": self.context} if self.method == "vi" else {}),
        )  # fmt: skip


def parse_fix(fix: Iterable[str] | Mapping[str, object] | None) -> dict[str, float | list]:
    """``--fix NAME=VALUE`` items (or a mapping) as ``{name: value}``.

    Raises:
        UsageError: an item is not ``NAME=VALUE`` with a number (or, for a
            vector parameter, a bracketed list of numbers).
    """
    if fix is None:
        return {}
    fix = as_items(fix)
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
        # a vector parameter takes a list, as with --set (`--fix mu=[1, 2]`; YAML `fix: {mu: [1, 2]}`)
        text = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
        out[name] = _parameter_value(text, f"--fix {name}")
    return out


#: flags that only some methods read: given on the command line with another
#: method they would be silently ignored (a YAML `fit:` section may keep them)
_METHOD_FLAGS = {
    "steps": ("mle", "map", "vi"),
    "learning_rate": ("mle", "map", "vi"),
    "tolerance": ("mle", "map"),
    "chains": ("nuts", "pmmh"),
    "warmup": ("nuts", "pmmh"),
    "draws": ("nuts", "pmmh"),
    "target_accept": ("nuts", "pmmh"),
}


@located_in_section("fit")
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
        hint = did_you_mean(method, FIT_METHODS) or "use mle, map, nuts, pmmh or vi"
        raise UsageError(f"--method {method}: unknown estimator", hint=hint)
    likelihood = str(v["likelihood"])
    if likelihood not in ("auto", "kalman", "particle"):
        hint = did_you_mean(likelihood, ("auto", "kalman", "particle")) or "use auto, kalman or particle"
        raise UsageError(f"--likelihood {likelihood}: unknown likelihood", hint=hint)
    refuse_flags_of_other_methods(
        flags, _METHOD_FLAGS, method,
        lambda flag, _: f"drop {flag}" + (f" ({method.upper()} runs --warmup steps, then --draws)" if method in ("nuts", "pmmh") else ""),
    )  # fmt: skip
    fixed = parse_fix(spec.setting("fit").get("fix"))
    flagged = parse_fix(fix)
    fixed.update(flagged)
    refuse_fitting_compile_time_parameters(spec, fixed, "dync fit", flagged)
    target = None if v["target_accept"] is None else float(v["target_accept"])
    if target is not None and not 0.0 < target < 1.0:
        raise UsageError(f"--target-accept {target:g}: must lie strictly between 0 and 1")
    rate = v["learning_rate"]
    learning_rate = float(DEFAULT_LEARNING_RATE[method] if rate is None else rate)
    if not learning_rate > 0:
        raise UsageError(f"--learning-rate {learning_rate:g}: must be positive")
    tolerance = float(v["tolerance"])
    if not tolerance > 0:
        raise UsageError(f"--tolerance {tolerance:g}: must be positive")
    dt = v["dt"]
    if dt is not None and not float(dt) > 0:
        raise UsageError(f"--dt {dt}: the step must be positive")
    every = v["checkpoint_every"]
    anneal = v["kl_anneal"]
    dims, params = split_sets(spec, parse_sets(sets))
    return FitSettings(
        method=method,
        likelihood=likelihood,
        seed=_whole(v["seed"], "--seed", 0),
        fix=fixed,
        fix_flagged=frozenset(flagged),
        chains=_whole(v["chains"], "--chains", 1),
        warmup=None if v["warmup"] is None else _whole(v["warmup"], "--warmup", 0),
        draws=None if v["draws"] is None else _whole(v["draws"], "--draws", 1),
        target_accept=target,
        steps=_whole(v["steps"], "--steps", 1),
        learning_rate=learning_rate,
        tolerance=tolerance,
        particles=_whole(v["particles"], "--particles", 1),
        dt=None if dt is None else float(dt),
        x64=bool(v["x64"]),
        pointwise=bool(v["pointwise"]),
        checkpoint_every=None if every is None else _whole(every, "--checkpoint-every", 1),
        samples=_whole(v["samples"], "--samples", 1),
        batch_size=_whole(v["batch_size"], "--batch-size", 1),
        kl_anneal=None if anneal is None else _whole(anneal, "--kl-anneal", 0),
        hidden=_whole(v["hidden"], "--hidden", 1),
        context=_whole(v["context"], "--context", 1),
        dims=dims,
        params=params,
    )
