"""Reading a data set of samples: the training data of ``state x ~ data``,
and the data arrays of a target model (``input X[N, P]`` in a model with a
``target`` and no equations, docs/sampling.md "Targets that sum over data").

LANGUAGE.md §11: a NetCDF variable named after the state (or input) with
dims ``(sample, components...)``, or a CSV file with one column per
component, named as :func:`dync.runtime.data.column_names` names them (``x``
for a scalar, ``x[0]``, ``x[1]``, ... for a vector). Other columns and
variables are ignored. Every value must be finite: a sample with a missing
component cannot be trained on, nor summed over.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import Span, did_you_mean
from ..info.model import ModelInfo
from .data import DataError, cell_spans, column_names, read_data_file

__all__ = ["read_data_arrays", "read_sample_array", "read_samples"]


def read_samples(source, info: ModelInfo, state: str) -> np.ndarray:
    """The samples of ``state`` in a data file, shape ``(N, *state.shape)``.

    Args:
        source: a ``.csv`` or ``.nc`` path, or an :class:`xarray.Dataset`.
        info: the model's description.
        state: the ``~ data`` state.

    Raises:
        DataError: no such file, an unknown format, a missing column or
            variable, a wrong shape, a value that is not a finite number
            (located at the CSV line), or fewer than two samples.
    """
    what = f"the samples of `state {state} ~ data`"
    values, where = _read(source, {state: tuple(info.state(state).shape)}, what)
    values = values[state]
    if values.shape[0] < 2:
        raise DataError(
            f"the data set has {values.shape[0]} sample(s) of `{state}`; training needs at least two",
            Span(where, 0, 0),
        )
    return values


def read_sample_array(source, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The samples of the array ``name``, of ``shape`` per sample, in a data
    file, without a model: what ``dync plot`` compares generated samples with.

    Raises:
        DataError: as :func:`read_samples`, except the count of samples.
    """
    values, _ = _read(source, {name: tuple(shape)}, f"the samples of `{name}`")
    return values[name]


def read_data_arrays(source, info: ModelInfo) -> dict[str, np.ndarray]:
    """The data arrays of a target model: each ``input NAME[N, ...]`` read by
    name, shape ``(points, *trailing)``, all with the same number of points.

    Args:
        source: a ``.csv`` or ``.nc`` path, an :class:`xarray.Dataset`, or a
            mapping of input names to arrays (checked the same way).
        info: the model's description (``info.data_dim`` set).

    Returns:
        ``{name: float array}`` in the order of ``info.inputs``.

    Raises:
        DataError: no such file, an unknown format, a missing column or
            variable, a wrong trailing shape, a value that is not a finite
            number (located at the CSV line, or the NetCDF index), inputs of
            different lengths, or no data point.
    """
    dim = info.data_dim
    shapes = {name: tuple(shape[1:]) for name, shape in info.inputs}
    what = f"a data input of `{info.name}` (the data points run along `{dim}`)"
    if isinstance(source, dict):
        import xarray as xr

        try:
            source = xr.Dataset({k: (tuple(f"{k}_dim{i}" for i in range(np.ndim(v))), np.asarray(v, dtype=np.float64))
                                 for k, v in source.items()})  # fmt: skip
        except (TypeError, ValueError) as err:
            raise DataError(f"the data arrays cannot be read: {err}", Span("<data>", 0, 0)) from None
    values, where = _read(source, shapes, what)
    lengths = {name: int(v.shape[0]) for name, v in values.items()}
    if len(set(lengths.values())) > 1:
        (a, na), (b, nb) = sorted(lengths.items(), key=lambda kv: kv[1])[:: len(lengths) - 1]
        raise DataError(
            f"the data inputs have different numbers of points: `{a}` has {na}, `{b}` has {nb}",
            Span(where, 0, 0),
            hint=f"every input of a target model holds one row per data point (along `{dim}`)",
        )
    if values and next(iter(lengths.values())) < 1:
        raise DataError("the data set has no data point", Span(where, 0, 0), hint=f"`{dim}` comes from the data: give at least one row")
    return values


def _read(source, shapes: dict[str, tuple[int, ...]], what: str) -> tuple[dict[str, np.ndarray], str]:
    """Each named array of ``shapes`` (the shape of one point) from a file or
    Dataset, and the place to name in errors."""
    import xarray as xr

    where = "<Dataset>" if isinstance(source, xr.Dataset) else str(source)
    arrays = read_data_file(
        source,
        csv=lambda path: _from_csv(path, shapes, what),
        netcdf=lambda ds, where: {n: _from_dataset(ds, n, sh, where, what) for n, sh in shapes.items()},
    )
    return arrays, where


def _from_dataset(ds, name: str, shape: tuple[int, ...], where: str, what: str) -> np.ndarray:
    if name not in ds.data_vars:
        names = [str(v) for v in ds.data_vars]
        raise DataError(
            f"the data has no variable `{name}`",
            Span(where, 0, 0),
            hint=did_you_mean(name, names) or f"{what} is a variable named `{name}` "
            f"with dims (sample, ...); found: {', '.join(names) or 'none'}",
        )
    try:
        values = np.asarray(ds[name].values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"variable `{name}` does not hold numbers", Span(where, 0, 0)) from None
    if values.ndim == 0 or (values.shape[1:] != tuple(shape) and not (shape == () and values.ndim == 1)):
        raise DataError(
            f"variable `{name}` has shape {values.shape}, but it needs shape "
            f"({', '.join(['sample'] + [str(n) for n in shape])}{',' if not shape else ''}): {what}",
            Span(where, 0, 0),
            hint="the first dimension counts the samples, the others are the declared shape's",
        )
    values = values.reshape((values.shape[0],) + tuple(shape))
    bad = np.argwhere(~np.isfinite(values.reshape(values.shape[0], -1)))
    if bad.size:
        i, k = (int(v) for v in bad[0])
        index = np.unravel_index(k, shape) if shape else ()
        component = name + "".join(f"[{int(j)}]" for j in index)
        raise DataError(
            f"sample {i} of `{name}` is not a finite number (`{component}` = {values.reshape(values.shape[0], -1)[i, k]})",
            Span(where, 0, 0),
            hint="remove or fill missing samples",
        )
    return values


def _from_csv(path: Path, shapes: dict[str, tuple[int, ...]], what: str) -> dict[str, np.ndarray]:
    where = str(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    wanted_all = [c for name, shape in shapes.items() for c in column_names(name, shape)]
    if not rows:
        raise DataError("the file is empty", Span(where, 1, 1), hint=f"the first line names the columns: {', '.join(wanted_all)}")
    header = [h.strip().replace(", ", "][").replace(",", "][") for h in rows[0]]
    out = {}
    for name, shape in shapes.items():
        wanted = column_names(name, shape)
        missing = [c for c in wanted if c not in header]
        stray = [j for j, h in enumerate(header) if h.startswith(name + "[") and h not in wanted]
        if missing and stray:  # `x[2]` where `x` has shape (2,): point at that column
            first_line = path.read_text(encoding="utf-8-sig").splitlines()[0]
            cells = cell_spans(first_line)
            j = stray[0]
            start, end = cells[j] if j < len(cells) else (0, len(first_line))
            raise DataError(
                f"column `{header[j]}` does not fit `{name}`, which has shape {tuple(shape)}",
                Span(where, 1, start + 1, 1, max(end, start + 1) + 1, first_line + "\n"),
                hint=f"{what}: `{name}` is the columns " + ", ".join(f"`{c}`" for c in wanted),
            )
        if missing:
            raise DataError(
                f"the data has no column `{missing[0]}`",
                Span(where, 1, 1),
                hint=did_you_mean(missing[0], header) or f"{what}: `{name}` is the columns {', '.join(wanted)}",
            )
        cols = [header.index(c) for c in wanted]
        values = np.empty((len(rows) - 1, len(wanted)))
        for r, row in enumerate(rows[1:]):
            line = r + 2
            if not any(cell.strip() for cell in row):
                raise DataError("an empty line", Span(where, line, 1), hint="remove it")
            for k, c in enumerate(cols):
                cell = row[c].strip() if c < len(row) else ""
                try:
                    value = float(cell)
                except ValueError:
                    value = float("nan")
                if not np.isfinite(value):
                    raise DataError(
                        f"column `{wanted[k]}`: `{cell}` is not a finite number",
                        Span(where, line, 1),
                        hint="every component of every sample must be given",
                    )
                values[r, k] = value
        out[name] = values.reshape((values.shape[0],) + tuple(shape))
    return out
