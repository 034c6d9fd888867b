"""Tests for dync.runtime.devices and multi-device simulation.

XLA reads the host device count once per process, so the multi-device checks
run in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
and compare with this process (whatever its device count): the documented
rule is that results do not depend on the number of devices.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dync.runtime import devices as dev

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("dync.info.constraints")
pytest.importorskip("dync.runtime.solvers.fused")


def _run(script: str, env_extra: dict[str, str], *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "DYNC_HOST_DEVICES", "JAX_PLATFORMS")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


#: small blocks, so that 100 paths make 7 blocks dealt over the devices
TWO_DEVICE_SCRIPT = """
    import sys
    import jax
    import numpy as np
    from dync.runtime import simulate as sim_mod
    from tests.runtime.test_simulate import OU

    sim_mod.BLOCK_PATHS = 16
    model = OU.make(theta=1.5, mu=0.5, sigma=0.3)
    kw = dict(seed=9, paths=100, t1=0.2, dt=0.01, save=5)
    two = sim_mod.simulate(model, **kw)
    one = sim_mod.simulate(model, devices=1, **kw)
    ad = sim_mod.simulate(model, seed=9, paths=40, t1=0.2, dt=0.05, save=[0.07, 0.2], solver="shark", adaptive=True)
    np.savez(sys.argv[1], x2=two["x"].values, y2=two["y"].values, x1=one["x"].values, xa=ad["x"].values)
    print(len(jax.devices()))
"""


def test_two_host_devices_give_the_same_numbers(tmp_path, monkeypatch):
    from dync.runtime import simulate as sim_mod

    from .test_simulate import OU

    out = tmp_path / "two.npz"
    stdout = _run(TWO_DEVICE_SCRIPT, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, str(out))
    assert stdout.strip() == "2"
    got = np.load(out)
    monkeypatch.setattr(sim_mod, "BLOCK_PATHS", 16)
    model = OU.make(theta=1.5, mu=0.5, sigma=0.3)
    here = sim_mod.simulate(model, seed=9, paths=100, t1=0.2, dt=0.01, save=5)
    np.testing.assert_array_equal(got["x2"], got["x1"])
    np.testing.assert_array_equal(got["x2"], here["x"].values)
    np.testing.assert_array_equal(got["y2"], here["y"].values)
    ad = sim_mod.simulate(model, seed=9, paths=40, t1=0.2, dt=0.05, save=[0.07, 0.2], solver="shark", adaptive=True)
    np.testing.assert_allclose(got["xa"], ad["x"].values, rtol=1e-6, atol=1e-7)


CONFIGURE_SCRIPT = """
    import os
    from dync.runtime.devices import configure_host_devices, jax_backends_initialized
    n = configure_host_devices(3)
    import jax
    assert not jax_backends_initialized()
    print(n, len(jax.devices()), jax_backends_initialized(), os.environ["XLA_FLAGS"])
"""


def test_configure_host_devices_in_a_fresh_process():
    fields = _run(CONFIGURE_SCRIPT, {"JAX_PLATFORMS": "cpu"}).split()
    assert fields[:3] == ["3", "3", "True"]
    assert fields[3] == "--xla_force_host_platform_device_count=3"


def test_configure_host_devices_rules(monkeypatch):
    monkeypatch.setattr(dev, "jax_backends_initialized", lambda: False)
    monkeypatch.delenv("DYNC_HOST_DEVICES", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    assert dev.configure_host_devices(4) == 4
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=4"
    # the user's own count wins
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=5")
    assert dev.configure_host_devices(4) == 5
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=5"
    # DYNC_HOST_DEVICES overrides n; 0 and 1 disable
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setenv("DYNC_HOST_DEVICES", "1")
    assert dev.configure_host_devices(4) is None and "XLA_FLAGS" not in os.environ
    monkeypatch.setenv("DYNC_HOST_DEVICES", "6")
    assert dev.configure_host_devices(4) == 6
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setenv("DYNC_HOST_DEVICES", "many")
    with pytest.raises(ValueError, match="DYNC_HOST_DEVICES"):
        dev.configure_host_devices()
    # too late once the backends run: nothing changes
    monkeypatch.delenv("DYNC_HOST_DEVICES")
    monkeypatch.setattr(dev, "jax_backends_initialized", lambda: True)
    assert dev.configure_host_devices(4) is None and "XLA_FLAGS" not in os.environ


def test_resolve_devices():
    import jax

    from dync.errors import UsageError

    assert dev.resolve_devices() == tuple(jax.devices())
    assert dev.resolve_devices(1) == (jax.devices()[0],)
    with pytest.raises(UsageError, match="device"):
        dev.resolve_devices(len(jax.devices()) + 1)
    assert dev.path_mesh(dev.resolve_devices(1)).axis_names == ("path",)


CACHE_SCRIPT = """
    import sys, time
    from dync.runtime.devices import enable_compilation_cache
    enable_compilation_cache(sys.argv[1])
    t = time.perf_counter()
    from dync.runtime.simulate import simulate
    from tests.runtime.test_simulate import OU
    simulate(OU.make(theta=1.0, mu=0.0, sigma=0.5), seed=0, paths=8, t1=0.1, dt=0.01, save=5)
    print(time.perf_counter() - t)
"""


def test_compilation_cache_is_written(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _run(CACHE_SCRIPT, {"JAX_PLATFORMS": "cpu"}, str(cache))
    assert any(cache.iterdir())
    monkeypatch.delenv("DYNC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert dev.default_cache_dir().parts[-2:] == ("dync", "jax") and not dev.cache_disabled()
    monkeypatch.setenv("DYNC_CACHE_DIR", str(tmp_path / "mine"))
    assert dev.default_cache_dir() == tmp_path / "mine"


@pytest.mark.parametrize("value", ["off", "OFF", "none", "0"])
def test_dync_cache_dir_off_leaves_the_cache_off(monkeypatch, value):
    import jax

    monkeypatch.setenv("DYNC_CACHE_DIR", value)
    before = jax.config.jax_compilation_cache_dir
    assert dev.cache_disabled() and dev.enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir == before


# ---------------------------------------------------------------------------
# describe_devices: what the layout rule reads about the devices
# ---------------------------------------------------------------------------


class _FakeGpu:
    """What describe_devices reads of a jax.Device, as a CUDA device reports it."""

    platform = "gpu"
    device_kind = "NVIDIA H200"
    core_count = 132

    def __init__(self, stats):
        self._stats = stats

    def memory_stats(self):
        if isinstance(self._stats, Exception):
            raise self._stats
        return self._stats


def test_describe_devices_on_this_cpu():
    import jax

    d = dev.describe_devices(jax.devices()[:1])
    assert (d.platform, d.memory_bytes, d.count) == ("cpu", None, 1) and d.cores >= 1
    assert not d.accelerator


def test_describe_devices_of_a_gpu():
    d = dev.describe_devices([_FakeGpu({"bytes_limit": 112583507968})] * 2)
    assert (d.platform, d.kind, d.memory_bytes, d.cores, d.count) == ("gpu", "NVIDIA H200", 112583507968, 132, 2)
    assert d.accelerator
    # no memory statistics: unknown memory (the layout assumes its default)
    assert dev.describe_devices([_FakeGpu(None)]).memory_bytes is None
    assert dev.describe_devices([_FakeGpu(RuntimeError("unimplemented"))]).memory_bytes is None
    cuda = _FakeGpu({})
    cuda.platform = "cuda"
    assert dev.describe_devices([cuda]).platform == "gpu"
