"""``dync plot`` as a Python function the CLI and users share.

``dync plot FILE -o OUT`` draws either kind of NetCDF file dync writes:

* a **fit** (``dync fit``: an ArviZ InferenceData with a ``posterior`` or a
  ``point_estimate`` group): the spec stored in the file is compiled again,
  its parameters set to the posterior mean (NUTS) or the estimate (MLE/MAP)
  and the parameters held fixed, and the model simulated from the first to
  the last observation time; :func:`dync.runtime.plot_fit.plot_fit` draws the
  traces or estimates and these paths against the data;
* a **simulation** (``dync simulate``): :func:`dync.runtime.plot.plot_dataset`.

This module imports JAX only when a fit is plotted.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DyncError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import xarray

__all__ = ["fit_predictive", "grid_step", "netcdf_groups", "plot_file", "read_fit"]


def _is_generated(ds: "xarray.Dataset") -> bool:
    """A ``dync sample --reverse`` file: samples over ``sample``, no paths."""
    return str(ds.attrs.get("method", "")).startswith("reverse") and any(
        v.dims[:1] == ("sample",) for v in ds.data_vars.values()
    )


def _plot_generated(ds: "xarray.Dataset", output, compare_with, seed: int) -> Path:
    """Generated samples against the data: ``compare_with``, else the
    training data the file records (when that file is still there)."""
    from ..runtime.plot_samples import plot_samples
    from ..runtime.sample_data import read_sample_array

    name = next(str(n) for n, v in ds.data_vars.items() if v.dims[:1] == ("sample",) and n != "loglik")
    x = np.asarray(ds[name].values)
    data, label = None, "data"
    source = compare_with if compare_with is not None else ds.attrs.get("training_data")
    if source is not None and compare_with is None and not Path(str(source)).is_file():
        warnings.warn(f"the training data {source} that the file records is not there: drawing the samples only "
                      "(give another with --data FILE)", RuntimeWarning, stacklevel=2)  # fmt: skip
        source = None
    if source is not None:
        data = read_sample_array(source, name, x.shape[1:])
        label = Path(str(source)).name if compare_with is not None else f"training data {Path(str(source)).name}"
    title = f"{ds.attrs.get('model', 'generated')}: {ds.attrs.get('method', 'reverse')}, {ds.sizes['sample']} samples"
    return plot_samples(x.reshape(len(x), -1), output, data=data, name=name, title=title, data_label=label, seed=seed)

#: the predictive paths take about this many steps from the first observation to the last
TARGET_STEPS = 400
#: and at most this many, to put every observation time on the step grid
MAX_STEPS = 20_000

_FIT_GROUPS = ("posterior", "point_estimate")


def _check_image_format(output: str | os.PathLike) -> None:
    """Refuse an image suffix matplotlib cannot write (`-o fig.txt`) before
    any work, naming the ones it can.

    Raises:
        UsageError: an unsupported suffix.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(output).suffix.lstrip(".").lower() or "png"
    known = FigureCanvasBase.get_supported_filetypes()
    if suffix not in known:
        raise UsageError(
            f"cannot draw a `.{suffix}` image: {output}",
            hint="name the image with a suffix matplotlib writes: " + ", ".join(f".{k}" for k in sorted(known)),
        )


def netcdf_groups(path: str | Path) -> list[str]:
    """The top-level groups of a NetCDF file (none for a plain dataset), read
    without loading any data.

    Raises:
        UsageError: no such file, or it is not a NetCDF file.
    """
    source = Path(path)
    if not source.exists():
        raise UsageError(f"no such file: {source}")
    if not source.is_file():
        raise UsageError(f"{source} is not a file")
    try:
        import netCDF4

        try:
            with netCDF4.Dataset(source, "r") as nc:
                return list(nc.groups)
        except OSError as err:
            raise UsageError(f"cannot read {source} as NetCDF: {err}", hint="plot a file written by `dync simulate` or `dync fit`") from None
    except ImportError:
        pass
    import h5py  # h5netcdf's backend (see dync.runtime.io.netcdf_engine)

    try:
        with h5py.File(source, "r") as h5:
            return [k for k, v in h5.items() if isinstance(v, h5py.Group)]
    except OSError as err:
        raise UsageError(f"cannot read {source} as NetCDF: {err}", hint="plot a file written by `dync simulate` or `dync fit`") from None


def read_fit(path: str | Path, groups: list[str] | None = None) -> Any:
    """The ``arviz.InferenceData`` of a ``dync fit`` file, fully in memory
    (the file is closed on return).

    Raises:
        UsageError: the file cannot be read, or has neither a ``posterior``
            nor a ``point_estimate`` group.
    """
    import xarray as xr

    from ..runtime.arviz_import import import_arviz
    from ..runtime.io import netcdf_engine

    az = import_arviz()

    source = Path(path)
    groups = netcdf_groups(source) if groups is None else groups
    if not any(g in groups for g in _FIT_GROUPS):
        raise UsageError(
            f"{source} is not a fit result: it has neither a `posterior` nor a `point_estimate` group",
            hint="plot a file written by `dync fit` or `dync simulate`",
        )
    datasets = {}
    for group in groups:
        try:
            datasets[group] = xr.load_dataset(source, group=group, engine=netcdf_engine())
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot read group `{group}` of {source}: {err}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # point_estimate, optimizer_trace: not ArviZ's own group names
        return az.InferenceData(**datasets)


def _json_attr(attrs: dict, key: str) -> dict:
    raw = attrs.get(key, "{}")
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except json.JSONDecodeError:
        raise UsageError(f"the fit's attribute `{key}` is not valid JSON: {raw!r}") from None
    if not isinstance(value, dict):
        raise UsageError(f"the fit's attribute `{key}` must be a JSON object, got {raw!r}")
    return value


def _observation_times(idata: Any) -> np.ndarray:
    """Sorted unique finite observation times of every series."""
    if "observed_data" not in idata.groups():
        return np.zeros(0)
    observed = idata.observed_data
    if "time" not in observed.variables:
        return np.zeros(0)
    times = np.asarray(observed["time"].values, dtype=np.float64).ravel()
    return np.unique(times[np.isfinite(times)])


def grid_step(times: np.ndarray, target_steps: int = TARGET_STEPS, max_steps: int = MAX_STEPS) -> float | None:
    """The largest step ``dt = span / n`` with ``n >= target_steps`` (and at
    most ``max_steps``) that puts every time on the grid ``times[0] + i*dt``
    (to :data:`~dync.runtime.schedule.GRID_RTOL`, as ``simulate`` checks), or
    ``None``.
    """
    from ..runtime.schedule import GRID_RTOL

    t0, span = float(times[0]), float(times[-1] - times[0])
    offsets = times - t0
    tol = GRID_RTOL * np.maximum(np.abs(times), span)
    block = max(1, 2_000_000 // max(1, times.size))
    for start in range(target_steps, max_steps + 1, block):
        n = np.arange(start, min(start + block, max_steps + 1), dtype=np.float64)
        h = span / n
        i = np.round(offsets[None, :] / h[:, None])
        ok = np.all(np.abs(t0 + i * h[:, None] - times[None, :]) <= np.maximum(tol[None, :], GRID_RTOL * h[:, None]), axis=1)
        if ok.any():
            return float(h[np.argmax(ok)])
    return None


def fit_predictive(idata: Any, paths: int = 100, seed: int = 0) -> xarray.Dataset | None:
    """Paths of the fitted model over the observation times.

    The spec stored in the fit (``spec_text``, ``spec_path``, ``dims_json``)
    is compiled, the parameters set to the posterior mean (NUTS) or the point
    estimate (MLE/MAP) and to the values held fixed (``fixed_json``), and
    ``paths`` paths simulated from the first observation time to the last,
    saved at the observation times when a step grid of at most
    :data:`MAX_STEPS` steps holds them all, else on a regular grid of
    :data:`TARGET_STEPS` steps. The model's initial-state law is used at the
    first observation time.

    Args:
        idata: a fit result (see :func:`read_fit`).
        paths: number of paths.
        seed: seeds the model's construction and the simulation.

    Returns:
        The simulated dataset (:func:`dync.simulate`), or ``None`` when there
        is nothing to simulate over (fewer than two observation times) or it
        cannot be simulated from what the fit stores (no spec text, or a
        model reading input covariates); the last two with a
        ``RuntimeWarning``.

    Raises:
        DyncError: the stored spec does not compile, a stored value does not
            fit the model, or the simulation fails.
    """
    import jax

    from ..compiler.driver import build_model, compile_ast, read_spec
    from ..runtime.params import with_params
    from ..runtime.simulate import simulate

    kind = "posterior" if "posterior" in idata.groups() else "point_estimate"
    main = idata[kind]
    attrs = dict(main.attrs)
    text = attrs.get("spec_text")
    if not isinstance(text, str) or not text.strip():
        warnings.warn("no predictive paths: the fit does not record its spec (`spec_text`)", RuntimeWarning, stacklevel=2)
        return None
    times = _observation_times(idata)
    if times.size < 2:
        return None
    spec = read_spec(str(attrs.get("spec_path") or "fit.dync"), text)
    try:
        dims = {str(k): int(v) for k, v in _json_attr(attrs, "dims_json").items()}
    except (TypeError, ValueError):
        raise UsageError(f"the fit's attribute `dims_json` must map dims to whole numbers, got {attrs['dims_json']!r}") from None
    model = build_model(compile_ast(spec, dims), jax.random.key(seed))
    inputs = _fit_inputs(idata, model.info) if model.info.inputs else None
    if model.info.inputs and inputs is None:
        names = ", ".join(f"`{name}`" for name, *_ in model.info.inputs)
        warnings.warn(
            f"no predictive paths: model `{model.info.name}` reads the input(s) {names}, which the fit does not store "
            "(a fit made before dync stored them in `constant_data`)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    values: dict[str, Any] = {}
    for p in model.info.params:
        if p.name not in main.data_vars:
            continue
        da = main[p.name]
        values[p.name] = np.asarray((da.mean(("chain", "draw")) if kind == "posterior" else da).values, np.float64)
    for name, value in _json_attr(attrs, "fixed_json").items():
        values[name] = np.asarray(value, dtype=np.float64)
    model = with_params(model, values)

    t0, t1 = float(times[0]), float(times[-1])
    run = dict(paths=int(paths), t0=t0, t1=t1, seed=int(seed), progress=False, on_nonfinite="keep", inputs=inputs)
    dt = grid_step(times)
    if dt is not None:
        try:
            return simulate(model, dt=dt, save=times, **run)
        except UsageError:
            pass  # a solver that cannot save there: the regular grid below
    return simulate(model, dt=(t1 - t0) / TARGET_STEPS, save=1, **run)


def _fit_inputs(idata: Any, info: Any) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The input series a fit stored in its ``constant_data`` group
    (:func:`dync.runtime.inference_data.data_groups`), those of its first
    series; ``None`` when it stores none. Predictive paths of data with
    several series whose inputs differ follow the first one's, and a warning
    says so."""
    if "constant_data" not in idata.groups():
        return None
    stored = idata.constant_data
    if any(name not in stored.data_vars or f"{name}_time" not in stored.coords for name, *_ in info.inputs):
        return None
    inputs, differ = {}, False
    for name, *_ in info.inputs:
        times = np.asarray(stored[f"{name}_time"].values, np.float64)
        values = np.asarray(stored[name].values, np.float64)
        inputs[name] = (times[0], values[0])
        differ = differ or not (np.array_equal(times, times[:1].repeat(len(times), 0)) and np.array_equal(values, values[:1].repeat(len(values), 0)))
    if differ:
        label = str(stored["series"].values[0]) if "series" in stored.coords else "0"
        warnings.warn(
            f"the predictive paths follow the inputs of the first series ({label}); the other series' inputs differ",
            RuntimeWarning,
            stacklevel=3,
        )
    return inputs


def _is_simulation(ds: Any) -> bool:
    return any("path" in v.dims and "time" in v.dims for v in ds.data_vars.values())


def plot_file(
    data: str | Path,
    output: str | Path,
    max_paths: int = 20,
    predictive_paths: int = 100,
    seed: int = 0,
    compare_with: str | Path | None = None,
) -> Path:
    """Draw a ``dync fit``, ``dync simulate`` or ``dync sample --reverse``
    NetCDF file to an image.

    Args:
        data: the NetCDF file.
        output: the image; the format follows its suffix (``.png``, ``.pdf``,
            ``.svg``, ...).
        max_paths: thin sample paths drawn per panel.
        predictive_paths: paths simulated from the fitted model for its
            median and 90 % band (fit files only; ``0`` draws the data alone).
        seed: seeds those paths (and which points a crowded scatter keeps).
        compare_with: generated samples only: a data file (``.csv`` or
            ``.nc``) to draw them against, instead of the training data the
            file records.

    Returns:
        The image written.

    Raises:
        UsageError: no such file, not NetCDF, neither a fit, a simulation
            nor generated samples, or a bad argument.
        DyncError: the fit's stored spec no longer compiles, or its model
            cannot be simulated with the stored values.

    Warns:
        RuntimeWarning: the fitted model cannot be simulated from what the
            fit stores (see :func:`fit_predictive`); the figure then has no
            predictive paths. Or the training data a generated file records
            is no longer there; the figure then has the samples only.

    Example:
        >>> plot_file("fit.nc", "fit.png")  # doctest: +SKIP
    """
    for name, value, low in (("max_paths", max_paths, 0), ("predictive_paths", predictive_paths, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise UsageError(f"{name} must be a whole number >= {low}, got {value!r}")
    _check_image_format(output)
    source = Path(data)
    groups = netcdf_groups(source)
    if any(g in groups for g in _FIT_GROUPS):
        from ..runtime.plot_fit import plot_fit

        idata = read_fit(source, groups)
        predictive = None
        vi = "point_estimate" in groups and idata.point_estimate.attrs.get("method") == "vi"
        if predictive_paths > 0 and not vi:  # a VI fit shows its inferred paths instead
            predictive = fit_predictive(idata, paths=predictive_paths, seed=seed)
        return plot_fit(idata, output, predictive=predictive, max_paths=max_paths, seed=seed)
    if groups:
        raise UsageError(
            f"{source} is neither a fit result nor a simulation: its groups are {', '.join(groups)}, "
            "and a fit has a `posterior` or a `point_estimate` group",
            hint="plot a file written by `dync fit` or `dync simulate`",
        )
    from ..runtime.io import read_netcdf
    from ..runtime.plot import plot_dataset

    try:
        ds = read_netcdf(source)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read {source} as NetCDF: {err}") from None
    if _is_generated(ds):
        return _plot_generated(ds, output, compare_with, seed)
    if compare_with is not None:
        raise UsageError("--data is for a file of generated samples (`dync sample --reverse`)", hint="leave it out")
    if not _is_simulation(ds):
        raise UsageError(
            f"{source} is neither a fit result nor a simulation: it has no variables over (path, time)"
            + (f" (its variables: {', '.join(map(str, ds.data_vars))})" if ds.data_vars else ""),
            hint="plot a file written by `dync fit` or `dync simulate`",
        )
    return plot_dataset(ds, output, max_paths=max_paths)
