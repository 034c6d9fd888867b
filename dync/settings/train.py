"""The settings of ``dync train``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..dsl import ast
from ..errors import UsageError
from .common import _whole, located_in_section, merge_section, parse_sets, split_sets


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything ``dync train`` runs with (flags over the spec's ``train:``
    section over the defaults).

    Attributes:
        steps: optimiser steps.
        batch: data points per step.
        lr: Adam's learning rate.
        ema: the decay of the saved moving average of the weights (0: the
            last weights).
        seed: the seed of the weights' initialisation and of training.
        t_min: the smallest diffusion time trained on.
        t1: the end of the forward process.
        weighting: ``sigma2`` or ``likelihood`` (importance-sampled times).
        checkpoint_every: steps between checkpoints (``None``: every chunk).
        dims: dim overrides, for the compiler.
        params: parameter values (``--set``).
    """

    steps: int = 2000
    batch: int = 256
    lr: float = 1e-3
    ema: float = 0.999
    seed: int = 0
    t_min: float = 1e-3
    t1: float = 1.0
    weighting: str = "sigma2"
    checkpoint_every: int | None = None
    dims: Mapping[str, int] = dataclasses.field(default_factory=dict)
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`dync.runtime.score_training.train_score`."""
        return dict(
            steps=self.steps, batch=self.batch, learning_rate=self.lr, ema=self.ema, seed=self.seed,
            t_min=self.t_min, t1=self.t1, weighting=self.weighting, checkpoint_every=self.checkpoint_every,
        )  # fmt: skip


def _number(value: Any, flag: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} {value}: not a number") from None


@located_in_section("train")
def train_settings(
    spec: ast.Spec, *, sets: Iterable[str] | Mapping[str, object] | None = None, **flags: Any
) -> TrainSettings:
    """The settings of one ``dync train`` run, validated.

    Raises:
        UsageError: an unknown setting or a value out of range; the message
            names the flag.
    """
    v = merge_section(spec, "train", flags)
    lr, ema, t_min, t1 = (_number(v[k], f) for k, f in (("lr", "--lr"), ("ema", "--ema"), ("t_min", "--t-min"), ("t1", "--t1")))
    if not lr > 0:
        raise UsageError(f"--lr {lr:g}: must be positive", hint="1e-3 is usual for Adam")
    if not 0 <= ema < 1:
        raise UsageError(f"--ema {ema:g}: must be in [0, 1)", hint="0.999 is usual; 0 keeps the last weights")
    if not t1 > 0:
        raise UsageError(f"--t1 {t1:g}: must be positive")
    if not 0 < t_min < t1:
        raise UsageError(f"--t-min {t_min:g}: must be in (0, t1 = {t1:g})", hint="1e-3 for VP, 1e-5 for VE")
    weighting = str(v["weighting"])
    if weighting not in ("sigma2", "likelihood"):
        raise UsageError(f"--weighting {weighting}: unknown", hint="use sigma2 (the default) or likelihood")
    every = v["checkpoint_every"]
    dims, params = split_sets(spec, parse_sets(sets))
    return TrainSettings(
        steps=_whole(v["steps"], "--steps", 1),
        batch=_whole(v["batch"], "--batch", 1),
        lr=lr,
        ema=ema,
        seed=_whole(v["seed"], "--seed", 0),
        t_min=t_min,
        t1=t1,
        weighting=weighting,
        checkpoint_every=None if every is None else _whole(every, "--checkpoint-every", 1),
        dims=dims,
        params=params,
    )
