"""A quick-look figure of a simulation: trajectories and final distributions.

:func:`plot_dataset` draws one row per state component (a state with several
components gets up to :data:`MAX_COMPONENTS` rows): on the left a sample of
trajectories over the mean ± 2 standard deviations across all paths, on the
right a histogram of the values at the last saved time. A dataset with a
single saved time (``save="final"``) gets the histograms only.

The figure is drawn with matplotlib's ``Agg`` canvas (no display, no global
pyplot state) and written atomically.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import UsageError
from ..atomic import atomic_path

__all__ = ["MAX_COMPONENTS", "plot_dataset"]

#: at most this many components of one state are drawn
MAX_COMPONENTS = 6


def _state_names(ds: xr.Dataset) -> list[str]:
    """State variables: marked ``kind = "state"``, else anything over paths and time."""
    marked = [n for n, v in ds.data_vars.items() if v.attrs.get("kind") == "state"]
    if marked:
        return marked
    return [n for n, v in ds.data_vars.items() if "path" in v.dims and "time" in v.dims]


def _components(da: xr.DataArray) -> list[tuple[str, np.ndarray]]:
    """``(label, values (path, time))`` for up to MAX_COMPONENTS components."""
    values = np.asarray(da.transpose("path", "time", ...).values, dtype=np.float64)
    extra = values.shape[2:]
    flat = values.reshape(values.shape[:2] + (-1,))
    out = []
    for c in range(min(flat.shape[2], MAX_COMPONENTS)):
        label = str(da.name)
        if extra and int(np.prod(extra)) > 1:
            label += "[" + ", ".join(str(i) for i in np.unravel_index(c, extra)) + "]"
        out.append((label, flat[:, :, c]))
    return out


def plot_dataset(
    ds: xr.Dataset,
    path: str | os.PathLike,
    max_paths: int = 20,
    *,
    sweep_index: int = 0,
    dpi: int = 110,
) -> Path:
    """Draw the states of a simulation to an image file.

    Args:
        ds: a dataset from :func:`~dync.runtime.simulate.simulate` (or any
            dataset with variables over ``path`` and ``time``).
        path: the image file; the format follows its suffix (``.png``,
            ``.pdf``, ``.svg``, ...).
        max_paths: number of sample trajectories drawn per panel.
        sweep_index: which sweep value to draw, for a swept dataset.
        dpi: resolution of raster formats.

    Returns:
        The path written.

    Raises:
        UsageError: the dataset has no state variables, or ``sweep_index`` is
            out of range.

    Example:
        >>> plot_dataset(simulate(ou, seed=0, paths=1000, t1=1.0, dt=0.01, save=1), "ou.png")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sweep_note = ""
    if "sweep" in ds.dims:
        sweep_note = f"sweep value {sweep_index + 1} of {ds.sizes['sweep']}: "
        if not 0 <= sweep_index < ds.sizes["sweep"]:
            raise UsageError(f"sweep_index {sweep_index} is out of range (the dataset has {ds.sizes['sweep']} values)")
        ds = ds.isel(sweep=sweep_index)
    names = _state_names(ds)
    if not names:
        raise UsageError("the dataset has no state variables (over `path` and `time`) to plot")
    rows = [row for name in names for row in _components(ds[name])]
    times = np.asarray(ds["time"].values, dtype=np.float64)
    trajectories = times.size > 1
    ncols = 2 if trajectories else 1

    fig = Figure(figsize=(5.0 * ncols + 1.0, 2.4 * len(rows) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    title = f"{ds.attrs.get('model', 'simulation')}: {ds.sizes.get('path', 0)} paths"
    if "solver" in ds.attrs:
        title += f", solver {ds.attrs['solver']}"
    swept = [n for n in str(ds.attrs.get("sweep", "")).split(", ") if n in ds.coords]
    if swept:
        title += " (" + sweep_note + ", ".join(f"{n} = {np.asarray(ds[n].values).tolist()}" for n in swept) + ")"
    fig.suptitle(title)

    for r, (label, values) in enumerate(rows):
        finite = np.where(np.isfinite(values), values, np.nan)
        if trajectories:
            ax = axes[r, 0]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a time with no finite value: nan, drawn as a gap
                mean = np.nanmean(finite, axis=0) if np.isfinite(finite).any() else np.zeros_like(times)
                sd = np.nanstd(finite, axis=0) if np.isfinite(finite).any() else np.zeros_like(times)
            ax.fill_between(times, mean - 2 * sd, mean + 2 * sd, color="C0", alpha=0.2, label="mean ± 2 sd")
            for p in range(min(max_paths, values.shape[0])):
                ax.plot(times, finite[p], color="0.35", lw=0.6, alpha=0.6)
            ax.plot(times, mean, color="C0", lw=1.8, label="mean")
            ax.set_xlabel("t")
            ax.set_ylabel(label)
            if r == 0:
                ax.legend(loc="best", fontsize="small")
        ax = axes[r, ncols - 1]
        last = finite[:, -1]
        last = last[np.isfinite(last)]
        if last.size:
            ax.hist(last, bins=min(60, max(5, int(np.sqrt(last.size)))), color="C1", alpha=0.8)
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(f"{label} at t = {times[-1]:.4g}")
        ax.set_ylabel("paths")

    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return target
