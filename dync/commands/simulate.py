"""``dync simulate`` as Python functions the CLI and users share.

``dync simulate`` is :func:`simulate_file` plus writing the NetCDF file; the
settings are merged and validated by :mod:`dync.settings`, the spec compiled
by :mod:`dync.compiler.driver`, the model run by :func:`dync.simulate`. This
module imports JAX only when a function runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compiler.driver import build_model, compile_ast, read_spec
from ..compiler.overrides import check_law_arguments
from ..dsl import ast
from ..settings import SimulateSettings, simulate_settings
from .precision import float64_if

if TYPE_CHECKING:  # pragma: no cover
    import xarray

__all__ = ["simulate_file", "simulate_spec"]


def simulate_spec(
    spec: ast.Spec, settings: SimulateSettings, *, progress: bool = False, distributed: bool = False, inputs: Any = None
) -> xarray.Dataset:
    """Compile a parsed spec with the settings' dims and simulate it.

    Args:
        spec: the parsed spec (read once, by the caller).
        settings: from :func:`dync.settings.simulate_settings`.
        progress: show a progress bar.
        distributed: shard the paths over every process of a multi-process
            run (joined first with :func:`dync.runtime.distributed.initialize`).
        inputs: the model's ``input`` covariates: a data file (``.csv`` or
            ``.nc``, read by :func:`dync.runtime.data.read_input_series`), an
            ``xarray.Dataset`` in that format, or what :func:`dync.simulate`
            takes (``{name: (times, values)}``).

    Returns:
        The simulated paths (see :func:`dync.simulate`).

    Raises:
        SpecErrors: the spec has errors.
        UsageError: a setting does not fit the model (a solver, a parameter).
    """
    import jax
    import numpy as np

    from ..compiler.describe import describe_model
    from ..runtime.preflight import preflight_simulate
    from ..runtime.simulate import simulate

    with float64_if(settings.x64):
        compiled = compile_ast(spec, settings.dims)
        # --set and --sweep values replace the spec's after its laws were checked
        check_law_arguments(spec, settings.dims, settings.params, "--set")
        for name, values in settings.sweep.items():
            for value in dict.fromkeys(float(v) for v in np.ravel(values)):
                check_law_arguments(spec, settings.dims, {**settings.params, name: value}, "--sweep")
        info = describe_model(compiled.model)
        inputs = _read_inputs(info, inputs)
        # refuse what cannot fit before the model (its weights) is allocated
        preflight_simulate(info, **settings.run_kwargs())
        model = build_model(compiled, jax.random.key(settings.seed))
        run = settings.run_kwargs()
        run["sweep"] = _each_value_fills(info, run["sweep"])
        ds = simulate(model, progress=progress, distributed=distributed, inputs=inputs, **run)
        return _with_inputs(ds, inputs)


def _each_value_fills(info, sweep: Any) -> Any:
    """``--sweep a=1:2:2`` on a vector parameter ``a[2]``: 2 values, each
    filling ``a`` (``(k,) + shape``). :func:`dync.simulate` reads a 1-d
    array of the parameter's own shape as *one* value, so the command's
    scalar values are broadcast here, where they are known to be scalars."""
    if not sweep:
        return sweep
    import numpy as np

    shapes = {p.name: tuple(p.shape) for p in info.params}
    out = {}
    for name, values in sweep.items():
        v = np.asarray(values)
        shape = shapes.get(name, ())
        out[name] = np.broadcast_to(v.reshape((-1,) + (1,) * len(shape)), (v.size,) + shape) if shape and v.ndim == 1 else values
    return out


def _with_inputs(ds, inputs: Any):
    """The output with each input given as ``(times, values)`` stored beside
    the paths (variable ``u`` on its own time axis ``u_time``), so that the
    output is fit data for the same model (LANGUAGE.md §11: fitting reads an
    input by name, on its own time coordinate)."""
    import numpy as np
    import xarray as xr

    for name, value in (inputs or {}).items():
        if not isinstance(value, tuple) or len(value) != 2 or name in ds:
            continue  # a callable or a DataArray: nothing to store as a series
        times, values = (np.asarray(v, np.float64) for v in value)
        axis = f"{name}_time"
        dims = (axis,) + tuple(f"{name}_dim{i}" for i in range(values.ndim - 1))
        ds[name] = xr.DataArray(values, dims=dims, coords={axis: times}, attrs={"description": f"the input `{name}`"})
    return ds


def _read_inputs(info, inputs: Any) -> Any:
    """The ``inputs`` argument of :func:`dync.simulate`: a file or Dataset is
    read by name; a model with inputs and none given is refused with the
    flag that gives them."""
    import os

    import xarray as xr

    from ..errors import UsageError
    from ..runtime.data import read_input_series

    if inputs is None:
        if info.inputs:
            names = ", ".join(f"`{n}`" for n, _ in info.inputs)
            raise UsageError(
                f"model `{info.name}` has the input(s) {names}, and no values were given for them",
                hint="give them with --inputs FILE: a CSV with a `time` column and one column per input "
                "component (or a NetCDF file; docs/runtime.md, Inputs)",
            )
        return None
    if isinstance(inputs, (str, os.PathLike, xr.Dataset)):
        return read_input_series(inputs, info)
    return inputs


def simulate_file(
    path: str | Path,
    *,
    text: str | None = None,
    sets: Any = None,
    sweep: Any = None,
    progress: bool = False,
    inputs: Any = None,
    **settings: Any,
) -> xarray.Dataset:
    """Read, compile and simulate a spec, as ``dync simulate`` does.

    Args:
        path: a ``.dync`` or ``.yaml`` spec; a YAML spec's ``simulate:``
            section gives defaults.
        text: the spec's text, when it is not to be read from ``path``.
        sets: dims and parameter values, ``{"K": 16, "theta": 0.5}`` or
            ``["K=16", "theta=0.5"]``.
        sweep: parameter name → values, or ``["sigma=0.1:1:10"]``.
        progress: show a progress bar.
        inputs: the model's ``input`` covariates (a data file, a Dataset or
            ``{name: (times, values)}``; see :func:`simulate_spec`).
        **settings: ``paths``, ``t0``, ``t1``, ``dt``, ``save``,
            ``save_every``, ``solver``, ``seed``, ``chunk_size``,
            ``adaptive``, ``max_steps``, ``on_nonfinite``: over the spec's
            section, over the defaults.

    Raises:
        SpecErrors: the spec has errors.
        UsageError: a setting is missing, unknown or out of range.

    Example:
        >>> ds = dync.simulate_file("specs/ou.dync", t1=1.0, dt=1e-2, paths=100, sets={"theta": 0.5})
    """
    spec = read_spec(path, text)
    settings_ = simulate_settings(spec, sets=sets, sweep=sweep, **settings)
    return simulate_spec(spec, settings_, progress=progress, inputs=inputs)
