"""Sampling benchmarks: dync's samplers against BlackJAX used directly on a
hand-written log-density, in one run (issue 11).

1. **ESS per second** of NUTS and MALA on the 100-D ill-conditioned Gaussian
   (``specs/targets/gaussian100.dync``) and on Neal's funnel
   (``specs/targets/funnel.dync``): ``dync.sample`` against BlackJAX's window
   adaptation + NUTS (or dual-averaged MALA) on the same density written by
   hand, chains vmapped, the same chains, warm-up and draws. ESS is ArviZ's
   bulk ESS, the smallest over coordinates, averaged over ``--ess-seeds``
   runs of each side (it varies from seed to seed far more than the two
   sides, which run the same BlackJAX algorithms, differ).
2. **BAOAB steps per second** on a 1000-D standard Gaussian: ``dync.sample
   --method baoab --thin K`` against a hand-written ``lax.scan`` of BAOAB
   that keeps the same thinned draws (one every ``K`` steps).

Seconds are whole calls. "first" is the first call of that problem in the
process, compile included for both sides (dync's also reads and compiles the
spec and builds the InferenceData); "warm" is the same call again, each side
reusing its compiled program (the hand-written functions keep their jitted
programs; dync reuses its compiled sampler). JAX's own start-up (its first
random-key programs) runs before any timing, so that neither side pays it.

Each is measured ``--repeat`` times (compiled programs dropped in between,
the side that goes first alternating) and the fastest kept: on a shared
machine the fastest is the least disturbed.

Usage: ``python benchmarks/sample.py [--chains 4] [--warmup 500] [--samples 1000] [--baoab-steps 50000] [--thin 10] [--repeat 3] [--ess-seeds 5]``.
Prints a table; × is dync / hand-written time per effective sample (>1 is
slower). Not a test: never asserted.
"""

from __future__ import annotations

import argparse
import functools
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


@functools.lru_cache
def _hand_nuts_program(logdensity, n, chains, warmup, samples):
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

    return run


def hand_nuts(logdensity, n, chains, warmup, samples, seed=0):
    key_w, key_d = jax.random.split(jax.random.key(seed))
    return np.asarray(_hand_nuts_program(logdensity, n, chains, warmup, samples)(key_w, key_d))


@functools.lru_cache
def _hand_mala_program(logdensity, n, chains, warmup, samples):
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

    return run


def hand_mala(logdensity, n, chains, warmup, samples, seed=0):
    key_w, key_d = jax.random.split(jax.random.key(seed))
    return np.asarray(_hand_mala_program(logdensity, n, chains, warmup, samples)(key_w, key_d))


@functools.lru_cache
def _hand_baoab_program(n, steps, thin, h, gamma):
    grad = jax.grad(lambda q: -0.5 * jnp.sum(q**2))
    c1 = np.exp(-gamma * h)
    c2 = np.sqrt(1 - c1**2)

    @jax.jit
    def run(key):
        def step(carry, k):
            q, p = carry
            p = p + 0.5 * h * grad(q)
            q = q + 0.5 * h * p
            p = c1 * p + c2 * jax.random.normal(k, p.shape)
            q = q + 0.5 * h * p
            p = p + 0.5 * h * grad(q)
            return (q, p), None

        def draw(carry, k):  # thin steps, one kept draw
            carry, _ = jax.lax.scan(step, carry, jax.random.split(k, thin))
            return carry, carry[0]

        return jax.lax.scan(draw, (jnp.zeros(n), jnp.zeros(n)), jax.random.split(key, steps // thin))[1]

    return run


def hand_baoab(n, steps, thin=1, h=0.1, gamma=1.0, seed=0):
    """``steps // thin`` draws of BAOAB, one every ``thin`` steps, ``(draws, n)``."""
    return np.asarray(_hand_baoab_program(n, steps, thin, h, gamma)(jax.random.key(seed)))


def start_jax() -> None:
    """JAX's start-up (its first key and random programs) and dync's module
    imports (which ``import dync`` defers to first use), before any timing:
    paid once per process, like ``import blackjax`` on the hand-written side."""
    import dync.commands.sampling  # noqa: F401
    import dync.compiler.driver  # noqa: F401
    import dync.runtime.sampling  # noqa: F401

    a, b = jax.random.split(jax.random.key(0))
    jax.block_until_ready(jax.random.normal(jax.random.fold_in(a, 1), (2,)) + jnp.zeros(2))
    jax.block_until_ready(jax.random.split(b, 4))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def forget_compiled() -> None:
    """Drop every compiled program (JAX's caches, the hand-written programs),
    so that the next call of either side compiles again."""
    jax.clear_caches()
    for program in (_hand_nuts_program, _hand_mala_program, _hand_baoab_program):
        program.cache_clear()


def measure(run_dync, run_hand, repeat: int):
    """Both sides' first call (compile included) and warm call (the same call
    again), ``repeat`` times over with the compiled programs dropped in
    between and the side that goes first alternating; the fastest of each.

    Returns:
        dync's result, the hand-written result, and the seconds
        ``((dync first, dync warm), (hand first, hand warm))``.
    """
    times = {"dync": ([], []), "hand": ([], [])}
    out = {}
    for r in range(repeat):
        forget_compiled()
        sides = [("dync", run_dync), ("hand", run_hand)]
        for name, run in sides if r % 2 == 0 else sides[::-1]:
            out[name], t = timed(run)
            times[name][0].append(t)
        for name, run in sides if r % 2 == 0 else sides[::-1]:
            times[name][1].append(timed(run)[1])
    best = {name: (min(first), min(warm)) for name, (first, warm) in times.items()}
    return out["dync"], out["hand"], best["dync"], best["hand"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--baoab-steps", type=int, default=50000)
    p.add_argument("--thin", type=int, default=10, help="BAOAB: steps per kept draw, on both sides")
    p.add_argument("--only", default="", help="run only the rows whose name contains this")
    p.add_argument("--repeat", type=int, default=3, help="measurements of each call; the fastest is shown")
    p.add_argument("--ess-seeds", type=int, default=5, help="runs (seeds) whose mean ESS is shown, on each side")
    args = p.parse_args()
    c, w, s = args.chains, args.warmup, args.samples
    start_jax()
    rows = []

    def add(name, dync_what, hand_what, t_dync, t_hand, per_dync, per_hand):
        """A row: first and warm call of each side, rates, dync/hand time per unit."""
        (d1, d2), (h1, h2) = t_dync, t_hand
        rows.append((name, f"{dync_what} / {d1:.1f}s", f"{hand_what} / {h1:.1f}s",
                     f"{per_dync / d1:.1f}", f"{per_hand / h1:.1f}", f"{(d1 / per_dync) / (h1 / per_hand):.2f}",
                     f"{d2:.2f}s / {h2:.2f}s", f"{(d2 / per_dync) / (h2 / per_hand):.2f}"))  # fmt: skip
        print(*rows[-1], sep="  ", flush=True)

    for name, spec, fn, n in (("gaussian100", "gaussian100.dync", gaussian100, 100), ("funnel", "funnel.dync", funnel, 10)):
        for method, hand in (("nuts", hand_nuts), ("mala", hand_mala)):
            if args.only not in f"{method} {name}":
                continue
            run_dync = functools.partial(dync.sample, str(ROOT / "specs/targets" / spec), method=method, chains=c,
                                         warmup=w, samples=s, progress=False)  # fmt: skip
            idata, draws, t_dync, t_hand = measure(run_dync, lambda: hand(fn, n, c, w, s), args.repeat)
            # ESS varies from seed to seed far more than the two sides differ
            # (the same BlackJAX algorithms): the mean over --ess-seeds runs
            # of each side (warm calls, seeds 0, 1, ...)
            ess_dync, ess_hand = [], []
            for seed in range(args.ess_seeds):
                idata = idata if seed == 0 else run_dync(seed=seed)
                vars_ = [np.asarray(idata.posterior[v]).reshape(c, s, -1) for v in idata.posterior.data_vars]
                ess_dync.append(min_ess(np.concatenate(vars_, axis=-1)))
                ess_hand.append(min_ess(draws if seed == 0 else hand(fn, n, c, w, s, seed=seed)))
            e_d, e_h = float(np.mean(ess_dync)), float(np.mean(ess_hand))
            sd = lambda e: f"±{np.std(e, ddof=1) / np.sqrt(len(e)):.0f}" if len(e) > 1 else ""  # noqa: E731
            add(f"{method} {name}", f"{e_d:.0f}{sd(ess_dync)}", f"{e_h:.0f}{sd(ess_hand)}", t_dync, t_hand, e_d, e_h)
    if args.only in "baoab 1000-D":
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "gauss1000.dync"
            spec.write_text("model gauss1000\ndim D = 1000\nstate q[D] = 0\ntarget -sum(q^2) / 2\n")
            n, k = args.baoab_steps, args.thin
            run_dync = functools.partial(dync.sample, str(spec), method="baoab", step=0.1, chains=1, warmup=0,
                                         samples=n // k, thin=k, progress=False)  # fmt: skip
            idata, draws, t_dync, t_hand = measure(run_dync, lambda: hand_baoab(1000, n, k), args.repeat)
            assert idata.posterior["q"].shape == (1, n // k, 1000) and draws.shape == (n // k, 1000)
            add("baoab 1000-D", f"{n} steps", f"{n} steps", t_dync, t_hand, n, n)
    print(f"\n{c} chains x ({w} warm-up + {s} draws); BAOAB: 1 chain, {args.baoab_steps} steps, thin {args.thin}")
    print(f"first: first call, compile included, for both sides; warm: the same call again (dync s / hand s);"
          f" the fastest of {args.repeat}, compiled programs dropped in between")
    print(f"ESS: ArviZ bulk ESS, the smallest over coordinates, mean ± its standard error over {args.ess_seeds} seeds")
    print("/s: ESS (BAOAB: steps) per second of the first call; x: dync / hand time per ESS (per step)")
    header = ("benchmark", "dync ESS / first", "hand ESS / first", "dync /s", "hand /s", "x first", "warm", "x warm")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(wd) for v, wd in zip(r, widths)))


if __name__ == "__main__":
    main()
