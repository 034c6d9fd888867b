"""The step grid and the save times of a simulation.

A fixed-step run takes ``num_steps = (t1 - t0) / dt`` steps of the grid
``t0 + i * dt``, so ``t1 - t0`` must be a whole number of steps, and with a
fused (fixed-step) solver every save time must lie on the grid, to a relative
tolerance of ``GRID_RTOL``. When one does not, the error suggests the largest
step ``dt' <= dt`` that puts every save time on the grid (:func:`suggest_dt`).
Diffrax solvers save at any time inside ``[t0, t1]``; adaptive runs take as
many steps as they need (``num_steps`` is then only the initial estimate).

:func:`save_schedule` turns the ``save=`` argument of
:func:`~dync.runtime.simulate.simulate` (``"final"``, a stride ``k`` or an
array of times) into a :class:`SaveSchedule`: the saved times, the number of
steps and, for the fused kernels, the static
:class:`~dync.runtime.solvers.fused.SavePlan`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..errors import UsageError
from .grid import GRID_RTOL, on_grid

__all__ = ["GRID_RTOL", "SaveSchedule", "on_grid", "save_schedule", "suggest_dt"]


@dataclasses.dataclass(frozen=True)
class SaveSchedule:
    """What a run saves and how many steps it takes.

    Attributes:
        times: the saved times, float64, shape ``(S,)``.
        num_steps: fixed steps from ``t0`` to ``t1`` (the first estimate for
            adaptive runs).
        plan: the fused kernels' :class:`~dync.runtime.solvers.fused.SavePlan`,
            ``None`` for diffrax.
        description: ``"final"``, ``"every k steps"`` or ``"times"`` (the
            dataset's ``save`` attribute).
    """

    times: np.ndarray
    num_steps: int
    plan: Any
    description: str


def suggest_dt(span: float, dt: float, offsets: np.ndarray) -> float | None:
    """The largest ``span / n <= dt`` that puts every offset on the grid."""
    n0 = max(1, math.ceil(span / dt - GRID_RTOL))
    for n in range(n0, n0 * 1000 + 1):
        h = span / n
        k = offsets / h
        if np.all(np.abs(k - np.round(k)) <= GRID_RTOL * np.maximum(1.0, np.abs(k))):
            return h
    return None


#: the most steps one run takes: step counters are 32-bit integers on the
#: device (JAX without x64), and 2^31 steps is hours even for one path
MAX_STEPS = 2**31 - 1


def save_schedule(save: Any, t0: float, t1: float, dt: float, backend: str, adaptive: bool) -> SaveSchedule:
    """The :class:`SaveSchedule` of ``save`` on ``[t0, t1]`` with step ``dt``.

    Args:
        save: ``"final"``, a positive stride ``k`` (the initial state and
            every ``k``-th step) or an array of strictly increasing times.
        t0: start time.
        t1: end time (> ``t0``).
        dt: the step (the first step when ``adaptive``).
        backend: ``"fused"`` or ``"diffrax"``.
        adaptive: whether the run uses adaptive steps.

    Raises:
        UsageError: more than :data:`MAX_STEPS` steps, ``t1 - t0`` is not a
            whole number of steps (fixed step), a
            bad ``save`` value, a save time outside ``[t0, t1]``, or (fused) a
            save time off the step grid; the hint suggests a ``dt`` that fits.
    """
    span = t1 - t0
    if not span / dt <= MAX_STEPS:
        raise UsageError(
            f"t1 - t0 = {span:g} at dt = {dt:g} is {span / dt:.3g} steps; a run takes at most {MAX_STEPS:,} (2^31 - 1)",
            hint=f"raise --dt to at least {span / MAX_STEPS:.3g}",
        )
    num_steps = round(span / dt)
    fixed_grid = not adaptive
    if fixed_grid and (num_steps < 1 or on_grid(t1, t0, dt, span) is None):
        n = max(1, math.ceil(span / dt - GRID_RTOL))
        raise UsageError(
            f"t1 - t0 = {span:g} is not a whole number of steps of dt = {dt:g}",
            hint=f"use dt = {span / n:.10g} ({n} step{'s' if n != 1 else ''})",
        )
    if adaptive:
        num_steps = max(1, math.ceil(span / dt - GRID_RTOL))
    plan_mod = None
    if backend == "fused":
        from .solvers import fused as plan_mod

    if isinstance(save, str):
        if save != "final":
            raise UsageError(
                f"save={save!r}: use \"final\", a whole number of steps k, or an array of times"
            )
        plan = plan_mod.SavePlan.final() if plan_mod else None
        return SaveSchedule(np.array([t1]), num_steps, plan, "final")

    if isinstance(save, (int, np.integer)) and not isinstance(save, bool):
        k = int(save)
        if k < 1:
            raise UsageError(f"save={k}: the save stride must be a positive number of steps")
        if k > num_steps and not adaptive:
            raise UsageError(
                f"save every {k} steps: the run has only {num_steps} steps of dt = {dt:g}, so nothing after the "
                "initial state would be saved",
                hint=f"save every k <= {num_steps} steps (a k dividing {num_steps} ends at t1), or save the final state",
            )
        if num_steps % k and not adaptive:
            import warnings

            last = num_steps // k * k
            warnings.warn(
                f"saving every {k} of {num_steps} steps: the last save is step {last} (t = {t0 + last * dt:g}) and the "
                f"run stops there, before t1 = {t1:g}; a stride dividing {num_steps} reaches t1",
                UserWarning,
                stacklevel=2,
            )
        idx = np.arange(0, num_steps // k + 1, dtype=np.int64) * k
        times = t0 + idx * dt
        plan = plan_mod.SavePlan.every(k) if plan_mod else None
        return SaveSchedule(times, num_steps, plan, f"every {k} steps")

    if isinstance(save, (bool, np.bool_)) or np.ndim(save) != 1:
        # `save=True`, `save=0.5` (a time or a stride?) or a 2-D array: say what save takes
        raise UsageError(
            f"save={save!r}: use \"final\", a whole number of steps k, or a 1-D array of times",
            hint="a single time is an array too: save=[0.5]",
        )
    try:
        times = np.asarray(save, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"save={save!r}: use \"final\", a whole number of steps k, or an array of times") from None
    if times.size == 0:
        raise UsageError("save: the array of save times is empty")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise UsageError("save: save times must be finite and strictly increasing")
    tol = GRID_RTOL * max(abs(span), abs(t1))
    if times[0] < t0 - tol or times[-1] > t1 + tol:
        bad = times[0] if times[0] < t0 - tol else times[-1]
        raise UsageError(f"save time {bad:g} lies outside the simulated interval [{t0:g}, {t1:g}]")
    if backend == "diffrax":
        return SaveSchedule(times, num_steps, None, "times")
    steps = []
    for t in times:
        i = on_grid(float(t), t0, dt, span)
        if i is None:
            suggestion = suggest_dt(span, dt, np.append(times - t0, span))
            hint = (
                f"use dt = {suggestion:.10g}, which puts every save time on the grid"
                if suggestion is not None
                else "save every k steps instead, or use a diffrax solver (e.g. solver=\"heun_diffrax\")"
            )
            raise UsageError(
                f"save time {t:g} is not on the step grid t0 + i*dt (t0 = {t0:g}, dt = {dt:g})",
                hint=hint,
            )
        steps.append(i)
    return SaveSchedule(t0 + np.asarray(steps, np.float64) * dt, num_steps, plan_mod.SavePlan.at(steps), "times")
