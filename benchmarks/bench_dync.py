"""dync on the benchmark workloads: the spec in ``benchmarks/specs/``, loaded
with ``dync.load`` and simulated with ``dync.simulate``.

The call timed is the user-facing one, host copy and ``xarray`` result
included::

    model = dync.load("benchmarks/specs/w1_ou.dync")
    dync.simulate(model, key, paths=w.paths, t1=w.t1, dt=w.dt, save="final",
                  solver="euler_maruyama", progress=False)

For W2 ``save`` is the array of save times ``t = 0.01, 0.02, ..., 1.0``
(every 10th step, the initial state excluded, as the baselines save).

Variants:
    ``dync``        ``solver="euler_maruyama"``: the same scheme as every
                    baseline, so the ratios compare like with like.
    ``dync-auto``   ``solver="auto"`` (for the Langevin workloads dync picks
                    BAOAB, a different, more accurate scheme).
    ``dync-2dev``   as ``dync`` with ``devices=2`` on two host devices
                    (``XLA_FLAGS=--xla_force_host_platform_device_count=2``,
                    set by ``run.py``; run alone, this module re-runs that
                    variant in a subprocess with the flag).

The result is read by :func:`first_component` (an ``xarray.Dataset`` with one
variable per state and dimensions ``(path, time, ...)``; arrays and records
are accepted too). When ``dync.load`` or ``dync.simulate`` cannot be imported
yet, every configuration reports ``dync: unavailable (<reason>)``.

Run alone: ``python benchmarks/bench_dync.py [--workload W3] [--paths N]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

import baselines_jax
import harness
import workloads as wl

VARIANTS = ("dync", "dync-auto", "dync-2dev")
EM_SOLVER = "euler_maruyama"  # dync's name for the baselines' scheme


def save_argument(w: wl.Workload):
    """What ``dync.simulate(..., save=...)`` receives for this workload."""
    return "final" if w.save_every is None else np.asarray(w.save_times)


def simulate_kwargs(variant: str, w: wl.Workload) -> dict:
    kw = dict(paths=w.paths, t1=w.t1, dt=w.dt, save=save_argument(w), progress=False)
    kw["solver"] = "auto" if variant == "dync-auto" else EM_SOLVER
    if variant == "dync-2dev":
        kw["devices"] = 2
    return kw


def _api():
    """``(dync, None)`` or ``(None, reason)``. The checkout this file sits in
    comes first on the path, so the benchmark times the code beside it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        import dync

        dync.load, dync.simulate  # noqa: B018 - lazy attributes: import them now
    except Exception as e:  # noqa: BLE001 - any import failure means "unavailable"
        return None, f"{type(e).__name__}: {e}"
    return dync, None


def first_component(out, w: wl.Workload) -> np.ndarray:
    """The final-time value of the first state component, one per path."""
    if hasattr(out, "data_vars"):  # xarray Dataset keyed by state name, dims (path, time, ...)
        da = out["x"] if "x" in out.data_vars else out[next(iter(out.data_vars))]
        if "time" in da.dims:
            da = da.isel(time=-1)
        return np.asarray(da.values).reshape(w.paths, -1)[:, 0]
    elif isinstance(out, dict):
        arr = out["x"] if "x" in out else next(iter(out.values()))
    elif hasattr(out, "ys"):
        arr = out.ys
        arr = arr[0] if isinstance(arr, (tuple, list)) else arr
        arr = arr["x"] if isinstance(arr, dict) else arr
    else:
        arr = out
    arr = np.asarray(arr)
    axis = next(i for i, n in enumerate(arr.shape) if n == w.paths)
    arr = arr[(-1,) * axis]  # leading time axes: the last time
    if arr.ndim >= 3:  # (paths, time, n)
        arr = arr[:, -1]
    return arr.reshape(w.paths, -1)[:, 0]


def _finish(out):
    try:
        return jax.block_until_ready(out)
    except Exception:  # noqa: BLE001 - not a pytree of arrays (e.g. xarray): already computed
        return out


def bench(variant: str, w: wl.Workload, repeats: int, budget_s: float) -> harness.Result:
    if variant == "dync-2dev" and jax.local_device_count() < 2:
        return baselines_jax.in_subprocess(__file__, variant, w, repeats, budget_s)
    dync, reason = _api()
    if dync is None:
        return harness.Result(impl=variant, workload=w.id, paths=w.paths, status="unavailable", reason=reason)
    model = dync.load(str(w.spec_path))
    key = jax.random.key(0)
    kw = simulate_kwargs(variant, w)

    def run(i):
        return dync.simulate(model, jax.random.fold_in(key, i), **kw)

    first, times, out = harness.time_runs(run, _finish, repeats, budget_s)
    r = harness.make_result(variant, w, first, times, first_component(out, w))
    solver = out.attrs.get("solver", kw["solver"]) if hasattr(out, "attrs") else kw["solver"]
    r.note = f"dync {getattr(dync, '__version__', '?')}, solver {solver}, {jax.local_device_count()} device(s)"
    return r


if __name__ == "__main__":
    harness.main(__doc__.splitlines()[0], VARIANTS, bench)
