"""The command line as a user runs it: exit codes (0 ok, 1 spec error, 2 usage),
diagnostics on stderr, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def dync(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dync.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_check_prints_a_summary():
    r = dync("check", "specs/langevin_oscillators.dync")
    assert r.returncode == 0, r.stderr
    assert "states" in r.stdout and "additive" in r.stdout and "BAOAB" in r.stdout


def test_check_json_for_editors():
    r = dync("check", "specs/heston.dync", "--format", "json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["ok"] and data["noise_structure"] == "shared"


def test_spec_error_exits_1_with_located_diagnostic(tmp_path):
    bad = tmp_path / "bad.dync"
    bad.write_text("model m\nparam sigma = 1 : positive\nstate x = 0\ndx = -x dt + sigm dW\n")
    r = dync("check", str(bad))
    assert r.returncode == 1
    assert f"{bad}:4:14: error[E201]: undefined name `sigm`" in r.stderr
    assert "did you mean `sigma`?" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_spec_error_as_json(tmp_path):
    bad = tmp_path / "bad.dync"
    bad.write_text("model m\nstate x = 0\ndx = -x dt + sigm dW\n")
    r = dync("check", str(bad), "--format", "json")
    assert r.returncode == 1
    diag = json.loads(r.stdout)["diagnostics"][0]
    assert diag["code"] == "E201" and diag["line"] == 3 and diag["column"] == 14


def test_missing_file_is_a_usage_error():
    r = dync("check", "no/such/spec.dync")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_unknown_dim_override_is_a_usage_error():
    r = dync("check", "specs/langevin_oscillators.dync", "--set", "Q=3")
    assert r.returncode == 2 and "no dim `Q`" in r.stderr


def test_dim_override_changes_shapes():
    r = dync("check", "specs/langevin_oscillators.dync", "--set", "K=4", "--format", "json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["dims"]["K"] == 4 and data["state_size"] == 8


def test_compile_writes_an_importable_module(tmp_path):
    out = tmp_path / "ou_model.py"
    r = dync("compile", "specs/ou.dync", "-o", str(out))
    assert r.returncode == 0, r.stderr
    code = (
        "import importlib.util, jax\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(out)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "model = m.Model()\n"
        "y = model.initial_state(jax.random.key(0))\n"
        "print(model.drift(0.0, y).shape)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "(1,)" in r.stdout


def test_fmt_is_idempotent(tmp_path):
    r = dync("fmt", "specs/heston.dync")
    assert r.returncode == 0, r.stderr
    once = tmp_path / "once.dync"
    once.write_text(r.stdout)
    r2 = dync("fmt", str(once))
    assert r2.stdout == r.stdout


def test_fmt_to_yaml_and_back(tmp_path):
    y = dync("fmt", "specs/kubo.dync", "--to", "yaml")
    assert y.returncode == 0, y.stderr
    ypath = tmp_path / "kubo.yaml"
    ypath.write_text(y.stdout)
    back = dync("fmt", str(ypath), "--to", "dync")
    assert back.returncode == 0, back.stderr
    assert back.stdout == dync("fmt", "specs/kubo.dync").stdout


@pytest.mark.parametrize("args", [["simulate", "specs/ou.dync", "--t1", "1"], ["fmt", "specs/ou.dync", "--to", "json"], ["nonsense"]])
def test_usage_errors_exit_2(args):
    r = dync(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_simulate_writes_netcdf_that_plot_reads(tmp_path):
    """The README's main job, small: simulate OU into NetCDF, then plot it.

    Tolerance: the stationary sd of this OU is 0.5/sqrt(2) ≈ 0.354; with 4000
    paths the sample sd has a standard error of ≈ 0.004, so ±0.03 is > 5 se."""
    import xarray as xr

    out = tmp_path / "ou.nc"
    r = dync("simulate", "specs/ou.dync", "--paths", "4000", "--t1", "5", "--dt", "0.01", "--save-every", "100",
             "--seed", "3", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    with xr.open_dataset(out) as ds:
        assert ds["x"].dims == ("path", "time") and ds.sizes["time"] == 6
        assert ds.attrs["seed"] == 3 and ds.attrs["solver"] == "euler_maruyama"
        assert abs(float(ds["x"].isel(time=-1).std()) - 0.5 / 2**0.5) < 0.03
        assert "y" in ds
    png = tmp_path / "ou.png"
    r = dync("plot", str(out), "-o", str(png))
    assert r.returncode == 0, r.stderr
    assert png.stat().st_size > 10_000


def test_simulate_rejects_a_solver_that_does_not_fit(tmp_path):
    r = dync("simulate", "specs/heston.dync", "--paths", "10", "--t1", "1", "--dt", "0.1", "--solver", "milstein",
             "-o", str(tmp_path / "h.nc"))
    assert r.returncode == 2, r.stderr
    assert "milstein" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "h.nc").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--paths", "0", "--t1", "1", "--dt", "0.1"), "--paths 0: need at least 1 path"),
        (("--paths", "4", "--t1", "1", "--dt", "0"), "--dt 0.0: the step must be positive"),
        (("--paths", "4", "--t1", "-1", "--dt", "0.1"), "--t1 -1.0: the end time must come after --t0 0.0"),
    ],
)
def test_simulate_names_the_bad_flag(tmp_path, flags, message):
    r = dync("simulate", "specs/ou.dync", *flags, "-o", str(tmp_path / "x.nc"))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x.nc").exists()


@pytest.mark.parametrize(
    "args", [["check", "specs/langevin_oscillators.dync"], ["check", "specs/heston.dync", "--format", "json"], ["fmt", "specs/kubo.dync", "--to", "yaml"]]
)
def test_check_and_fmt_import_no_jax_nor_typer(args):
    # the front door editors call on every save stays light: run the CLI in
    # process, then look at what it imported
    code = (
        "import sys\n"
        "from dync.cli import main\n"
        f"sys.argv = ['dync', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(sorted(m for m in ('jax', 'jaxlib', 'equinox', 'diffrax', 'typer', 'click') if m in sys.modules), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr


def test_simulate_settings_merge_flags_over_the_yaml_section(tmp_path):
    from dync.dsl.loading import load_spec
    from dync.errors import UsageError
    from dync.settings import simulate_settings

    spec = tmp_path / "s.yaml"
    spec.write_text(
        "model: m\ndims: {K: 2}\nparams: {theta: 1.0}\nstates: {x: {shape: [K], init: 0.0}}\n"
        "equations: [dx = -theta * x dt + dW]\nsimulate: {t1: 2.0, dt: 0.1, paths: 7, save: 5}\n"
    )
    parsed = load_spec(spec)
    s = simulate_settings(parsed, paths=3, sets=["K=4", "theta=0.5"])
    assert (s.paths, s.t1, s.dt, s.t0, s.save, s.solver) == (3, 2.0, 0.1, 0.0, 5, "auto")
    assert dict(s.dims) == {"K": 4} and dict(s.params) == {"theta": 0.5}
    with pytest.raises(UsageError, match="unknown simulate setting `pahts`"):
        simulate_settings(parsed, pahts=3)
    with pytest.raises(UsageError, match="--dt 0: the step must be positive"):
        simulate_settings(parsed, dt=0)


@pytest.mark.parametrize("command", ["simulate", "compile"])
def test_an_unwritable_output_is_a_usage_error(tmp_path, command):
    """An output that is a directory, or under a path the system refuses, is
    E400 naming the path (it was an IsADirectoryError/FileNotFoundError traceback)."""
    extra = ["--paths", "4", "--t1", "0.01", "--dt", "0.01"] if command == "simulate" else []
    for out, reason in [(str(tmp_path), "it is a directory"), ("/proc/dync-nope/out.x", "cannot write /proc/dync-nope/out.x")]:
        r = dync(command, "specs/ou.dync", *extra, "-o", out)
        assert r.returncode == 2, r.stderr
        assert "error[E400]" in r.stderr and reason in r.stderr
        assert "Traceback" not in r.stderr + r.stdout


def test_simulate_reads_the_inputs_from_a_file(tmp_path, capsys):
    """`--inputs FILE`: the covariate is interpolated linearly between its
    times and held after the last. With `dx = u dt` and u = 2t on [0, 1],
    then 2, x(1) = 1 and x(2) = 3; Euler with dt = 0.01 evaluates u at the
    start of each step, which gives x(1) = 0.99 and x(2) = 2.99 (the noise,
    0.001 dW, moves the mean of 200 paths by < 1e-3)."""
    import xarray as xr

    from tests.interrupt import main_exit_code

    spec = tmp_path / "forced.dync"
    spec.write_text("model forced\ninput u\nstate x = 0\ndx = u dt + 0.001 dW\nobserve y ~ Normal(x, 0.1)\n")
    (tmp_path / "u.csv").write_text("time,u\n0,0\n1,2\n")
    out = tmp_path / "x.nc"
    flags = ["--paths", "200", "--t1", "2", "--dt", "0.01", "--save", "1,2", "--no-progress", "-o", str(out)]
    assert main_exit_code("simulate", str(spec), *flags, "--inputs", str(tmp_path / "u.csv")) == 0
    with xr.open_dataset(out) as ds:
        np.testing.assert_allclose(ds["x"].mean("path").values, [0.99, 2.99], atol=2e-3)
    # the output carries its input, so it is fit data for the same model (LANGUAGE.md §11)
    import dync
    from dync.runtime.data import read_observations

    series = read_observations(out, dync.load(spec).info).series[0]
    np.testing.assert_array_equal(series.inputs["u"][0], [0.0, 1.0])
    np.testing.assert_array_equal(series.inputs["u"][1], [0.0, 2.0])
    assert main_exit_code("simulate", str(spec), *flags) == 2
    err = capsys.readouterr().err
    assert "has the input(s) `u`" in err and "--inputs FILE" in err
    (tmp_path / "bad.csv").write_text("time,v\n0,1\n")
    assert main_exit_code("simulate", str(spec), *flags, "--inputs", str(tmp_path / "bad.csv")) == 2
    assert "no column for the input `u`" in capsys.readouterr().err
    assert main_exit_code("simulate", str(spec), *flags[:-1], str(tmp_path / "u.csv"), "--inputs", str(tmp_path / "u.csv")) == 2
    assert "would destroy the input" in capsys.readouterr().err


def test_simulate_in_float64_and_a_warning_when_float32_blurs_the_times(tmp_path):
    """`dy = cos(t) dt` from t = 1e6: float32 numbers there are 0.0625 apart,
    six steps of 0.01, so the float32 run warns (and is 7 % off); --x64
    gives sin(t1) - sin(t0) to 1e-9 (RK4, dt 0.01). A subprocess: --x64
    switches JAX to float64 for the whole process."""
    import xarray as xr

    spec = tmp_path / "clock.dync"
    spec.write_text("model clock\nstate y = 0\ndy = cos(t) dt\n")
    flags = ["--t0", "1000000", "--t1", "1000010", "--dt", "0.01", "--solver", "rk4", "--paths", "1"]
    r = dync("simulate", str(spec), *flags, "-o", str(tmp_path / "f32.nc"))
    assert r.returncode == 0 and "float32 numbers near t = 1.00001e+06 are 0.0625 apart" in r.stderr, r.stderr
    assert "--x64" in r.stderr
    r = dync("simulate", str(spec), *flags, "--x64", "-o", str(tmp_path / "f64.nc"))
    assert r.returncode == 0 and "float32" not in r.stderr, r.stderr
    with xr.open_dataset(tmp_path / "f64.nc") as ds:
        assert ds["y"].dtype == np.float64
        assert abs(float(ds["y"].values[0, -1]) - (np.sin(1000010.0) - np.sin(1e6))) < 1e-9


def test_check_and_compile_say_their_set_takes_dims_only():
    """`dync check --set theta=2` is refused ("only dims can be set here"),
    so its help does not promise parameters."""
    from typer.testing import CliRunner

    from dync.cli import app

    for command in ("check", "compile"):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "Override a dim: NAME=VALUE" in out and "or a parameter" not in out, out
