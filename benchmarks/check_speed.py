"""How fast dync answers: ``dync check`` on a spec, and load → first drift.

    python benchmarks/check_speed.py [--spec PATH] [--seconds 3]

Measured in-process, after the imports (each import is timed and reported on
its own):

1. **check**: the function behind ``dync check`` (``dync.check_file``, else
   ``dync.check_spec`` / ``dync.check``) on the largest spec (in bytes) of
   ``specs/`` and ``benchmarks/specs/``, called repeatedly for ``--seconds``;
   the first call (grammar built, caches cold) and the median of the rest, in
   ms. Also whether checking imported JAX (the front end should not).
2. **load → first drift**: ``model = dync.load(path)`` then
   ``model.drift(0.0, y0)`` blocked until ready, ``y0`` zeros of the model's
   state size, with JAX already imported: the first time in the process and the
   median of a few more.

Anything dync does not provide yet is reported as ``unavailable (<reason>)``.
"""

from __future__ import annotations

import argparse
import statistics
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", type=Path, help="spec to check (default: the largest in specs/ and benchmarks/specs/)")
    p.add_argument("--seconds", type=float, default=3.0, help="time spent repeating each measurement")
    args = p.parse_args(argv)
    spec = args.spec or largest_spec()
    if spec is None:
        print("no spec found in specs/ or benchmarks/specs/")
        return 1
    print(f"spec: {spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else spec} ({spec.stat().st_size} bytes)")

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
        model = load(spec)
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
