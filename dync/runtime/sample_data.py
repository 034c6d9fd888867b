"""Reading a data set of samples: the training data of ``state x ~ data``.

LANGUAGE.md §11: a NetCDF variable named after the state with dims
``(sample, components...)``, or a CSV file with one column per component,
named as :func:`dync.runtime.data.column_names` names them (``x`` for a
scalar state, ``x[0]``, ``x[1]``, ... for a vector). Other columns and
variables are ignored. Every value must be finite: a sample with a missing
component cannot be trained on.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import Span, did_you_mean
from ..info.model import ModelInfo
from .data import DataError, _load_netcdf, column_names

__all__ = ["read_samples"]

_NETCDF = (".nc", ".nc4", ".netcdf", ".h5", ".cdf")


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
    import xarray as xr

    shape = info.state(state).shape
    if isinstance(source, xr.Dataset):
        values = _from_dataset(source, state, shape, "<Dataset>")
        where = "<Dataset>"
    else:
        path = Path(os.fspath(source))
        where = str(source)
        if not path.is_file():
            raise DataError(f"no such data file: {where}", Span(where, 0, 0))
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                values = _from_csv(path, state, shape)
            elif suffix in _NETCDF:
                values = _from_dataset(_load_netcdf(path), state, shape, where)
            else:
                raise DataError(
                    f"cannot tell the format of `{path.name}`",
                    Span(where, 0, 0),
                    hint="data files are NetCDF (`.nc`) or CSV (`.csv`)",
                )
        except OSError as err:
            raise DataError(f"cannot read the file: {err.strerror or err}", Span(where, 0, 0)) from None
    if values.shape[0] < 2:
        raise DataError(
            f"the data set has {values.shape[0]} sample(s) of `{state}`; training needs at least two",
            Span(where, 0, 0),
        )
    return values


def _from_dataset(ds, state: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if state not in ds.data_vars:
        names = [str(v) for v in ds.data_vars]
        raise DataError(
            f"the data has no variable `{state}`",
            Span(where, 0, 0),
            hint=did_you_mean(state, names) or f"the samples of `state {state} ~ data` are a variable named `{state}` "
            f"with dims (sample, ...); found: {', '.join(names) or 'none'}",
        )
    values = np.asarray(ds[state].values, dtype=np.float64)
    if values.shape[1:] != tuple(shape) and not (shape == () and values.ndim == 1):
        raise DataError(
            f"variable `{state}` has shape {values.shape}, but samples of the state have shape (sample, "
            + ", ".join(str(s) for s in shape) + ")",
            Span(where, 0, 0),
            hint="the first dimension counts the samples, the others are the state's",
        )
    values = values.reshape((values.shape[0],) + tuple(shape))
    bad = np.argwhere(~np.isfinite(values.reshape(values.shape[0], -1)))
    if bad.size:
        i = int(bad[0][0])
        raise DataError(f"sample {i} of `{state}` is not a finite number", Span(where, 0, 0), hint="remove or fill missing samples")
    return values


def _from_csv(path: Path, state: str, shape: tuple[int, ...]) -> np.ndarray:
    where = str(path)
    wanted = column_names(state, shape)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataError("the file is empty", Span(where, 1, 1), hint=f"the first line names the columns: {', '.join(wanted)}")
    header = [h.strip().replace(", ", "][").replace(",", "][") for h in rows[0]]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(
            f"the data has no column `{missing[0]}`",
            Span(where, 1, 1),
            hint=did_you_mean(missing[0], header) or f"the samples of `{state}` are the columns {', '.join(wanted)}",
        )
    cols = [header.index(c) for c in wanted]
    out = np.empty((len(rows) - 1, len(wanted)))
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
            out[r, k] = value
    return out.reshape((out.shape[0],) + tuple(shape))
