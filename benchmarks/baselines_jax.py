"""Hand-written JAX baselines: what an expert writes without dync.

Euler–Maruyama under ``jax.jit`` with a ``lax.scan`` over steps; the state is a
tuple of ``(paths, size)`` blocks; the normals of step ``i`` are drawn inside
the scan from ``fold_in(key, i)`` (split once per noisy block). Saving every
k-th step is a nested scan (outer over saves, inner over k steps), so only the
saved states are materialised.

Variants:
    ``jax``       one device.
    ``jax-2dev``  paths split over two host devices with ``jax.shard_map``
                  (each device folds its index into the key and runs its own
                  scan; no communication). Needs
                  ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` before
                  JAX starts: ``run.py`` sets it, and run on its own this module
                  re-runs that variant in a subprocess with the flag.

Run alone: ``python benchmarks/baselines_jax.py [--workload W3] [--paths N]``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import harness
import workloads as wl

VARIANTS = ("jax", "jax-2dev")
TWO_DEVICE_FLAG = "--xla_force_host_platform_device_count=2"


def initial_state(w: wl.Workload, paths: int) -> tuple[jax.Array, ...]:
    return tuple(jnp.broadcast_to(jnp.asarray(b.init, jnp.float32), (paths, b.size)) for b in w.blocks)


def make_simulate(w: wl.Workload):
    """``simulate(key, y0) -> states``: final states ``(paths, size)`` per block,
    or ``(n_saved, paths, size)`` per block when saving every k-th step."""
    dt = w.dt
    noise_scale = [None if b.sigma is None else b.sigma * math.sqrt(dt) for b in w.blocks]
    n_noisy = sum(s is not None for s in noise_scale)

    def step(key, i, states):
        keys = iter(jax.random.split(jax.random.fold_in(key, i), n_noisy))
        derivs = w.drift(jnp, states)
        new = []
        for y, dy, s in zip(states, derivs, noise_scale):
            y = y + dt * dy
            if s is not None:
                y = y + s * jax.random.normal(next(keys), y.shape, y.dtype)
            new.append(y)
        return tuple(new)

    def run_steps(key, states, start, n):
        def body(carry, i):
            return step(key, i, carry), None

        out, _ = jax.lax.scan(body, states, start + jnp.arange(n))
        return out

    def simulate(key, y0):
        if w.save_every is None:
            return run_steps(key, y0, 0, w.steps)

        def save_body(carry, k):
            carry = run_steps(key, carry, k * w.save_every, w.save_every)
            return carry, carry

        _, saved = jax.lax.scan(save_body, y0, jnp.arange(w.n_saved))
        return saved

    return simulate


def make_runner(w: wl.Workload, devices: int):
    """``(run, y0)``: the jitted simulation and the initial state placed on the
    devices (sharded over paths for more than one device)."""
    simulate = make_simulate(w)
    y0 = initial_state(w, w.paths)
    if devices == 1:
        return jax.jit(simulate), y0
    if w.paths % devices:
        raise ValueError(f"paths={w.paths} is not divisible by {devices} devices")
    mesh = jax.make_mesh((devices,), ("paths",))
    out_spec = P("paths") if w.save_every is None else P(None, "paths")

    def local(key, y0):
        return simulate(jax.random.fold_in(key, jax.lax.axis_index("paths")), y0)

    y0 = jax.device_put(y0, NamedSharding(mesh, P("paths")))
    run = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P("paths")), out_specs=out_spec))
    return run, y0


def check_forces() -> None:
    """The hand-written gradients in ``workloads`` equal ``jax.grad`` of the potentials."""
    x = jax.random.normal(jax.random.key(1), (wl.CH_N,))
    u_dw = lambda x: jnp.sum((x**2 - 1) ** 2)  # noqa: E731
    u_ch = lambda x: jnp.sum(0.5 * wl.CH_OMEGA**2 * x**2) - wl.CH_K * jnp.sum(jnp.cos(x - jnp.roll(x, 1)))  # noqa: E731
    np.testing.assert_allclose(wl.double_well_grad(jnp, x), jax.grad(u_dw)(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(wl.chain_grad(jnp, x), jax.grad(u_ch)(x), rtol=1e-5, atol=1e-5)


def bench(variant: str, w: wl.Workload, repeats: int, budget_s: float) -> harness.Result:
    devices = 2 if variant == "jax-2dev" else 1
    if jax.local_device_count() < devices:
        return in_subprocess(__file__, variant, w, repeats, budget_s)
    check_forces()
    run_fn, y0 = make_runner(w, devices)
    key = jax.random.key(0)
    first, times, out = harness.time_runs(
        lambda i: run_fn(jax.random.fold_in(key, i), y0), jax.block_until_ready, repeats, budget_s
    )
    x0 = np.asarray(out[0][..., 0])
    x0 = x0[-1] if w.save_every is not None else x0
    r = harness.make_result(variant, w, first, times, x0)
    r.note = f"{devices} device(s), {jax.default_backend()}"
    return r


def in_subprocess(script: str, variant: str, w: wl.Workload, repeats: int, budget_s: float) -> harness.Result:
    """Run ``script`` for one configuration on two host devices (the XLA flag
    must be set before JAX starts) and return its result."""
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + TWO_DEVICE_FLAG).strip())
    cmd = [sys.executable, script, "--workload", w.id, "--paths", str(w.paths), "--repeats", str(repeats),
           "--budget", str(budget_s), "--variant", variant, "--json"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(harness.RESULT_PREFIX):
            return harness.Result.from_json(line[len(harness.RESULT_PREFIX) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return harness.Result(impl=variant, workload=w.id, paths=w.paths, status="error", reason=tail[0])


if __name__ == "__main__":
    harness.main(__doc__.splitlines()[0], VARIANTS, bench)
