"""`dync sample --method sgld --data FILE` end to end: the ArviZ file with its
step sizes, the table; bad data and a missing --data are located errors, not
tracebacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.interrupt import main_exit_code as _main

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "specs/targets/logistic_regression_data.dync")
DATA = str(ROOT / "specs/targets/logistic_data.csv")
FLAGS = ["--method", "sgld", "--step", "0.005", "--batch", "10", "--chains", "2", "--warmup", "50", "--samples",
         "100", "--no-progress"]  # fmt: skip


def test_sgld_with_a_data_file_writes_draws(tmp_path, capsys):
    import arviz as az

    out = tmp_path / "sgld.nc"
    assert _main("sample", SPEC, "--data", DATA, "-o", str(out), *FLAGS) == 0
    printed = capsys.readouterr()
    assert "sgld" in printed.out and f"wrote {out}" in printed.err
    idata = az.from_netcdf(out)
    assert idata.posterior["w"].shape == (2, 100, 3)
    np.testing.assert_allclose(idata.sample_stats["step_size"], 0.005)
    assert np.all(np.isfinite(idata.posterior["w"].values))
    assert idata.posterior.attrs["batch"] == 10


def test_sgld_without_data_is_a_usage_error(tmp_path, capsys):
    assert _main("sample", SPEC, "-o", str(tmp_path / "x.nc"), *FLAGS) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "Traceback" not in err, err


def test_bad_data_gets_a_located_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("X[0],X[1],X[2],y\n1,0.5,0.2,1\n1,oops,0.1,0\n")
    assert _main("sample", SPEC, "--data", str(bad), "-o", str(tmp_path / "x.nc"), *FLAGS) != 0
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and "X[1]" in err and "Traceback" not in err, err
    missing = tmp_path / "missing.csv"
    missing.write_text("X[0],X[1],X[2]\n1,0.5,0.2\n")
    assert _main("sample", SPEC, "--data", str(missing), "-o", str(tmp_path / "x.nc"), *FLAGS) != 0
    err = capsys.readouterr().err
    assert "no column `y`" in err and "Traceback" not in err, err
