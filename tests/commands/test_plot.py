"""Tests for dync.commands.plot.plot_file: ``dync plot`` on a fit result (the
fitted model's paths simulated from the spec the fit stores) and on a
simulation, and a UsageError for every file it cannot plot."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import xarray as xr

import dync
from dync.commands.plot import fit_predictive, grid_step, plot_file, read_fit
from dync.errors import UsageError
from dync.runtime.io import write_netcdf
from tests.conftest import SPECS
from tests.runtime.test_plot_fit import is_png, nuts_idata, point_idata

OU_TEXT = (SPECS / "ou.dync").read_text()


@pytest.fixture(scope="module")
def mle_fit(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    point_idata(spec_text=OU_TEXT).to_netcdf(str(path))
    return path


#: the same paths and seed in the tests of `mle_fit`, so the simulation compiles once
PATHS, SEED = 32, 1


def test_fit_file_to_png(mle_fit, tmp_path):
    out = plot_file(mle_fit, tmp_path / "fit.png", max_paths=5, predictive_paths=PATHS, seed=SEED)
    assert is_png(out) and out.stat().st_size > 20_000
    assert sorted(os.listdir(tmp_path)) == ["fit.png"]


def test_predictive_uses_the_estimate_and_the_observation_times(mle_fit):
    idata = read_fit(mle_fit)
    ds = fit_predictive(idata, paths=PATHS, seed=SEED)
    times = np.unique(idata.observed_data["time"].values[np.isfinite(idata.observed_data["time"].values)])
    np.testing.assert_allclose(ds["time"].values, times, rtol=0, atol=1e-9)
    assert ds["y"].dims == ("path", "time") and ds.sizes["path"] == PATHS
    params = json.loads(ds.attrs["params"])
    assert params["theta"] == pytest.approx(1.1) and params["sigma"] == pytest.approx(0.45)
    assert params["mu"] == pytest.approx(0.0)


def test_nuts_fit_file_irregular_times(tmp_path):
    """Posterior means; observation times that fit no step grid: a regular grid instead."""
    idata = nuts_idata(spec_text=OU_TEXT, extra=False)
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0.0, 2.0, (2, 30)), axis=1)
    idata.observed_data = idata.observed_data.assign_coords(time=(("series", "obs"), t))
    assert grid_step(np.unique(t)) is None
    path = tmp_path / "nuts.nc"
    idata.to_netcdf(str(path))
    out = plot_file(path, tmp_path / "nuts.png", predictive_paths=20)
    assert is_png(out)


def test_fit_without_spec_text_warns_and_plots(tmp_path):
    path = tmp_path / "fit.nc"
    point_idata().to_netcdf(str(path))
    with pytest.warns(RuntimeWarning, match="spec_text"):
        assert is_png(plot_file(path, tmp_path / "fit.png"))


def test_simulation_file_still_plots(tmp_path):
    ds = dync.simulate_file(str(SPECS / "ou.dync"), t1=1, dt=0.01, paths=10, save_every=10)
    write_netcdf(ds, tmp_path / "sim.nc")
    out = plot_file(tmp_path / "sim.nc", tmp_path / "sim.png", max_paths=3)
    assert is_png(out)


def test_files_it_cannot_plot(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        plot_file(tmp_path / "missing.nc", tmp_path / "x.png")
    with pytest.raises(UsageError, match="not a file"):
        plot_file(tmp_path, tmp_path / "x.png")
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes(b"not a netcdf file at all\n" * 10)
    with pytest.raises(UsageError, match="cannot read .* as NetCDF"):
        plot_file(corrupt, tmp_path / "x.png")
    plain = tmp_path / "plain.nc"
    write_netcdf(xr.Dataset({"a": ("n", np.arange(3.0))}), plain)
    with pytest.raises(UsageError, match="neither a fit result nor a simulation"):
        plot_file(plain, tmp_path / "x.png")
    grouped = tmp_path / "grouped.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az

        az.InferenceData(observed_data=xr.Dataset({"y": ("obs", np.zeros(3))})).to_netcdf(str(grouped))
    with pytest.raises(UsageError, match="neither a fit result nor a simulation"):
        plot_file(grouped, tmp_path / "x.png")
    with pytest.raises(UsageError, match="max_paths"):
        plot_file(grouped, tmp_path / "x.png", max_paths=-2)
    with pytest.raises(UsageError, match="predictive_paths"):
        plot_file(grouped, tmp_path / "x.png", predictive_paths=1.5)
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------ generated samples


def _generated(tmp_path, dim: int, training_data=None) -> tuple:
    """A file like `dync sample --reverse` writes, and its training data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, dim))
    attrs = {"model": "toy", "method": "reverse sde", "steps": 10, "score_evaluations": 10.0, "t_min": 1e-3, "t1": 1.0}
    data = tmp_path / "train.csv"
    data.write_text(",".join(f"x[{k}]" for k in range(dim)) + "\n"
                    + "\n".join(",".join(f"{v:.4f}" for v in row) for row in rng.standard_normal((200, dim))) + "\n")  # fmt: skip
    if training_data is not None:
        attrs["training_data"] = str(training_data(data))
    ds = xr.Dataset({"x": (("sample", "x_dim0"), x)}, attrs=attrs)
    path = tmp_path / "gen.nc"
    write_netcdf(ds, path)
    return path, data


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_generated_samples_are_drawn_against_their_training_data(tmp_path, dim):
    gen, _ = _generated(tmp_path, dim, training_data=lambda data: data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = plot_file(gen, tmp_path / "gen.png")
    assert is_png(out) and out.stat().st_size > 10_000


def test_generated_samples_without_their_data_are_drawn_alone_with_a_warning(tmp_path):
    gen, data = _generated(tmp_path, 2, training_data=lambda data: data.with_name("gone.csv"))
    with pytest.warns(RuntimeWarning, match="gone.csv.*is not there"):
        assert is_png(plot_file(gen, tmp_path / "alone.png"))
    assert is_png(plot_file(gen, tmp_path / "other.png", compare_with=data))  # another data set, given


def test_generated_samples_against_data_of_another_shape_are_refused(tmp_path):
    gen, _ = _generated(tmp_path, 2)
    other = tmp_path / "one.csv"
    other.write_text("x[0]\n1.0\n2.0\n")
    with pytest.raises(UsageError) as err:
        plot_file(gen, tmp_path / "bad.png", compare_with=other)
    assert "x[1]" in err.value.message or "`x`" in err.value.message, err.value.render()
    assert not (tmp_path / "bad.png").exists()


DRIVEN_TEXT = """model driven
param theta = 1.0 : positive
param sigma = 0.5 : positive
param mu = 0
input u
state x = 0
dx = (u - theta * (x - mu)) dt + sigma dW
observe y ~ Normal(x, 0.1)
"""


def test_predictive_paths_of_a_model_with_inputs_follow_the_stored_inputs():
    """The fit stores its inputs in `constant_data`; the predictive paths
    read them: with u = 10 the mean of x(t) is 10/theta (1 - exp(-theta t))
    (theta = 1.1 the estimate; 400 paths: tolerance 5 standard errors).
    Without the group: a warning, no paths."""
    from dync.runtime.data import ObservationData, Series
    from dync.runtime.inference_data import data_groups

    idata = point_idata(spec_text=DRIVEN_TEXT)
    times = np.asarray(idata.observed_data["time"].values[0])
    records = ObservationData(tuple(
        Series(times, {"y": np.zeros_like(times)}, inputs={"u": (np.array([0.0, 3.0]), np.array([10.0, 10.0]))}, name=str(i))
        for i in range(2)
    ))  # fmt: skip
    with_inputs = idata.copy()
    with_inputs.add_groups({"constant_data": data_groups(records, {"y": ()})["constant_data"]})
    ds = fit_predictive(with_inputs, paths=400, seed=SEED)
    t1 = float(ds["time"].values[-1])
    final = ds["x"].values[:, -1]
    exact = 10 / 1.1 * (1 - np.exp(-1.1 * t1))
    assert abs(final.mean() - exact) < 5 * final.std(ddof=1) / np.sqrt(final.size), (final.mean(), exact)
    with pytest.warns(RuntimeWarning, match="reads the input"):
        assert fit_predictive(idata, paths=PATHS, seed=SEED) is None
