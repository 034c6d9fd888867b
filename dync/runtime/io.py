"""Reading and writing simulation results as netCDF files.

Files are written atomically: the dataset goes to a temporary file in the
target's directory, which is flushed to disk and then renamed over the target
(``os.replace``), so a reader never sees a half-written file and an
interrupted run leaves the previous file intact. The engine is ``h5netcdf``
when installed (with ``h5py``), else ``netCDF4``.

netCDF attributes can only be strings, numbers and 1-d numeric arrays;
:func:`netcdf_safe_attrs` converts the rest (``bool`` → ``0``/``1``, ``None``
dropped, dicts and lists of strings → JSON) before writing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..atomic import atomic_path
from ..errors import UsageError

__all__ = ["netcdf_engine", "netcdf_safe_attrs", "read_netcdf", "write_netcdf"]


def netcdf_engine() -> str:
    """``"h5netcdf"`` if it and ``h5py`` are importable, else ``"netcdf4"``.

    Raises:
        UsageError: neither engine is installed.
    """
    for modules, engine in ((("h5netcdf", "h5py"), "h5netcdf"), (("netCDF4",), "netcdf4")):
        try:
            for module in modules:
                __import__(module)
        except ImportError:
            continue
        return engine
    raise UsageError("writing netCDF needs the `h5netcdf` or the `netCDF4` package", hint="pip install h5netcdf")


def _safe_value(value: Any) -> Any:
    """A netCDF-storable version of one attribute value, or ``None`` to drop it."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is not None and arr.ndim == 1 and arr.size > 0 and arr.dtype.kind in "iuf":
        return arr
    if arr is not None and arr.dtype.kind == "b" and arr.ndim == 1 and arr.size > 0:
        return arr.astype(np.int8)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), default=str)
    return str(value)


def netcdf_safe_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes with every value storable in netCDF (see the module docstring)."""
    out = {}
    for k, v in attrs.items():
        safe = _safe_value(v)
        if safe is not None:
            out[str(k)] = safe
    return out


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, compress: bool = False) -> Path:
    """Write ``ds`` to ``path`` atomically.

    Args:
        ds: the dataset (for example from :func:`~dync.runtime.simulate.simulate`).
        path: the target file; its directory must exist.
        compress: zlib-compress the data variables (smaller, slower).

    Returns:
        The path written.

    Raises:
        UsageError: the directory does not exist.

    Example:
        >>> write_netcdf(ds, "ou.nc")  # doctest: +SKIP
    """
    target = Path(path)
    ds = ds.copy(deep=False)
    ds.attrs = netcdf_safe_attrs(ds.attrs)
    for variable in ds.variables.values():  # copies, so the caller's attrs are untouched
        variable.attrs = netcdf_safe_attrs(variable.attrs)
    encoding = None
    if compress:
        encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    with atomic_path(target) as tmp:
        ds.to_netcdf(tmp, engine=netcdf_engine(), encoding=encoding)
    return target


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Read a netCDF file written by :func:`write_netcdf` fully into memory.

    The file is closed before returning, so it can be replaced or deleted
    while the dataset is in use.

    Raises:
        UsageError: the file does not exist.
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"no such file: {source}")
    return xr.load_dataset(source, engine=netcdf_engine())
