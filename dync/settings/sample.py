"""The settings of ``dync sample``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..dsl import ast
from ..errors import UsageError, did_you_mean
from .common import _whole, located_in_section, merge_section, parse_prior, parse_sets, refuse_flags_of_other_methods, split_sets


# ---------------------------------------------------------------- sample


@dataclasses.dataclass(frozen=True)
class SampleSettings:
    """Everything ``dync sample`` (and :func:`dync.sample`) runs with.

    Attributes:
        method: ``ula``, ``mala``, ``baoab``, ``hmc``, ``nuts``, ``sgld``
            or ``dynamics``.
        chains, warmup, samples, step, thin, seed, friction, mass,
        target_accept, integration_steps: as in
            :func:`dync.runtime.sampling.sample_model`.
        checkpoint_every: draws between checkpoints (``None``: the
            kernel driver's default).
        reverse: generate from the spec's trained ``score`` instead
            (``sde``, ``heun``, ``ode``, ``pc``; ``None``: sample the target).
        weights: the weights file of ``dync train`` (with ``reverse``).
        steps, snr, corrector_steps: the reverse sampler's grid steps,
            the corrector's signal-to-noise ratio and Langevin steps.
        loglik: also compute log-likelihoods through the probability-flow ODE.
        data: a target model's data file (its inputs, read by name); with
            ``reverse``, a samples file whose log-likelihoods to compute
            (``None``: those of the generated points). A relative path in the
            spec's ``sample:`` section is relative to the spec.
        batch: SGLD's minibatch size (``None``: ``min(N, 32)``).
        step_decay, decay_steps: SGLD's step schedule
            ``h_t = step (1 + t / decay_steps) ** -step_decay``.
        anneal: Feynman–Kac annealing to ``p^anneal``.
        product: a second weights file: Feynman–Kac product of experts
            ``p1 p2``, or with ``guidance`` w, ``p1^w p2^(1-w)``.
        prior: the law the reverse processes start from at ``t1``, parsed
            (an ``ast.Call``; ``None``: the forward SDE's terminal law).
        x64: compute in float64 (the same seed then gives other numbers
            than in float32).
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
    target_accept: float | None = None
    integration_steps: int = 16
    checkpoint_every: int | None = None
    reverse: str | None = None
    weights: str | None = None
    steps: int = 500
    snr: float = 0.16
    corrector_steps: int = 1
    loglik: bool = False
    data: str | None = None
    anneal: float | None = None
    product: str | None = None
    guidance: float | None = None
    batch: int | None = None
    step_decay: float = 0.0
    decay_steps: float = 1000.0
    prior: ast.Call | None = None
    x64: bool = False
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`dync.runtime.sampling.sample_model`."""
        return dict(
            method=self.method, chains=self.chains, warmup=self.warmup, samples=self.samples, step=self.step,
            thin=self.thin, seed=self.seed, friction=self.friction, mass=self.mass,
            target_accept=self.target_accept, integration_steps=self.integration_steps,
            checkpoint_every=self.checkpoint_every, data=self.data, batch=self.batch,
            step_decay=self.step_decay, decay_steps=self.decay_steps,
        )  # fmt: skip


#: the methods of ``dync sample``
SAMPLE_METHODS = ("ula", "mala", "baoab", "hmc", "nuts", "sgld", "dynamics")


@located_in_section("sample")
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
    if flags.get("data") is None and v["data"] is not None:
        v["data"] = _beside_spec(spec, str(v["data"]))
    reverse = v["reverse"]
    if reverse is not None:
        _refuse_unused(flags, _MCMC_FLAGS, "an MCMC setting; --reverse generates from the trained score and does not use it")
        return _reverse_settings(spec, v, sets)
    for key in ("weights", "loglik", "anneal", "product", "guidance", "prior"):
        if v[key] not in (None, False):
            raise UsageError(
                f"--{key} is for generating from a trained score", hint="add --reverse sde|heun|ode|pc (and --weights FILE)"
            )
    _refuse_unused(flags, _REVERSE_FLAGS, "a setting of --reverse (generating from a trained score)", "or add --reverse sde|heun|ode|pc")
    method = str(v["method"])
    if method not in SAMPLE_METHODS:
        hint = did_you_mean(method, SAMPLE_METHODS) or "use one of " + ", ".join(SAMPLE_METHODS)
        raise UsageError(f"--method {method}: unknown sampler", hint=hint)
    refuse_flags_of_other_methods(flags, _METHOD_FLAGS, method, lambda flag, used_by: f"drop {flag}, or add --method {used_by[0]}")
    step = v["step"]
    if step is not None and not float(step) > 0:
        raise UsageError(f"--step {step}: the step must be positive")
    friction, mass = float(v["friction"]), float(v["mass"])
    if not friction > 0:
        raise UsageError(f"--friction {friction:g}: must be positive")
    if not mass > 0:
        raise UsageError(f"--mass {mass:g}: must be positive")
    target_accept = v["target_accept"]
    if target_accept is not None and not 0 < float(target_accept) < 1:
        raise UsageError(f"--target-accept {target_accept}: must be between 0 and 1", hint="e.g. 0.8, or 0.95 for a hard target")
    every = v["checkpoint_every"]
    batch = v["batch"]
    if batch is not None:
        batch = _whole(batch, "--batch", 1)
        if method != "sgld" and flags.get("batch") is not None:
            raise UsageError(f"--batch is SGLD's minibatch size, and the method is {method}", hint="add --method sgld")
    step_decay, decay_steps = float(v["step_decay"]), float(v["decay_steps"])
    if not step_decay >= 0:
        raise UsageError(f"--step-decay {step_decay:g}: must be non-negative", hint="0 keeps the step constant; 0.55 is usual")
    if not decay_steps > 0:
        raise UsageError(f"--decay-steps {decay_steps:g}: must be positive")
    if method != "sgld" and flags.get("step_decay"):
        raise UsageError(f"--step-decay is SGLD's step schedule, and the method is {method}", hint="add --method sgld")
    dims, params = split_sets(spec, parse_sets(sets))
    return SampleSettings(
        data=None if v["data"] is None else str(v["data"]),
        batch=batch,
        step_decay=step_decay,
        decay_steps=decay_steps,
        method=method,
        chains=_whole(v["chains"], "--chains", 1),
        warmup=_whole(v["warmup"], "--warmup", 0),
        samples=_whole(v["samples"], "--samples", 1),
        step=None if step is None else float(step),
        thin=_whole(v["thin"], "--thin", 1),
        seed=_whole(v["seed"], "--seed", 0),
        friction=friction,
        mass=mass,
        target_accept=None if target_accept is None else float(target_accept),
        integration_steps=_whole(v["integration_steps"], "--integration-steps", 1),
        checkpoint_every=None if every is None else _whole(every, "--checkpoint-every", 1),
        x64=bool(v["x64"]),
        dims=dims,
        params=params,
    )


#: the MCMC flags that only some methods read (--batch and --step-decay are SGLD's, refused below with their own words)
_METHOD_FLAGS = {
    "friction": ("baoab",),
    "mass": ("baoab",),
    "target_accept": ("nuts", "hmc", "mala"),
    "integration_steps": ("hmc",),
}
#: the flags of MCMC sampling, which --reverse does not read
_MCMC_FLAGS = ("method", "chains", "warmup", "step", "thin", "friction", "mass", "target_accept", "integration_steps",
               "batch", "step_decay", "decay_steps")  # fmt: skip
#: the flags of --reverse, which MCMC sampling does not read (weights, loglik, ... are refused with a hint below)
_REVERSE_FLAGS = ("steps", "snr", "corrector_steps")


def _refuse_unused(flags: Mapping[str, Any], keys: tuple[str, ...], what: str, otherwise: str = "") -> None:
    """Refuse a flag given on the command line (not a YAML section's value,
    which may serve the other mode) that this run would ignore."""
    for key in keys:
        if flags.get(key) not in (None, False):
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} is {what}", hint=f"drop {flag}" + (f", {otherwise}" if otherwise else ""))


def _beside_spec(spec: ast.Spec, path: str) -> str:
    """A data path from the spec's ``sample:`` section: relative to the
    spec's folder (a flag's path is relative to the working directory)."""
    import os

    if os.path.isabs(path) or spec.path.startswith("<"):
        return path
    return os.path.join(os.path.dirname(spec.path), path)


#: the reverse samplers (``dync.runtime.reverse.REVERSE_METHODS``)
REVERSE_METHODS = ("sde", "heun", "ode", "pc")


def _reverse_settings(spec: ast.Spec, v: dict[str, Any], sets) -> SampleSettings:
    """The settings of ``dync sample --reverse``: generating from a score."""
    reverse = str(v["reverse"])
    if reverse not in REVERSE_METHODS:
        hint = did_you_mean(reverse, REVERSE_METHODS) or "use one of " + ", ".join(REVERSE_METHODS)
        raise UsageError(f"--reverse {reverse}: unknown reverse sampler", hint=hint)
    if v["weights"] is None:
        raise UsageError(
            # not `--reverse ...` first: a missing --weights is no error of a `sample:` section's `reverse:`
            "generating with --reverse needs the file `dync train` writes: the trained weights, and the data's moments the reverse processes start from",
            hint="pass --weights FILE, written by `dync train SPEC DATA -o FILE` (for a score with no net it only records the moments)",
        )
    snr = float(v["snr"])
    if not snr > 0:
        raise UsageError(f"--snr {snr:g}: must be positive", hint="0.16 is usual for low-dimensional data")
    anneal, product, guidance = v["anneal"], v["product"], v["guidance"]
    if anneal is not None and not float(anneal) > 0:
        raise UsageError(f"--anneal {anneal}: must be positive", hint="2 sharpens the law (p^2), 0.5 flattens it")
    if anneal is not None and product is not None:
        raise UsageError("--anneal and --product are two Feynman–Kac targets; give one")
    if guidance is not None and product is None:
        raise UsageError("guidance (--guidance) needs the unconditional score", hint="pass --product UNCONDITIONAL.eqx")
    if (anneal is not None or product is not None) and (reverse != "sde" or v["loglik"]):
        raise UsageError(
            "Feynman–Kac correctors (--anneal, --product) run weighted reverse-SDE particles",
            hint="use --reverse sde, without --loglik",
        )
    every = v["checkpoint_every"]
    dims, params = split_sets(spec, parse_sets(sets))
    return SampleSettings(
        anneal=None if anneal is None else float(anneal),
        product=None if product is None else str(product),
        guidance=None if guidance is None else float(guidance),
        samples=_whole(v["samples"], "--samples", 1),
        seed=_whole(v["seed"], "--seed", 0),
        checkpoint_every=None if every is None else _whole(every, "--checkpoint-every", 1),
        reverse=reverse,
        weights=str(v["weights"]),
        steps=_whole(v["steps"], "--steps", 1),
        snr=snr,
        corrector_steps=_whole(v["corrector_steps"], "--corrector-steps", 0),
        loglik=bool(v["loglik"]),
        data=None if v["data"] is None else str(v["data"]),
        prior=parse_prior(v["prior"]),
        x64=bool(v["x64"]),
        dims=dims,
        params=params,
    )
