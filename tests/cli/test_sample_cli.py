"""`dync sample` end to end on compiled targets: it writes an ArviZ file
with the states as posterior variables and prints the diagnostics table; a
bad target gets a located error (exit 1, no traceback); Ctrl-C leaves a
checkpoint that `--resume` continues to the same draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.interrupt import ctrl_c_after
from tests.interrupt import main_exit_code as _main

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "specs/targets/double_well.yaml")
FLAGS = ["--method", "nuts", "--chains", "2", "--warmup", "30", "--samples", "400", "--seed", "5", "--no-progress"]



def test_sample_writes_draws_and_prints_the_table(tmp_path, capsys):
    import arviz as az

    out = tmp_path / "draws.nc"
    assert _main("sample", SPEC, "-o", str(out), *FLAGS) == 0
    printed = capsys.readouterr()
    assert "R-hat" in printed.out or "r_hat" in printed.out, printed.out
    assert f"wrote {out}" in printed.err
    idata = az.from_netcdf(out)
    assert idata.posterior["q"].shape[:2] == (2, 400)
    assert {"acceptance_rate", "step_size", "diverging"} <= set(idata.sample_stats.data_vars)
    assert np.all(np.isfinite(idata.posterior["q"].values))


@pytest.mark.parametrize(
    "target, message",
    [
        ("q", "scalar"),  # a vector target
        ("-V", "V"),  # a name it does not know
    ],
)
def test_a_bad_target_gets_a_located_error(tmp_path, capsys, target, message):
    spec = tmp_path / "bad.dync"
    spec.write_text(f"model bad\nstate q[2] = 0\nlet U = sum(q^2)\ntarget {target}\n")
    assert _main("sample", str(spec), "-o", str(tmp_path / "x.nc"), *FLAGS) == 1
    err = capsys.readouterr().err
    assert "bad.dync:4:" in err and message in err and "Traceback" not in err, err


def test_interrupted_sample_resumes_bit_identically(tmp_path, capsys):
    import arviz as az

    whole = tmp_path / "whole.nc"
    assert _main("sample", SPEC, "-o", str(whole), *FLAGS) == 0
    part = tmp_path / "part.nc"
    with ctrl_c_after(2):
        code = _main("sample", SPEC, "-o", str(part), *FLAGS)
    err = capsys.readouterr().err
    assert code == 130 and "--resume" in err and not part.exists(), err
    assert _main("sample", SPEC, "-o", str(part), *FLAGS, "--resume") == 0
    a, b = az.from_netcdf(whole), az.from_netcdf(part)
    np.testing.assert_array_equal(a.posterior["q"].values, b.posterior["q"].values)
    assert not Path(f"{part}.ckpt").exists()


def test_target_accept_and_integration_steps_reach_the_sampler(tmp_path, capsys):
    """A higher target acceptance adapts a smaller step; a bad one is a usage
    error (exit 2) naming the flag."""
    import arviz as az

    steps = {}
    for accept in ("0.6", "0.95"):
        out = tmp_path / f"a{accept}.nc"
        assert _main("sample", SPEC, "-o", str(out), *FLAGS, "--target-accept", accept) == 0
        steps[accept] = float(az.from_netcdf(out).sample_stats.step_size.mean())
    assert steps["0.95"] < steps["0.6"], steps
    assert _main("sample", SPEC, "-o", str(tmp_path / "x.nc"), *FLAGS, "--target-accept", "1.5") == 2
    assert "--target-accept" in capsys.readouterr().err
    hmc = tmp_path / "hmc.nc"
    flags = [f for f in FLAGS if f != "nuts"]
    flags[flags.index("--method") + 1:flags.index("--method") + 1] = ["hmc"]
    assert _main("sample", SPEC, "-o", str(hmc), *flags, "--integration-steps", "4") == 0
