"""How fast dync answers: ``dync check`` on a spec, and load → first drift.

    python benchmarks/check_speed.py [--spec PATH] [--seconds 3] [--runs 15]

0. **process**: ``dync check SPEC`` as an editor runs it, a whole process
   each time: the installed ``dync`` entry point (found next to the running
   Python, not a pyenv shim) and ``python -m dync.cli``; the median and the
   minimum of ``--runs`` runs, after one warm-up run that writes bytecode.
   Then the slowest imports of one such process (``-X importtime``), and
   whether it imported JAX. The target is 0.25 s on the largest spec.

Then, in-process, after the imports (each import is timed and reported on
its own):

1. **check**: the function behind ``dync check`` (``dync.check_file``, else
   ``dync.check_spec`` / ``dync.check``) on the largest spec (in bytes) of
   ``specs/`` and ``benchmarks/specs/``, called repeatedly for ``--seconds``;
   the first call (grammar built, caches cold) and the median of the rest, in
   ms. Also whether checking imported JAX (the front end should not).
2. **load → first drift**: ``model = dync.load(path, key)`` then
   ``model.drift(0.0, y0)`` blocked until ready, ``y0`` zeros of the model's
   state size, with JAX already imported: the first time in the process and the
   median of a few more.

Anything dync does not provide yet is reported as ``unavailable (<reason>)``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHECK_NAMES = ("check_file", "check_spec", "check")


def largest_spec() -> Path | None:
    specs = [p for d in (ROOT / "specs", HERE / "specs") for p in d.glob("*") if p.suffix in (".dync", ".yaml", ".yml")]
    return max(specs, key=lambda p: p.stat().st_size, default=None)


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f} ms"


def time_repeatedly(fn, seconds: float, max_calls: int = 2000) -> tuple[float, list[float]]:
    """First call's time, and the times of further calls for about ``seconds``."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop and len(times) < max_calls:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, times


def _entry_point() -> str | None:
    """The ``dync`` script installed beside this Python (a pyenv shim would add
    its own start-up time)."""
    beside = Path(sys.executable).parent / "dync"
    return str(beside) if beside.exists() else shutil.which("dync")


def time_process(cmd: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` runs of ``cmd`` (after one warm-up)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # let .pyc files be written
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return times


def import_offenders(spec: Path, top: int = 15) -> tuple[list[tuple[int, int, str]], bool]:
    """The ``top`` imports of one ``dync check`` process by cumulative time
    (µs self, µs cumulative, module), and whether it imported JAX."""
    code = (
        "import sys\nfrom dync.cli import main\n"
        f"sys.argv = ['dync', 'check', {str(spec)!r}]\nmain()\n"
        "print('JAX', 'jax' in sys.modules, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    rows = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, cum_us, name = line[len("import time:"):].split("|")
            rows.append((int(self_us), int(cum_us), name.rstrip()))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top], "JAX True" in r.stderr


def measure_process(spec: Path, runs: int) -> None:
    commands = [("python -m dync.cli", [sys.executable, "-m", "dync.cli", "check", str(spec)])]
    entry = _entry_point()
    if entry:
        commands.insert(0, ("dync (entry point)", [entry, "check", str(spec)]))
    baseline = time_process([sys.executable, "-c", "pass"], runs)
    print(f"process: python -c pass: median {_ms(statistics.median(baseline))}, min {_ms(min(baseline))}")
    for label, cmd in commands:
        try:
            times = time_process(cmd, runs)
        except RuntimeError as e:
            print(f"process: {label}: failed ({e})")
            continue
        print(f"process: {label} check: median {_ms(statistics.median(times))}, min {_ms(min(times))} over {runs} runs")
    rows, jax = import_offenders(spec)
    print(f"slowest imports of one `dync check` process (imported JAX: {'yes' if jax else 'no'}):")
    print(f"  {'self ms':>8} {'cum ms':>8}  module")
    for self_us, cum_us, name in rows:
        print(f"  {self_us / 1e3:8.1f} {cum_us / 1e3:8.1f}  {name}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", type=Path, help="spec to check (default: the largest in specs/ and benchmarks/specs/)")
    p.add_argument("--seconds", type=float, default=3.0, help="time spent repeating each measurement")
    p.add_argument("--runs", type=int, default=15, help="processes timed per command")
    p.add_argument("--process-only", action="store_true", help="only the whole-process measurements")
    args = p.parse_args(argv)
    spec = args.spec or largest_spec()
    if spec is None:
        print("no spec found in specs/ or benchmarks/specs/")
        return 1
    print(f"spec: {spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else spec} ({spec.stat().st_size} bytes)")

    measure_process(spec, args.runs)
    if args.process_only:
        return 0

    sys.path.insert(0, str(ROOT))  # time the checkout this file sits in
    t = time.perf_counter()
    try:
        import dync
    except Exception as e:  # noqa: BLE001
        print(f"dync: unavailable ({type(e).__name__}: {e})")
        return 0
    print(f"import dync: {_ms(time.perf_counter() - t)}")

    # 1. check
    check, reasons = None, []
    for name in CHECK_NAMES:
        try:
            check = getattr(dync, name)
            break
        except Exception as e:  # noqa: BLE001 - lazy attribute whose module is not there yet
            reasons.append(f"dync.{name}: {type(e).__name__}: {e}")
    if check is None:
        print(f"check: unavailable ({'; '.join(reasons)})")
    else:
        jax_before = "jax" in sys.modules
        try:
            first, times = time_repeatedly(lambda: check(spec), args.seconds)
        except Exception as e:  # noqa: BLE001
            print(f"check: unavailable (dync.{check.__name__} failed: {type(e).__name__}: {e})")
        else:
            print(
                f"check (dync.{check.__name__}): first {_ms(first)}, median {_ms(statistics.median(times))} "
                f"over {len(times)} calls"
                + ("" if jax_before else f"; imported JAX: {'yes' if 'jax' in sys.modules else 'no'}")
            )

    # 2. load -> first drift
    t = time.perf_counter()
    import jax
    import jax.numpy as jnp

    print(f"import jax: {_ms(time.perf_counter() - t)}")
    try:
        load = dync.load
    except Exception as e:  # noqa: BLE001
        print(f"load → first drift: unavailable ({type(e).__name__}: {e})")
        return 0

    def load_and_drift():
        model = load(spec, jax.random.key(0))  # a key for specs that draw `~ init` parameters or nets
        y0 = jnp.zeros((model.info.state_size,), jnp.float32)
        return jax.block_until_ready(model.drift(0.0, y0))

    try:
        first, times = time_repeatedly(load_and_drift, args.seconds, max_calls=50)
    except Exception as e:  # noqa: BLE001
        print(f"load → first drift: unavailable ({type(e).__name__}: {e})")
        return 0
    print(
        f"load → first drift: first {_ms(first)}, median {_ms(statistics.median(times))} over {len(times)} more"
        if times
        else f"load → first drift: first {_ms(first)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
