"""Sampling benchmarks: dync's samplers against BlackJAX used directly on a
hand-written log-density, in one run (issue 11).

1. **ESS per second** of NUTS and MALA on the 100-D ill-conditioned Gaussian
   (``specs/targets/gaussian100.dync``) and on Neal's funnel
   (``specs/targets/funnel.dync``): ``dync.sample`` against BlackJAX's window
   adaptation + NUTS (or dual-averaged MALA) on the same density written by
   hand, chains vmapped, the same chains, warm-up and draws. ESS is ArviZ's
   bulk ESS, the smallest over coordinates; seconds are the whole call
   (compile, warm-up and draws), first call in a fresh process for both.
2. **BAOAB steps per second** on a 1000-D standard Gaussian: ``dync.sample
   --method baoab`` against a hand-written ``lax.scan`` of BAOAB.

Usage: ``python benchmarks/sample.py [--chains 4] [--warmup 500] [--samples 1000]``.
Prints a table; × is dync / hand-written time per effective sample (>1 is
slower). Not a test: never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import arviz as az
import blackjax
import jax
import jax.numpy as jnp
import numpy as np

import dync

ROOT = Path(__file__).resolve().parents[1]
SD = jnp.asarray(np.logspace(-1, 1, 100), jnp.float32)


def gaussian100(q):
    return -0.5 * jnp.sum((q / SD) ** 2)


def funnel(z):
    v, x = z[0], z[1:]
    return -(v**2) / 18 - jnp.sum(x**2) * jnp.exp(-v) / 2 - 9 * v / 2


def min_ess(draws: np.ndarray) -> float:
    """The smallest bulk ESS over coordinates of ``(chains, draws, n)``."""
    return float(np.min(np.asarray(az.ess(az.convert_to_dataset(draws))["x"])))


def hand_nuts(logdensity, n, chains, warmup, samples, seed=0):
    key_w, key_d = jax.random.split(jax.random.key(seed))
    adaptation = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=0.8)

    @jax.jit
    def run(kw, kd):
        def one(k1, k2):
            (state, params), _ = adaptation.run(k1, jnp.zeros(n), num_steps=warmup)
            kernel = blackjax.nuts(logdensity, **params)

            def body(s, k):
                s, _ = kernel.step(k, s)
                return s, s.position

            return jax.lax.scan(body, state, jax.random.split(k2, samples))[1]

        return jax.vmap(one)(jax.random.split(kw, chains), jax.random.split(kd, chains))

    return np.asarray(run(key_w, key_d))


def hand_mala(logdensity, n, chains, warmup, samples, seed=0):
    key_w, key_d = jax.random.split(jax.random.key(seed))
    da_init, da_update, da_final = blackjax.adaptation.step_size.dual_averaging_adaptation(0.574)

    @jax.jit
    def run(kw, kd):
        def one(k1, k2):
            state = blackjax.mala.init(jnp.zeros(n), logdensity)

            def warm(carry, k):
                s, da = carry
                s, info = blackjax.mala.build_kernel()(k, s, logdensity, jnp.exp(da.log_step_size))
                return (s, da_update(da, info.acceptance_rate)), None

            (state, da), _ = jax.lax.scan(warm, (state, da_init(0.1)), jax.random.split(k1, warmup))
            step = da_final(da)

            def body(s, k):
                s, _ = blackjax.mala.build_kernel()(k, s, logdensity, step)
                return s, s.position

            return jax.lax.scan(body, state, jax.random.split(k2, samples))[1]

        return jax.vmap(one)(jax.random.split(kw, chains), jax.random.split(kd, chains))

    return np.asarray(run(key_w, key_d))


def hand_baoab(n, steps, h=0.1, gamma=1.0, seed=0):
    grad = jax.grad(lambda q: -0.5 * jnp.sum(q**2))
    c1 = np.exp(-gamma * h)
    c2 = np.sqrt(1 - c1**2)

    @jax.jit
    def run(key):
        def body(carry, k):
            q, p = carry
            p = p + 0.5 * h * grad(q)
            q = q + 0.5 * h * p
            p = c1 * p + c2 * jax.random.normal(k, p.shape)
            q = q + 0.5 * h * p
            p = p + 0.5 * h * grad(q)
            return (q, p), q

        return jax.lax.scan(body, (jnp.zeros(n), jnp.zeros(n)), jax.random.split(key, steps))[1]

    return np.asarray(run(jax.random.key(seed)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--baoab-steps", type=int, default=20000)
    args = p.parse_args()
    c, w, s = args.chains, args.warmup, args.samples
    rows = []
    for name, spec, fn, n in (("gaussian100", "gaussian100.dync", gaussian100, 100), ("funnel", "funnel.dync", funnel, 10)):
        for method, hand in (("nuts", hand_nuts), ("mala", hand_mala)):
            idata, t_dync = timed(lambda: dync.sample(str(ROOT / "specs/targets" / spec), method=method, chains=c,
                                                       warmup=w, samples=s, progress=False))  # fmt: skip
            vars_ = [np.asarray(idata.posterior[v]).reshape(c, s, -1) for v in idata.posterior.data_vars]
            ess_dync = min_ess(np.concatenate(vars_, axis=-1))
            draws, t_hand = timed(lambda: hand(fn, n, c, w, s))
            ess_hand = min_ess(draws)
            ratio = (t_dync / ess_dync) / (t_hand / ess_hand)
            rows.append((f"{method} {name}", f"{ess_dync:.0f} / {t_dync:.1f}s", f"{ess_hand:.0f} / {t_hand:.1f}s",
                         f"{ess_dync / t_dync:.1f}", f"{ess_hand / t_hand:.1f}", f"{ratio:.2f}"))  # fmt: skip
            print(*rows[-1], sep="  ", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "gauss1000.dync"
        spec.write_text("model gauss1000\ndim D = 1000\nstate q[D] = 0\ntarget -sum(q^2) / 2\n")
        n = args.baoab_steps
        _, t_dync = timed(lambda: dync.sample(str(spec), method="baoab", step=0.1, chains=1, warmup=0, samples=n,
                                               progress=False))  # fmt: skip
        _, t_hand = timed(lambda: hand_baoab(1000, n))
        rows.append(("baoab 1000-D", f"{n} steps / {t_dync:.1f}s", f"{n} steps / {t_hand:.1f}s",
                     f"{n / t_dync:.0f} steps/s", f"{n / t_hand:.0f} steps/s", f"{t_dync / t_hand:.2f}"))  # fmt: skip
        print(*rows[-1], sep="  ", flush=True)
    print(f"\n{c} chains x ({w} warm-up + {s} draws); first call, compile included, for both")
    header = ("benchmark", "dync ESS / time", "hand ESS / time", "dync ESS/s", "hand ESS/s", "×")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(6)]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(wd) for v, wd in zip(r, widths)))


if __name__ == "__main__":
    main()
