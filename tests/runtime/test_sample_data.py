"""Reading training samples (LANGUAGE.md §11): CSV columns x[0], x[1], a
NetCDF variable named after the state; broken files get located errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dync.compiler.driver import compile_file, model_class
from dync.runtime.data import DataError
from dync.runtime.sample_data import read_samples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def info():
    return model_class(compile_file(ROOT / "specs/diffusion/gmm2d_vp.dync")).info


def test_csv_and_netcdf_give_the_same_samples(info, tmp_path):
    x = read_samples(ROOT / "specs/diffusion/gmm2d.csv", info, "x")
    assert x.shape == (2000, 2) and np.all(np.isfinite(x))
    nc = tmp_path / "d.nc"
    xr.Dataset({"x": (("sample", "x_dim_0"), x), "other": (("sample",), x[:, 0])}).to_netcdf(nc)
    np.testing.assert_array_equal(read_samples(nc, info, "x"), x)
    np.testing.assert_array_equal(read_samples(xr.load_dataset(nc), info, "x"), x)


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("x[0],y\n1,2\n", "no column `x[1]`", 1),
        ("x[0],x[2]\n1,2\n", "column `x[2]` does not fit `x`", 1),
        ("x[0],x[1]\n1,2\n3,oops\n", "`oops` is not a finite number", 3),
        ("x[0],x[1]\n1,2\n3,\n", "is not a finite number", 3),
        ("x[0],x[1]\n1,2\n", "at least two", None),
    ],
)
def test_broken_csv_gets_a_located_error(info, tmp_path, text, message, line):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        read_samples(path, info, "x")
    if line is not None:
        assert err.value.span.line == line


def test_wrong_netcdf_and_missing_files(info, tmp_path):
    nc = tmp_path / "d.nc"
    xr.Dataset({"x": (("sample", "k"), np.zeros((5, 3)))}).to_netcdf(nc)
    with pytest.raises(DataError, match="shape"):
        read_samples(nc, info, "x")
    xr.Dataset({"z": (("sample", "k"), np.zeros((5, 2)))}).to_netcdf(nc)
    with pytest.raises(DataError, match="no variable `x`"):
        read_samples(nc, info, "x")
    with pytest.raises(DataError, match="no such data file"):
        read_samples(tmp_path / "none.csv", info, "x")
    (tmp_path / "d.txt").write_text("1")
    with pytest.raises(DataError, match="format"):
        read_samples(tmp_path / "d.txt", info, "x")


def test_a_column_beyond_the_shape_is_pointed_at(info, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x[0],x[2]\n1,2\n3,4\n")
    with pytest.raises(DataError) as err:
        read_samples(path, info, "x")
    assert (err.value.span.column, err.value.span.end_column) == (6, 10)
    assert "`x[0]`, `x[1]`" in err.value.hint
