"""Which integrator suits which model, and the one place that says no.

This is the solver table and the one rule that picks a solver. It imports no
JAX: ``dync check`` prints what ``auto`` would run from the same rule the
runtime follows.

Every solver dync offers is listed in :data:`SOLVERS` with the backend that
runs it: ``"fused"`` (the fixed-step ``lax.scan`` kernels of
:mod:`dync.runtime.solvers.fused`) or ``"diffrax"``
(:mod:`dync.runtime.solvers.diffrax_backend`). :func:`choose_solver` picks one
from a model's static :class:`~dync.info.ModelInfo`, or checks the one
a user asked for and raises :class:`~dync.errors.UsageError` (saying why and
what to use instead) when it does not fit the model.

Automatic choice (``requested="auto"``):

=====================================  ===============================  =====================
model                                   fixed step                       ``adaptive=True``
=====================================  ===============================  =====================
no noise (an ODE)                       ``tsit5`` (diffrax)              ``tsit5`` (diffrax)
underdamped-Langevin pair (whole state) ``baoab`` (fused)                ``shark`` (diffrax)
additive noise                          ``euler_maruyama`` (fused)       ``shark`` (diffrax)
diagonal noise, elementwise diffusion   ``milstein`` (fused)             ``heun_diffrax``
scalar noise (one Brownian motion)      ``milstein`` (fused)             ``heun_diffrax``
diagonal (not elementwise), shared,     ``euler_maruyama`` (Itô model)   ``heun_diffrax``
general                                 ``heun`` (Stratonovich model)
=====================================  ===============================  =====================

Why: with additive noise Euler--Maruyama and Milstein coincide, and
Euler--Maruyama is the cheapest step (one drift, one noise evaluation), so it
is the fastest way to a given accuracy in distribution. Where the noise is
commutative (elementwise-diagonal or scalar) Milstein reaches strong order 1
for the price of one extra Jacobian-vector product of the diffusion. For
non-commutative noise no method without Lévy areas beats strong order 1/2, so
the cheapest consistent step wins: Euler--Maruyama for an Itô model, Heun for a
Stratonovich one (each needs no drift conversion then). BAOAB is exact in the
position variance of a harmonic oscillator at any stable step and is the
standard integrator for underdamped Langevin dynamics. Adaptive stepping
needs an embedded error estimate: ShARK (strong order 1.5 on additive noise)
or Heun.

Calculus: every solver meets the model in the calculus it was written in.
Itô methods (``euler_maruyama``, ``euler_diffrax``) use
:meth:`~dync.runtime.model.AbstractModel.ito_drift`; Stratonovich methods
(``heun``, ``heun_diffrax``) use
:meth:`~dync.runtime.model.AbstractModel.stratonovich_drift`. So an Itô method
on a Stratonovich model (or the reverse) is allowed: the drift is converted
exactly (by automatic differentiation of the noise) and the method converges
to the solution of the model as written. ``milstein`` is written in the
model's own calculus (the $-h$ in its correction is dropped for a
Stratonovich model), so it needs no conversion.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from ..errors import UsageError, did_you_mean
from .model import ModelInfo

#: Every solver: name → (backend, one-line description for the CLI help).
_TABLE: dict[str, tuple[str, str]] = {
    "euler_maruyama": (
        "fused",
        "Euler-Maruyama, fixed step, Itô (strong order 1/2, weak order 1; "
        "strong order 1 for additive noise). Any noise structure.",
    ),
    "heun": (
        "fused",
        "stochastic Heun (predictor-corrector), fixed step, Stratonovich. "
        "Any noise structure; second order for the drift.",
    ),
    "milstein": (
        "fused",
        "Milstein, fixed step, in the model's calculus (strong order 1). "
        "Additive, scalar or elementwise-diagonal noise only.",
    ),
    "baoab": (
        "fused",
        "BAOAB splitting for underdamped Langevin pairs, fixed step "
        "(exact position variance for harmonic forces).",
    ),
    "rk4": ("fused", "classical Runge-Kutta 4, fixed step, ODEs only (no noise)."),
    "tsit5": ("diffrax", "Tsitouras 5(4) Runge-Kutta via diffrax, ODEs only; adaptive or fixed step."),
    "dopri5": ("diffrax", "Dormand-Prince 5(4) via diffrax, ODEs only; adaptive or fixed step."),
    "shark": (
        "diffrax",
        "ShARK via diffrax, additive noise only (strong order 1.5); adaptive or fixed step.",
    ),
    "sra1": (
        "diffrax",
        "SRA1 via diffrax, additive noise only (strong order 1.5); adaptive or fixed step.",
    ),
    "euler_diffrax": ("diffrax", "Euler-Maruyama via diffrax, Itô, fixed step only."),
    "heun_diffrax": (
        "diffrax",
        "Heun via diffrax, Stratonovich, any noise; adaptive (embedded Euler) or fixed step.",
    ),
}

#: Solver name → description (for the CLI help).
SOLVERS: dict[str, str] = {name: desc for name, (_, desc) in _TABLE.items()}

#: Names run by the fused kernels and by diffrax.
FUSED_SOLVERS: frozenset[str] = frozenset(n for n, (b, _) in _TABLE.items() if b == "fused")
DIFFRAX_SOLVERS: frozenset[str] = frozenset(n for n, (b, _) in _TABLE.items() if b == "diffrax")

#: Diffrax solvers that carry an embedded error estimate (adaptive stepping).
ADAPTIVE_SOLVERS: frozenset[str] = frozenset({"tsit5", "dopri5", "shark", "sra1", "heun_diffrax"})


class SolverChoice(NamedTuple):
    """A solver and the backend that runs it."""

    name: str
    backend: Literal["fused", "diffrax"]


def solver_summary(info: ModelInfo) -> str:
    """``auto → NAME (backend, fixed step); NAME with --adaptive``: the line
    ``dync check`` prints."""
    fixed, adaptive = choose_solver(info), choose_solver(info, adaptive=True)
    line = f"auto → {fixed.name} ({fixed.backend}, fixed step)"
    return line + (f"; {adaptive.name} with --adaptive" if adaptive.name != fixed.name else "; adaptive with --adaptive")


def langevin_covers_state(info: ModelInfo) -> bool:
    """Whether the model's Langevin pair (position, velocity) is its whole state.

    BAOAB splits the state into exactly these two blocks, so it needs them to
    be of equal size and to fill the state vector.
    """
    lv = info.langevin
    if lv is None:
        return False
    try:
        x, v = info.state(lv.position), info.state(lv.velocity)
    except KeyError:
        return False
    return x.size == v.size and x.size + v.size == info.state_size


def _milstein_fits(info: ModelInfo) -> bool:
    s = info.noise_structure
    if s in ("none", "additive", "scalar"):
        return True
    return s == "diagonal" and info.diffusion_is_elementwise and info.noise_size == info.state_size


def check_solver(info: ModelInfo, name: str, adaptive: bool = False) -> SolverChoice:
    """Check that solver ``name`` fits the model; return it with its backend.

    Args:
        info: the model's static metadata.
        name: a key of :data:`SOLVERS`.
        adaptive: whether adaptive step-size control is wanted.

    Returns:
        The :class:`SolverChoice` for ``name``.

    Raises:
        UsageError: the name is unknown, or the method does not fit the model's
            noise structure (the message says why and what to use instead).
    """
    if name not in _TABLE:
        raise UsageError(
            f"unknown solver `{name}`; the solvers are: {', '.join(sorted(SOLVERS))}",
            hint=did_you_mean(name, SOLVERS) or "use `auto` to let dync choose",
        )
    backend = _TABLE[name][0]
    noise = info.noise_structure
    model = f"model `{info.name}`"
    if adaptive and name not in ADAPTIVE_SOLVERS:
        raise UsageError(
            f"solver `{name}` has no error estimate, so it runs with a fixed step only",
            hint="drop `adaptive`, or use "
            + ("`tsit5`" if noise == "none" else "`shark`" if noise == "additive" else "`heun_diffrax`"),
        )
    if name in ("tsit5", "dopri5", "rk4") and noise != "none":
        raise UsageError(
            f"solver `{name}` integrates ODEs only, but {model} has {noise} noise",
            hint="use `auto`, `euler_maruyama` or `heun` (fixed step), or "
            + ("`shark` (adaptive, strong order 1.5 for additive noise)" if noise == "additive" else "`heun_diffrax` (adaptive)"),
        )
    if name in ("shark", "sra1") and noise != "additive":
        raise UsageError(
            f"solver `{name}` needs additive noise (a diffusion independent of the state), "
            f"but {model} has {noise} noise",
            hint="use `tsit5` for an ODE" if noise == "none" else "use `heun_diffrax` (adaptive) or `euler_maruyama`",
        )
    if name == "milstein" and not _milstein_fits(info):
        why = (
            "its diagonal diffusion of one component depends on other components"
            if noise == "diagonal"
            else f"it has {noise} noise"
        )
        raise UsageError(
            f"solver `milstein` needs commutative noise (additive, scalar, or diagonal with each "
            f"g_i depending on y_i only), but for {model} {why}; without Lévy areas no "
            "Milstein step is consistent there",
            hint="use `euler_maruyama` (Itô) or `heun` (Stratonovich)",
        )
    if name == "baoab":
        if info.langevin is None:
            raise UsageError(
                f"solver `baoab` needs an underdamped-Langevin pair (dx = v dt, "
                f"dv = (force(x) - gamma v) dt + sigma dW), and {model} has none",
                hint="use `euler_maruyama`, or `auto`",
            )
        if not langevin_covers_state(info):
            raise UsageError(
                f"solver `baoab` needs the Langevin pair `{info.langevin.position}`, "
                f"`{info.langevin.velocity}` to be the whole state of {model} "
                "(equal sizes, no other states)",
                hint="use `euler_maruyama`",
            )
    return SolverChoice(name, backend)  # type: ignore[arg-type]


def choose_solver(info: ModelInfo, requested: str = "auto", adaptive: bool = False) -> SolverChoice:
    """Pick the solver for a model, or check the one requested.

    See the module docstring for the table ``auto`` follows and why.

    Args:
        info: the model's static metadata.
        requested: a solver name from :data:`SOLVERS`, or ``"auto"``.
        adaptive: whether adaptive step-size control is wanted (diffrax only).

    Returns:
        A :class:`SolverChoice` ``(name, backend)``.

    Raises:
        UsageError: the requested solver is unknown or does not fit the model.

    Example:
        >>> choose_solver(OrnsteinUhlenbeck.info)
        SolverChoice(name='euler_maruyama', backend='fused')
    """
    if requested != "auto":
        return check_solver(info, requested, adaptive)
    noise = info.noise_structure
    if noise == "none":
        name = "tsit5"
    elif adaptive:
        name = "shark" if noise == "additive" else "heun_diffrax"
    elif langevin_covers_state(info):
        name = "baoab"
    elif noise == "additive":
        name = "euler_maruyama"
    elif _milstein_fits(info):
        name = "milstein"
    else:
        name = "heun" if info.calculus == "stratonovich" else "euler_maruyama"
    return check_solver(info, name, adaptive)
