"""Side-by-side timings of dync and the baselines on the benchmark workloads.

    python benchmarks/run.py [--workloads W1,W3] [--paths N] [--repeats 5] [--quick]

Every (workload, implementation) pair runs in its own subprocess (clean XLA
flags and thread settings, a timeout each): one warm-up call that includes
compilation, then up to ``--repeats`` timed calls (fewer when they would take
longer than ``--budget`` seconds; at least one). The table shows the median,
the compile time (first call minus median), and the ratio of the median to the
hand-written JAX baseline on one device (``×jax``) and to dync (``×dync``):
above 1 is slower. The sanity columns are the mean and variance over paths of
the first state component at the final time; ``agree`` compares them with the
hand-written JAX result (and, for the OU workloads, the closed form) at Monte
Carlo tolerance, so every implementation is seen to compute the same thing.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import harness
import workloads as wl

HERE = Path(__file__).resolve().parent
TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}

#: (implementation, script, extra environment), in table order.
IMPLEMENTATIONS = (
    ("dync", "bench_dync.py", {}),
    ("dync-auto", "bench_dync.py", {}),
    ("dync-2dev", "bench_dync.py", TWO_DEVICES),
    ("jax", "baselines_jax.py", {}),
    ("jax-2dev", "baselines_jax.py", TWO_DEVICES),
    ("diffrax-vbt", "baselines_diffrax.py", {}),
    ("diffrax-unsafe", "baselines_diffrax.py", {}),
    ("torchsde", "baselines_torchsde.py", {}),
    ("torch-eager", "baselines_torchsde.py", {}),
)


def _cpu_busy_s() -> float:
    """Seconds of CPU time the whole machine has spent busy (``/proc/stat``), or NaN."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_config(impl: str, script: str, env_extra: dict, w: wl.Workload, args) -> harness.Result:
    """Time one (workload, implementation) pair in a fresh interpreter.

    Also measures how busy the machine was with *other* work meanwhile (CPU
    time of the machine minus that of the subprocess, over wall time × cores):
    timings taken while something else ran are not comparable, and the table
    says so.
    """
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(env_extra)
    cmd = [sys.executable, str(HERE / script), "--workload", w.id, "--variant", impl, "--paths", str(w.paths),
           "--repeats", str(args.repeats), "--budget", str(args.budget), "--json"]  # fmt: skip
    busy0, child0, t0 = _cpu_busy_s(), _children_cpu_s(), time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return harness.Result(impl, w.id, w.paths, status="timeout", reason=f"over {args.timeout:.0f} s")
    wall = time.perf_counter() - t0
    others = (_cpu_busy_s() - busy0 - (_children_cpu_s() - child0)) / (wall * (os.cpu_count() or 1))
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(harness.RESULT_PREFIX):
            r = harness.Result.from_json(line[len(harness.RESULT_PREFIX) :])
            r.others_cpu = max(others, 0.0)
            return r
    lines = (proc.stderr or proc.stdout or "no output").strip().splitlines()
    return harness.Result(impl, w.id, w.paths, status="error", reason=f"exit {proc.returncode}: {lines[-1]}")


def agreement(r: harness.Result, ref: harness.Result | None, w: wl.Workload) -> str:
    """``ok`` when mean and variance of the first component match the reference
    within Monte Carlo error: means within 5 standard errors, variances within
    5 standard errors of a variance ratio (``sqrt(2/n)`` each, kurtosis ~3)."""
    checks = []
    if ref is not None and ref.status == "ok" and ref is not r:
        checks.append((ref.mean_x0, ref.var_x0, ref.paths))
    if w.id in ("W1", "W2"):
        m, v = wl.ou_moments(w.t1)
        checks.append((m, v, math.inf))
    if r.status != "ok":
        return ""
    if not checks:
        return "ref"
    bad = []
    for m, v, n in checks:
        se_mean = math.sqrt(r.var_x0 / r.paths + v / n)
        se_var = math.sqrt(2 / r.paths + 2 / n)
        if abs(r.mean_x0 - m) > 5 * se_mean:
            bad.append(f"mean {r.mean_x0:.4g} vs {m:.4g}")
        if abs(r.var_x0 / v - 1) > 5 * se_var:
            bad.append(f"var {r.var_x0:.4g} vs {v:.4g}")
    return "ok" if not bad else "MISMATCH " + "; ".join(bad)


def _fmt(x: float, spec: str) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


BUSY_WARN = 0.10  # others' share of the CPU above which a timing is flagged


def render(results: list[harness.Result], workloads: list[wl.Workload], impls: list[str]) -> None:
    by = {(r.workload, r.impl): r for r in results}
    rows = []
    for w in workloads:
        ref = by.get((w.id, "jax"))
        dy = by.get((w.id, "dync"))
        for impl in impls:
            r = by.get((w.id, impl))
            if r is None:
                continue
            if r.status != "ok":
                rows.append([w.id, impl, *[""] * 8, f"{r.status}: {r.reason}"])
                continue
            x_jax = r.median_s / ref.median_s if ref is not None and ref.status == "ok" else math.nan
            x_dync = r.median_s / dy.median_s if dy is not None and dy.status == "ok" else math.nan
            busy = _fmt(100 * r.others_cpu, ".0f") + ("*" if r.others_cpu > BUSY_WARN else "")
            rows.append([
                w.id, impl, _fmt(r.median_s, ".4f"), _fmt(r.compile_s, ".2f"), str(len(r.times_s)),
                _fmt(x_jax, ".2f"), _fmt(x_dync, ".2f"), busy, _fmt(r.mean_x0, "+.4f"), _fmt(r.var_x0, ".4f"),
                agreement(r, ref, w),
            ])  # fmt: skip
    header = ["workload", "implementation", "median s", "compile s", "runs", "×jax", "×dync", "busy %",
              "mean x0", "var x0", "agree"]  # fmt: skip
    title = "median seconds per call (×: ratio of medians, >1 is slower; busy: others' CPU share meanwhile)"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(n) for c, n in zip(row, widths)))
    else:
        table = Table(title=title)
        for h in header:
            table.add_column(h, justify="left" if h in ("workload", "implementation", "agree") else "right")
        for row in rows:
            table.add_row(*row)
        Console(width=160).print(table)
    if any(r.status == "ok" and r.others_cpu > BUSY_WARN for r in results):
        print(f"* other work used more than {BUSY_WARN:.0%} of the CPU during that configuration: re-run it.")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default=",".join(wl.WORKLOADS), help="comma-separated, e.g. W1,W3")
    p.add_argument("--impls", default=",".join(i for i, _, _ in IMPLEMENTATIONS), help="comma-separated subset")
    p.add_argument("--paths", type=int, help="override every workload's path count")
    p.add_argument("--repeats", type=int, default=5, help="timed calls after the warm-up (default 5)")
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timed calls per configuration at most")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds per configuration subprocess")
    p.add_argument("--quick", action="store_true", help="10x fewer paths, 2 repeats: a smoke run")
    p.add_argument("--json-out", help="also write one JSON result per line to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 2)
    known = {i: (s, e) for i, s, e in IMPLEMENTATIONS}
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    for i in impls:
        if i not in known:
            p.error(f"unknown implementation {i!r}; choose from {', '.join(known)}")
    try:
        workloads = [wl.get(x.strip()) for x in args.workloads.split(",") if x.strip()]
    except KeyError as e:
        p.error(f"unknown workload {e}; choose from {', '.join(wl.WORKLOADS)}")
    if args.paths is not None:
        workloads = [wl.get(w.id, args.paths) for w in workloads]
    elif args.quick:
        workloads = [wl.get(w.id, max(2, w.paths // 10)) for w in workloads]

    results = []
    start = time.perf_counter()
    for w in workloads:
        print(f"{w.id}: {w.title} — {w.paths} paths × {w.steps} steps, dt={w.dt:g}", flush=True)
        for impl in impls:
            script, env = known[impl]
            r = run_config(impl, script, env, w, args)
            results.append(r)
            if r.status == "unavailable":
                print(f"  {impl}: unavailable ({r.reason})", flush=True)
            else:
                busy = "" if math.isnan(r.others_cpu) else f"  (others' CPU {100 * r.others_cpu:.0f}%)"
                print("  " + harness.format_line(r)[4:] + busy, flush=True)
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s\n")
    render(results, workloads, impls)
    if args.json_out:
        Path(args.json_out).write_text("\n".join(r.to_json() for r in results) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
