"""Solving a model with ``diffrax.diffeqsolve``: adaptive steps, high order.

All paths are one batched ``(P, n)`` state and one solve: the drift is an
``ODETerm`` of the model's drift ``vmap``-ed over paths, the noise a
:class:`PathwiseNoiseTerm` whose control is a Brownian motion of shape
``(P, m)`` (a ``VirtualBrownianTree`` for adaptive runs and for ShARK/SRA1,
which need its space-time Lévy area; an ``UnsafeBrownianPath`` for the other
fixed-step runs). With adaptive steps the error norm is taken over every path
at once, so all paths share the step sequence of the hardest one.

Failures (diffrax ``RESULTS`` other than success) become a
:class:`~dync.errors.DyncRuntimeError` that says what to change; the solve is
jitted and the check runs outside jit.
"""

from __future__ import annotations

import math
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from dync.errors import DyncRuntimeError, UsageError
from dync.runtime.model import AbstractModel
from dync.runtime.grid import on_grid
from dync.info.solvers import check_solver
from dync.runtime.solvers.fused import state_batch

#: Default step budget of adaptive solves.
DEFAULT_ADAPTIVE_MAX_STEPS = 16_384


class PathwiseNoiseTerm(diffrax.AbstractTerm):
    """The noise $G(t, y_p)\\,dW_p$ of every path $p$, for a batched state.

    ``vf`` returns the diffusion matrix: one ``(n, m)`` matrix shared by all
    paths when the noise is additive (so that diffrax's additive-noise
    solvers see a vector field independent of the state, and may difference
    it in time), otherwise a ``(P, n, m)`` stack. ``vf_prod`` skips the
    matrix and calls the model's ``noise`` directly.
    """

    model: AbstractModel
    control: diffrax.AbstractBrownianPath
    args_: Any
    additive: bool = eqx.field(static=True)

    def vf(self, t, y, args):
        del args
        if self.additive:
            # The noise does not depend on the state: evaluate it at zero so the
            # result carries no dependence on y at all.
            return self.model.diffusion(t, jnp.zeros(y.shape[1:], y.dtype), self.args_)
        return jax.vmap(self.model.diffusion, in_axes=(None, 0, None))(t, y, self.args_)

    def contr(self, t0, t1, **kwargs):
        return self.control.evaluate(t0, t1, **kwargs)

    def prod(self, vf, control):
        if vf.ndim == 2:
            return control @ vf.T
        return jnp.einsum("pnm,pm->pn", vf, control)

    def vf_prod(self, t, y, args, control):
        del args
        return jax.vmap(lambda y_, dw_: self.model.noise(t, y_, dw_, self.args_))(y, control)


def _drift_term(model: AbstractModel, calculus: str, args: Any) -> diffrax.ODETerm:
    fn = {
        "ito": model.ito_drift,
        "stratonovich": model.stratonovich_drift,
        "asis": model.drift,
    }[calculus]
    return diffrax.ODETerm(lambda t, y, _: jax.vmap(fn, in_axes=(None, 0, None))(t, y, args))


_SOLVER_CLASSES = {
    "tsit5": (diffrax.Tsit5, "asis"),
    "dopri5": (diffrax.Dopri5, "asis"),
    "shark": (diffrax.ShARK, "asis"),
    "sra1": (diffrax.SRA1, "asis"),
    "euler_diffrax": (diffrax.Euler, "ito"),
    "heun_diffrax": (diffrax.Heun, "stratonovich"),
}


def _solve(
    model: AbstractModel,
    key: PRNGKeyArray | None,
    y0: Array,
    t0: Array,
    t1: Array,
    dt: Array,
    save_ts: Array | None,
    step_to: Array | None,
    args: Any,
    rtol: Array,
    atol: Array,
    tree_tol: Array,
    *,
    solver: str,
    adaptive: bool,
    max_steps: int,
) -> tuple[Array, Array, diffrax.RESULTS]:
    info = model.info
    P, _ = y0.shape
    cls, calculus = _SOLVER_CLASSES[solver]
    drift = _drift_term(model, calculus, args)
    adjoint: diffrax.AbstractAdjoint = diffrax.RecursiveCheckpointAdjoint()
    if info.noise_structure == "none" or info.noise_size == 0:
        terms: PyTree = drift
    else:
        shape = jax.ShapeDtypeStruct((P, info.noise_size), y0.dtype)
        levy = diffrax.SpaceTimeLevyArea if solver in ("shark", "sra1") else diffrax.BrownianIncrement
        if adaptive or solver in ("shark", "sra1"):
            bm = diffrax.VirtualBrownianTree(t0, t1, tol=tree_tol, shape=shape, key=key, levy_area=levy)
        else:
            # Cheaper than a tree, but it only supports forward-mode differentiation.
            bm = diffrax.UnsafeBrownianPath(shape=shape, key=key, levy_area=levy)
            adjoint = diffrax.ForwardMode()
        noise = PathwiseNoiseTerm(model, bm, args, info.noise_structure == "additive")
        terms = diffrax.MultiTerm(drift, noise)
    # a save time must be a step's end: between steps diffrax interpolates
    # linearly, which is no sample of an SDE (the variance there is too small)
    dt0: Array | None = dt
    if adaptive:
        controller: diffrax.AbstractStepSizeController = diffrax.PIDController(rtol=rtol, atol=atol)
        if save_ts is not None:
            controller = diffrax.ClipStepSizeController(controller, step_ts=save_ts)
    elif step_to is not None:
        controller, dt0 = diffrax.StepTo(ts=step_to), None
    else:
        controller = diffrax.ConstantStepSize()
    saveat = diffrax.SaveAt(t1=True) if save_ts is None else diffrax.SaveAt(ts=save_ts)
    sol = diffrax.diffeqsolve(
        terms,
        cls(),
        t0,
        t1,
        dt0,
        y0,
        saveat=saveat,
        stepsize_controller=controller,
        max_steps=max_steps,
        adjoint=adjoint,
        throw=False,
    )
    return sol.ts, jnp.transpose(sol.ys, (1, 0, 2)), sol.result


_solve_jit = eqx.filter_jit(_solve)

#: What to tell the user for each diffrax failure.
_ADVICE = (
    (
        diffrax.RESULTS.max_steps_reached,
        "the solver used up `max_steps` steps before reaching t1; "
    "raise `max_steps`, use a larger `dt` (fixed step), or loosen `rtol`/`atol` (adaptive)",
    ),
    (
        diffrax.RESULTS.dt_min_reached,
        "the adaptive step shrank to its minimum, usually because the "
    "solution blows up or becomes non-finite; check the parameters and the initial state, "
    "loosen `rtol`/`atol`, or use a fixed step",
    ),
    (
        diffrax.RESULTS.max_steps_rejected,
        "too many steps were rejected; loosen `rtol`/`atol` or "
    "start from a smaller `dt`",
    ),
)


def _raise_for(result: diffrax.RESULTS, model: AbstractModel, solver: str) -> None:
    """Turn an unsuccessful diffrax result (a concrete value) into a DyncRuntimeError."""
    for res, advice in _ADVICE:
        if bool(result == res):
            raise DyncRuntimeError(f"solving model `{model.info.name}` with `{solver}` failed: {advice}")
    raise DyncRuntimeError(
        f"solving model `{model.info.name}` with `{solver}` failed "
        f"({diffrax.RESULTS[result]!r}); try a smaller `dt` or another solver"
    )


def _steps_through(save_ts: np.ndarray, t0: float, t1: float, dt: float) -> np.ndarray | None:
    """The step ends of a fixed-step solve that saves at ``save_ts``: ``None``
    when every save time lies on the grid ``t0 + i dt`` (as
    :func:`~dync.runtime.schedule.on_grid` judges it for the fused solvers;
    the steps are then unchanged), else the grid with the other save times
    added, so that each is a step's end.

    Example:
        >>> _steps_through(np.array([0.25, 1.0]), 0.0, 1.0, 0.5).tolist()
        [0.0, 0.25, 0.5, 1.0]
    """
    off_grid = [t for t in save_ts.tolist() if on_grid(t, t0, dt, t1 - t0) is None]
    if not off_grid:
        return None
    grid = t0 + dt * np.arange(int(round((t1 - t0) / dt)) + 1)
    grid[-1] = t1
    return np.unique(np.concatenate([grid, off_grid]))


def _tree_tolerance(
    t0: float, t1: float, dt: float, adaptive: bool, save_ts: Array | None, step_to: np.ndarray | None
) -> float:
    """The Brownian tree's resolution: finer than any step expected, and
    than a quarter of the closest two times the solve must reach (save
    times, the steps through them). Two times within one interval of the
    tree's finest level share its bridge draw (diffrax's "sqrt" spline), so
    the increment between them would be far too small: with ``dt / 4`` and
    save times 0.333 and 0.34 (``dt`` 0.1) its variance came out 0.0031, not
    0.007."""
    tol = dt / 4 if not adaptive else min(dt, (t1 - t0) / 64) / 16
    points = [np.asarray([t0, t1], np.float64)]
    if save_ts is not None:
        points.append(np.asarray(save_ts, np.float64))
    if step_to is not None:
        points.append(np.asarray(step_to, np.float64))
    gaps = np.diff(np.unique(np.concatenate(points)))
    gaps = gaps[gaps > 1e-12 * max(1.0, abs(t0), abs(t1))]
    return float(min(tol, gaps.min() / 4)) if gaps.size else tol


def solve_diffrax(
    model: AbstractModel,
    solver: str,
    key: PRNGKeyArray | None,
    y0: Float[Array, "paths states"],
    t0: float,
    t1: float,
    dt: float,
    save_ts: Float[Array, " saves"] | None = None,
    args: Any = None,
    adaptive: bool = False,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    max_steps: int | None = None,
) -> tuple[Float[Array, " saves"], Float[Array, "paths saves states"]]:
    """Solve all paths together with ``diffrax.diffeqsolve``.

    Args:
        model: the compiled model.
        solver: ``tsit5``, ``dopri5`` (ODEs), ``shark``, ``sra1`` (additive
            noise), ``euler_diffrax`` (Itô, fixed step), ``heun_diffrax``
            (Stratonovich). The drift is converted to the method's calculus.
        key: PRNG key of the Brownian motion (``None`` for an ODE).
        y0: initial states ``(P, n)``; its floating dtype is used throughout.
        t0: start time.
        t1: end time (> t0).
        dt: the step (fixed step) or the first step (adaptive).
        save_ts: times to save at, within ``[t0, t1]``; ``None`` saves ``t1``.
        args: run-time data passed to every model call.
        adaptive: adaptive step size (``PIDController``) instead of a fixed step.
        rtol: relative tolerance of adaptive steps.
        atol: absolute tolerance of adaptive steps.
        max_steps: step budget; ``None`` means ``ceil((t1 - t0) / dt) + 1``
            for a fixed step and 16384 for adaptive steps.

    Returns:
        ``(ts, ys)``: the saved times ``(S,)`` and states ``(P, S, n)``.

    Raises:
        UsageError: the solver does not fit the model, or bad arguments.
        DyncRuntimeError: the solve did not succeed (the message says what to
            change: a smaller ``dt``, a larger ``max_steps``, ...).

    Example:
        >>> ts, ys = solve_diffrax(ou, "shark", jax.random.key(0), jnp.zeros((1000, 1)),
        ...                        0.0, 5.0, 0.01, adaptive=True)
    """
    info = model.info
    check_solver(info, solver, adaptive)
    if solver not in _SOLVER_CLASSES:
        raise UsageError(
            f"`{solver}` is a fused fixed-step solver, not a diffrax one",
            hint=f"call `solve_fixed`, or pick one of {', '.join(sorted(_SOLVER_CLASSES))}",
        )
    y0, _ = state_batch(y0, info)
    t0f, t1f, dtf = float(t0), float(t1), float(dt)
    if not (t1f > t0f):
        raise UsageError(f"t1 must be greater than t0, got t0={t0f}, t1={t1f}")
    if not (dtf > 0 and math.isfinite(dtf)):
        raise UsageError(f"dt must be positive and finite, got {dt!r}")
    has_noise = info.noise_structure != "none" and info.noise_size > 0
    if has_noise and key is None:
        raise UsageError("a PRNG key is needed to draw the Brownian motion")
    if max_steps is None:
        max_steps = DEFAULT_ADAPTIVE_MAX_STEPS if adaptive else math.ceil((t1f - t0f) / dtf * (1 + 1e-9)) + 1
    if save_ts is not None:
        save_ts = jnp.asarray(save_ts, y0.dtype)
        host_ts = np.asarray(save_ts)
        if host_ts.ndim != 1 or host_ts.size == 0:
            raise UsageError("save_ts must be a non-empty 1-d array of times")
        if np.any(np.diff(host_ts) < 0) or host_ts[0] < t0f or host_ts[-1] > t1f:
            raise UsageError(f"save_ts must be non-decreasing and lie within [t0, t1] = [{t0f}, {t1f}]")
    step_to = None if adaptive or save_ts is None else _steps_through(np.asarray(save_ts, np.float64), t0f, t1f, dtf)
    if step_to is not None:
        max_steps = max(int(max_steps), step_to.size)
    dtype = y0.dtype
    ts, ys, result = _solve_jit(
        model,
        key if has_noise else None,
        y0,
        jnp.asarray(t0f, dtype),
        jnp.asarray(t1f, dtype),
        jnp.asarray(dtf, dtype),
        save_ts,
        None if step_to is None else jnp.asarray(step_to, dtype),
        args,
        jnp.asarray(rtol, dtype),
        jnp.asarray(atol, dtype),
        jnp.asarray(_tree_tolerance(t0f, t1f, dtf, adaptive, save_ts, step_to), dtype),
        solver=solver,
        adaptive=bool(adaptive),
        max_steps=int(max_steps),
    )
    if not bool(result == diffrax.RESULTS.successful):
        _raise_for(result, model, solver)
    return ts, ys
