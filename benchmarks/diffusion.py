"""Diffusion benchmarks (issue 12), side by side in one run on this machine:

1. training steps per second: ``dync.runtime.score_training.train_score``
   (run_kernel, chunked scans, EMA, checkpoint-free) against a hand-written
   JAX/optax DSM loop on the same equinox MLP and the closed-form VP kernel
   (one jitted step per Python iteration, and the same in a lax.scan);
2. reverse-SDE and PF-ODE sampling throughput against the same loops by hand;
3. the ODE-SDE gap: sliced Wasserstein-1 to held-out data of the reverse
   SDE, the PF-ODE and PC at about equal score evaluations.

Run: ``python3 benchmarks/diffusion.py [--steps 2000] [--samples 4000]``.
Prints times and ratios (>1: dync slower); no assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "specs/diffusion"))

import dync  # noqa: E402
from dync.runtime.forward_sde import gaussian_transition  # noqa: E402
from dync.runtime.reverse import reverse_sample, terminal_prior  # noqa: E402
from dync.runtime.score_training import train_score  # noqa: E402
from make_toy_data import draw  # noqa: E402

B0, B1, T_MIN = 0.1, 20.0, 1e-3


def vp_coeffs(t):
    big_b = B0 * t + 0.5 * (B1 - B0) * t**2
    return jnp.exp(-0.5 * big_b), jnp.sqrt(1 - jnp.exp(-big_b))


def hand_loss(net, x0, t, eps):
    phi, sigma = vp_coeffs(t)
    xt = phi[:, None] * x0 + sigma[:, None] * eps
    s = jax.vmap(lambda x, tt: net(jnp.concatenate([x, tt[None]])))(xt, t)
    return jnp.mean(jnp.sum((sigma[:, None] * s + eps) ** 2, axis=1))


def hand_train(net, data, steps, batch, lr, key, scan: bool):
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    params, static = eqx.partition(net, eqx.is_inexact_array)
    state = (params, opt.init(params), params)

    def step(state, k):
        params, opt_state, ema = state
        k1, k2, k3 = jax.random.split(k, 3)
        x0 = data[jax.random.randint(k1, (batch,), 0, data.shape[0])]
        t = jax.random.uniform(k2, (batch,), minval=T_MIN, maxval=1.0)
        eps = jax.random.normal(k3, x0.shape)
        loss, g = jax.value_and_grad(lambda p: hand_loss(eqx.combine(p, static), x0, t, eps))(params)
        upd, opt_state = opt.update(g, opt_state, params)
        params = optax.apply_updates(params, upd)
        ema = jax.tree_util.tree_map(lambda e, p: 0.999 * e + 0.001 * p, ema, params)
        return (params, opt_state, ema), loss

    keys = jax.random.split(key, steps)
    if scan:
        run = jax.jit(lambda s, ks: jax.lax.scan(step, s, ks))
        jax.block_until_ready(run(state, keys))  # compile (same shapes as the timed call)
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(run(state, keys))
        return time.perf_counter() - t0
    jstep = jax.jit(step)
    jax.block_until_ready(jstep(state, keys[0]))
    t0 = time.perf_counter()
    for k in keys:
        state, loss = jstep(state, k)
    jax.block_until_ready(loss)
    return time.perf_counter() - t0


def hand_reverse_sde(net, x, steps, key):
    ts = jnp.linspace(1.0, T_MIN, steps + 1)

    def body(x, i):
        t, dt = ts[i], ts[i] - ts[i + 1]
        beta = B0 + t * (B1 - B0)
        s = jax.vmap(lambda xx: net(jnp.concatenate([xx, t[None]])))(x)
        z = jax.random.normal(jax.random.fold_in(key, i), x.shape) * (i < steps - 1)
        return x + (0.5 * beta * x + beta * s) * dt + jnp.sqrt(beta * dt) * z, None

    return jax.lax.scan(body, x, jnp.arange(steps))[0]


def hand_ode(net, x):
    def v(t, y, args):
        beta = B0 + t * (B1 - B0)
        return -0.5 * beta * y - 0.5 * beta * net(jnp.concatenate([y, jnp.asarray(t)[None]]))

    def one(y):
        return diffrax.diffeqsolve(diffrax.ODETerm(v), diffrax.Tsit5(), 1.0, T_MIN, None, y,
                                   stepsize_controller=diffrax.PIDController(rtol=1e-5, atol=1e-5)).ys[-1]  # fmt: skip

    return jax.vmap(one)(x)


def timed(fn, *args):
    jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def sliced_w1(a, b, n_dirs=64, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((n_dirs, a.shape[1]))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    qs = np.linspace(0.005, 0.995, 200)
    return float(np.mean([np.mean(np.abs(np.quantile(a @ v, qs) - np.quantile(b @ v, qs))) for v in d]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=4000)
    args = ap.parse_args()
    model = dync.load(str(ROOT / "specs/diffusion/gmm2d_vp.dync"), jax.random.key(0))
    data = draw("ring8", 2000, 0)
    held = draw("ring8", args.samples, 99)
    n = args.steps

    # 1. training: dync (second call, compiled) vs hand loops
    train_score(model, data, steps=n, batch=256, learning_rate=3e-3, progress=False)
    t0 = time.perf_counter()
    result = train_score(model, data, steps=n, batch=256, learning_rate=3e-3, progress=False)
    t_dync = time.perf_counter() - t0
    t_loop = hand_train(model.s, jnp.asarray(data, jnp.float32), n, 256, 3e-3, jax.random.key(0), scan=False)
    t_scan = hand_train(model.s, jnp.asarray(data, jnp.float32), n, 256, 3e-3, jax.random.key(0), scan=True)
    print(f"training ({n} steps, batch 256, MLP 3-64-64-2):")
    print(f"  dync train_score   {n / t_dync:8.0f} steps/s  (includes transition ODE, checks, host copies)")
    print(f"  hand jit loop      {n / t_loop:8.0f} steps/s  x{t_dync / t_loop:.2f}")
    print(f"  hand lax.scan      {n / t_scan:8.0f} steps/s  x{t_dync / t_scan:.2f}")

    # 2. sampling throughput
    tr = gaussian_transition(result.model)
    prior = terminal_prior(tr, result.meta["data_mean"], result.meta["data_cov"])
    net = result.model.s
    x_t1 = prior.sample(jax.random.key(1), args.samples)
    k = 500

    def dync_sde():
        return reverse_sample(result.model, prior, method="sde", samples=args.samples, steps=k, progress=False).x

    def dync_ode():
        return reverse_sample(result.model, prior, method="ode", samples=args.samples, progress=False).x

    ts_d, to_d = timed(dync_sde), timed(dync_ode)
    ts_h = timed(jax.jit(lambda x: hand_reverse_sde(net, x, k, jax.random.key(2))), x_t1)
    to_h = timed(jax.jit(lambda x: hand_ode(net, x)), x_t1)
    print(f"sampling ({args.samples} samples):")
    print(f"  reverse SDE {k} steps: dync {args.samples / ts_d:8.0f} samples/s, hand {args.samples / ts_h:8.0f}  x{ts_d / ts_h:.2f}")
    print(f"  PF-ODE adaptive:      dync {args.samples / to_d:8.0f} samples/s, hand {args.samples / to_h:8.0f}  x{to_d / to_h:.2f}")

    # 3. the ODE-SDE gap at about equal score evaluations
    print(f"sample quality, sliced W1 to {args.samples} held-out points (held-out vs training data: "
          f"{sliced_w1(data, held):.3f}):")  # fmt: skip
    ode = reverse_sample(result.model, prior, method="ode", samples=args.samples, progress=False)
    budget = max(2, int(round(ode.nfe)))
    rows = [("ode (adaptive)", ode)]
    rows.append((f"sde {budget} steps", reverse_sample(result.model, prior, method="sde", samples=args.samples, steps=budget, progress=False)))
    rows.append((f"pc {budget // 2} steps + 1 corrector", reverse_sample(result.model, prior, method="pc", samples=args.samples, steps=budget // 2, progress=False)))
    rows.append(("sde 1000 steps", reverse_sample(result.model, prior, method="sde", samples=args.samples, steps=1000, progress=False)))
    for name, r in rows:
        print(f"  {name:28s} NFE {r.nfe:6.0f}  SW1 {sliced_w1(r.x, held):.3f}")


if __name__ == "__main__":
    main()
