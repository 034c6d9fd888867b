"""`dync fit` as a user runs it: a fit file and a table, located errors for
bad data and flags (never a traceback), and a fit interrupted by Ctrl-C that
`--resume` finishes bit-identically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.interrupt import ctrl_c_after
from tests.interrupt import main_exit_code as _main

ROOT = Path(__file__).resolve().parents[2]


def dync(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dync.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 8, 30))
    y = 0.4 * rng.standard_normal(30)
    path = tmp_path_factory.mktemp("fitdata") / "ou.nc"
    xr.Dataset({"y": (("time",), y)}, coords={"time": t}).to_netcdf(path)
    return path


def test_fit_writes_a_fit_file_and_prints_the_table(data_file, tmp_path):
    out = tmp_path / "fit.nc"
    r = dync("fit", "specs/ou.dync", str(data_file), "--method", "map", "--steps", "100", "--fix", "mu=0",
             "-o", str(out), "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "MAP with the kalman likelihood" in r.stdout and "theta" in r.stdout and "se" in r.stdout
    assert f"wrote {out}" in r.stderr
    assert out.exists() and not Path(f"{out}.ckpt").exists()
    import arviz as az

    idata = az.from_netcdf(out)
    assert idata.point_estimate.attrs["method"] == "map"
    png = tmp_path / "fit.png"
    r = dync("plot", str(out), "-o", str(png), "--predictive-paths", "20")
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "nutz"], "did you mean `nuts`"),
        (["--fix", "thetta=1"], "thetta"),
        (["--fix", "theta"], "expected NAME=VALUE"),
        (["--method", "nuts", "--chains", "0"], "--chains 0"),
        (["--method", "nuts", "--target-accept", "1.5"], "--target-accept 1.5: must lie strictly between 0 and 1"),
        (["--likelihood", "kalmann"], "did you mean `kalman`"),
        (["--method", "nuts", "--steps", "5"], "--steps is a setting of --method mle / map / vi"),
        (["--chains", "2"], "--chains is a setting of --method nuts / pmmh; --method mle does not use it"),
        (["--method", "pmmh", "--steps", "5"], "drop --steps (PMMH runs --warmup steps, then --draws)"),
        (["--method", "pmmh", "--target-accept", "0"], "--target-accept 0: must lie strictly between 0 and 1"),
    ],
)
def test_bad_flags_are_usage_errors(data_file, tmp_path, args, message):
    base = [] if "--method" in args else ["--steps", "2"]
    r = dync("fit", "specs/ou.dync", str(data_file), "-o", str(tmp_path / "f.nc"), *base, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_bad_data_gets_a_located_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,y\n0.0,0.1\n0.5,0.2\n0.4,0.3\n")
    r = dync("fit", "specs/ou.dync", str(bad), "-o", str(tmp_path / "f.nc"))
    assert r.returncode == 2  # bad input from the user: a usage error
    assert str(bad) in r.stderr and "time" in r.stderr and "increas" in r.stderr
    assert "Traceback" not in r.stderr
    r = dync("fit", "specs/ou.dync", str(tmp_path / "none.nc"), "-o", str(tmp_path / "f.nc"))
    assert r.returncode == 2 and "no such data file" in r.stderr


def test_resume_without_a_checkpoint_is_a_usage_error(data_file, tmp_path):
    r = dync("fit", "specs/ou.dync", str(data_file), "-o", str(tmp_path / "f.nc"), "--resume")
    assert r.returncode == 2 and "no checkpoint" in r.stderr


def test_yaml_fit_section_gives_defaults_that_flags_override(tmp_path):
    from dync.compiler.driver import read_spec
    from dync.settings import fit_settings

    text = (ROOT / "specs/ou.yaml").read_text() + "\nfit:\n  method: nuts\n  chains: 2\n  fix: {mu: 0.0}\n"
    spec = read_spec(tmp_path / "ou.yaml", text)
    s = fit_settings(spec)
    assert (s.method, s.chains, dict(s.fix)) == ("nuts", 2, {"mu": 0.0})
    s = fit_settings(spec, method="mle", fix=["sigma=0.3"])
    assert (s.method, s.chains, dict(s.fix)) == ("mle", 2, {"mu": 0.0, "sigma": 0.3})


def test_yaml_fit_section_rejects_an_unknown_key_with_its_location(tmp_path):
    spec = tmp_path / "ou.yaml"
    spec.write_text((ROOT / "specs/ou.yaml").read_text() + "\nfit:\n  methd: nuts\n")
    r = dync("check", str(spec))
    assert r.returncode == 1 and "methd" in r.stderr and "E260" in r.stderr



def test_interrupted_nuts_fit_resumes_bit_identically(data_file, tmp_path, capsys):
    import arviz as az

    flags = ["--method", "nuts", "--chains", "2", "--warmup", "40", "--draws", "20", "--checkpoint-every", "5",
             "--fix", "mu=0", "--no-progress", "--seed", "3"]  # fmt: skip
    whole = tmp_path / "whole.nc"
    assert _main("fit", "specs/ou.dync", str(data_file), "-o", str(whole), *flags) == 0
    part = tmp_path / "part.nc"
    with ctrl_c_after(2):  # after 10 of the 40 warm-up steps: the warm-up is checkpointed too
        code = _main("fit", "specs/ou.dync", str(data_file), "-o", str(part), *flags)
    err = capsys.readouterr().err
    assert code == 130 and "--resume" in err and not part.exists()
    # the adapted state is written beside the checkpoint once the warm-up ends
    assert Path(f"{part}.ckpt").exists() and not Path(f"{part}.ckpt.warmup").exists()
    # another model's checkpoint is refused (its draws would be mixed with this one's)
    edited = tmp_path / "edited.dync"
    edited.write_text((ROOT / "specs/ou.dync").read_text().replace("param mu = 0.0", "param mu = 0.0 ~ Normal(0, 3)"))
    assert edited.read_text() != (ROOT / "specs/ou.dync").read_text()
    assert _main("fit", str(edited), str(data_file), "-o", str(part), *flags, "--resume") == 2
    assert "was written for another spec" in capsys.readouterr().err
    other_fix = [f if f != "mu=0" else "mu=0.5" for f in flags]
    assert _main("fit", "specs/ou.dync", str(data_file), "-o", str(part), *other_fix, "--resume") == 2
    capsys.readouterr()
    # nor one computed in float32 by a float64 run
    assert _main("fit", "specs/ou.dync", str(data_file), "-o", str(part), *flags, "--x64", "--resume") == 2
    assert "--x64" in capsys.readouterr().err
    assert _main("fit", "specs/ou.dync", str(data_file), "-o", str(part), *flags, "--resume") == 0
    assert "resuming from" in capsys.readouterr().err
    a, b = az.from_netcdf(whole), az.from_netcdf(part)
    for name in ("theta", "sigma"):
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
    np.testing.assert_array_equal(a.sample_stats.lp.values, b.sample_stats.lp.values)
    assert not Path(f"{part}.ckpt").exists() and not Path(f"{part}.ckpt.spec").exists()


def test_an_output_that_is_an_input_file_is_refused(data_file, tmp_path):
    """`-o` naming the data or the spec used to replace it with the fit."""
    import shutil

    data = tmp_path / "d.nc"
    shutil.copy(data_file, data)
    before = data.read_bytes()
    r = dync("fit", "specs/ou.dync", str(data), "-o", str(data))
    assert r.returncode == 2 and "would destroy the input" in r.stderr and data.read_bytes() == before


def test_pmmh_fit_from_the_command_line(tmp_path, capsys):
    """`--method pmmh` runs with its own defaults and flags, and the fit
    file says how it was made."""
    import arviz as az

    from tests.runtime.conjugate import DRIFT_SPEC, drift_case

    spec, data, out = tmp_path / "drift.dync", tmp_path / "drift.nc", tmp_path / "post.nc"
    spec.write_text(DRIFT_SPEC)
    drift_case(observations=10).data.to_netcdf(data)
    code = _main("fit", str(spec), str(data), "--method", "pmmh", "--likelihood", "particle", "--particles", "30",
                 "--chains", "2", "--warmup", "20", "--draws", "30", "-o", str(out), "--no-progress")  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "PMMH with the particle likelihood" in printed and "log-likelihood estimate has sd" in printed
    attrs = az.from_netcdf(out).posterior.attrs
    assert (attrs["method"], attrs["warmup"], attrs["draws"], attrs["particles"]) == ("pmmh", 20, 30, 30)
    assert 0.0 < attrs["target_accept"] < 0.45


def test_fitting_a_parameter_read_when_the_spec_compiles_is_a_located_error(data_file, tmp_path, capsys):
    """`dync fit` fitted `k` of `x[k]` (a zero gradient, NaN standard errors
    for every parameter); now it stops at k's declaration, before reading the
    data, and says to declare it const or hold it with --fix."""
    spec = tmp_path / "k.dync"
    spec.write_text("model m\nparam k = 1\nparam a = 1 : positive\nstate x[3] = 1\ndx = -a * x dt + 0.1 * x[k] dW\n"
                    "observe y ~ Normal(x[0], 0.1)\n")  # fmt: skip
    assert _main("fit", str(spec), str(tmp_path / "none.nc"), "-o", str(tmp_path / "f.nc")) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:7: error[E290]: parameter `k` is read as an index or a size (line 5)" in err
    assert "2 | param k = 1" in err and "hint: declare it `const k = 1`, or hold it with --fix k=1" in err
    assert "Traceback" not in err
    # held at another value than the compiled one: the model would ignore it
    assert _main("fit", str(spec), str(data_file), "--fix", "k=2", "-o", str(tmp_path / "f.nc"), "--no-progress") == 2
    err = capsys.readouterr().err
    assert "`--fix k=2`: parameter `k` is read as an index or a size (line 5) when the spec compiles" in err
    assert "the value given (2) would be ignored" in err and "Traceback" not in err


def test_interrupted_pmmh_fit_resumes_bit_identically(tmp_path, capsys):
    import arviz as az

    from tests.runtime.conjugate import DRIFT_SPEC, drift_case

    spec, data = tmp_path / "drift.dync", tmp_path / "drift.nc"
    spec.write_text(DRIFT_SPEC)
    drift_case(observations=10).data.to_netcdf(data)
    flags = ["--method", "pmmh", "--likelihood", "particle", "--particles", "20", "--chains", "2", "--warmup", "20",
             "--draws", "40", "--checkpoint-every", "10", "--no-progress", "--seed", "4"]  # fmt: skip
    whole, part = tmp_path / "whole.nc", tmp_path / "part.nc"
    assert _main("fit", str(spec), str(data), "-o", str(whole), *flags) == 0
    with ctrl_c_after(3):
        code = _main("fit", str(spec), str(data), "-o", str(part), *flags)
    assert code == 130 and "--resume" in capsys.readouterr().err and Path(f"{part}.ckpt").exists()
    assert _main("fit", str(spec), str(data), "-o", str(part), *flags, "--resume") == 0
    assert "resuming from" in capsys.readouterr().err
    a, b = az.from_netcdf(whole), az.from_netcdf(part)
    np.testing.assert_array_equal(a.posterior["b"].values, b.posterior["b"].values)
    np.testing.assert_array_equal(a.sample_stats.lp.values, b.sample_stats.lp.values)


def test_ctrl_c_before_the_first_checkpoint_says_there_is_nothing_to_resume(tmp_path, capsys):
    # was a bare "interrupted", and the docs promised that --resume would
    # rerun from the start; --resume is refused ("no checkpoint")
    from dync.cli.common import _Exit, _interrupted

    ckpt, warm = tmp_path / "f.nc.ckpt", tmp_path / "f.nc.ckpt.warmup"
    with pytest.raises(_Exit) as exit_:
        _interrupted(ckpt, warm)
    assert exit_.value.code == 130
    assert "nothing to resume: rerun without --resume" in capsys.readouterr().err
    ckpt.write_bytes(b"x")
    with pytest.raises(_Exit):
        _interrupted(ckpt, warm)
    assert "rerun with --resume to continue" in capsys.readouterr().err
