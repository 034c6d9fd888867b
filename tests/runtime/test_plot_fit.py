"""Tests for dync.runtime.plot_fit: the figure of a fit is written for NUTS
and MLE/MAP results, with and without predictive paths, and bad input gets a
UsageError that says what is wrong.

The fixtures build InferenceData in the layout ``dync fit`` writes (see
:func:`nuts_idata`, :func:`point_idata`); tests/commands/test_plot.py uses
them too.
"""

from __future__ import annotations

import json
import os
import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

from dync.errors import UsageError
from dync.runtime import plot_fit as plot_fit_module
from dync.runtime.plot_fit import fit_kind, plot_fit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def observed_data(n_series: int = 2, n_obs: int = 30, seed: int = 0) -> xr.Dataset:
    """``y (series, obs)`` with ``time (series, obs)``: the second series is
    shorter (NaN-padded) and one value is missing."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.linspace(0.0, 3.0, n_obs), (n_series, 1))
    y = rng.normal(size=(n_series, n_obs))
    y[0, 3] = np.nan
    if n_series > 1:
        t[1, -5:] = np.nan
        y[1, -5:] = np.nan
    return xr.Dataset({"y": (("series", "obs"), y)}, coords={"time": (("series", "obs"), t)})


def fit_attrs(method: str, spec_text: str = "", fixed: dict | None = None) -> dict:
    return {
        "method": method,
        "likelihood": "kalman",
        "model": "ornstein_uhlenbeck",
        "spec_text": spec_text,
        "spec_path": "specs/ou.dync",
        "dims_json": "{}",
        "fixed_json": json.dumps(fixed if fixed is not None else {"mu": 0.0}),
        "data_path": "data.nc",
    }


def _series_log_likelihood(rng, chains: int, draws: int, n_series: int) -> xr.Dataset:
    ll = rng.normal(size=(chains, draws, n_series))
    return xr.Dataset({"series_log_likelihood": (("chain", "draw", "series"), ll)})


def nuts_idata(chains: int = 2, draws: int = 60, spec_text: str = "", seed: int = 0, extra: bool = True):
    """A NUTS result over ``theta``, ``sigma`` (and a 2×2 ``C`` when ``extra``)."""
    rng = np.random.default_rng(seed)
    posterior = {
        "theta": np.exp(rng.normal(0.0, 0.1, (chains, draws))),
        "sigma": np.exp(rng.normal(-0.7, 0.1, (chains, draws))),
    }
    if extra:
        posterior["C"] = rng.normal(size=(chains, draws, 2, 2))
    diverging = np.zeros((chains, draws), bool)
    diverging[0, :3] = True
    stats = {
        "lp": rng.normal(size=(chains, draws)),
        "diverging": diverging,
        "acceptance_rate": rng.uniform(size=(chains, draws)),
        "n_steps": np.full((chains, draws), 7),
        "step_size": np.full((chains, draws), 0.3),
    }
    dims = {"C": ["C_dim0", "C_dim1"]} if extra else None
    idata = az.from_dict(posterior=posterior, sample_stats=stats, dims=dims)
    idata.posterior.attrs.update(fit_attrs("nuts", spec_text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.add_groups(observed_data=observed_data(), log_likelihood=_series_log_likelihood(rng, chains, draws, 2))
    return idata


def point_idata(method: str = "mle", spec_text: str = "", seed: int = 0):
    """An MLE/MAP result over ``theta`` and ``sigma`` (``sigma`` without a
    standard error: a Hessian that was not positive definite)."""
    rng = np.random.default_rng(seed)
    names = ["theta", "sigma"]
    estimate = xr.Dataset(
        {
            "theta": 1.1,
            "theta_se": 0.2,
            "sigma": 0.45,
            "sigma_se": float("nan"),
            "covariance": (("coordinate", "coordinate_"), np.diag([0.04, np.nan])),
        },
        coords={"coordinate": names, "coordinate_": names},
        attrs=fit_attrs(method, spec_text),
    )
    trace = xr.Dataset({"objective": ("step", -1e4 + (1e4 - 10) * (1 - np.exp(-np.arange(60) / 3.0)))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # point_estimate, optimizer_trace: custom group names
        return az.InferenceData(
            point_estimate=estimate,
            optimizer_trace=trace,
            observed_data=observed_data(),
            log_likelihood=_series_log_likelihood(rng, 1, 1, 2),
        )


def predictive_paths(paths: int = 50, times: int = 31, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    y = 0.2 * np.cumsum(rng.normal(size=(paths, times)), axis=1)
    y[0, 5] = np.nan  # a non-finite value is skipped
    return xr.Dataset(
        {
            "x": (("path", "time"), y, {"kind": "state"}),
            "y": (("path", "time"), y + 0.1, {"kind": "observation"}),
        },
        coords={"time": np.linspace(0.0, 3.0, times)},
    )


def is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def test_nuts_traces_pairs_and_predictive(tmp_path):
    """Six coordinates (two scalars and a 2×2 matrix): traces and a full pair matrix."""
    out = plot_fit(nuts_idata(), tmp_path / "nuts.png", predictive=predictive_paths(), max_paths=5)
    assert is_png(out) and out.stat().st_size > 20_000
    assert sorted(os.listdir(tmp_path)) == ["nuts.png"]  # written atomically


def test_nuts_one_chain_one_parameter(tmp_path):
    """R-hat needs two chains; one parameter has no pair plot: still a figure."""
    idata = nuts_idata(chains=1, draws=20, extra=False)
    del idata.posterior["sigma"]
    assert is_png(plot_fit(idata, tmp_path / "one.png"))


@pytest.mark.parametrize("method", ["mle", "map"])
def test_point_estimate_and_objective(tmp_path, method):
    out = plot_fit(point_idata(method), tmp_path / f"{method}.png", predictive=predictive_paths())
    assert is_png(out) and out.stat().st_size > 20_000


def test_a_vi_fit_shows_its_elbo_and_inferred_paths_not_series_elbo_as_parameters(tmp_path, monkeypatch):
    """A VI fit's per-series ELBO was drawn as parameters, its ELBO trace was
    "no optimizer trace" and its inferred paths were not shown."""
    estimate = xr.Dataset(
        {"k": 0.9, "series_elbo": ("series", [-100.0, -120.0])},
        attrs={"method": "vi", "likelihood": "elbo", "model": "m", "elbo": -220.0},
    )
    obs = observed_data()
    q = np.stack([obs["y"].fillna(0).values + d for d in (-0.5, 0.0, 0.5)])
    rates = xr.Dataset(
        {"y": (("series", "obs"), q[1]), "y_quantile": (("quantile", "series", "obs"), q)},
        coords={"quantile": [0.05, 0.5, 0.95], "time": obs["time"]},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = az.InferenceData(
            point_estimate=estimate, elbo_trace=xr.Dataset({"elbo": ("step", np.linspace(-500.0, -220.0, 50))}),
            observed_data=obs, rates=rates, latent_states=rates.rename({"y": "z", "y_quantile": "z_quantile"}),
        )  # fmt: skip
    assert plot_fit_module._estimate_names(idata.point_estimate) == ["k"]
    drawn = []
    real = plot_fit_module._draw_objective
    monkeypatch.setattr(plot_fit_module, "_draw_objective", lambda f, trace, method: drawn.append((trace, method)) or real(f, trace, method))
    assert is_png(plot_fit(idata, tmp_path / "vi.png"))
    (trace, method), = drawn
    assert method == "vi" and trace["objective"].size == 50
    assert [name for _, name, _ in plot_fit_module._inferred_rows(idata, idata.groups())] == ["y", "z"]


def test_vector_observation_many_series_other_format(tmp_path, monkeypatch):
    """The first components of a 5-vector and the first series of six, as SVG."""
    monkeypatch.setattr(plot_fit_module, "MAX_COMPONENTS", 2)  # fewer panels: a faster test
    monkeypatch.setattr(plot_fit_module, "MAX_SERIES", 2)
    rng = np.random.default_rng(2)
    idata = point_idata()
    obs = xr.Dataset(
        {"z": (("series", "obs", "z_dim0"), rng.normal(size=(6, 10, 5)))},
        coords={"time": (("series", "obs"), np.tile(np.arange(10.0), (6, 1)))},
    )
    idata.observed_data = obs
    pred = xr.Dataset({"z": (("path", "time", "z_dim0"), rng.normal(size=(20, 10, 5)))}, coords={"time": np.arange(10.0)})
    out = plot_fit(idata, tmp_path / "fit.svg", predictive=pred)
    assert out.read_text().lstrip().startswith("<?xml")


def test_written_and_read_back(tmp_path):
    """What `dync fit` writes (NetCDF groups) plots after reading it back."""
    path = tmp_path / "fit.nc"
    nuts_idata(extra=False).to_netcdf(str(path))
    assert fit_kind(az.from_netcdf(path)) == "nuts"
    assert is_png(plot_fit(az.from_netcdf(path), tmp_path / "back.png"))


def test_broken_input(tmp_path):
    with pytest.raises(UsageError, match="neither a `posterior` nor a `point_estimate`"):
        plot_fit(az.InferenceData(observed_data=observed_data()), tmp_path / "x.png")
    with pytest.raises(UsageError, match="arviz.InferenceData"):
        plot_fit({"posterior": None}, tmp_path / "x.png")
    with pytest.raises(UsageError, match=r"dims \(path, time"):
        plot_fit(nuts_idata(), tmp_path / "x.png", predictive=xr.Dataset({"y": ("obs", np.zeros(3))}))
    with pytest.raises(UsageError, match="xarray.Dataset"):
        plot_fit(nuts_idata(), tmp_path / "x.png", predictive=np.zeros((3, 3)))
    with pytest.raises(UsageError, match="max_paths"):
        plot_fit(nuts_idata(), tmp_path / "x.png", max_paths=-1)
    empty = az.from_dict(sample_stats={"lp": np.zeros((2, 5))})
    with pytest.raises(UsageError, match="neither"):
        plot_fit(empty, tmp_path / "x.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nothing = az.InferenceData(point_estimate=xr.Dataset({"covariance": (("coordinate", "coordinate_"), np.eye(1))}))
    with pytest.raises(UsageError, match="no estimates"):
        plot_fit(nothing, tmp_path / "x.png")
    with pytest.raises(UsageError, match="directory"):
        plot_fit(nuts_idata(), tmp_path / "missing" / "x.png")
    assert sorted(os.listdir(tmp_path)) == []
