"""``dync fit --method vi`` then ``dync evaluate`` from the command line, on
a small Lorenz spiking set, and the evaluation's refusals."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from dync.runtime.data import PaddedData
from dync.runtime.latent.lorenz import lorenz_spikes
from tests.interrupt import main_exit_code as _main


@pytest.fixture(scope="module")
def lorenz_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lorenz")
    sets = lorenz_spikes(conditions=6, trials=8, bins=20, neurons=8, heldout=2, unseen=1, seed=1)
    for name, ds in sets.items():
        ds.to_netcdf(folder / f"lz_{name}.nc")
    return folder


@pytest.mark.slow
def test_neural_drift_spec_fits_and_evaluates(lorenz_files, tmp_path, capsys):
    fit = tmp_path / "fit.nc"
    code = _main("fit", "specs/latent/neural_drift_poisson.dync", str(lorenz_files / "lz_train.nc"), "--method", "vi",
                 "--set", "N=8", "--steps", "30", "--hidden", "8", "--context", "4", "--samples", "2",
                 "--no-progress", "-o", str(fit))  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "variational inference" in out and "ELBO" in out
    metrics = tmp_path / "m.json"
    code = _main("evaluate", str(fit), str(lorenz_files / "lz_eval.nc"), "--truth", str(lorenz_files / "lz_truth.nc"),
                 "--samples", "4", "-o", str(metrics))  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = capsys.readouterr().out
    assert "co-bps" in table and "test" in table and "unseen" in table
    m = json.loads(metrics.read_text())
    assert set(m) >= {"test", "unseen", "all"}  # 8 trials per condition: no valid split
    for split in m.values():
        assert -5 < split["co_bps"] < 5 and split["r2"] <= 1.0


def test_evaluate_refuses_a_file_that_is_not_a_vi_fit(lorenz_files, tmp_path, capsys):
    code = _main("evaluate", str(lorenz_files / "lz_train.nc"), str(lorenz_files / "lz_eval.nc"), "--truth",
                 str(lorenz_files / "lz_truth.nc"))  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_evaluate_refuses_a_missing_file(lorenz_files, tmp_path, capsys):
    code = _main("evaluate", str(tmp_path / "nope.nc"), str(lorenz_files / "lz_eval.nc"), "--truth",
                 str(lorenz_files / "lz_truth.nc"))  # fmt: skip
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_evaluate_refuses_a_fit_that_is_not_netcdf(lorenz_files, tmp_path, capsys):
    fit = tmp_path / "fit.csv"
    fit.write_text("time,y\n0,1\n")
    code = _main("evaluate", str(fit), str(lorenz_files / "lz_eval.nc"), "--truth", str(lorenz_files / "lz_truth.nc"))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "as NetCDF" in err and "--method vi" in err


# The refusals below read the data and truth files only: an untrained
# stand-in for a VI fit of specs/fit/ou.dync (one scalar observation `y`)
# whose inferred rates are 2 everywhere keeps them to a second each.


@pytest.fixture(scope="module")
def ou_model():
    import dync

    return dync.load("specs/fit/ou.dync")


@pytest.fixture
def stub_fit(ou_model, monkeypatch, tmp_path):
    import dync.commands.evaluating as evaluating
    import dync.runtime.latent.evaluate as latent_evaluate

    def infer(fit, data, *, seed=0, samples=32):
        padded = data if isinstance(data, PaddedData) else data.padded()
        return {"rates": {"y": np.full(padded.values["y"].shape, 2.0)}}

    monkeypatch.setattr(evaluating, "load_vi_fit", lambda path: SimpleNamespace(model=ou_model))
    monkeypatch.setattr(latent_evaluate, "infer", infer)
    fit = tmp_path / "fit.nc"
    fit.write_bytes(b"")  # the stand-in is not read; the file only has to exist
    return fit


def _ou_sets(heldout: str | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """Evaluation data and truth of 3 trials × 8 bins of counts `y`."""
    counts = np.random.default_rng(0).poisson(2.0, (3, 8)).astype(float)
    coords = {"series": ["a", "b", "c"], "time": np.arange(8.0)}
    data = xr.Dataset({"y": (("series", "time"), counts)}, coords=coords)
    if heldout is not None:
        data.attrs["heldout"] = heldout
    truth = xr.Dataset({"y": (("series", "time"), counts), "rates": (("series", "time"), np.full((3, 8), 2.0)),
                        "split": (("series",), ["test", "test", "unseen"])}, coords=coords)  # fmt: skip
    return data, truth


def _evaluate(capsys, fit, data, truth, *options: str) -> tuple[int, str, str]:
    code = _main("evaluate", str(fit), str(data), "--truth", str(truth), "--samples", "1", *options)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _write(tmp_path, data: xr.Dataset, truth: xr.Dataset):
    data.to_netcdf(tmp_path / "data.nc")
    truth.to_netcdf(tmp_path / "truth.nc")
    return tmp_path / "data.nc", tmp_path / "truth.nc"


def test_evaluate_reads_the_truth_under_name(stub_fit, tmp_path, capsys):
    data, truth = _write(tmp_path, *_ou_sets())  # the truth's counts are `y`, no `spikes`
    code, out, err = _evaluate(capsys, stub_fit, data, truth, "--name", "y", "--forward-bins", "2")
    assert code == 0, err
    assert "test" in out and "unseen" in out and "all" in out


def test_evaluate_refuses_csv_data(stub_fit, tmp_path, capsys):
    data, truth = _ou_sets()
    csv = tmp_path / "good.csv"
    csv.write_text("time,y\n" + "".join(f"{t},{v}\n" for t, v in zip(data.time.values, data.y.values[0])))
    truth.to_netcdf(tmp_path / "truth.nc")
    code, _, err = _evaluate(capsys, stub_fit, csv, tmp_path / "truth.nc", "--name", "y")
    assert code == 2
    assert "good.csv" in err and "the evaluation data must be a NetCDF file" in err and "heldout" in err


def test_evaluate_refuses_a_truth_without_series(stub_fit, tmp_path, capsys):
    data, truth = _ou_sets()
    simulated = truth[["y"]].rename(series="path").drop_vars("path")  # as `dync simulate` writes
    data_path, truth_path = _write(tmp_path, data, simulated)
    code, _, err = _evaluate(capsys, stub_fit, data_path, truth_path, "--name", "y")
    assert code == 2
    assert "truth.nc" in err and "no `series` coordinate" in err and 'rename(path="series")' in err


def test_evaluate_lists_the_truth_variables_when_name_is_missing(stub_fit, tmp_path, capsys):
    data, truth = _ou_sets()
    data_path, truth_path = _write(tmp_path, data, truth.rename(y="spikes"))
    code, _, err = _evaluate(capsys, stub_fit, data_path, truth_path, "--name", "y")
    assert code == 2
    assert "the truth file has no `y` variable" in err and "`spikes`, `rates`, `split`" in err


def test_evaluate_refuses_a_name_the_fit_does_not_observe(stub_fit, tmp_path, capsys):
    code, _, err = _evaluate(capsys, stub_fit, *_write(tmp_path, *_ou_sets()))  # --name spikes by default
    assert code == 2
    assert "no observation `spikes` (it observes `y`)" in err and "--name y" in err


@pytest.mark.parametrize(
    "heldout, message",
    [("{not json", "the attribute `heldout` is not valid JSON"),
     ("[1, 2]", "the attribute `heldout` is JSON list, not an object"),
     ('{"y": "0"}', 'the attribute `heldout` gives `y` "0", not a list of component indices'),
     ('{"y": [3]}', "the attribute `heldout` holds component 3 of `y`, which has 1 component(s)")],
)  # fmt: skip
def test_evaluate_refuses_a_bad_heldout_attribute(stub_fit, tmp_path, capsys, heldout, message):
    data_path, truth_path = _write(tmp_path, *_ou_sets(heldout))
    code, _, err = _evaluate(capsys, stub_fit, data_path, truth_path, "--name", "y")
    assert code == 2
    assert "data.nc" in err and message in err


def test_evaluate_refuses_mismatched_files(stub_fit, tmp_path, capsys):
    data, truth = _ou_sets()
    data_path, truth_path = _write(tmp_path, data, truth.isel(time=slice(0, 6)))
    code, _, err = _evaluate(capsys, stub_fit, data_path, truth_path, "--name", "y")
    assert code == 2
    assert "the truth's `y` has shape (3, 6, 1)" in err and "(3, 8, 1)" in err
    data_path, truth_path = _write(tmp_path, data, truth.assign_coords(series=["a", "a", "c"]))
    code, _, err = _evaluate(capsys, stub_fit, data_path, truth_path, "--name", "y")
    assert code == 2 and "the truth labels two trials `a`" in err
    (tmp_path / "empty.nc").write_bytes(b"")
    code, _, err = _evaluate(capsys, stub_fit, data_path, tmp_path / "empty.nc", "--name", "y")
    assert code == 2 and "the truth file is empty" in err


def test_evaluate_refuses_forward_bins_beyond_the_trials(stub_fit, tmp_path, capsys):
    code, _, err = _evaluate(capsys, stub_fit, *_write(tmp_path, *_ou_sets()), "--name", "y", "--forward-bins", "8")
    assert code == 2
    assert "--forward-bins 8: the trials have 8 bins" in err
