"""Chains split over devices give the draws of chains on one device (the same
keys and steps; XLA compiles the split program with other fusions, so the
numbers agree to float32 round-off, 1e-3 after 90 steps, not bit for bit),
run in a child process with two host devices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, numpy as np, jax
from dync.runtime.sampling import sample_density
assert len(jax.devices()) == 2
fn = lambda q: -(q[0] ** 2 / 2 + (q[1] - 0.1 * q[0] ** 2) ** 2 / 2)  # the banana
out = {}
for devices in (1, 2):
    run = sample_density(fn, np.zeros((4, 2), np.float32), jax.random.key(3), method=sys.argv[1], warmup=50,
                         samples=40, devices=devices, progress=False)
    out[devices] = np.asarray(run.positions)
np.save(sys.argv[2], np.stack([out[1], out[2]]))
"""


def test_chains_split_over_two_devices_give_the_same_draws(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    for method in ("nuts", "mala"):
        out = tmp_path / f"{method}.npy"
        r = subprocess.run([sys.executable, "-c", CHILD, method, str(out)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        one, two = np.load(out)
        assert one.shape == (4, 40, 2)
        np.testing.assert_allclose(two, one, rtol=1e-3, atol=1e-3)
