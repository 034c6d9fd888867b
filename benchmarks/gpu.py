"""dync against hand-written JAX (and eager torch) on one accelerator, in one run.

    python benchmarks/gpu.py [--workloads W1,W3,W5] [--paths 1e6,1e7] [--w1-paths 1e8]
                             [--steps 1000] [--repeats 3] [--torch] [--dync-variants default,blocks]
                             [--budget 300] [--out results.jsonl]

For each workload (W1 OU, W3 Lorenz-63, W5 64-oscillator chain; the specs in
``benchmarks/specs`` and the right-hand sides in ``workloads.py``), each path
count and each implementation: Euler–Maruyama, ``--steps`` steps at the
workload's ``dt``, final state only. One first call (compilation included),
then ``--repeats`` warm calls; the table gives the median, path-steps per
second (paths × steps / median) and the ratio of the medians to hand-written
JAX (``×jax``, above 1 is slower), plus the first-call time.

Implementations:
    ``dync``        ``dync.simulate(model, key, paths=N, t1=steps*dt, dt=dt,
                    save="final", solver="euler_maruyama")``: the user-facing
                    call, the ``xarray.Dataset`` on the host included.
    ``dync-blocks`` (``--dync-variants``) the same, with the CPU loop
                    structure on the accelerator (increments drawn for a block
                    of steps before those steps run, instead of inside each
                    step): ``dync.runtime.solvers.fused._ACCEL_DRAW = "blocks"``.
    ``dync-uN``     (``--dync-variants``) increments drawn inside each step,
                    ``N`` steps per scan iteration (``_ACCEL_UNROLL = N``).
    ``dync-pairs``  (``--dync-variants``) increments drawn inside each step,
                    the two halves of each block advanced side by side so
                    that one Threefry block feeds two paths
                    (``_ACCEL_PAIRS = True``; models with one noise row).
    ``jax``         ``baselines_jax.make_simulate``: ``jax.jit`` of a
                    ``lax.scan`` over steps, ``jax.random.normal`` of
                    ``fold_in(key, i)`` for the whole batch each step (JAX's
                    threefry), the final state left on the device.
    ``torch``       (``--torch``, when torch sees a GPU) an eager Python loop
                    of ``torch.randn`` and tensor arithmetic on the device.

Each result's mean and variance of the first state component over paths are
printed too, so that the implementations are seen to compute the same thing.
A configuration is skipped when the run has used ``--budget`` seconds. With
tiny sizes it runs on a CPU too: ``python benchmarks/gpu.py --paths 1000
--steps 50 --w1-paths 0``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave memory for torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import baselines_jax  # noqa: E402
import workloads as wl  # noqa: E402

#: solver of every implementation (the baselines' scheme)
SOLVER = "euler_maruyama"


@dataclasses.dataclass
class Row:
    workload: str
    impl: str
    paths: int
    steps: int
    first_s: float = math.nan
    median_s: float = math.nan
    times_s: list = dataclasses.field(default_factory=list)
    mean: float = math.nan
    var: float = math.nan
    status: str = "ok"
    note: str = ""

    @property
    def rate(self) -> float:
        return self.paths * self.steps / self.median_s if self.median_s > 0 else math.nan


def _count(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip() and float(x) > 0]


#: a first call longer than this is followed by one warm call only
LONG_CALL_S = 30.0


def _time(call, finish, repeats: int) -> tuple[float, list[float], object]:
    t = time.perf_counter()
    out = finish(call(0))
    first = time.perf_counter() - t
    if first > LONG_CALL_S:
        repeats = min(repeats, 1)
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        out = finish(call(i + 1))
        times.append(time.perf_counter() - t)
    return first, times, out


def _moments(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, np.float64).ravel()
    return float(x.mean()), float(x.var())


def bench_dync(w: wl.Workload, variant: str, repeats: int) -> Row:
    import dync
    from dync.runtime.solvers import fused

    row = Row(w.id, "dync" if variant == "default" else f"dync-{variant}", w.paths, w.steps)
    fused._ACCEL_DRAW = "blocks" if variant == "blocks" else "in_step"
    unroll, pairs = fused._ACCEL_UNROLL, fused._ACCEL_PAIRS
    if variant.startswith("u") and variant[1:].isdigit():
        fused._ACCEL_UNROLL = int(variant[1:])
    if variant == "pairs":
        fused._ACCEL_PAIRS = True
    jax.clear_caches()  # the loop structure is read when tracing
    model = dync.load(str(w.spec_path))
    key = jax.random.key(0)

    def call(i):
        return dync.simulate(model, jax.random.fold_in(key, i), paths=w.paths, t1=w.t1, dt=w.dt,
                             save="final", solver=SOLVER, progress=False)  # fmt: skip

    row.first_s, row.times_s, ds = _time(call, lambda out: out, repeats)
    first = next(iter(ds.data_vars))
    row.mean, row.var = _moments(ds[first].values.reshape(w.paths, -1)[:, 0])
    row.note = f"block {ds.attrs['block_size']}"
    fused._ACCEL_DRAW, fused._ACCEL_UNROLL, fused._ACCEL_PAIRS = "in_step", unroll, pairs
    return row


def bench_jax(w: wl.Workload, repeats: int) -> Row:
    row = Row(w.id, "jax", w.paths, w.steps)
    run, y0 = baselines_jax.make_runner(w, 1)
    key = jax.random.key(0)
    row.first_s, row.times_s, out = _time(lambda i: run(jax.random.fold_in(key, i), y0), jax.block_until_ready, repeats)
    row.mean, row.var = _moments(np.asarray(out[0][:, 0]))
    return row


def bench_torch(w: wl.Workload, repeats: int) -> Row:
    row = Row(w.id, "torch", w.paths, w.steps)
    try:
        import torch
    except ImportError as e:
        row.status, row.note = "unavailable", str(e)
        return row
    if not torch.cuda.is_available():
        row.status, row.note = "unavailable", "torch sees no GPU"
        return row
    dev = torch.device("cuda")
    dt = w.dt
    scale = [None if b.sigma is None else b.sigma * math.sqrt(dt) for b in w.blocks]

    @torch.no_grad()
    def call(seed):
        gen = torch.Generator(device=dev).manual_seed(seed)
        ys = tuple(torch.tensor(b.init, dtype=torch.float32, device=dev).expand(w.paths, b.size).clone() for b in w.blocks)
        for _ in range(w.steps):
            derivs = w.drift(torch, ys)
            new = []
            for y, dy, s in zip(ys, derivs, scale):
                y = y + dt * dy
                if s is not None:
                    y = y + s * torch.randn(y.shape, generator=gen, device=dev)
                new.append(y)
            ys = tuple(new)
        return ys

    def finish(out):
        torch.cuda.synchronize()
        return out

    row.first_s, row.times_s, out = _time(call, finish, repeats)
    row.mean, row.var = _moments(out[0][:, 0].cpu().numpy())
    del out
    torch.cuda.empty_cache()
    return row


def _fmt_rate(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.3g}"


def render(rows: list[Row]) -> str:
    ref = {(r.workload, r.paths): r.median_s for r in rows if r.impl == "jax" and r.status == "ok"}
    head = f"{'workload':8} {'impl':12} {'paths':>10} {'median s':>9} {'path-steps/s':>13} {'×jax':>6} {'first s':>8} {'mean x0':>9} {'var x0':>8}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.status != "ok":
            lines.append(f"{r.workload:8} {r.impl:12} {r.paths:>10} {r.status}: {r.note}")
            continue
        jx = ref.get((r.workload, r.paths), math.nan)
        ratio = r.median_s / jx if math.isfinite(jx) else math.nan
        lines.append(
            f"{r.workload:8} {r.impl:12} {r.paths:>10} {r.median_s:9.4f} {_fmt_rate(r.rate):>13} "
            f"{ratio:6.2f} {r.first_s:8.2f} {r.mean:+9.4f} {r.var:8.4f}  {r.note}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="W1,W3,W5")
    p.add_argument("--paths", default="1e6,1e7", help="comma-separated path counts")
    p.add_argument("--w1-paths", default="1e8", help="extra path counts for W1 only (0: none)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--impls", default="dync,jax,torch", help="subset of dync,jax,torch")
    p.add_argument("--dync-variants", default="default", help="comma-separated: default, blocks, uN, pairs")
    p.add_argument("--budget", type=float, default=float("inf"), help="seconds; later configurations are skipped")
    p.add_argument("--out", help="also write one JSON object per result to this file")
    args = p.parse_args(argv)
    impls = [x.strip() for x in args.impls.split(",") if x.strip()]
    start = time.perf_counter()
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}", flush=True)
    from dync.runtime.devices import describe_devices

    print(f"device description: {describe_devices(jax.devices())}", flush=True)

    rows: list[Row] = []
    out = open(args.out, "a") if args.out else None  # noqa: SIM115 - appended to as results come
    wids = [x.strip().upper() for x in args.workloads.split(",") if x.strip()]
    configs = [(n, wid) for wid in wids for n in _count(args.paths) + (_count(args.w1_paths) if wid == "W1" else [])]
    configs.sort(key=lambda c: (c[0], wids.index(c[1])))  # small runs first: the budget cuts the largest
    for n, wid in configs:
        w = dataclasses.replace(wl.WORKLOADS[wid], paths=n, steps=args.steps, save_every=None)
        jobs = []
        if "jax" in impls:
            jobs.append(("jax", lambda w=w: bench_jax(w, args.repeats)))
        if "dync" in impls:
            for v in [x.strip() for x in args.dync_variants.split(",") if x.strip()]:
                jobs.append((f"dync-{v}", lambda w=w, v=v: bench_dync(w, v, args.repeats)))
        if "torch" in impls:
            jobs.append(("torch", lambda w=w: bench_torch(w, args.repeats)))
        for name, job in jobs:
            if time.perf_counter() - start > args.budget:
                row = Row(wid, name, n, args.steps, status="skipped", note=f"over the {args.budget:.0f} s budget")
            else:
                try:
                    row = job()
                    row.median_s = statistics.median(row.times_s) if row.times_s else math.nan
                except Exception as e:  # noqa: BLE001 - report and go on (out of memory, say)
                    row = Row(wid, name, n, args.steps, status="error", note=f"{type(e).__name__}: {str(e)[:200]}")
            rows.append(row)
            rate = _fmt_rate(row.rate) if row.status == "ok" else row.status
            print(f"  {wid} {row.impl:12} {n:>10} paths: median {row.median_s:.4f} s, {rate} path-steps/s, "
                  f"first {row.first_s:.2f} s  {row.note}  [{time.perf_counter() - start:.0f} s]", flush=True)  # fmt: skip
            if out:
                out.write(json.dumps({**dataclasses.asdict(row), "rate": row.rate}) + "\n")
                out.flush()
    print()
    print(render(rows), flush=True)
    print(f"\ntotal {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
