"""Generated-code size and compile time for a chain of nested gradients.

``let U{i} = sum(grad(U{i+1}, x))``, ``n`` deep (issue 8, item 6): the
generated module must grow linearly in ``n``. Prints, for each ``n``, the
spec size, the generated module size, the compile time, and the size ratio
to the previous row.

    python3 benchmarks/grad_chain.py 8 12 16 20 30
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # time this checkout


def chain_spec(n: int) -> str:
    """A spec with ``n`` nested ``grad`` lets above a quadratic potential."""
    lines = ["model grad_chain", "dim K = 3", "state x[K] = 0.5"]
    lines.append(f"let U{n} = sum(x^2) / 2")
    for i in range(n - 1, -1, -1):
        lines.append(f"let U{i} = sum(grad(U{i + 1}, x))")
    lines.append("dx = -U0 dt + 0.1 dW")
    return "\n".join(lines) + "\n"


def main(sizes: list[int]) -> None:
    from dync.compiler.driver import compile_file

    print(f"{'n':>4} {'spec bytes':>10} {'module bytes':>13} {'compile s':>10} {'ratio':>6}")
    last = None
    for n in sizes:
        spec = chain_spec(n)
        t0 = time.perf_counter()
        source = compile_file("grad_chain.dync", text=spec).source
        dt = time.perf_counter() - t0
        ratio = f"{len(source) / last:.2f}" if last else ""
        print(f"{n:>4} {len(spec):>10} {len(source):>13} {dt:>10.3f} {ratio:>6}", flush=True)
        last = len(source)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [8, 12, 16, 20, 30])
