"""Tests for dync.runtime.plot: the quick-look figure is written, whatever the shape."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from dync.errors import UsageError
from dync.runtime.plot import plot_dataset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _dataset(times: int, sweep: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(1)
    lead = (sweep,) if sweep else ()
    lead_dims = ("sweep",) if sweep else ()
    x = np.cumsum(rng.normal(size=lead + (50, times)), axis=-1)
    m = rng.normal(size=lead + (50, times, 3, 4))  # 12 components: capped at 6 rows
    x[..., 3, -1] = np.nan  # one non-finite value is skipped, not fatal
    ds = xr.Dataset(
        {
            "x": (lead_dims + ("path", "time"), x, {"kind": "state"}),
            "m": (lead_dims + ("path", "time", "m_dim0", "m_dim1"), m, {"kind": "state"}),
            "obs": (lead_dims + ("path", "time"), x + 1, {"kind": "observation"}),
        },
        coords={"time": ("time", np.linspace(0.0, 1.0, times) if times > 1 else [1.0])},
        attrs={"model": "demo", "solver": "euler_maruyama"},
    )
    if sweep:
        ds = ds.assign_coords(theta=("sweep", np.linspace(0.5, 2.0, sweep)))
        ds.attrs["sweep"] = "theta"
    return ds


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def test_trajectories_and_histograms(tmp_path):
    out = plot_dataset(_dataset(times=20), tmp_path / "run.png", max_paths=5)
    assert _is_png(out) and out.stat().st_size > 10_000
    assert sorted(os.listdir(tmp_path)) == ["run.png"]  # written atomically, no temporary left


def test_final_only_draws_histograms(tmp_path):
    out = plot_dataset(_dataset(times=1), tmp_path / "final.png")
    assert _is_png(out)


def test_swept_dataset_and_other_formats(tmp_path):
    ds = _dataset(times=5, sweep=3)
    assert _is_png(plot_dataset(ds, tmp_path / "sweep.png", sweep_index=2))
    svg = plot_dataset(ds, tmp_path / "sweep.svg")
    assert svg.read_text().lstrip().startswith("<?xml")
    with pytest.raises(UsageError, match="sweep_index"):
        plot_dataset(ds, tmp_path / "bad.png", sweep_index=3)


def test_nothing_to_plot(tmp_path):
    with pytest.raises(UsageError, match="no state variables"):
        plot_dataset(xr.Dataset({"a": ("k", [1.0, 2.0])}), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
