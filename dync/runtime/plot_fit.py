"""A quick-look figure of a fit: how the sampler or optimiser went, and how
the fitted model's paths compare with the data.

:func:`plot_fit` draws one figure from the ``arviz.InferenceData`` that
``dync fit`` writes, in stacked panels:

* **NUTS** (group ``posterior``): a trace per scalar parameter coordinate
  (the draws of each chain, and their histograms), titled with the
  split-:math:`\\hat R` of :func:`arviz.rhat`, then a pair plot (a scatter
  matrix of the first :data:`MAX_PAIR` coordinates) with the divergent draws
  marked;
* **MLE/MAP** (group ``point_estimate``): each estimate with its 95 % Laplace
  interval (the 95 % Laplace interval, mapped through the constraint), then the optimiser's objective
  per step (group ``optimizer_trace``);
* **the data** (group ``observed_data``): per observed component (up to
  :data:`MAX_COMPONENTS` of a vector, :data:`MAX_DATA_ROWS` rows in all) and
  per series (up to :data:`MAX_SERIES`), the observations as points; when
  ``predictive`` paths are given, a few of them as thin lines under their
  median and 90 % band.

The figure is drawn with matplotlib's ``Agg`` canvas (no display, no global
pyplot state) and written atomically, like :mod:`dync.runtime.plot`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from ..atomic import atomic_path
from ..errors import UsageError

__all__ = [
    "MAX_COMPONENTS",
    "MAX_DATA_ROWS",
    "MAX_PAIR",
    "MAX_SERIES",
    "MAX_THIN_PATHS",
    "MAX_TRACE",
    "fit_kind",
    "plot_fit",
]

#: at most this many parameter coordinates get a trace (NUTS) or an interval (MLE/MAP)
MAX_TRACE = 12
#: at most this many coordinates in the pair plot
MAX_PAIR = 6
#: at most this many points per pair-plot panel (divergent draws are always drawn)
MAX_SCATTER = 2000
#: at most this many components of one observed variable are drawn
MAX_COMPONENTS = 4
#: at most this many rows of data panels (observed components, all variables)
MAX_DATA_ROWS = 6
#: at most this many series (columns of data panels)
MAX_SERIES = 4
#: at most this many thin predictive paths per data panel (more hide the band and the data)
MAX_THIN_PATHS = 5

_SAMPLE_DIMS = ("chain", "draw")


class _Coordinate(NamedTuple):
    """One scalar coordinate of a parameter: ``theta`` or ``C[0, 1]``."""

    label: str
    name: str
    index: tuple[int, ...]


def fit_kind(idata: Any) -> str:
    """``"nuts"`` for a posterior sample, ``"point"`` for an MLE/MAP estimate.

    Raises:
        UsageError: ``idata`` has neither a ``posterior`` nor a
            ``point_estimate`` group.
    """
    groups = _groups(idata)
    if "posterior" in groups:
        return "nuts"
    if "point_estimate" in groups:
        return "point"
    raise UsageError(
        "not a fit result: it has neither a `posterior` nor a `point_estimate` group"
        + (f" (its groups: {', '.join(groups)})" if groups else ""),
        hint="plot the output of `dync fit` (or of `dync simulate`)",
    )


def _groups(idata: Any) -> list[str]:
    groups = getattr(idata, "groups", None)
    if not callable(groups):
        raise UsageError(f"plot_fit needs an arviz.InferenceData, got {type(idata).__name__}")
    return list(groups())


def _label(name: str, index: tuple[int, ...]) -> str:
    return name + ("[" + ", ".join(str(i) for i in index) + "]" if index else "")


def _coordinates(ds: xr.Dataset, names: Sequence[str], lead: tuple[str, ...]) -> list[_Coordinate]:
    """Every scalar coordinate of ``names``, the ``lead`` dims left out."""
    out = []
    for name in names:
        shape = tuple(n for d, n in ds[name].sizes.items() if d not in lead)
        for index in np.ndindex(*shape):
            out.append(_Coordinate(_label(name, tuple(int(i) for i in index)), name, tuple(int(i) for i in index)))
    return out


def _values(ds: xr.Dataset, c: _Coordinate, lead: tuple[str, ...]) -> np.ndarray:
    """The values of one coordinate, ``lead`` dims first (float64)."""
    da = ds[c.name]
    da = da.transpose(*[d for d in lead if d in da.dims], ...)
    return np.asarray(da.values, dtype=np.float64)[(Ellipsis, *c.index)] if c.index else np.asarray(da.values, dtype=np.float64)


def _bins(n: int) -> int:
    return int(min(40, max(5, math.sqrt(n))))


def _figure(heights: list[float], width: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, sum(heights) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    subs = fig.subfigures(len(heights), 1, height_ratios=heights)
    return fig, list(np.ravel(subs))


# ---------------------------------------------------------------- NUTS panels


def _posterior_names(posterior: xr.Dataset) -> list[str]:
    names = [n for n, v in posterior.data_vars.items() if all(d in v.dims for d in _SAMPLE_DIMS)]
    if not names:
        raise UsageError("the `posterior` group has no variables over (chain, draw) to plot")
    return names


def _rhat(posterior: xr.Dataset, coords: list[_Coordinate]) -> dict[str, float]:
    """Label → split R-hat (NaN where it cannot be computed: one chain, few draws)."""
    from .arviz_import import import_arviz

    az = import_arviz()

    out = {c.label: math.nan for c in coords}
    if posterior.sizes.get("chain", 0) < 2 or posterior.sizes.get("draw", 0) < 4:
        return out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rhat = az.rhat(posterior, var_names=sorted({c.name for c in coords}))
    except Exception:  # noqa: BLE001 - a diagnostic must not stop the plot
        return out
    for c in coords:
        v = np.asarray(rhat[c.name].values, dtype=np.float64)
        out[c.label] = float(v[c.index] if c.index else v)
    return out


def _draw_traces(fig, posterior: xr.Dataset, coords: list[_Coordinate], rhat: dict[str, float], n_total: int) -> None:
    axes = fig.subplots(len(coords), 2, squeeze=False, gridspec_kw={"width_ratios": [3, 1]})
    for r, c in enumerate(coords):
        values = _values(posterior, c, _SAMPLE_DIMS)  # (chain, draw)
        ax, hx = axes[r]
        for chain in range(values.shape[0]):
            ax.plot(values[chain], lw=0.6, alpha=0.8, color=f"C{chain % 10}", label=f"chain {chain}")
            finite = values[chain][np.isfinite(values[chain])]
            if finite.size:
                hx.hist(finite, bins=_bins(finite.size), histtype="step", color=f"C{chain % 10}",
                        orientation="horizontal")
        r_hat = rhat.get(c.label, math.nan)
        title = f"{c.label}   R-hat {r_hat:.3f}" if math.isfinite(r_hat) else f"{c.label}   R-hat n/a"
        ax.set_title(title, fontsize="medium", loc="left", color="C3" if r_hat > 1.01 else "black")
        ax.set_ylabel(c.label)
        hx.sharey(ax)
        hx.tick_params(labelleft=False)
        if r == len(coords) - 1:
            ax.set_xlabel("draw")
            hx.set_xlabel("count")
        if r == 0 and values.shape[0] > 1:
            ax.legend(loc="upper right", fontsize="x-small", ncol=min(values.shape[0], 4))
    if n_total > len(coords):
        fig.suptitle(f"traces of the first {len(coords)} of {n_total} coordinates", fontsize="medium")
    else:
        fig.suptitle("traces", fontsize="medium")


def _draw_pairs(fig, posterior: xr.Dataset, coords: list[_Coordinate], diverging: np.ndarray | None, seed: int) -> None:
    k = len(coords)
    columns = [_values(posterior, c, _SAMPLE_DIMS).ravel() for c in coords]
    div = np.zeros_like(columns[0], dtype=bool) if diverging is None else diverging.ravel().astype(bool)
    if div.shape != columns[0].shape:
        div = np.zeros_like(columns[0], dtype=bool)
    keep = np.flatnonzero(~div)
    if keep.size > MAX_SCATTER:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAX_SCATTER, replace=False))
    grid = fig.add_gridspec(k, max(k, 3))  # a few columns at least, so that two coordinates are not stretched
    diagonal: list[Any] = []
    for i in range(k):
        row_first = None
        for j in range(i + 1):  # the lower triangle and the diagonal
            ax = fig.add_subplot(grid[i, j], sharex=diagonal[j] if j < i else None,
                                 sharey=row_first if 0 < j < i else None)
            if j == 0 and i > 0:
                row_first = ax
            if i == j:
                diagonal.append(ax)
            if i == j:
                finite = columns[i][np.isfinite(columns[i])]
                if finite.size:
                    ax.hist(finite, bins=_bins(finite.size), color="C0", alpha=0.7)
                ax.tick_params(labelleft=False)
            else:
                ax.scatter(columns[j][keep], columns[i][keep], s=3, alpha=0.3, color="C0", linewidths=0)
                if div.any():
                    ax.scatter(columns[j][div], columns[i][div], s=10, color="C3", marker="x", linewidths=0.8,
                               label="divergent")
                if j == 0:
                    ax.set_ylabel(coords[i].label)
                else:
                    ax.tick_params(labelleft=False)
            if i == k - 1:
                ax.set_xlabel(coords[j].label)
            else:
                ax.tick_params(labelbottom=False)
    n_div = int(div.sum())
    fig.suptitle(f"pairs ({n_div} divergent draw{'s' if n_div != 1 else ''}, marked ×)" if n_div else "pairs",
                 fontsize="medium")


# ------------------------------------------------------------ MLE/MAP panels


def _estimate_names(pe: xr.Dataset) -> list[str]:
    names = [
        n for n in pe.data_vars
        if n != "covariance"
        and not any(n.endswith(x) and n[: -len(x)] in pe.data_vars for x in ("_se", "_lower", "_upper"))
        and "series" not in pe[n].dims  # per-series diagnostics (a VI fit's series_elbo), not parameters
    ]
    if not names:
        raise UsageError("the `point_estimate` group has no estimates to plot")
    return names


def _draw_estimates(fig, pe: xr.Dataset, coords: list[_Coordinate], n_total: int, intervals: bool = True) -> None:
    ncols = min(4, len(coords))
    nrows = math.ceil(len(coords) / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for a, ax in enumerate(axes.ravel()):
        if a >= len(coords):
            ax.set_axis_off()
            continue
        c = coords[a]
        est = float(_values(pe, c, ()))
        se = math.nan
        if f"{c.name}_se" in pe.data_vars:
            se = float(_values(pe, _Coordinate(c.label, f"{c.name}_se", c.index), ()))
        half = 1.96 * se
        lo, hi = est - half, est + half
        if f"{c.name}_lower" in pe.data_vars:  # the interval mapped through the constraint
            lo = float(_values(pe, _Coordinate(c.label, f"{c.name}_lower", c.index), ()))
            hi = float(_values(pe, _Coordinate(c.label, f"{c.name}_upper", c.index), ()))
        if math.isfinite(lo) and math.isfinite(hi):
            ax.errorbar([est], [0.0], xerr=[[est - lo], [hi - est]], fmt="o", color="C0", capsize=4)
            pad = 0.5 * (hi - lo) + 1e-12 * (1 + abs(est))
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_title(f"{c.label} = {est:.4g} [{lo:.3g}, {hi:.3g}]", fontsize="small")
        else:
            ax.plot([est], [0.0], "o", color="C0")
            ax.set_title(f"{c.label} = {est:.4g} (no s.e.)", fontsize="small")
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize="x-small")
    more = f" (first {len(coords)} of {n_total})" if n_total > len(coords) else ""
    what = "estimates with 95 % Laplace intervals" if intervals else "point estimates of the parameters (VI learns no standard errors)"
    fig.suptitle(f"{what}{more}", fontsize="medium")


def _draw_objective(fig, trace: xr.Dataset | None, method: str) -> None:
    ax = fig.subplots(1, 1)
    objective = None if trace is None or "objective" not in trace else np.asarray(trace["objective"].values, np.float64)
    if objective is None or objective.size == 0:
        ax.text(0.5, 0.5, "no optimizer trace", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    steps = np.arange(objective.size)
    ax.plot(steps, objective, color="C0", lw=1.2)
    finite = objective[np.isfinite(objective)]
    if finite.size:
        what = {"mle": "log-likelihood", "vi": "ELBO"}.get(method, "log posterior")
        ax.set_title(f"optimizer objective ({what}); last {finite[-1]:.6g}", fontsize="medium")
        tail = finite[finite.size // 10:]  # the first steps may dwarf the rest: zoom on the others
        lo, hi = float(np.min(tail)), float(np.max(tail))
        if hi > lo and float(np.ptp(finite)) > 10 * (hi - lo):
            pad = 0.05 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
            ax.text(0.99, 0.04, "zoomed on the last 90% of steps", ha="right", va="bottom",
                    transform=ax.transAxes, fontsize="x-small", color="0.4")
    ax.set_xlabel("step")
    ax.set_ylabel("objective")


# --------------------------------------------------------------- data panels


class _DataRow(NamedTuple):
    label: str
    name: str
    component: int


def _flat_components(values: np.ndarray, lead: int) -> np.ndarray:
    """``values`` with the dims after the first ``lead`` flattened into one."""
    return values.reshape(values.shape[:lead] + (-1,))


def _data_rows(observed: xr.Dataset, predictive: xr.Dataset | None) -> list[_DataRow]:
    rows: list[_DataRow] = []
    for name, da in observed.data_vars.items():
        extra = tuple(n for d, n in da.sizes.items() if d not in ("series", "obs"))
        size = math.prod(extra)
        for k in range(min(size, MAX_COMPONENTS)):
            label = name
            if size > 1:
                label += "[" + ", ".join(str(int(i)) for i in np.unravel_index(k, extra)) + "]"
            rows.append(_DataRow(label, str(name), k))
    if predictive is not None:  # observations that were not recorded still have paths
        for name, da in predictive.data_vars.items():
            if name in observed.data_vars or da.attrs.get("kind") != "observation":
                continue
            extra = tuple(n for d, n in da.sizes.items() if d not in ("path", "time"))
            for k in range(min(math.prod(extra), MAX_COMPONENTS)):
                rows.append(_DataRow(_label(str(name), tuple(int(i) for i in np.unravel_index(k, extra))) if extra else str(name), str(name), k))
    return rows[:MAX_DATA_ROWS]


def _observed_series(observed: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(times (series, obs), values (series, obs, components), series labels)``."""
    da = observed[name]
    if "series" not in da.dims:
        da = da.expand_dims("series")
    obs_dim = "obs" if "obs" in da.dims else next((d for d in da.dims if d != "series"), None)
    if obs_dim is None:
        raise UsageError(f"observed variable `{name}` has no observation dimension")
    da = da.transpose("series", obs_dim, ...)
    values = _flat_components(np.asarray(da.values, dtype=np.float64), 2)
    time = da.coords.get("time")
    if time is None and "time" in observed:
        time = observed["time"]
    if time is not None and set(time.dims) <= {"series", obs_dim}:
        time = time.broadcast_like(da.isel({d: 0 for d in da.dims if d not in ("series", obs_dim)}, drop=True))
        times = np.asarray(time.transpose("series", obs_dim).values, dtype=np.float64)
    else:
        times = np.broadcast_to(np.arange(da.sizes[obs_dim], dtype=np.float64), values.shape[:2])
    labels = [str(v) for v in np.asarray(da["series"].values)] if "series" in da.coords else [
        str(s) for s in range(da.sizes["series"])
    ]
    return times, values, labels


def _check_predictive(predictive: Any) -> xr.Dataset:
    if not isinstance(predictive, xr.Dataset):
        raise UsageError(f"predictive paths must be an xarray.Dataset, got {type(predictive).__name__}")
    if "path" not in predictive.dims or "time" not in predictive.dims:
        raise UsageError(
            f"predictive paths need the dims (path, time, ...), got ({', '.join(map(str, predictive.dims))})"
        )
    return predictive


def _draw_data(fig, observed: xr.Dataset | None, predictive: xr.Dataset | None, max_paths: int) -> None:
    observed = observed if observed is not None else xr.Dataset()
    rows = _data_rows(observed, predictive)
    series_count = max([observed[r.name].sizes.get("series", 1) for r in rows if r.name in observed] or [1])
    ncols = min(series_count, MAX_SERIES)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    cache: dict[str, tuple] = {}
    for r, row in enumerate(rows):
        if row.name in observed.data_vars:
            if row.name not in cache:
                cache[row.name] = _observed_series(observed, row.name)
            times, values, labels = cache[row.name]
        else:
            times = values = None
            labels = [str(s) for s in range(ncols)]
        paths = None
        if predictive is not None and row.name in predictive.data_vars:
            da = predictive[row.name].transpose("path", "time", ...)
            flat = _flat_components(np.asarray(da.values, dtype=np.float64), 2)
            if row.component < flat.shape[2]:
                paths = np.where(np.isfinite(flat[:, :, row.component]), flat[:, :, row.component], np.nan)
            ptimes = np.asarray(predictive["time"].values, dtype=np.float64)
        for s in range(ncols):
            ax = axes[r, s]
            if paths is not None:
                if np.isfinite(paths).any():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        lo, med, hi = np.nanquantile(paths, [0.05, 0.5, 0.95], axis=0)
                    for p in range(min(max_paths, MAX_THIN_PATHS, paths.shape[0])):
                        ax.plot(ptimes, paths[p], color="0.45", lw=0.4, alpha=0.35)
                    ax.fill_between(ptimes, lo, hi, color="C0", alpha=0.25, lw=0, label="90% band")
                    ax.plot(ptimes, med, color="C0", lw=1.6, label="median")
                else:
                    ax.text(0.5, 0.9, "no finite predictive values", ha="center", transform=ax.transAxes,
                            fontsize="small")
            if values is not None and s < values.shape[0] and row.component < values.shape[2]:
                t, v = times[s], values[s, :, row.component]
                ok = np.isfinite(t) & np.isfinite(v)
                ax.plot(t[ok], v[ok], "o", ms=3, color="black", alpha=0.8, label="data", zorder=3)
            if r == 0:
                ax.set_title(f"series {labels[s]}" if s < len(labels) else f"series {s}", fontsize="medium")
            if s == 0:
                ax.set_ylabel(row.label)
            if r == len(rows) - 1:
                ax.set_xlabel("t")
            if r == 0 and s == 0:
                ax.legend(loc="best", fontsize="x-small")
    what = "the fitted model's paths and the data" if predictive is not None else "the data"
    if series_count > ncols:
        what += f" (first {ncols} of {series_count} series)"
    fig.suptitle(what, fontsize="medium")


# ------------------------------------------------------- VI: inferred paths


def _inferred_rows(idata: Any, groups) -> list[tuple[str, str, xr.DataArray]]:
    """``(group, name, quantiles (quantile, series, obs))`` of a VI fit's
    inferred paths: the observation means (``rates``) first, then the latent
    states; scalar variables only (a vector's first component)."""
    rows = []
    for group in ("rates", "latent_states"):
        if group not in groups:
            continue
        ds = idata[group]
        for name in ds.data_vars:
            q = f"{name}_quantile"
            if name.endswith("_quantile") or q not in ds.data_vars:
                continue
            da = ds[q]
            extra = [d for d in da.dims if d not in ("quantile", "series", "obs")]
            da = da.isel({d: 0 for d in extra}).transpose("quantile", "series", "obs")
            rows.append((group, name, da))
    return rows[:MAX_SERIES]


def _draw_inferred(fig, observed: xr.Dataset | None, rows) -> None:
    series_count = rows[0][2].sizes["series"]
    ncols = min(series_count, MAX_SERIES)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, (group, name, da) in enumerate(rows):
        times = np.asarray(da["time"].transpose("series", "obs").values, np.float64) if "time" in da.coords else None
        q = np.asarray(da.values, np.float64)
        data = _observed_series(observed, name) if observed is not None and group == "rates" and name in observed else None
        for s in range(ncols):
            ax = axes[r, s]
            t = times[s] if times is not None else np.arange(q.shape[2], dtype=np.float64)
            ok = np.isfinite(t)
            ax.fill_between(t[ok], q[0, s][ok], q[-1, s][ok], color="C1", alpha=0.3, lw=0, label="90% band")
            ax.plot(t[ok], q[q.shape[0] // 2, s][ok], color="C1", lw=1.4, label="median")
            if data is not None:
                dt_, dv, _ = data
                good = np.isfinite(dt_[s]) & np.isfinite(dv[s, :, 0])
                ax.plot(dt_[s][good], dv[s, good, 0], "o", ms=3, color="black", alpha=0.8, label="data", zorder=3)
            if r == 0:
                ax.set_title(f"series {s}", fontsize="medium")
            if s == 0:
                ax.set_ylabel(name if group == "latent_states" else f"{name} (mean)")
            if r == len(rows) - 1:
                ax.set_xlabel("t")
            if r == 0 and s == 0:
                ax.legend(loc="best", fontsize="x-small")
    more = f" (first {ncols} of {series_count} series)" if series_count > ncols else ""
    fig.suptitle(f"the inferred paths (posterior median and 90% band) and the data{more}", fontsize="medium")


# ------------------------------------------------------------------ plot_fit


def _title(idata: Any, kind: str, main: xr.Dataset) -> str:
    attrs = main.attrs
    model = attrs.get("model", "fit")
    method = str(attrs.get("method", "nuts" if kind == "nuts" else "point estimate")).upper()
    likelihood = attrs.get("likelihood")
    title = f"{model}: {method}"
    if method == "VI":
        title += f" (variational inference), ELBO {float(attrs.get('elbo', float('nan'))):.6g}"
        return title
    if likelihood:
        title += f" ({likelihood} likelihood)"
    if kind == "nuts":
        title += f", {main.sizes.get('chain', 0)} chains × {main.sizes.get('draw', 0)} draws"
    if "log_likelihood" in _groups(idata) and "series_log_likelihood" in idata.log_likelihood:
        ll = np.asarray(idata.log_likelihood["series_log_likelihood"].values, dtype=np.float64)
        if ll.size and kind != "nuts":
            total = float(np.sum(ll.reshape(-1, ll.shape[-1])[0])) if ll.ndim else float(ll)
            title += f", log-likelihood {total:.6g}"
    return title


def plot_fit(
    idata: Any,
    output: str | os.PathLike,
    predictive: xr.Dataset | None = None,
    max_paths: int = 20,
    *,
    dpi: int = 100,
    seed: int = 0,
) -> Path:
    """Draw a fit to an image file: traces and pairs (NUTS) or estimates and
    the objective (MLE/MAP), and the data with the fitted model's paths.

    Args:
        idata: the ``arviz.InferenceData`` of ``dync fit``: a ``posterior``
            (NUTS) or ``point_estimate`` (MLE/MAP) group, optionally
            ``sample_stats`` (``diverging``), ``optimizer_trace``
            (``objective``), ``observed_data`` (dims ``(series, obs, ...)``
            with a ``time(series, obs)`` coordinate) and ``log_likelihood``.
        output: the image file; the format follows its suffix (``.png``,
            ``.pdf``, ``.svg``, ...).
        predictive: simulated paths of the fitted model, dims
            ``(path, time, ...)``, with one variable per observation named
            like the ``observed_data`` variables; ``None`` draws the data only.
        max_paths: thin predictive paths drawn per panel (besides the median
            and the 90 % band), at most :data:`MAX_THIN_PATHS`.
        dpi: resolution of raster formats.
        seed: picks the draws shown when a pair panel has too many to show.

    Returns:
        The path written.

    Raises:
        UsageError: ``idata`` is not a fit result (no ``posterior`` nor
            ``point_estimate`` group, or nothing in it to plot), or
            ``predictive`` is not a dataset over ``path`` and ``time``.

    Example:
        >>> plot_fit(az.from_netcdf("fit.nc"), "fit.png")  # doctest: +SKIP
    """
    kind = fit_kind(idata)
    groups = _groups(idata)
    if predictive is not None:
        predictive = _check_predictive(predictive)
    if isinstance(max_paths, bool) or not isinstance(max_paths, (int, np.integer)) or max_paths < 0:
        raise UsageError(f"max_paths must be a whole number >= 0, got {max_paths!r}")
    observed = idata.observed_data if "observed_data" in groups else None
    if observed is not None and not observed.data_vars:
        observed = None

    sections: list[tuple[float, Any]] = []  # (height in inches, draw(subfigure))
    if kind == "nuts":
        main = idata.posterior
        every = _coordinates(main, _posterior_names(main), _SAMPLE_DIMS)
        coords = every[:MAX_TRACE]
        rhat = _rhat(main, coords)
        sections.append((1.7 * len(coords) + 0.5, lambda f: _draw_traces(f, main, coords, rhat, len(every))))
        pair = every[:MAX_PAIR]
        if len(pair) >= 2:
            diverging = None
            if "sample_stats" in groups and "diverging" in idata.sample_stats:
                diverging = np.asarray(idata.sample_stats["diverging"].transpose("chain", "draw").values)
            sections.append((1.6 * len(pair) + 0.5, lambda f: _draw_pairs(f, main, pair, diverging, seed)))
    else:
        main = idata.point_estimate
        every = _coordinates(main, _estimate_names(main), ())
        coords = every[:MAX_TRACE]
        nrows = math.ceil(len(coords) / min(4, len(coords)))
        intervals = str(main.attrs.get("method", "")) != "vi"
        sections.append((1.3 * nrows + 0.5, lambda f: _draw_estimates(f, main, coords, len(every), intervals)))
        trace = idata.optimizer_trace if "optimizer_trace" in groups else None
        method = str(main.attrs.get("method", "mle"))
        if method == "vi" and "elbo_trace" in groups and "elbo" in idata.elbo_trace:
            trace = xr.Dataset({"objective": idata.elbo_trace["elbo"]})
        sections.append((2.6, lambda f: _draw_objective(f, trace, method)))
        inferred = _inferred_rows(idata, groups) if method == "vi" else []
        if inferred:
            sections.append((2.3 * len(inferred) + 0.6, lambda f, data=observed: _draw_inferred(f, data, inferred)))
            observed = None  # drawn with the inferred paths
    if observed is not None or predictive is not None:
        n_rows = len(_data_rows(observed if observed is not None else xr.Dataset(), predictive))
        if n_rows:
            sections.append((2.3 * n_rows + 0.6, lambda f: _draw_data(f, observed, predictive, max_paths)))

    fig, subfigs = _figure([h for h, _ in sections], width=12.0)
    for (_, draw), sub in zip(sections, subfigs):
        draw(sub)
    fig.suptitle(_title(idata, kind, main), fontsize="large")

    target = Path(output)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return target
