"""Observation data for fitting: independent series with irregular times and
missing values, as records the likelihoods read.

LANGUAGE.md §11 fixes the file formats; the readers that build these records
from NetCDF and CSV files (with located errors for bad data) live beside them
in this module. The likelihoods (exact Kalman, particle filter) read the
padded, JAX-ready form :class:`PaddedData`, so every series of a data set runs
in one compiled, vmapped computation.

Conventions
-----------
* Times are float64, finite and strictly increasing within a series.
* ``values[name]`` has shape ``(T,) + shape`` of the ``observe`` line; NaN
  marks a missing value (a whole time point or single components).
* Inputs are read by name and interpolated linearly in time, as
  :class:`dync.runtime.inputs.LinearInput` does.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import Span, UsageError, did_you_mean
from ..info.model import ModelInfo, ObservationInfo

__all__ = ["DataError", "ObservationData", "PaddedData", "Series", "column_names", "read_input_series", "read_observations"]


@dataclasses.dataclass(frozen=True)
class Series:
    """One independent series (trial): its times and what was observed.

    Attributes:
        times: ``(T,)`` float64 observation times, strictly increasing.
        values: observation name → ``(T,) + shape`` float64 array, NaN where
            missing.
        inputs: input name → ``(times, values)`` of that series' covariate,
            ``values`` of shape ``(K,) + shape``.
        name: the series' label in the data file (its index or coordinate).
    """

    times: np.ndarray
    values: Mapping[str, np.ndarray]
    inputs: Mapping[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    name: str = ""

    @property
    def length(self) -> int:
        """The number of observation times."""
        return len(self.times)


@dataclasses.dataclass(frozen=True)
class PaddedData:
    """Every series padded to the longest, as arrays a likelihood can vmap over.

    Attributes:
        times: ``(S, T)`` times; a padded slot repeats the series' last time.
        values: name → ``(S, T) + shape`` values; NaN where missing or padded.
        present: ``(S, T)`` bool, False in padded slots.
        lengths: ``(S,)`` int, the real length of each series.
        inputs: input name → ``(times, values)`` of shapes ``(S, K)`` and
            ``(S, K) + shape``, each series padded by repeating its last
            time and value (so linear interpolation, held constant outside,
            is unchanged); empty when the data has no inputs.
    """

    times: np.ndarray
    values: Mapping[str, np.ndarray]
    present: np.ndarray
    lengths: np.ndarray
    inputs: Mapping[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)

    @property
    def num_series(self) -> int:
        """The number of series ``S``."""
        return len(self.lengths)


@dataclasses.dataclass(frozen=True)
class ObservationData:
    """A data set for fitting: one or more independent series.

    Attributes:
        series: the series, in file order.
        source: where the data came from (a path, or ``"<Dataset>"``), for
            messages.
    """

    series: tuple[Series, ...]
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The observation names present in the data."""
        return tuple(self.series[0].values) if self.series else ()

    def padded(self) -> PaddedData:
        """All series padded to the longest (see :class:`PaddedData`)."""
        lengths = np.array([s.length for s in self.series], dtype=np.int64)
        longest = int(lengths.max()) if lengths.size else 0
        times = np.empty((len(self.series), longest), np.float64)
        present = np.zeros((len(self.series), longest), bool)
        values: dict[str, np.ndarray] = {}
        for i, s in enumerate(self.series):
            n = s.length
            times[i, :n] = s.times
            times[i, n:] = s.times[-1] if n else 0.0
            present[i, :n] = True
            for name, v in s.values.items():
                if name not in values:
                    values[name] = np.full((len(self.series), longest) + v.shape[1:], np.nan, np.float64)
                values[name][i, :n] = v
        return PaddedData(times, values, present, lengths, self._padded_inputs())

    def _padded_inputs(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        names = [n for n in (self.series[0].inputs if self.series else {}) if all(n in s.inputs for s in self.series)]
        out = {}
        for name in names:
            pairs = [s.inputs[name] for s in self.series]
            longest = max(t.shape[0] for t, _ in pairs)
            ts = np.stack([np.concatenate([t, np.repeat(t[-1:], longest - t.shape[0])]) for t, _ in pairs])
            vs = np.stack([np.concatenate([v, np.repeat(v[-1:], longest - v.shape[0], axis=0)]) for _, v in pairs])
            out[name] = (ts.astype(np.float64), vs.astype(np.float64))
        return out


# ---------------------------------------------------------------------------
# Reading data files (LANGUAGE.md §11)


class DataError(UsageError):
    """A data file that does not fit the model: located at the file, the
    variable or column, and the row (CSV line) or index (NetCDF)."""

    code = "E410"


#: the CSV column (or NetCDF dimension) that labels series; ``path`` is what
#: ``dync simulate`` writes
SERIES_NAMES = ("series", "path")

def _missing_input_hint(name: str, shape: tuple[int, ...], columns: list[str]) -> str:
    """What to add for a declared input that a CSV file of observations
    lacks: its columns, with its value at each row's time (an input is
    known, not observed, so "empty cells where not observed" is wrong)."""
    shown = ", ".join(f"`{c}`" for c in columns[:3]) + (", ..." if len(columns) > 3 else "")
    return (
        f"an input is known, not observed: add the column{'s' if len(columns) > 1 else ''} {shown} with the "
        f"value of `{name}` on the rows (interpolated linearly between the rows that give it, held constant beyond "
        "them); `dync fit` reads a model's inputs from its data file, by name"
    )


#: CSV cells that mean "missing" besides an empty cell (``float`` also reads ``nan``)
_MISSING = ("", "na", "n/a")


def column_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """The CSV columns of one observation or input, in row-major order:
    ``y`` for a scalar, ``y[0]``, ``y[1]``, ... for a vector and ``y[0][1]``
    for a matrix component (no comma, so the header needs no quotes; the
    reader also takes a quoted ``"y[0, 1]"``).

    Example:
        >>> column_names("y", (2, 2))
        ['y[0][0]', 'y[0][1]', 'y[1][0]', 'y[1][1]']
    """
    return [_component_name(name, index) for index in np.ndindex(*shape)]


def _component_name(name: str, index: tuple[int, ...]) -> str:
    return name + "".join(f"[{int(i)}]" for i in index)


def read_observations(
    source: str | os.PathLike | xr.Dataset, info, *, inputs: bool = True
) -> ObservationData:
    """Read a data set for fitting from a NetCDF or CSV file, or a Dataset.

    The format is LANGUAGE.md §11 (and ``docs/fitting.md``, "Data files"):
    one variable (NetCDF) or one column per component (CSV) for every
    ``observe`` name of the model, a ``time`` coordinate or column, an
    optional ``series`` dimension or column, NaN (an empty cell) for a
    missing value. A ``dync simulate`` output is valid data: its ``path``
    dimension is the series, its state variables are ignored.

    Args:
        source: a ``.nc`` or ``.csv`` path, or an :class:`xarray.Dataset`.
        info: the model's :class:`~dync.info.ModelInfo` (or the model).
        inputs: read every declared ``input`` from the same file, per series,
            as ``(times, values)``; ``False`` ignores input variables.

    Returns:
        The series in file order. A time at which nothing is observed (every
        observation missing) is dropped: it carries no information.

    Raises:
        DataError: the data does not fit the model (a missing or unknown
            variable, a wrong shape, bad times, a value outside the
            observation law's support, a series without observations);
            the message names the file, the variable or column and the row
            or index.

    Example:
        >>> model = dync.load("specs/ou.dync")  # doctest: +SKIP
        >>> data = read_observations("ou.nc", model.info)  # doctest: +SKIP
        >>> data.padded().times.shape  # doctest: +SKIP
        (3, 6)
    """
    if not isinstance(info, ModelInfo):
        info = info.info
    if not info.observations:
        raise UsageError(
            f"model `{info.name}` has no `observe` line, so there is nothing to fit it to",
            hint="add `observe NAME ~ LAW(...)` lines for the measured quantities (docs/language.md §2.11)",
        )
    return read_data_file(
        source,
        csv=lambda path: _CsvReader(path, info, inputs).read(),
        netcdf=lambda ds, where: _DatasetReader(ds, info, where, inputs).read(),
    )


def read_input_series(source: str | os.PathLike | xr.Dataset, info) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the declared ``input`` covariates of a model to simulate it
    (``dync simulate --inputs FILE``): the data-file format of
    :func:`read_observations` (a ``time`` coordinate or column and one
    variable or column per input component), without observations. Columns
    or variables of the model's observations and states are ignored, so a
    fitting data file serves as well.

    Returns:
        input name → ``(times, values)``, ``values`` of shape
        ``(K,) + shape``, interpolated linearly by the simulation.

    Raises:
        UsageError: the model declares no input.
        DataError: the file does not give every input, holds more than one
            series, or has bad times or values (located like fitting data).
    """
    if not isinstance(info, ModelInfo):
        info = info.info
    if not info.inputs:
        raise UsageError(f"model `{info.name}` declares no `input`, so it reads no input file", hint="drop --inputs")
    only = dataclasses.replace(info, observations=())
    data = read_data_file(
        source,
        csv=lambda path: _CsvReader(path, only, True, inputs_only=True).read(),
        netcdf=lambda ds, where: _DatasetReader(ds, only, where, True, inputs_only=True).read(),
    )
    if len(data.series) != 1:
        labels = ", ".join(f"`{s.name}`" for s in data.series[:3]) + (", ..." if len(data.series) > 3 else "")
        raise DataError(
            f"the input file holds {len(data.series)} series ({labels}); a simulation takes one input series",
            Span(data.source, 0, 0),
            hint="keep the rows (or the `series` index) of one series",
        )
    return dict(data.series[0].inputs)


#: the file suffixes read as NetCDF
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".h5", ".cdf")


def read_data_file(source, *, csv, netcdf):
    """Read a data file (LANGUAGE.md §11) by its suffix: ``csv(path)`` for a
    ``.csv`` file, ``netcdf(dataset, where)`` for a NetCDF file or an
    ``xarray.Dataset`` (``where`` names it in errors). A missing file, an
    unknown suffix or an unreadable file is a located :class:`DataError`."""
    if isinstance(source, xr.Dataset):
        return netcdf(source, "<Dataset>")
    path = Path(os.fspath(source))
    where = str(source)
    if not path.is_file():
        raise DataError(f"no such data file: {where}", Span(where, 0, 0))
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return csv(path)
        if suffix in NETCDF_SUFFIXES:
            return netcdf(_load_netcdf(path), where)
    except OSError as err:
        raise DataError(f"cannot read the file: {err.strerror or err}", Span(where, 0, 0)) from None
    raise DataError(
        f"cannot tell the format of `{path.name}`",
        Span(where, 0, 0),
        hint="data files are NetCDF (`.nc`) or CSV (`.csv`)",
    )


def _load_netcdf(path: Path) -> xr.Dataset:
    from .io import netcdf_engine

    where = str(path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", Span(where, 0, 0), hint="write the data with xarray's `to_netcdf`")
    try:
        return xr.load_dataset(path, engine=netcdf_engine())
    except Exception as err:  # the engines raise many kinds; none is the user's fault to debug
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(
            f"cannot read the file as NetCDF: {first}",
            Span(where, 0, 0),
            hint="per-series times are a 2-D coordinate `time` with dims (series, obs), "
            "not a dimension also named `time`"
            if "time" in first
            else "is it a NetCDF file? CSV data needs the suffix `.csv`",
        ) from None


# ---------------------------------------------------------------------------
# Supports of the observation laws


@functools.lru_cache(maxsize=None)
def _support_test(distribution: str):
    """``(test, words)``: a NumPy test of values in the law's support and the
    support in words, or ``None`` for a law dync does not know."""
    from .distributions import support_test

    return support_test(distribution)


def _first_bad(obs: ObservationInfo, values: np.ndarray) -> tuple[tuple[int, ...], float, str] | None:
    """The first value (in C order) that is infinite or outside the law's
    support, as ``(index, value, why)``; NaN (missing) is fine."""
    present = ~np.isnan(values)
    bad = present & ~np.isfinite(values)
    why = "is not finite"
    if not bad.any():
        test = _support_test(obs.distribution)
        if test is None:
            return None
        fn, words = test
        with np.errstate(invalid="ignore"):
            bad = present & ~fn(np.where(present, values, 0.0))
        why = f"is outside the support of {obs.distribution} ({words})"
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return index, float(values[index]), why


def _support_hint(obs: ObservationInfo) -> str:
    if obs.discrete:
        return f"`{obs.name}` ~ {obs.distribution} takes whole numbers; a missing value is NaN (an empty CSV cell)"
    return f"`{obs.name}` ~ {obs.distribution}: fix the value; a missing value is NaN (an empty CSV cell)"


def _close(name: str, candidates: list[str]) -> str | None:
    """``did you mean `Y`?``, matching case-insensitively first."""
    for c in candidates:
        if c.lower() == name.lower():
            return f"did you mean `{c}`?"
    return did_you_mean(name, candidates)


def _rename_hint(name: str, header: list[str]) -> str:
    """For a missing input column: the file's column it is probably spelt
    as (`seasn` for `season`), or where to add it."""
    close = difflib.get_close_matches(name, [h.strip() for h in header], n=1, cutoff=0.6)
    return f"rename the column `{close[0]}` to `{name}`" if close else "add its columns"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _drop_unobserved(times, values):
    """Drop the time points where every observation is missing."""
    observed = np.zeros(times.shape, bool)
    for v in values.values():
        observed |= ~np.isnan(v.reshape(v.shape[0], -1)).all(axis=1)
    return times[observed], {k: v[observed] for k, v in values.items()}, observed


# ---------------------------------------------------------------------------
# NetCDF / xarray


class _DatasetReader:
    """Reads one ``xarray.Dataset`` (from a NetCDF file or given in memory)."""

    def __init__(self, ds: xr.Dataset, info: ModelInfo, where: str, inputs: bool, *, inputs_only: bool = False):
        self.ds, self.info, self.where, self.inputs = ds, info, where, inputs
        self.inputs_only = inputs_only  # read the inputs of a simulation: no observations, keep every time

    def error(self, message: str, hint: str | None = None) -> DataError:
        return DataError(message, Span(self.where, 0, 0), hint=hint)

    def read(self) -> ObservationData:
        ds, info = self.ds, self.info
        if "sweep" in ds.dims:
            raise self.error(
                "the data has a `sweep` dimension: a swept simulation is many data sets",
                hint="select one with ds.isel(sweep=i)",
            )
        self.check_variables()
        self.read_times()
        values = {o.name: self.read_observation(o) for o in info.observations}
        input_series = self.read_inputs() if self.inputs else [{} for _ in range(self.num_series)]
        series = []
        for i in range(self.num_series):
            n = self.lengths[i]
            vals = {name: v[i, :n] for name, v in values.items()}
            if self.inputs_only:
                series.append(Series(self.times[i, :n], vals, input_series[i], self.labels[i]))
                continue
            times, vals, _ = _drop_unobserved(self.times[i, :n], vals)
            if times.size == 0:
                raise self.error(
                    f"{self.series_words(i)} has no observations: every value is NaN",
                    hint="remove the series, or check that its values were written",
                )
            series.append(Series(times, vals, input_series[i], self.labels[i]))
        return ObservationData(tuple(series), self.where)

    def warn_if_written_by_another_model(self) -> None:
        """A simulation of another model is fit data only by coincidence of
        names: warn when the file says it was written by another model, and
        when an observation's variable is a state there (``kind = state``)."""
        import warnings

        info, ds = self.info, self.ds
        written_by = ds.attrs.get("model")
        if not isinstance(written_by, str) or not written_by or written_by == info.name:
            return
        states = [o.name for o in info.observations if o.name in ds.variables and ds[o.name].attrs.get("kind") == "state"]
        read_as = (
            f"; its {', '.join(f'`{n}`' for n in states)} {'is a state' if len(states) == 1 else 'are states'} there, "
            "read here as observations"
            if states
            else ""
        )
        warnings.warn(
            f"{self.where}: the data was written by model `{written_by}`, and is fit with model `{info.name}`{read_as} "
            "(if that is not meant, simulate the data from this spec)",
            UserWarning,
            stacklevel=2,
        )

    def check_variables(self) -> None:
        info = self.info
        obs = [o.name for o in info.observations]
        known = set(obs) | {s.name for s in info.states} | {"time"} | {n for n, _ in info.inputs}
        if not self.inputs_only:
            self.warn_if_written_by_another_model()
        for name in obs:
            if name not in self.ds.variables:
                hint = _close(name, [str(v) for v in self.ds.data_vars if str(v) not in known])
                raise self.error(
                    f"no variable `{name}`: every `observe` name of the model needs data",
                    hint=hint or f"add a variable `{name}` with dims (series, time, ...), NaN where not observed",
                )
        for name in self.ds.data_vars:
            if str(name) not in known and not self.inputs_only:
                hint = _close(str(name), obs + [n for n, _ in info.inputs])
                raise self.error(
                    f"unknown variable `{name}`: the model `{info.name}` observes "
                    + ", ".join(f"`{o}`" for o in obs),
                    hint=hint or "drop the variable, or add an `observe` line for it to the spec",
                )
        if self.inputs:
            for name, _ in info.inputs:
                if name not in self.ds.variables:
                    raise self.error(
                        f"no variable for the input `{name}`",
                        hint=f"add a variable `{name}` with dims (time, ...)"
                        if self.inputs_only
                        else f"an input is known, not observed: add a variable `{name}` with dims ([series,] time, ...) "
                        "holding its finite values (on the observation times or an axis of its own, interpolated "
                        "linearly between them); `dync fit` reads a model's inputs from its data file, by name",
                    )

    def read_times(self) -> None:
        ds = self.ds
        if "time" not in ds.variables:
            raise self.error(
                "no `time` coordinate",
                hint="give the observation times as a coordinate `time` (dims (time,), or (series, obs) per series)",
            )
        tvar = ds["time"]
        series_dims = [d for d in SERIES_NAMES if d in ds.dims]
        self.series_dim = series_dims[0] if series_dims else None
        if tvar.dtype.kind not in "iuf":
            raise self.error(
                f"`time` holds {tvar.dtype} values, not numbers",
                hint="times are numbers in the model's time unit (not dates)",
            )
        raw = np.asarray(tvar.values, np.float64)
        if tvar.ndim == 1 and tvar.dims[0] != self.series_dim:
            self.time_dim = tvar.dims[0]
            self.num_series = ds.sizes[self.series_dim] if self.series_dim else 1
            per_series = np.broadcast_to(raw, (self.num_series, raw.size))
            shared = True
        elif tvar.ndim == 2 and self.series_dim in tvar.dims:
            self.time_dim = next(d for d in tvar.dims if d != self.series_dim)
            per_series = np.asarray(tvar.transpose(self.series_dim, self.time_dim).values, np.float64)
            self.num_series = per_series.shape[0]
            shared = False
        else:
            raise self.error(
                f"`time` has dims {tuple(map(str, tvar.dims))}",
                hint="use dims (time,) for shared times or (series, obs) for per-series times",
            )
        if self.series_dim and self.series_dim in ds.coords and ds[self.series_dim].ndim == 1:
            self.labels = [v.decode() if isinstance(v, bytes) else str(v) for v in ds[self.series_dim].values]
        else:
            self.labels = [str(i) for i in range(self.num_series)]
        if self.num_series == 0 or per_series.shape[1] == 0:
            raise self.error("the data holds no observation times", hint="is the file empty?")
        lengths = []
        for i, row in enumerate(per_series):
            nan = np.isnan(row)
            n = int(np.argmax(nan)) if nan.any() else row.size
            if shared and n < row.size or np.isnan(row[:n]).any():
                raise self.error(f"`time` is NaN at {self.index_words(i, n, shared=shared)}", hint=_NAN_TIME_HINT)
            if not nan[n:].all():
                k = n + int(np.argmin(nan[n:]))
                raise self.error(
                    f"`time` at {self.index_words(i, k, shared=shared)} follows a NaN time",
                    hint=_NAN_TIME_HINT,
                )
            inf = ~np.isfinite(row[:n])
            if inf.any():
                k = int(np.argmax(inf))
                raise self.error(
                    f"`time` is {_fmt(row[k])} at {self.index_words(i, k, shared=shared)}: times must be finite"
                )
            steps = np.diff(row[:n])
            if (steps <= 0).any():
                k = int(np.argmax(steps <= 0)) + 1
                if steps[k - 1] == 0:
                    what = f"`time` {_fmt(row[k])} appears twice"
                else:
                    what = f"`time` goes back from {_fmt(row[k - 1])} to {_fmt(row[k])}"
                raise self.error(
                    f"{what} at {self.index_words(i, k, shared=shared)}: times must increase strictly",
                    hint="sort the observations by time and merge duplicates",
                )
            lengths.append(n)
            if shared:
                lengths = [n] * self.num_series
                break
        self.times = np.array(per_series, np.float64)
        self.lengths = lengths

    def series_words(self, i: int) -> str:
        if self.series_dim is None:
            return "the series"
        label = self.labels[i]
        return f"{self.series_dim} {i}" + (f" (`{label}`)" if label != str(i) else "")

    def index_words(self, i: int, k: int, *, shared: bool = False) -> str:
        where = f"{self.time_dim} index {k}"
        if shared or self.series_dim is None:
            return where
        return f"{self.series_words(i)}, {where}"

    def arrange(
        self, name: str, shape: tuple[int, ...], what: str, *, time_dim: str | None = None, per_series: bool = True
    ) -> np.ndarray:
        """The variable as ``(series, time) + shape`` float64.

        ``time_dim`` is its time axis (the observations' by default); with
        ``per_series=False`` a variable without the series axis is shared by
        every series (inputs).
        """
        var = self.ds[name]
        time_dim = time_dim or self.time_dim
        dims = tuple(map(str, var.dims))
        series_dim = self.series_dim if self.series_dim in dims or per_series else None
        expected = ((series_dim,) if series_dim else ()) + (time_dim,)
        others = [d for d in dims if d not in expected]
        if any(d not in dims for d in expected) or len(others) != len(shape):
            expected_words = ", ".join(map(str, expected)) + "".join(f", {n}" for n in shape)
            raise self.error(
                f"variable `{name}` has dims ({', '.join(dims)}); {what} needs ({expected_words})",
                hint=f"{what} has shape {shape}" if shape else f"{what} is a scalar",
            )
        sizes = tuple(var.sizes[d] for d in others)
        if sizes != tuple(shape):
            raise self.error(
                f"variable `{name}` has components of shape {sizes}, but {what} has shape {tuple(shape)}",
                hint="give one component per element of the declared shape, or size the spec to the data "
                "(a shape written with a `dim` takes `--set NAME=VALUE`)",
            )
        if var.dtype.kind not in "iufb":
            raise self.error(f"variable `{name}` holds {var.dtype} values, not numbers")
        arr = np.asarray(var.transpose(*expected, *others).values, np.float64)
        if series_dim is None:
            arr = np.broadcast_to(arr, (self.num_series,) + arr.shape)
        return arr

    def read_observation(self, obs: ObservationInfo) -> np.ndarray:
        arr = self.arrange(obs.name, obs.shape, f"`observe {obs.name}`")
        for i in range(self.num_series):
            bad = _first_bad(obs, arr[i, : self.lengths[i]])
            if bad is not None:
                (k, *component), value, why = bad
                at = self.index_words(i, k)
                if component:
                    at += f", component [{', '.join(map(str, component))}]"
                raise self.error(
                    f"variable `{obs.name}`: the value {_fmt(value)} at {at} (t = {_fmt(self.times[i, k])}) {why}",
                    hint=_support_hint(obs),
                )
        return arr

    def read_inputs(self) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Each series' inputs as ``(times, values)``: on the observation
        times, or on the input's own 1-D time coordinate."""
        out: list[dict] = [{} for _ in range(self.num_series)]
        for name, shape in self.info.inputs:
            dims = [str(d) for d in self.ds[name].dims]
            own = [d for d in dims if d not in (self.series_dim, self.time_dim)]
            if self.time_dim in dims:
                time_dim, times, lengths = self.time_dim, self.times, self.lengths
            elif own and own[0] in self.ds.coords and self.ds[own[0]].ndim == 1:
                time_dim = own[0]
                t = np.asarray(self.ds[time_dim].values, np.float64)
                if not np.isfinite(t).all() or (np.diff(t) <= 0).any():
                    raise self.error(f"the times `{time_dim}` of input `{name}` must be finite and increasing")
                times, lengths = np.broadcast_to(t, (self.num_series, t.size)), [t.size] * self.num_series
            else:
                raise self.error(
                    f"input `{name}` has dims ({', '.join(dims)}): it needs the axis `{self.time_dim}` "
                    "or an axis with its own time coordinate",
                )
            arr = self.arrange(name, shape, f"input `{name}`", time_dim=time_dim, per_series=False)
            for i in range(self.num_series):
                vals = arr[i, : lengths[i]]
                if not np.isfinite(vals).all():
                    k = int(np.argwhere(~np.isfinite(vals))[0][0])
                    raise self.error(
                        f"input `{name}` is not finite at {self.series_words(i)}, {time_dim} index {k}",
                        hint="an input needs a value at each of its times; interpolate the gaps",
                    )
                out[i][name] = (np.array(times[i, : lengths[i]]), np.array(vals))
        return out


_NAN_TIME_HINT = "pad a shorter series with NaN times at its end only"


# ---------------------------------------------------------------------------
# CSV

_HEADER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*((?:\[[^\[\]]*\]\s*)*)$")


def _parse_header(cell: str) -> tuple[str, tuple[int, ...]] | None:
    """``y`` → ``("y", ())``; ``y[0, 1]``, ``y[0,1]`` and ``y[0][1]`` →
    ``("y", (0, 1))``; ``None`` if the cell is no such name."""
    m = _HEADER.match(cell)
    if not m:
        return None
    index = []
    for part in re.findall(r"\[([^\[\]]*)\]", m.group(2)):
        for token in part.split(","):
            if not token.strip().isdigit():
                return None
            index.append(int(token.strip()))
    return m.group(1), tuple(index)


def cell_spans(raw: str) -> list[tuple[int, int]]:
    """0-based ``[start, end)`` of each comma-separated cell of a line, quotes
    respected, surrounding spaces left out."""
    spans, start, quoted = [], 0, False
    for i, ch in enumerate(raw + ","):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            text = raw[start:i]
            lead = len(text) - len(text.lstrip())
            end = start + len(text.rstrip())
            spans.append((min(start + lead, end), end))
            start = i + 1
    return spans


@dataclasses.dataclass
class _Column:
    kind: str  # "time", "series", "obs", "input", "ignored"
    name: str = ""
    index: tuple[int, ...] = ()


class _CsvReader:
    """Reads one CSV file, every error located at a line and a cell."""

    def __init__(self, path: Path, info: ModelInfo, inputs: bool, *, inputs_only: bool = False):
        self.path, self.info, self.inputs = path, info, inputs
        self.inputs_only = inputs_only  # read the inputs of a simulation: no observations, other columns ignored
        self.where = str(path)

    def error(self, message: str, line: int = 0, column: int | None = None, hint: str | None = None) -> DataError:
        if line <= 0:
            return DataError(message, Span(self.where, 0, 0), hint=hint)
        raw = self.lines[line - 1].rstrip("\r\n")
        spans = cell_spans(raw)
        if column is not None and column < len(spans):
            start, end = spans[column]
        else:
            start, end = 0, len(raw)
        span = Span(self.where, line, start + 1, line, max(end, start + 1) + 1, self.text)
        return DataError(message, span, hint=hint)

    def read(self) -> ObservationData:
        try:
            self.text = self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            line = err.object[: err.start].count(b"\n") + 1
            raise self.error(
                f"the file is not UTF-8 text (line {line}, byte {err.start + 1})", hint="save it as UTF-8 CSV"
            ) from None
        self.lines = self.text.splitlines(keepends=True)
        rows = self.rows()
        if not rows:
            raise self.error(
                "the file is empty",
                hint="a CSV data file starts with a header line naming its columns: time, series (optional), "
                + ", ".join(n for o in self.info.observations for n in column_names(o.name, o.shape)[:2])
                + ", ".join(n for name, shape in self.info.inputs if self.inputs_only for n in column_names(name, shape)[:2]),
            )
        header_line, header = rows[0]
        columns = self.read_header(header_line, header)
        if len(rows) == 1:
            raise self.error(
                "the file has a header but no data rows", header_line,
                hint="add one row per observation: its time, its series label (if any) and the observed values",
            )  # fmt: skip
        groups: dict[str, list] = {}
        for line, cells in rows[1:]:
            self.read_row(line, cells, columns, groups)
        series = [self.build_series(label, rows) for label, rows in groups.items()]
        return ObservationData(tuple(series), self.where)

    def rows(self) -> list[tuple[int, list[str]]]:
        reader = csv.reader(self.lines)
        out, previous = [], 0
        try:
            for cells in reader:
                start, previous = previous + 1, reader.line_num
                if any(c.strip() for c in cells):
                    out.append((start, cells))
        except csv.Error as err:
            raise self.error(f"cannot read the CSV: {err}", reader.line_num) from None
        return out

    def read_header(self, line: int, header: list[str]) -> list[_Column]:
        info = self.info
        observations = {o.name: o for o in info.observations}
        inputs = dict(info.inputs)
        states = {s.name for s in info.states}
        columns: list[_Column] = []
        seen: dict[tuple[str, tuple[int, ...]], int] = {}
        valid = ["time", "series"] + [n for o in info.observations for n in column_names(o.name, o.shape)]
        if self.inputs:
            valid += [n for name, shape in info.inputs for n in column_names(name, shape)]
        for j, raw in enumerate(header):
            cell = raw.strip()
            parsed = _parse_header(cell)
            if cell == "time" or cell in SERIES_NAMES:
                column = _Column("time" if cell == "time" else "series", cell)
                key = (column.kind, ())
            elif parsed is None:
                raise self.error(
                    f"`{cell}` is not a column name" if cell else f"column {j + 1} has no name",
                    line,
                    j,
                    hint="a matrix component is `y[0][1]` (or `\"y[0, 1]\"` in quotes: a comma splits cells)"
                    if "[" in cell and "]" not in cell
                    else next(
                        (
                            f"the cells look separated by {name}: dync reads comma-separated values; "
                            f"save the file with commas (pandas: df.to_csv(path, index=False))"
                            for sep, name in ((";", "`;`"), ("\t", "tabs"), ("|", "`|`"))
                            if sep in cell
                        ),
                        "columns are `time`, `series`, and `y` or `y[0]`, `y[1]`, ... per observed component",
                    ),
                )
            else:
                name, index = parsed
                if name in observations or (name in inputs and self.inputs):
                    shape = observations[name].shape if name in observations else inputs[name]
                    what = f"`observe {name}`" if name in observations else f"input `{name}`"
                    if len(index) != len(shape) or any(i >= n for i, n in zip(index, shape)):
                        expected = column_names(name, shape)
                        shown = expected if len(expected) <= 4 else [expected[0], "...", expected[-1]]
                        listed = ", ".join(f"`{c}`" for c in shown)
                        raise self.error(
                            f"column `{cell}` does not fit {what}, which has shape {tuple(shape)}",
                            line,
                            j,
                            hint=f"its columns are {listed}".replace("`...`", "..."),
                        )
                    column = _Column("obs" if name in observations else "input", name, index)
                elif name in states or name in inputs or self.inputs_only:
                    column = _Column("ignored", name, index)
                else:
                    hint = _close(cell, valid) or _close(name, list(observations) + list(inputs))
                    if not hint and cell.strip().lower() in ("t", "date", "timestamp", "seconds") and not any(
                        c.kind == "time" for c in columns
                    ):
                        hint = "the observation times go in a column named `time`"
                    raise self.error(
                        f"unknown column `{cell}`: the model `{info.name}` observes "
                        + ", ".join(f"`{o}`" for o in observations),
                        line,
                        j,
                        hint=hint or "remove the column, or add an `observe` line for it to the spec",
                    )
                key = (name, index)
            if key in seen and column.kind != "ignored":
                raise self.error(
                    f"column `{cell}` appears twice (columns {seen[key] + 1} and {j + 1})",
                    line,
                    j,
                    hint="keep one of them",
                )
            seen[key] = j
            columns.append(column)
        self.positions = {(c.name if c.kind != "time" else "time", c.index): j for j, c in enumerate(columns)}
        kinds = [c.kind for c in columns]
        if "time" not in kinds:
            raise self.error("no `time` column", line, hint="add a column `time` with each row's observation time")
        if kinds.count("series") > 1:
            raise self.error("both a `series` and a `path` column: keep one", line)
        required = [(o.name, o.shape, "observe") for o in info.observations]
        if self.inputs:
            required += [(name, shape, "input") for name, shape in info.inputs]
        for name, shape, what in required:
            names = zip(column_names(name, shape), np.ndindex(*shape))
            missing = [c for c, index in names if (name, index) not in seen]
            if len(missing) == max(math.prod(shape), 1):
                hint = (
                    f"every `observe` name needs data: add {'the column' if not shape else 'the columns'} "
                    f"{', '.join(f'`{c}`' for c in missing[:3])}{', ...' if len(missing) > 3 else ''} "
                    "(empty cells where not observed)"
                    if what == "observe"
                    else _rename_hint(name, header) if self.inputs_only
                    else _missing_input_hint(name, shape, missing)
                )
                subject = f"`observe {name}`" if what == "observe" else f"the input `{name}`"
                raise self.error(f"no column for {subject}", line, hint=hint)
            if missing:
                raise self.error(
                    f"missing column `{missing[0]}` of {'the input ' if what == 'input' else ''}`{name}`, "
                    f"which has shape {tuple(shape)}",
                    line,
                    hint=f"an input is given whole: add {', '.join(f'`{c}`' for c in missing[:3])}"
                    f"{', ...' if len(missing) > 3 else ''}, so that each row gives every component of `{name}` "
                    "(or none: no input sample on that row)"
                    if what == "input"
                    else "add it with empty cells if that component was not observed",
                )
        return columns

    def number(self, cell: str, line: int, j: int, column: str) -> float:
        text = cell.strip()
        if text.lower() in _MISSING:
            return math.nan
        try:
            return float(text)
        except ValueError:
            raise self.error(
                f"column `{column}`: `{text}` is not a number",
                line,
                j,
                hint="write numbers like 1.5 or 2e-3; leave the cell empty for a missing value",
            ) from None

    def read_row(self, line: int, cells: list[str], columns: list[_Column], groups: dict) -> None:
        if len(cells) != len(columns):
            raise self.error(
                f"line {line} has {len(cells)} cells, but the header names {len(columns)} columns",
                line,
                min(len(cells), len(columns)) if len(cells) > len(columns) else None,
                hint="every row needs one cell per column (an empty cell for a missing value)",
            )
        label, t = "", math.nan
        values: dict[str, np.ndarray] = {o.name: np.full(o.shape, np.nan) for o in self.info.observations}
        inputs: dict[str, np.ndarray] = {n: np.full(s, np.nan) for n, s in self.info.inputs} if self.inputs else {}
        for j, (column, cell) in enumerate(zip(columns, cells)):
            if column.kind == "series":
                label = cell.strip()
                if not label:
                    raise self.error(f"empty `{column.name}` label", line, j, hint="give every row its series' label")
            elif column.kind == "time":
                if not cell.strip():
                    raise self.error("empty `time` cell", line, j, hint="every row needs its observation time")
                t = self.number(cell, line, j, "time")
                if not math.isfinite(t):
                    raise self.error(
                        f"`time` is {cell.strip()}: times must be finite", line, j,
                        hint="give the row its observation time, or delete the row",
                    )  # fmt: skip
            elif column.kind in ("obs", "input"):
                x = self.number(cell, line, j, _component_name(column.name, column.index))
                (values if column.kind == "obs" else inputs)[column.name][column.index] = x
        groups.setdefault(label, []).append((line, t, values, inputs))

    def build_series(self, label: str, rows: list) -> Series:
        info, time_col = self.info, self.column_of("time")
        lines = np.array([r[0] for r in rows])
        times = np.array([r[1] for r in rows], np.float64)
        named = f" of series `{label}`" if label else ""
        for k in range(1, len(rows)):
            if times[k] <= times[k - 1]:
                prefix = f"series `{label}`: " if label else ""
                if times[k] == times[k - 1]:
                    what = f"`time` {_fmt(times[k])} appears twice (lines {lines[k - 1]} and {lines[k]})"
                else:
                    what = f"`time` goes back from {_fmt(times[k - 1])} (line {lines[k - 1]}) to {_fmt(times[k])}"
                raise self.error(
                    f"{prefix}{what}: times must increase strictly within a series",
                    int(lines[k]),
                    time_col,
                    hint="sort the rows by time within each series"
                    + ("" if label else "; if the file holds several series, add a `series` column"),
                )
        values = {o.name: np.stack([r[2][o.name] for r in rows]) for o in info.observations}
        for o in info.observations:
            bad = _first_bad(o, values[o.name])
            if bad is not None:
                (k, *component), value, why = bad
                column = _component_name(o.name, tuple(component))
                raise self.error(
                    f"column `{column}`: the value {_fmt(value)} {why}",
                    int(lines[k]),
                    self.column_of(o.name, tuple(component)),
                    hint=_support_hint(o),
                )
        inputs = {}
        for name, shape in info.inputs if self.inputs else ():
            rows_with = []
            for k, r in enumerate(rows):
                given = ~np.isnan(r[3][name])
                if given.all():
                    rows_with.append(k)
                elif given.any():
                    index = tuple(int(i) for i in np.argwhere(~given)[0])
                    raise self.error(
                        f"input `{name}` is only partly given on this line",
                        int(lines[k]),
                        self.column_of(name, index),
                        hint="give every component of an input on a line, or none (no input sample there)",
                    )
            bad = [k for k in rows_with if not np.isfinite(rows[k][3][name]).all()]
            if bad:
                raise self.error(f"input `{name}` is not finite", int(lines[bad[0]]), self.column_of(name, ()))
            if not rows_with:
                raise self.error(
                    f"input `{name}` has no values{named}",
                    int(lines[0]),
                    hint="give the input on at least one line of every series",
                )
            inputs[name] = (times[rows_with], np.stack([rows[k][3][name] for k in rows_with]))
        if self.inputs_only:
            return Series(times, values, inputs, label)
        kept_times, kept, _ = _drop_unobserved(times, values)
        if kept_times.size == 0:
            raise self.error(
                f"series{' `' + label + '`' if label else ''} has no observations: every observed cell is empty",
                int(lines[0]),
                hint="remove the series, or check that its values were written",
            )
        return Series(kept_times, kept, inputs, label)

    def column_of(self, name: str, index: tuple[int, ...] = ()) -> int | None:
        """The 0-based position of a column in the header."""
        return self.positions.get((name, index))
