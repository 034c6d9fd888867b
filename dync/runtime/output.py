"""What a simulation hands back: the non-finite check and the ``xarray.Dataset``.

After each chunk is copied to the host, :func:`scan_nonfinite` looks for NaN
and infinity per state (:class:`Nonfinite` records, merged over chunks by
:func:`merge_nonfinite`); :func:`nonfinite_message` says which state went
non-finite, first when, and in how many paths, and :func:`nonfinite_hint`
what to try. :func:`build_dataset` assembles the states and observations of
every sweep value into the dataset described in ``docs/runtime.md`` (§4.1):
one variable per non-hidden state and per observation, a ``time``
coordinate, sweep coordinates, and the run's attributes.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .model import AbstractModel, ModelInfo

__all__ = [
    "NONFINITE_MODES",
    "RESERVED_NAMES",
    "Nonfinite",
    "build_dataset",
    "json_params",
    "merge_nonfinite",
    "nonfinite_hint",
    "nonfinite_message",
    "scan_nonfinite",
]

#: output dimensions, so no state or observation may be named like them
RESERVED_NAMES = ("time", "path", "sweep")
#: the values of ``simulate(on_nonfinite=...)``
NONFINITE_MODES = ("raise", "warn", "keep")


@dataclasses.dataclass
class Nonfinite:
    """Running record of non-finite values of one state."""

    state: str
    first_index: int  # first saved-time index with a non-finite value
    nan: bool  # whether a NaN (rather than only +-inf) appeared at first_index
    paths: int  # number of affected paths


def scan_nonfinite(info: ModelInfo, ys: np.ndarray) -> list[Nonfinite]:
    """Non-finite values per state in ``ys`` of shape ``(paths, S, n)``."""
    found = []
    finite = np.isfinite(ys)
    if finite.all():
        return found
    for s in info.states:
        bad = ~finite[:, :, s.offset : s.offset + s.size].all(axis=-1)  # (paths, S)
        if not bad.any():
            continue
        per_time = bad.any(axis=0)
        first = int(np.argmax(per_time))
        at_first = ys[bad[:, first], first, s.offset : s.offset + s.size]
        found.append(Nonfinite(s.name, first, bool(np.isnan(at_first).any()), int(bad.any(axis=1).sum())))
    return found


def merge_nonfinite(total: dict[str, Nonfinite], new: list[Nonfinite]) -> None:
    """Fold the records of one chunk into the running ``total`` (in place)."""
    for r in new:
        old = total.get(r.state)
        if old is None:
            total[r.state] = r
            continue
        if r.first_index < old.first_index:
            old.first_index, old.nan = r.first_index, r.nan
        elif r.first_index == old.first_index:
            old.nan = old.nan or r.nan
        old.paths += r.paths


def nonfinite_message(records: Sequence[Nonfinite], times: np.ndarray, of_paths: int, where: str) -> str:
    """One sentence per state, earliest first, then ``where`` (chunk, sweep value)."""
    records = sorted(records, key=lambda r: (r.first_index, r.state))
    parts = []
    for r in records:
        what = "NaN" if r.nan else "infinite"
        parts.append(f"state `{r.state}` became {what} at t = {times[r.first_index]:.6g} in {r.paths} of {of_paths} paths")
    msg = "; ".join(parts) + where
    if times.size == 1:
        msg += " (only the final state is saved: save more often to see when it happened)"
    return msg


def nonfinite_hint(dt: float) -> str:
    """What to try after a non-finite value."""
    return (
        f"try a smaller dt (now {dt:g}) or check the drift and diffusion for overflow; "
        "--on-nonfinite warn or keep (Python: on_nonfinite=\"warn\") keeps the result"
    )


def json_params(model: AbstractModel) -> str:
    """The model's constrained parameters as JSON (the ``params`` attribute)."""
    values = model.constrained_params()
    return json.dumps({k: np.asarray(v).tolist() for k, v in values.items()}, sort_keys=True)


def build_dataset(
    *,
    model,
    info: ModelInfo,
    choice,
    schedule,
    layout,
    states_out,
    obs_out,
    swept,
    nonfinite,
    on_nonfinite,
    attrs_extra,
) -> xr.Dataset:
    """The dataset of a run.

    Args:
        model: the simulated model (its spec text and parameters).
        info: its metadata.
        choice: the :class:`~dync.info.solvers.SolverChoice` that ran.
        schedule: the :class:`~dync.runtime.schedule.SaveSchedule`.
        layout: the :class:`~dync.runtime.layout.Layout` (block size, paths).
        states_out: state name → ``(sweeps, paths, S, *shape)``.
        obs_out: observation name → ``(sweeps, paths, S, *shape)``.
        swept: swept parameter name → values ``(sweeps, *shape)`` (may be empty).
        nonfinite: state name → :class:`Nonfinite`, merged over the run.
        on_nonfinite: ``"warn"`` warns here (``stacklevel`` points at the
            caller of ``simulate``).
        attrs_extra: the run's own attributes (``dt``, ``t0``, ``seed``, ...),
            placed after ``backend``.
    """
    lead = ("sweep",) if swept else ()

    def squeeze(arr):
        return arr if swept else arr[0]

    data_vars = {}
    for s in info.states:
        if s.hidden:
            continue
        dims = lead + ("path", "time") + tuple(f"{s.name}_dim{i}" for i in range(len(s.shape)))
        data_vars[s.name] = xr.Variable(dims, squeeze(states_out[s.name]), attrs={"kind": "state"})
    for o in info.observations:
        arr = squeeze(obs_out[o.name])
        extra = arr.shape[len(lead) + 2 :]
        dims = lead + ("path", "time") + tuple(f"{o.name}_dim{i}" for i in range(len(extra)))
        data_vars[o.name] = xr.Variable(
            dims, arr, attrs={"kind": "observation", "distribution": o.distribution}
        )
    coords: dict[str, Any] = {"time": ("time", schedule.times)}
    for name, values in swept.items():
        coords[name] = (("sweep",) + tuple(f"{name}_dim{i}" for i in range(values.ndim - 1)), values)
    attrs: dict[str, Any] = {
        "spec": model.source.text,
        "model": info.name,
        "solver": choice.name,
        "backend": choice.backend,
        **attrs_extra,
        "calculus": info.calculus,
        "noise_structure": info.noise_structure,
        "block_size": layout.block_size,
        "save": schedule.description,
        "params": json_params(model),
    }
    if swept:
        attrs["sweep"] = ", ".join(swept)
    if nonfinite:
        msg = nonfinite_message(list(nonfinite.values()), schedule.times, layout.paths, "")
        attrs["nonfinite"] = msg
        if on_nonfinite == "warn":
            warnings.warn(f"{msg}; {nonfinite_hint(float(attrs['dt']))}", RuntimeWarning, stacklevel=3)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
