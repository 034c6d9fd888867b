"""Timing and reporting shared by every benchmark implementation.

Every implementation module (``baselines_jax``, ``baselines_diffrax``,
``baselines_torchsde``, ``bench_dync``) exposes the same command line::

    python benchmarks/<module>.py --workload W1 [--paths N] [--repeats 5]
        [--variant NAME] [--json]

and times one configuration in its own process. With ``--json`` the last line
of standard output is ``RESULT {...}``, which ``run.py`` reads. Without
``--workload`` a module runs every workload (and variant) itself and prints a
short table, for use on its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import workloads as wl

RESULT_PREFIX = "RESULT "


@dataclasses.dataclass
class Result:
    """One timed configuration. ``median_s`` excludes compilation;
    ``compile_s`` is the first call (compile + run) minus the median run."""

    impl: str
    workload: str
    paths: int
    status: str = "ok"  # "ok", "unavailable", "error", "timeout"
    reason: str = ""
    median_s: float = math.nan
    times_s: list[float] = dataclasses.field(default_factory=list)
    first_s: float = math.nan
    compile_s: float = math.nan
    mean_x0: float = math.nan  # sanity: mean of the first state component, final time
    var_x0: float = math.nan
    n_saved: int = 0
    note: str = ""
    others_cpu: float = math.nan  # share of the machine's CPU used by other work meanwhile (run.py)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Result:
        return cls(**json.loads(text))


def time_runs(
    run: Callable[[int], Any],
    finish: Callable[[Any], Any],
    repeats: int,
    budget_s: float,
) -> tuple[float, list[float], Any]:
    """Time ``finish(run(i))`` once as warm-up (compilation included) and then
    ``repeats`` more times, fewer when the warm-up says they would overrun
    ``budget_s`` (at least one). ``finish`` must wait until the result is
    computed (``jax.block_until_ready``, or identity for eager torch).

    Returns:
        ``(first_s, times_s, last_output)``.
    """
    t = time.perf_counter()
    out = finish(run(0))
    first = time.perf_counter() - t
    n = max(1, min(repeats, int(budget_s / max(first, 1e-9))))
    times = []
    for i in range(1, n + 1):
        t = time.perf_counter()
        out = finish(run(i))
        times.append(time.perf_counter() - t)
    return first, times, out


def make_result(impl: str, w: wl.Workload, first: float, times: Sequence[float], x0_final) -> Result:
    """Build a ``Result`` from timings and the final values of the first state
    component (a 1-D numpy array over paths)."""
    med = statistics.median(times)
    return Result(
        impl=impl,
        workload=w.id,
        paths=w.paths,
        median_s=med,
        times_s=list(times),
        first_s=first,
        compile_s=max(first - med, 0.0),
        mean_x0=float(x0_final.mean()),
        var_x0=float(x0_final.var()),
        n_saved=w.n_saved,
    )


def parser(description: str, variants: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workload", help="W1..W5; all when omitted")
    p.add_argument("--paths", type=int, help="override the workload's path count")
    p.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up")
    p.add_argument("--budget", type=float, default=60.0, help="seconds of timed runs at most")
    p.add_argument("--variant", choices=list(variants), help="implementation variant; all when omitted")
    p.add_argument("--json", action="store_true", help="print a RESULT line for run.py")
    return p


def main(
    description: str,
    variants: Sequence[str],
    bench: Callable[[str, wl.Workload, int, float], Result],
    argv: Sequence[str] | None = None,
) -> None:
    """Command-line driver for one implementation module.

    ``bench(variant, workload, repeats, budget_s)`` times one configuration and
    returns its ``Result`` (status ``unavailable`` where it cannot run).
    """
    args = parser(description, variants).parse_args(argv)
    ids = [args.workload.upper()] if args.workload else list(wl.WORKLOADS)
    chosen = [args.variant] if args.variant else list(variants)
    results = []
    for wid in ids:
        w = wl.get(wid, args.paths)
        for v in chosen:
            try:
                r = bench(v, w, args.repeats, args.budget)
            except Exception as e:  # a benchmark reports, it does not crash the table
                r = Result(impl=v, workload=w.id, paths=w.paths, status="error", reason=f"{type(e).__name__}: {e}")
            results.append(r)
            if args.json:
                print(RESULT_PREFIX + r.to_json(), flush=True)
            else:
                print(format_line(r), flush=True)


def format_line(r: Result) -> str:
    if r.status != "ok":
        return f"{r.workload:3} {r.impl:18} {r.status}: {r.reason}"
    return (
        f"{r.workload:3} {r.impl:18} median {r.median_s:8.4f} s  compile {r.compile_s:6.2f} s  "
        f"runs {len(r.times_s)}  mean(x0) {r.mean_x0:+.4f}  var(x0) {r.var_x0:.4f}"
        + (f"  [{r.note}]" if r.note else "")
    )


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(2)
