"""The five benchmark workloads, defined once for every implementation.

Each workload is an Itô SDE integrated with Euler–Maruyama at a fixed step,
written as a tuple of state blocks, each of shape ``(paths, size)``. The drift
is written against an array namespace ``xp`` (``jax.numpy`` or ``torch``) and
uses only calls both spell the same way positionally (``xp.stack(xs, -1)``,
``xp.roll(x, shift, -1)``, ``xp.sin``), so the JAX, diffrax and torch baselines
integrate literally the same right-hand side. Noise is additive: a block with
``sigma`` set gets ``sigma * dW`` with its own independent Brownian motion, a
block with ``sigma=None`` is noiseless (the position of a Langevin pair).

Gradients of potentials are written out by hand here (the baselines are what
an expert would write); ``baselines_jax`` checks them against ``jax.grad``.

| id | model | state | paths × steps | dt | saved |
|----|-------|-------|---------------|----|-------|
| W1 | OU, θ=1, μ=0, σ=0.5 | x[1] | 10,000 × 1000 | 1e-3 | final |
| W2 | same as W1 | x[1] | 10,000 × 1000 | 1e-3 | every 10th step |
| W3 | Lorenz-63, σ=10, ρ=28, β=8/3, s=1 | x[3] | 10,000 × 1000 | 1e-3 | final |
| W4 | Langevin, U=Σ(x²−1)², γ=1, T=1 | x[2], v[2] | 10,000 × 1000 | 1e-2 | final |
| W5 | Langevin chain, N=64, ω=1, k=0.5, γ=0.5, T=0.05 | x[64], v[64] | 1,000 × 1000 | 1e-2 | final |
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parent / "specs"


@dataclasses.dataclass(frozen=True)
class Block:
    """One state block: ``size`` components per path, an initial value per
    component, and the additive noise scale (``None``: no noise term)."""

    name: str
    init: tuple[float, ...]
    sigma: float | None

    @property
    def size(self) -> int:
        return len(self.init)


@dataclasses.dataclass(frozen=True)
class Workload:
    """A benchmark workload: the SDE, its sizes, and what is saved."""

    id: str
    title: str
    spec: str  # file name under benchmarks/specs/
    blocks: tuple[Block, ...]
    drift: Callable[[Any, tuple], tuple]  # (xp, states) -> d(states)/dt
    paths: int
    steps: int
    dt: float
    save_every: int | None = None  # None: final state only

    @property
    def t1(self) -> float:
        return self.steps * self.dt

    @property
    def spec_path(self) -> Path:
        return SPECS / self.spec

    @property
    def n_saved(self) -> int:
        return 1 if self.save_every is None else self.steps // self.save_every

    @property
    def save_times(self) -> list[float]:
        """Times of the saved states (the final time only when saving ``final``)."""
        if self.save_every is None:
            return [self.t1]
        return [(k + 1) * self.save_every * self.dt for k in range(self.n_saved)]


# ---- W1/W2: Ornstein–Uhlenbeck -------------------------------------------
OU_THETA, OU_MU, OU_SIGMA, OU_X0 = 1.0, 0.0, 0.5, 1.0


def ou_drift(xp, states):
    (x,) = states
    return (OU_THETA * (OU_MU - x),)


def ou_moments(t: float) -> tuple[float, float]:
    """Exact mean and variance of the OU process at time ``t`` from ``OU_X0``."""
    mean = OU_MU + (OU_X0 - OU_MU) * math.exp(-OU_THETA * t)
    var = OU_SIGMA**2 / (2 * OU_THETA) * (1 - math.exp(-2 * OU_THETA * t))
    return mean, var


# ---- W3: stochastic Lorenz-63 ----------------------------------------------
L_SIGMA, L_RHO, L_BETA, L_S = 10.0, 28.0, 8.0 / 3.0, 1.0


def lorenz_drift(xp, states):
    (u,) = states
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    return (xp.stack([L_SIGMA * (y - x), x * (L_RHO - z) - y, x * y - L_BETA * z], -1),)


# ---- W4: underdamped Langevin in a 2-D double well --------------------------
DW_GAMMA, DW_T = 1.0, 1.0


def double_well_grad(xp, x):
    """$\\nabla U$ for $U(x) = \\sum_i (x_i^2 - 1)^2$."""
    return 4.0 * x * (x * x - 1.0)


def double_well_drift(xp, states):
    x, v = states
    return (v, -DW_GAMMA * v - double_well_grad(xp, x))


# ---- W5: underdamped Langevin chain of 64 coupled oscillators --------------
CH_N, CH_OMEGA, CH_K, CH_GAMMA, CH_T = 64, 1.0, 0.5, 0.5, 0.05


def chain_grad(xp, x):
    """$\\nabla U$ for $U(x) = \\sum_i \\tfrac12\\omega^2 x_i^2 - k \\sum_i \\cos(x_i - x_{i-1})$
    (periodic): $\\omega^2 x_j + k\\sin(x_j - x_{j-1}) - k\\sin(x_{j+1} - x_j)$."""
    s = xp.sin(x - xp.roll(x, 1, -1))  # s_j = sin(x_j - x_{j-1}); one sine per bond
    return CH_OMEGA**2 * x + CH_K * (s - xp.roll(s, -1, -1))


def chain_drift(xp, states):
    x, v = states
    return (v, -CH_GAMMA * v - chain_grad(xp, x))


_OU = dict(
    blocks=(Block("x", (OU_X0,), OU_SIGMA),),
    drift=ou_drift,
    paths=10_000,
    steps=1000,
    dt=1e-3,
)

WORKLOADS: dict[str, Workload] = {
    w.id: w
    for w in (
        Workload("W1", "OU, final state", "w1_ou.dync", **_OU),
        Workload("W2", "OU, save every 10th step", "w1_ou.dync", save_every=10, **_OU),
        Workload(
            "W3",
            "stochastic Lorenz-63",
            "w3_lorenz.dync",
            blocks=(Block("x", (1.0, 1.0, 1.0), L_S),),
            drift=lorenz_drift,
            paths=10_000,
            steps=1000,
            dt=1e-3,
        ),
        Workload(
            "W4",
            "Langevin, 2-D double well",
            "w4_double_well_langevin.dync",
            blocks=(Block("x", (1.0, -1.0), None), Block("v", (0.0, 0.0), math.sqrt(2 * DW_GAMMA * DW_T))),
            drift=double_well_drift,
            paths=10_000,
            steps=1000,
            dt=1e-2,
        ),
        Workload(
            "W5",
            "Langevin chain, 64 oscillators",
            "w5_oscillator_chain.dync",
            blocks=(Block("x", (1.0,) * CH_N, None), Block("v", (0.0,) * CH_N, math.sqrt(2 * CH_GAMMA * CH_T))),
            drift=chain_drift,
            paths=1_000,
            steps=1000,
            dt=1e-2,
        ),
    )
}


def get(workload_id: str, paths: int | None = None) -> Workload:
    """The workload ``workload_id`` (case-insensitive), optionally resized."""
    w = WORKLOADS[workload_id.upper()]
    return w if paths is None else dataclasses.replace(w, paths=paths)
