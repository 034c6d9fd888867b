"""The time grid of a fixed-step run: whether a time is one of its points.
A module of its own so that the schedule and the solvers share one rule."""

from __future__ import annotations

__all__ = ["GRID_RTOL", "on_grid"]

#: relative tolerance for a save time to count as lying on the step grid
GRID_RTOL = 1e-6


def on_grid(t: float, t0: float, dt: float, span: float) -> int | None:
    """The step index ``i`` with ``t0 + i * dt == t`` (to ``GRID_RTOL``), or ``None``."""
    i = round((t - t0) / dt)
    if abs(t0 + i * dt - t) <= GRID_RTOL * max(abs(t), span, dt):
        return i
    return None
