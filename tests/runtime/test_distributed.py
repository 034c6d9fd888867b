"""Multi-process runs (``dync simulate --distributed``): two local CPU
processes, collectives over the loopback address, against one process, bit
for bit (the reproducibility rule: block ``b`` uses ``fold_in(noise, b)``
whatever process runs it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dync.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "ou_poisson.yaml"
RUN = ["--paths", "20000", "--t1", "0.5", "--dt", "0.01", "--save-every", "10", "--seed", "5", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dync(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "dync.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def test_two_processes_give_the_one_process_numbers(tmp_path):
    one, two = tmp_path / "one.nc", tmp_path / "two.nc"
    port = _free_port()
    cluster = ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    procs = [_dync("simulate", str(SPEC), *RUN, "-o", str(two), *cluster, "--process-id", str(i)) for i in (1, 0)]
    single = _dync("simulate", str(SPEC), *RUN, "-o", str(one))
    outs = []
    try:
        for p in [*procs, single]:
            outs.append(p.communicate(timeout=240))
    finally:
        for p in [*procs, single]:
            p.kill()
    for p, (_, err) in zip([*procs, single], outs):
        assert p.returncode == 0, err[-2000:]
    assert "wrote" in outs[1][1] and "wrote" not in outs[0][1]  # process 0 writes and reports, process 1 is silent
    a, b = xr.load_dataset(one), xr.load_dataset(two)
    assert set(a.data_vars) == set(b.data_vars) and len(a.data_vars) >= 2  # the states and the observations
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert a.attrs["block_size"] == b.attrs["block_size"] and 20000 / a.attrs["block_size"] > 2  # several blocks


def test_a_distributed_run_needs_a_joined_process_and_a_fused_solver():
    import jax

    import dync

    model = dync.load(SPEC, jax.random.key(0))
    with pytest.raises(UsageError) as e:
        dync.simulate(model, seed=0, paths=10, t1=0.1, dt=0.01, distributed=True)
    assert "initialize" in (e.value.hint or "")
    with pytest.raises(UsageError) as e:
        dync.simulate(model, seed=0, paths=10, t1=0.1, dt=0.01, adaptive=True, solver="heun_diffrax", distributed=True)
    assert "fixed-step" in str(e.value)


def test_partial_cluster_settings_are_a_usage_error():
    from dync.runtime.distributed import initialize

    with pytest.raises(UsageError) as e:
        initialize("127.0.0.1:1234", None, None)
    assert "--num-processes" in str(e.value)
    with pytest.raises(UsageError):
        initialize("127.0.0.1:1234", 2, 2)
    for bad in ("bogus", "host:", ":1234", "host:99999", "host:port"):  # was E300 "list index out of range"
        with pytest.raises(UsageError, match="expected HOST:PORT"):
            initialize(bad, 2, 0)


def test_cluster_flags_without_distributed_are_refused(tmp_path):
    p = _dync("simulate", str(SPEC), *RUN, "-o", str(tmp_path / "x.nc"), "--num-processes", "2")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "--distributed" in err and "Traceback" not in err
