"""Fused dync kernels vs hand-written ``jit`` + ``lax.scan`` Euler-Maruyama.

Run: ``python3 benchmarks/scratch_kernels.py [--reps 7] [--only W1,W3]``.

Workloads (float32, CPU):

* W1 scalar OU, 10k paths x 1000 steps, dt = 1e-3, final state only.
* W2 the same, saving every 10th step.
* W3 stochastic Lorenz-63, additive noise s = 1, 10k paths x 1000 steps.
* W4 underdamped Langevin in the 2-d double well U = sum (x^2 - 1)^2, 10k paths.
* W5 a 64-site chain U = sum w^2 x^2 / 2 - k sum cos(x - roll(x, 1)),
  underdamped Langevin, 1k paths x 1000 steps.

Each timing is the best of ``--reps`` runs after one compile run; dync and the
baseline are run alternately so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import lax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dync.runtime.model import AbstractModel, LangevinInfo, ModelInfo  # noqa: E402
from dync.runtime.solvers.fused import SavePlan, solve_fixed  # noqa: E402
from tests.runtime.models import make_info  # noqa: E402

DT = 1e-3
STEPS = 1000


class _Base(AbstractModel):
    def constrained_params(self):
        return {}

    def log_prior(self):
        return jnp.zeros(())

    def initial_state(self, key, args=None):
        return jnp.zeros((self.info.state_size,))


class OU(_Base):
    info: ClassVar[ModelInfo] = make_info("ou", (("x", 1),), 1, "additive")

    def drift(self, t, y, args=None):
        return -1.0 * y

    def noise(self, t, y, dw, args=None):
        return 0.5 * dw


class Lorenz(_Base):
    info: ClassVar[ModelInfo] = make_info("lorenz", (("x", 1), ("y", 1), ("z", 1)), 3, "additive")

    def drift(self, t, u, args=None):
        x, y, z = u[0], u[1], u[2]
        return jnp.stack([10.0 * (y - x), x * (28.0 - z) - y, x * y - (8.0 / 3.0) * z])

    def noise(self, t, u, dw, args=None):
        return 1.0 * dw


def _double_well(x):
    return jnp.sum((x**2 - 1.0) ** 2)


def _chain(x):
    return jnp.sum(0.5 * 1.0 * x**2) - 0.5 * jnp.sum(jnp.cos(x - jnp.roll(x, 1)))


def _langevin_model(name, k, potential, gamma=1.0, temperature=1.0):
    model_info = make_info(name, (("x", k), ("v", k)), k, "additive", langevin=LangevinInfo("x", "v"))
    sig = (2.0 * gamma * temperature) ** 0.5

    class Model(_Base):
        info: ClassVar[ModelInfo] = model_info

        def drift(self, t, y, args=None):
            x, v = y[:k], y[k:]
            return jnp.concatenate([v, -jax.grad(potential)(x) - gamma * v])

        def noise(self, t, y, dw, args=None):
            return jnp.concatenate([jnp.zeros((k,), y.dtype), sig * dw])

    return Model()


# ---- hand-written baselines (batched arrays, jit + lax.scan, EM) ---------------


def handwritten_em(f_batched, g_scale, n, m, paths, save_every=None):
    """EM on a (paths, n) array: fold_in(key, i) per step, noise g_scale * dW on the last m."""

    @jax.jit
    def run(key, y0):
        def step(y, i):
            dw = jax.random.normal(jax.random.fold_in(key, i), (paths, m)) * jnp.sqrt(DT)
            noise = g_scale * dw if m == n else jnp.concatenate([jnp.zeros((paths, n - m)), g_scale * dw], axis=1)
            y = y + f_batched(y) * DT + noise
            return y, (y if save_every else None)

        y, ys = lax.scan(step, y0, jnp.arange(STEPS))
        if save_every:
            return ys[save_every - 1 :: save_every]
        return y

    return run


def ou_f(y):
    return -1.0 * y


def lorenz_f(u):
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    return jnp.stack([10.0 * (y - x), x * (28.0 - z) - y, x * y - (8.0 / 3.0) * z], axis=1)


def langevin_f(potential, k, gamma=1.0):
    def f(y):
        x, v = y[:, :k], y[:, k:]
        force = -jax.grad(lambda xx: jnp.sum(jax.vmap(potential)(xx)))(x)
        return jnp.concatenate([v, force - gamma * v], axis=1)

    return f


def best_of(fn, reps):
    jax.block_until_ready(fn())
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    key = jax.random.key(0)
    workloads = []

    P = 10_000
    y0 = jnp.zeros((P, 1), jnp.float32)
    base1 = handwritten_em(ou_f, 0.5, 1, 1, P)
    workloads.append(("W1 OU final", lambda: solve_fixed(OU(), "euler_maruyama", key, y0, 0.0, DT, STEPS, SavePlan.final())[1], lambda: base1(key, y0)))
    base2 = handwritten_em(ou_f, 0.5, 1, 1, P, save_every=10)
    workloads.append(("W2 OU every 10", lambda: solve_fixed(OU(), "euler_maruyama", key, y0, 0.0, DT, STEPS, SavePlan.every(10))[1], lambda: base2(key, y0)))
    y0l = jnp.ones((P, 3), jnp.float32)
    base3 = handwritten_em(lorenz_f, 1.0, 3, 3, P)
    workloads.append(("W3 Lorenz EM", lambda: solve_fixed(Lorenz(), "euler_maruyama", key, y0l, 0.0, DT, STEPS, SavePlan.final())[1], lambda: base3(key, y0l)))
    dw = _langevin_model("double_well", 2, _double_well)
    y0w = jnp.zeros((P, 4), jnp.float32).at[:, :2].set(1.0)
    base4 = handwritten_em(langevin_f(_double_well, 2), 2.0**0.5, 4, 2, P)
    workloads.append(("W4 double well EM", lambda: solve_fixed(dw, "euler_maruyama", key, y0w, 0.0, DT, STEPS, SavePlan.final())[1], lambda: base4(key, y0w)))
    workloads.append(("W4 double well BAOAB", lambda: solve_fixed(dw, "baoab", key, y0w, 0.0, DT, STEPS, SavePlan.final())[1], lambda: base4(key, y0w)))
    P5 = 1_000
    ch = _langevin_model("chain", 64, _chain)
    y0c = jnp.zeros((P5, 128), jnp.float32)
    base5 = handwritten_em(langevin_f(_chain, 64), 2.0**0.5, 128, 64, P5)
    workloads.append(("W5 chain EM", lambda: solve_fixed(ch, "euler_maruyama", key, y0c, 0.0, DT, STEPS, SavePlan.final())[1], lambda: base5(key, y0c)))
    workloads.append(("W5 chain BAOAB", lambda: solve_fixed(ch, "baoab", key, y0c, 0.0, DT, STEPS, SavePlan.final())[1], lambda: base5(key, y0c)))

    only = [w.strip() for w in a.only.split(",") if w.strip()]
    print(f"{'workload':24s} {'dync (s)':>9s} {'hand (s)':>9s} {'speed-up':>8s}")
    for name, ours, theirs in workloads:
        if only and name.split()[0] not in only:
            continue
        jax.block_until_ready(ours())
        jax.block_until_ready(theirs())
        t_ours, t_theirs = float("inf"), float("inf")
        for _ in range(a.reps):
            t_ours = min(t_ours, best_of(ours, 1))
            t_theirs = min(t_theirs, best_of(theirs, 1))
        print(f"{name:24s} {t_ours:9.4f} {t_theirs:9.4f} {t_theirs / t_ours:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
