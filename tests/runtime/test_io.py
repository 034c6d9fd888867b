"""Tests for dync.runtime.io: netCDF round trips and atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from dync.errors import UsageError
from dync.runtime.io import netcdf_engine, netcdf_safe_attrs, read_netcdf, write_netcdf


def _dataset() -> xr.Dataset:
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {
            "x": (("path", "time"), rng.normal(size=(5, 3)).astype(np.float32), {"kind": "state"}),
            "v": (("path", "time", "v_dim0"), rng.normal(size=(5, 3, 2)), {"kind": "state"}),
            "count": (("path", "time"), rng.integers(0, 9, size=(5, 3)).astype(np.int32), {"kind": "observation"}),
        },
        coords={"time": ("time", [0.0, 0.5, 1.0])},
        attrs={
            "spec": "state x ~ normal(0, 1)\ndx = -x dt + dW  # ünïcode\n",
            "model": "ou",
            "dt": 0.01,
            "paths": 5,
            "seed": 3,
            "adaptive": False,
            "nothing": None,
            "options": {"a": 1},
            "names": ["x", "v"],
            "levels": [1.0, 2.0],
        },
    )


def test_round_trip_keeps_values_dims_and_attrs(tmp_path):
    ds = _dataset()
    path = write_netcdf(ds, tmp_path / "run.nc")
    back = read_netcdf(path)
    for name in ds.data_vars:
        assert back[name].dims == ds[name].dims
        assert back[name].dtype == ds[name].dtype
        np.testing.assert_array_equal(back[name].values, ds[name].values)
        assert back[name].attrs["kind"] == ds[name].attrs["kind"]
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    assert back.attrs["spec"] == ds.attrs["spec"]
    assert (back.attrs["model"], back.attrs["dt"], back.attrs["paths"], back.attrs["seed"]) == ("ou", 0.01, 5, 3)
    # made netCDF-safe: bool -> int, None dropped, dict and string lists -> JSON
    assert back.attrs["adaptive"] == 0
    assert "nothing" not in back.attrs
    assert back.attrs["options"] == '{"a": 1}'
    assert back.attrs["names"] == '["x", "v"]'
    np.testing.assert_array_equal(back.attrs["levels"], [1.0, 2.0])
    # the caller's dataset is untouched
    assert ds.attrs["adaptive"] is False and ds.attrs["nothing"] is None


def test_simulation_round_trip(tmp_path):
    pytest.importorskip("dync.info.constraints")
    pytest.importorskip("dync.runtime.solvers.fused")
    from dync.runtime.simulate import simulate

    from .test_simulate import OU

    ds = simulate(OU.make(theta=1.0, mu=0.0, sigma=0.5), seed=1, paths=16, t1=0.2, dt=0.01, save=[0.1, 0.2])
    back = read_netcdf(write_netcdf(ds, tmp_path / "ou.nc", compress=True))
    xr.testing.assert_identical(back, ds)


def test_write_is_atomic(tmp_path):
    target = tmp_path / "run.nc"
    write_netcdf(_dataset(), target)
    before = target.read_bytes()
    broken = _dataset()
    broken["bad"] = ("path", np.array([object()] * 5, dtype=object))  # not storable
    with pytest.raises(Exception):
        write_netcdf(broken, target)
    assert target.read_bytes() == before  # the old file survives
    assert sorted(os.listdir(tmp_path)) == ["run.nc"]  # no temporary left behind


def test_written_file_has_ordinary_permissions(tmp_path):
    path = write_netcdf(_dataset(), tmp_path / "run.nc")
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_errors_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        write_netcdf(_dataset(), tmp_path / "missing" / "run.nc")
    with pytest.raises(UsageError, match="no such file"):
        read_netcdf(tmp_path / "absent.nc")


def test_engine_and_safe_attrs():
    assert netcdf_engine() in ("h5netcdf", "netcdf4")
    safe = netcdf_safe_attrs({"a": True, "b": None, "c": np.float32(1.5), "d": [True, False]})
    assert safe["a"] == 1 and "b" not in safe and safe["c"] == np.float32(1.5)
    np.testing.assert_array_equal(safe["d"], [1, 0])
