"""The fit-ready specs of ``specs/fit``: each compiles, its data generator
(``specs/fit/make_data.py``) writes a data set that ``read_observations``
reads, and the likelihood ``method="auto"`` picks for it is the one the
README promises and is finite on that data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np
import pytest

import dync
from dync.runtime.likelihood import choose_method, log_likelihood_with_method

ROOT = Path(__file__).resolve().parents[2]
FIT = ROOT / "specs" / "fit"

#: spec → the likelihood ``auto`` must choose
LIKELIHOOD = {
    "ou.dync": "kalman",
    "linear2d.yaml": "kalman",
    "poisson_ou.dync": "particle",
    "sir.dync": "particle",
    "cir.dync": "particle",
}
SERIES, POINTS = 2, 30


def _import_make_data() -> ModuleType:
    """``specs/fit/make_data.py`` imported from its path (it is a script, not
    part of the package)."""
    spec = importlib.util.spec_from_file_location("make_data", FIT / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_data() -> ModuleType:
    return _import_make_data()


@pytest.fixture(scope="module")
def generated(make_data, tmp_path_factory):
    """``generated(name)`` → (compiled model, path of a small NetCDF data set
    made by the generator), built once per spec for the whole module."""
    cache: dict[str, tuple[Any, Path]] = {}

    def build(name: str) -> tuple[Any, Path]:
        if name not in cache:
            spec = FIT / name
            model = dync.load(spec)
            data = make_data.make_data(spec, series=SERIES, points=POINTS, t1=20.0, dt=0.01, missing=0.1, seed=1)
            path = tmp_path_factory.mktemp("fit_data") / f"{spec.stem}.nc"
            make_data.write_data(data, path)
            cache[name] = model, path
        return cache[name]

    return build


def test_every_fit_spec_is_tested():
    on_disk = {p.name for p in FIT.iterdir() if p.suffix in (".dync", ".yaml")}
    assert on_disk == set(LIKELIHOOD)


@pytest.mark.parametrize("name", sorted(LIKELIHOOD))
def test_spec_is_fit_ready(name, generated):
    """Every free parameter has a prior (NUTS needs a proper posterior), there
    is something to observe, and every default value is the truth written
    into the data."""
    model, path = generated(name)
    info = model.info
    assert info.observations, name
    free = [p for p in info.params if not p.fixed]
    assert free and all(p.prior for p in free), [p.name for p in free if not p.prior]
    import xarray as xr

    with xr.open_dataset(path) as ds:
        truth = json.loads(ds.attrs["truth"])
        settings = json.loads(ds.attrs["generator_settings"])
    defaults = model.constrained_params()
    for p in free:
        np.testing.assert_allclose(truth[p.name], defaults[p.name], rtol=1e-6)
    assert settings == {"series": SERIES, "points": POINTS, "t1": 20.0, "dt": 0.01, "missing": 0.1, "seed": 1}


@pytest.mark.parametrize("name", sorted(LIKELIHOOD))
def test_data_reads_and_likelihood_is_finite(name, generated):
    model, path = generated(name)
    records = dync.read_observations(path, model.info)
    assert len(records.series) == SERIES
    for series in records.series:
        assert series.times[0] == 0.0  # the first time is kept: the series starts at the initial law
        assert np.all(np.diff(series.times) > 0)
        assert len(series.times) <= POINTS
    assert choose_method(model) == LIKELIHOOD[name]
    value, method = log_likelihood_with_method(model, records, method="auto", particles=200, key=jax.random.key(0), dt=0.05)
    assert method == LIKELIHOOD[name]
    assert np.isfinite(float(value)), (name, value)


def test_data_has_irregular_times_and_gaps(generated):
    """Per-series irregular times on the simulation grid, some NaNs (never at
    the first time), and the latent states kept whole."""
    _, path = generated("ou.dync")
    import xarray as xr

    with xr.open_dataset(path) as ds:
        times, y, x = ds["time"].values, ds["y"].values, ds["x"].values
    assert times.shape == (SERIES, POINTS) and np.all(times[:, 0] == 0.0) and np.all(np.diff(times, axis=1) > 0)
    assert not np.array_equal(times[0], times[1])
    np.testing.assert_allclose(times / 0.01, np.round(times / 0.01), atol=1e-6)
    assert not np.isnan(y[:, 0]).any() and not np.isnan(x).any()
    assert np.isnan(y).any()  # 0.1 of 58 values: none at all has probability 0.9^58 = 0.002


def test_csv_round_trip(generated, make_data, tmp_path):
    """The command line's CSV, with the fixture's settings, reads as the same
    series as the fixture's NetCDF: the generator is deterministic and the two
    forms agree; counts stay whole numbers."""
    name = "poisson_ou.dync"
    model, path = generated(name)
    args = ["--series", str(SERIES), "--points", str(POINTS), "--t1", "20", "--missing", "0.1", "--seed", "1"]
    assert make_data.main([str(FIT / name), "-o", str(tmp_path / "d.csv"), "--csv", *args]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["truth"]
    nc = dync.read_observations(path, model.info)
    csv = dync.read_observations(tmp_path / "d.csv", model.info)
    assert len(nc.series) == len(csv.series) == SERIES
    for s, c in zip(nc.series, csv.series):
        np.testing.assert_array_equal(s.times, c.times)
        np.testing.assert_array_equal(s.values["counts"], c.values["counts"])
        observed = s.values["counts"][~np.isnan(s.values["counts"])]
        np.testing.assert_array_equal(observed, np.round(observed))


def test_cli_usage_error(make_data, tmp_path, capsys):
    assert make_data.main([str(FIT / "ou.dync"), "-o", str(tmp_path / "d.nc"), "--points", "100000"]) == 2
    assert "points" in capsys.readouterr().err
    assert not (tmp_path / "d.nc").exists()
