"""Fitting benchmarks: dync's likelihoods and posterior sampler against
hand-written JAX (``baselines_fit.py``), timed side by side in one process.

    python benchmarks/fit.py [--obs 200] [--repeats 7] [--chains 4] [--warmup 500]
        [--draws 500] [--particles 1000] [--pf-obs 200] [--only kalman,nuts,pf] [--x64]

1. **Kalman** (``kalman``): one evaluation of the exact log-likelihood and
   its gradient with respect to the unconstrained parameters, the way a user
   writes it: ``jax.jit(jax.value_and_grad(f))`` with
   ``f(u) = kalman_log_likelihood(with_unconstrained_params(model, u), data)``,
   against the same of the hand-written filter. Two models: the scalar OU of
   ``specs/ou_observed.dync`` (closed-form baseline) and the damped oscillator
   of ``specs/oscillator_observed.dync`` (2 states, position observed; the
   baseline uses ``jax.scipy.linalg.expm``). ``--obs`` irregular
   observations, one series.
2. **NUTS** (``nuts``): ``dync.sample_posterior`` against BlackJAX window
   adaptation + NUTS (chains vmapped) on the hand-written OU likelihood with
   the same priors and transforms. Wall time of the first call (compilation
   included) and of a second call with another key, and the posterior means.
3. **Particle filter** (``pf``): ``dync.runtime.particle.particle_filter`` on
   ``specs/lorenz63_observed.dync`` (x observed) against a hand-written
   bootstrap filter (the same Euler–Maruyama sub-steps, systematic
   resampling, ESS threshold 0.5), one jitted call each.

Every timing is a median over ``--repeats`` rounds that alternate dync and the
baseline (after one warm-up call each, which compiles); the ratio is
dync / hand-written, above 1 is slower. Benchmarks are not tests: nothing here
asserts, but each row shows both results so that agreement is visible.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECS = HERE / "specs"


# ---------------------------------------------------------------------------
# Data (numpy, exact transitions, fixed seeds)
# ---------------------------------------------------------------------------


def irregular_times(rng, n: int, mean_gap: float):
    import numpy as np

    return np.cumsum(rng.uniform(0.2 * mean_gap, 1.8 * mean_gap, n))


def ou_data(n: int, seed: int = 0, theta=1.0, mu=0.3, sigma=0.5, noise=0.1):
    """``n`` irregular noisy observations of an exact OU path from its stationary law."""
    import numpy as np

    rng = np.random.default_rng(seed)
    times = irregular_times(rng, n, 0.1)
    var_inf = sigma**2 / (2 * theta)
    x = rng.normal(mu, math.sqrt(var_inf))
    ys = np.empty(n)
    for j in range(n):
        if j:
            f = math.exp(-theta * (times[j] - times[j - 1]))
            x = mu + f * (x - mu) + rng.normal(0.0, math.sqrt(var_inf * (1 - f * f)))
        ys[j] = x + rng.normal(0.0, noise)
    return times, ys


def oscillator_data(n: int, seed: int = 1, k=2.0, gamma=0.5, s=0.4, noise=0.2):
    """``n`` irregular noisy position observations of an exact oscillator path
    from $N((1, 0), 0.5^2 I)$ (the initial law of ``oscillator_observed.dync``)."""
    import numpy as np
    import scipy.linalg

    rng = np.random.default_rng(seed)
    times = irregular_times(rng, n, 0.1)
    A = np.array([[0.0, 1.0], [-k, -gamma]])
    Qc = np.array([[0.0, 0.0], [0.0, s * s]])
    x = rng.normal([1.0, 0.0], 0.5)
    ys = np.empty(n)
    for j in range(n):
        if j:
            h = times[j] - times[j - 1]
            E = scipy.linalg.expm(np.block([[-A, Qc], [np.zeros((2, 2)), A.T]]) * h)
            F = E[2:, 2:].T
            Q = F @ E[:2, 2:]
            x = F @ x + rng.multivariate_normal(np.zeros(2), 0.5 * (Q + Q.T))
        ys[j] = x[0] + rng.normal(0.0, noise)
    return times, ys


def lorenz_data(n: int, gap: float, seed: int = 2, params=(10.0, 28.0, 8.0 / 3.0, 1.0), noise=1.0, fine=1e-3):
    """``n`` observations, ``gap`` apart from t = 0, of x of a stochastic
    Lorenz-63 path from (1, 1, 1) (Euler–Maruyama at step ``fine``)."""
    import numpy as np

    sigma, rho, beta, s = params
    rng = np.random.default_rng(seed)
    x = np.array([1.0, 1.0, 1.0])
    per = round(gap / fine)
    ys = np.empty(n)
    for j in range(n):
        if j:
            for _ in range(per):
                d = np.array([sigma * (x[1] - x[0]), x[0] * (rho - x[2]) - x[1], x[0] * x[1] - beta * x[2]])
                x = x + fine * d + s * math.sqrt(fine) * rng.normal(size=3)
        ys[j] = x[0] + rng.normal(0.0, noise)
    return np.arange(n) * gap, ys


def one_series(name: str, times, ys):
    from dync.runtime.data import ObservationData, Series

    return ObservationData((Series(times, {name: ys}),))


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def interleaved(fns: dict, repeats: int, inner: int = 1) -> dict:
    """Median seconds per call of each ``fn()`` (which must block until done):
    one warm-up call each (returned as ``first``, compilation included), then
    ``repeats`` rounds that call each ``inner`` times in turn."""
    out = {name: {"first": 0.0, "times": []} for name in fns}
    for name, fn in fns.items():
        t = time.perf_counter()
        out[name]["value"] = fn()
        out[name]["first"] = time.perf_counter() - t
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            out[name]["times"].append((time.perf_counter() - t) / inner)
    for r in out.values():
        r["median"] = statistics.median(r["times"])
    return out


class CompileClock:
    """Seconds JAX spends tracing, lowering and compiling inside a ``with``
    block (from ``jax.monitoring``'s duration events), so that a call's wall
    time can be split into compiling and running."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )
    _active: list[CompileClock] = []
    _registered = False

    def __init__(self):
        self.seconds = 0.0

    @classmethod
    def _listen(cls, event: str, duration: float, **_) -> None:
        if event in cls.EVENTS:
            for clock in cls._active:
                clock.seconds += duration

    def __enter__(self) -> CompileClock:
        import jax.monitoring

        if not CompileClock._registered:
            jax.monitoring.register_event_duration_secs_listener(CompileClock._listen)
            CompileClock._registered = True
        CompileClock._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        CompileClock._active.remove(self)


def _fmt_s(x: float) -> str:
    if x < 1e-3:
        return f"{x * 1e6:8.1f} µs"
    if x < 1:
        return f"{x * 1e3:8.2f} ms"
    return f"{x:8.2f} s "


ROWS: list[tuple[str, str, str, str, str, str]] = []


def row(benchmark: str, what: str, dync_s: float, base_s: float, dync_value: str, base_value: str) -> None:
    ROWS.append((benchmark, what, _fmt_s(dync_s), _fmt_s(base_s), f"{dync_s / base_s:5.2f}", f"{dync_value} | {base_value}"))
    print(f"  {what}: dync {_fmt_s(dync_s).strip()}, hand-written {_fmt_s(base_s).strip()}, "
          f"ratio {dync_s / base_s:.2f}   ({dync_value} | {base_value})", flush=True)  # fmt: skip


def print_table() -> None:
    header = ("benchmark", "measure", "dync", "hand-written", "×", "dync | hand-written")
    widths = [max(len(r[i]) for r in [header, *ROWS]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print("\n" + line)
    print("-" * len(line))
    for r in ROWS:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


# ---------------------------------------------------------------------------
# 1. Exact likelihood + gradient
# ---------------------------------------------------------------------------


def bench_kalman(args) -> None:
    import jax
    import jax.numpy as jnp

    import baselines_fit as base
    import dync
    from dync.runtime.kalman import kalman_log_likelihood
    from dync.runtime.params import unconstrained_params, with_unconstrained_params

    dtype = jnp.result_type(float)
    inner = args.inner
    cases = []
    times, ys = ou_data(args.obs)
    ou = dync.load(SPECS / "ou_observed.dync")
    ou_padded = one_series("y", times, ys).padded()
    jt, jy = jnp.asarray(times, dtype), jnp.asarray(ys, dtype)
    cases.append((
        f"OU, {args.obs} obs", ou, ou_padded,
        lambda u: base.ou_log_likelihood(u, jt, jy, 0.1),
    ))  # fmt: skip
    times2, ys2 = oscillator_data(args.obs)
    osc = dync.load(SPECS / "oscillator_observed.dync")
    osc_padded = one_series("pos", times2, ys2).padded()
    jt2, jy2 = jnp.asarray(times2, dtype), jnp.asarray(ys2, dtype)
    m0, P0 = jnp.asarray([1.0, 0.0], dtype), jnp.diag(jnp.asarray([0.25, 0.25], dtype))
    cases.append((
        f"oscillator (2 states), {args.obs} obs", osc, osc_padded,
        lambda u: base.oscillator_log_likelihood(u, jt2, jy2, m0, P0, 0.2),
    ))  # fmt: skip
    for title, model, padded, hand in cases:
        print(f"\n[kalman] log-likelihood + gradient, {title}", flush=True)
        u0 = unconstrained_params(model)

        def dync_ll(u, model=model, padded=padded):
            return kalman_log_likelihood(with_unconstrained_params(model, u), padded)

        vg = {"dync": jax.jit(jax.value_and_grad(dync_ll)), "hand": jax.jit(jax.value_and_grad(hand))}
        fns = {name: (lambda f=f: jax.block_until_ready(f(u0))) for name, f in vg.items()}
        r = interleaved(fns, args.repeats, inner)
        (vd, gd), (vh, gh) = r["dync"]["value"], r["hand"]["value"]
        gdiff = max(float(jnp.max(jnp.abs(gd[k] - gh[k]))) for k in gd)
        row("kalman " + title, "value+grad per evaluation", r["dync"]["median"], r["hand"]["median"],
            f"ll {float(vd):.6f}", f"{float(vh):.6f} (max |Δgrad| {gdiff:.1e})")  # fmt: skip
        row("kalman " + title, "first call (compile)", r["dync"]["first"], r["hand"]["first"], "", "")


# ---------------------------------------------------------------------------
# 2. NUTS
# ---------------------------------------------------------------------------


def bench_nuts(args) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import baselines_fit as base
    import dync
    from dync.runtime.params import unconstrained_params

    dtype = jnp.result_type(float)
    times, ys = ou_data(args.obs)
    model = dync.load(SPECS / "ou_observed.dync")
    data = one_series("y", times, ys)
    jt, jy = jnp.asarray(times, dtype), jnp.asarray(ys, dtype)
    u0 = unconstrained_params(model)
    sizes = dict(chains=args.chains, warmup=args.warmup, draws=args.draws)
    print(f"\n[nuts] {args.chains} chains x ({args.warmup} warm-up + {args.draws} draws), OU, {args.obs} obs", flush=True)

    def run_dync(seed):
        idata = dync.sample_posterior(model, data, jax.random.key(seed), progress=False, **sizes)
        return {k: np.asarray(idata.posterior[k]) for k in ("theta", "mu", "sigma")}

    hand = jax.jit(
        lambda key: base.nuts(key, lambda u: base.ou_log_posterior(u, jt, jy, 0.1), u0, args.chains, args.warmup, args.draws)
    )

    def run_hand(seed):
        u = jax.block_until_ready(hand(jax.random.key(seed)))
        return {"theta": np.exp(np.asarray(u["theta"])), "mu": np.asarray(u["mu"]), "sigma": np.exp(np.asarray(u["sigma"]))}

    timings = {"dync": [], "hand": []}
    compiling = {"dync": [], "hand": []}
    results = {}
    for i in range(1 + args.nuts_repeats):
        for name, run in (("dync", run_dync), ("hand", run_hand)):
            with CompileClock() as clock:
                t = time.perf_counter()
                results[name] = run(i)
                timings[name].append(time.perf_counter() - t)
            compiling[name].append(clock.seconds)
    first = {k: v[0] for k, v in timings.items()}
    again = {k: statistics.median(v[1:]) for k, v in timings.items()}
    again_compile = {k: statistics.median(v[1:]) for k, v in compiling.items()}
    running = {k: statistics.median([t - c for t, c in zip(timings[k][1:], compiling[k][1:])]) for k in timings}

    def summary(post):
        return ", ".join(f"{k} {post[k].mean():.3f}±{post[k].std() / math.sqrt(post[k].size / 10):.3f}" for k in post)

    row("nuts OU", "first call (compile + run)", first["dync"], first["hand"],
        f"compiling {compiling['dync'][0]:.1f} s", f"{compiling['hand'][0]:.1f} s")  # fmt: skip
    row("nuts OU", "second call", again["dync"], again["hand"],
        f"compiling {again_compile['dync']:.1f} s", f"{again_compile['hand']:.1f} s")  # fmt: skip
    row("nuts OU", "second call less compiling", running["dync"], running["hand"], "", "")
    print(f"  posterior means (± rough MC error, ESS ~ draws/10): dync {summary(results['dync'])}")
    print(f"                                                    hand {summary(results['hand'])}")
    ROWS.append(("nuts OU", "posterior means", "", "", "", f"{summary(results['dync'])} | {summary(results['hand'])}"))


# ---------------------------------------------------------------------------
# 3. Particle filter
# ---------------------------------------------------------------------------


def bench_pf(args) -> None:
    import jax
    import jax.numpy as jnp

    import baselines_fit as base
    import dync
    from dync.runtime.particle import particle_filter, substeps

    dtype = jnp.result_type(float)
    times, ys = lorenz_data(args.pf_obs, args.pf_gap)
    model = dync.load(SPECS / "lorenz63_observed.dync")
    padded = one_series("obs_x", times, ys).padded()
    k = substeps(padded.times, padded.present, dt=args.pf_dt)
    print(f"\n[pf] bootstrap filter, Lorenz-63 x observed, {args.particles} particles, {args.pf_obs} obs, "
          f"{k} Euler-Maruyama sub-steps of {args.pf_gap / k:g} per interval", flush=True)  # fmt: skip
    jt, jy = jnp.asarray(times, dtype), jnp.asarray(ys, dtype)[:, None]
    params = tuple(jnp.asarray(v, dtype) for v in (10.0, 28.0, 8.0 / 3.0, 1.0))
    x0 = jnp.ones(3, dtype)
    hand = jax.jit(lambda key: base.lorenz_particle_filter(key, params, x0, jt, jy, 1.0, args.particles, k))
    dync_pf = jax.jit(lambda key: particle_filter(key, model, padded, particles=args.particles, dt=args.pf_dt).log_evidence)
    key = jax.random.key(0)
    fns = {"dync": lambda: jax.block_until_ready(dync_pf(key)), "hand": lambda: jax.block_until_ready(hand(key))}
    r = interleaved(fns, args.repeats, 1)
    # log-evidence spread over keys, to judge agreement
    keys = jax.random.split(jax.random.key(1), 8)
    ld = jnp.stack([dync_pf(kk) for kk in keys])
    lh = jnp.stack([hand(kk) for kk in keys])
    row("pf Lorenz-63", "log-evidence per call", r["dync"]["median"], r["hand"]["median"],
        f"{float(ld.mean()):.2f}±{float(ld.std()):.2f}", f"{float(lh.mean()):.2f}±{float(lh.std()):.2f} (8 keys)")  # fmt: skip
    row("pf Lorenz-63", "first call (compile)", r["dync"]["first"], r["hand"]["first"], "", "")


# ---------------------------------------------------------------------------


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--obs", type=int, default=200, help="observations of the Kalman and NUTS benchmarks")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds (median)")
    p.add_argument("--inner", type=int, default=20, help="Kalman evaluations per timed round")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--nuts-repeats", type=int, default=1, help="timed NUTS runs after the first")
    p.add_argument("--particles", type=int, default=1000)
    p.add_argument("--pf-obs", type=int, default=200, help="observations of the particle-filter benchmark")
    p.add_argument("--pf-gap", type=float, default=0.05, help="time between Lorenz observations")
    p.add_argument("--pf-dt", type=float, default=0.005, help="particle-filter solver step")
    p.add_argument("--only", default="kalman,nuts,pf", help="comma-separated subset of kalman,nuts,pf")
    p.add_argument("--x64", action="store_true", help="float64 (jax_enable_x64)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    started = time.perf_counter()
    chosen = args.only.split(",")
    print(f"dync fitting benchmarks: {platform.node()} {platform.processor() or platform.machine()}, "
          f"jax {jax.__version__}, {jax.devices()[0].platform}, {'float64' if args.x64 else 'float32'}")  # fmt: skip
    if "kalman" in chosen:
        bench_kalman(args)
    if "nuts" in chosen:
        bench_nuts(args)
    if "pf" in chosen:
        bench_pf(args)
    print_table()
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
