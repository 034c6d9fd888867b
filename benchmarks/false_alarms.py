"""How often does `dync test` fail a correct model?

Runs every correct spec of tests/testing/planted/correct under 20 seeds
(default settings: 20 parameter draws, 1000 paths, the spec's test: section)
and every buggy twin under the same seeds, and prints, per spec, how many
seeds failed. A correct spec should fail at most alpha = 1e-3 of the time
(so 0 of 20 is expected); a buggy one every time.

    python benchmarks/false_alarms.py [--seeds 20] [--examples 20] [--only NAME]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from pathlib import Path

import jax

from dync.compiler.driver import build_model, compile_ast, read_spec
from dync.settings.test import test_settings
from dync.testing.properties import run_builtin_checks
from dync.testing.runner import run_model_tests

PLANTED = Path(__file__).resolve().parents[1] / "tests" / "testing" / "planted"


def failures_over_seeds(path: Path, seeds: int, examples: int) -> tuple[int, float, list[str]]:
    spec = read_spec(path)
    base = test_settings(spec, examples=examples)
    model = build_model(compile_ast(spec, base.dims), jax.random.key(0))
    failed, seen = 0, []
    start = time.perf_counter()
    for seed in range(seeds):
        settings = dataclasses.replace(base, seed=seed)
        once = functools.partial(run_builtin_checks, spec=spec)
        report = run_model_tests(model, settings, spec_path=str(path.relative_to(PLANTED)), once=once, progress=False)
        if not report.ok:
            failed += 1
            seen += sorted({f.check for f in report.failures})
    return failed, (time.perf_counter() - start) / seeds, sorted(set(seen))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--examples", type=int, default=20)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    names = sorted(p.stem for p in (PLANTED / "correct").iterdir() if p.suffix in (".dync", ".yaml"))
    if a.only:
        names = [n for n in names if n == a.only]
    print(f"{'spec':22s} {'correct failed':>15s} {'buggy caught':>13s} {'s/run':>7s}  checks that failed")
    for name in names:
        row = []
        for kind in ("correct", "buggy"):
            (path,) = [p for p in (PLANTED / kind).iterdir() if p.stem == name]
            row.append(failures_over_seeds(path, a.seeds, a.examples))
        (cf, ct, cseen), (bf, bt, _) = row
        note = f"  correct runs failed: {', '.join(cseen)}" if cseen else ""
        print(f"{name:22s} {cf:>8d} of {a.seeds:<4d} {bf:>6d} of {a.seeds:<4d} {ct:7.1f}{note}", flush=True)


if __name__ == "__main__":
    main()
