"""``dync fit --method vi`` then ``dync evaluate`` from the command line, on
a small Lorenz spiking set, and the evaluation's refusals."""

from __future__ import annotations

import json

import pytest

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
