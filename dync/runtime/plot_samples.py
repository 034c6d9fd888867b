"""A figure of generated samples against their data (``dync plot gen.nc``
for a file of ``dync sample --reverse``).

:func:`plot_samples` draws the generated points, and the data when given:
overlaid density histograms for one component, a scatter of both for two,
and a pairs plot for more (histograms on the diagonal, scatters below it,
the first :data:`MAX_PAIR_COMPONENTS` components). Each panel's title
gives the mean and standard deviation of both sets, so the figure says how
far apart they are as well as showing it.

The figure is drawn with matplotlib's ``Agg`` canvas (no display, no global
pyplot state) and written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import UsageError

__all__ = ["MAX_PAIR_COMPONENTS", "MAX_POINTS", "plot_samples"]

#: a pairs plot draws at most this many components
MAX_PAIR_COMPONENTS = 6
#: a scatter draws at most this many points of each set (a random subset)
MAX_POINTS = 5000


def _thin(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= MAX_POINTS else x[rng.choice(len(x), MAX_POINTS, replace=False)]


def _bins(*sets: np.ndarray | None) -> np.ndarray:
    values = np.concatenate([s for s in sets if s is not None and s.size])
    lo, hi = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, min(80, max(10, int(np.sqrt(values.size)))) + 1)


def _moments(x: np.ndarray) -> str:
    return f"{np.mean(x):.3g} ± {np.std(x):.3g}"


def plot_samples(
    samples: np.ndarray,
    path: str | os.PathLike,
    *,
    data: np.ndarray | None = None,
    name: str = "x",
    title: str = "",
    data_label: str = "data",
    seed: int = 0,
    dpi: int = 110,
) -> Path:
    """Draw generated samples (and data) to an image file.

    Args:
        samples: the generated points, ``(N, n)`` (a state's components
            flattened).
        path: the image; the format follows its suffix.
        data: points to compare with, ``(M, n)``, or ``None``.
        name: the state's name, for the axis labels (``x[0]``, ``x[1]``, ...).
        title: the figure's title.
        data_label: the legend's name for ``data``.
        seed: which points a scatter keeps when it thins (over
            :data:`MAX_POINTS`).
        dpi: resolution of raster formats.

    Returns:
        The path written.

    Raises:
        UsageError: no finite sample, or data with another number of
            components.

    Example:
        >>> plot_samples(generated, "gen.png", data=training, name="x")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    x = x[np.all(np.isfinite(x), axis=1)]
    if not len(x):
        raise UsageError("the file has no finite generated sample to plot")
    n = x.shape[1]
    if data is not None:
        data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
        if data.shape[1] != n:
            raise UsageError(f"the data have {data.shape[1]} components, but the generated samples {n}")
        data = data[np.all(np.isfinite(data), axis=1)]
    labels = [name] if n == 1 else [f"{name}[{k}]" for k in range(n)]
    rng = np.random.default_rng(seed)
    shown = min(n, MAX_PAIR_COMPONENTS)
    size = {1: (6.0, 4.2), 2: (6.2, 6.0)}.get(shown, (2.6 * shown, 2.6 * shown))
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title + (f" (first {shown} of {n} components)" if shown < n else ""))
    gen_style = dict(color="C1", label=f"generated ({len(x)})")
    data_style = dict(color="C0", label=f"{data_label} ({len(data)})" if data is not None else None)

    def hist(ax, k):
        bins = _bins(x[:, k], None if data is None else data[:, k])
        if data is not None:
            ax.hist(data[:, k], bins=bins, density=True, alpha=0.45, **data_style)
        ax.hist(x[:, k], bins=bins, density=True, histtype="step", lw=1.6, **gen_style)

    def scatter(ax, i, j):
        if data is not None:
            d = _thin(data, rng)
            ax.scatter(d[:, i], d[:, j], s=3, alpha=0.35, linewidths=0, **data_style)
        g = _thin(x, rng)
        ax.scatter(g[:, i], g[:, j], s=3, alpha=0.35, linewidths=0, **gen_style)

    def moments(k):
        text = f"generated {_moments(x[:, k])}"
        return text if data is None else f"{data_label} {_moments(data[:, k])}, " + text

    if shown == 1:
        ax = fig.subplots()
        hist(ax, 0)
        ax.set_xlabel(labels[0])
        ax.set_ylabel("density")
        ax.set_title(moments(0), fontsize="small")
        ax.legend(loc="best", fontsize="small")
    elif shown == 2:
        ax = fig.subplots()
        scatter(ax, 0, 1)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{labels[0]}: {moments(0)}\n{labels[1]}: {moments(1)}", fontsize="small")
        ax.legend(loc="best", fontsize="small", markerscale=4)
    else:
        axes = fig.subplots(shown, shown, squeeze=False)
        for i in range(shown):
            for j in range(shown):
                ax = axes[i, j]
                if j > i:
                    ax.set_axis_off()
                    continue
                if i == j:
                    hist(ax, i)
                else:
                    scatter(ax, j, i)
                if i == shown - 1:
                    ax.set_xlabel(labels[j])
                if j == 0 and i > 0:
                    ax.set_ylabel(labels[i])
        handles, names = axes[0, 0].get_legend_handles_labels()
        axes[0, shown - 1].legend(handles, names, loc="center", fontsize="small")
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return target
