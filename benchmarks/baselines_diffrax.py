"""diffrax baselines: one ``diffeqsolve`` over the whole batch.

The state is the same tuple of ``(paths, size)`` blocks as the hand-written
baseline, solved in one ``diffrax.diffeqsolve`` with ``Euler()`` and a
constant step ``dt0 = dt``; the noise is a ``ControlTerm`` whose vector field is
a ``lineax.FunctionLinearOperator`` mapping the Brownian increments of the noisy
blocks to ``sigma * dW`` on those blocks (zero on a Langevin position), so only
the noise the model needs is drawn. ``SaveAt(t1=True)`` (final state), or
``SaveAt(ts=...)`` at every 10th step for W2. ``adjoint=ForwardMode()``: these
are forward simulations (``UnsafeBrownianPath`` requires it; for the tree it
makes no measurable difference).

Variants:
    ``diffrax-vbt``     ``VirtualBrownianTree(tol=dt/2)`` — the reproducible,
                        adjoint-friendly default.
    ``diffrax-unsafe``  ``UnsafeBrownianPath`` — increments drawn per step,
                        valid for fixed steps and a forward solve only.

Run alone: ``python benchmarks/baselines_diffrax.py [--workload W3] [--paths N]``.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

import harness
import workloads as wl
from baselines_jax import initial_state

VARIANTS = ("diffrax-vbt", "diffrax-unsafe")


def make_solve(w: wl.Workload, variant: str):
    """``solve(key, y0) -> (states, num_steps)`` with the states saved as the
    hand-written baseline saves them."""
    noisy = [i for i, b in enumerate(w.blocks) if b.sigma is not None]
    bm_shape = tuple(jax.ShapeDtypeStruct((w.paths, w.blocks[i].size), jnp.float32) for i in noisy)
    t0, t1 = 0.0, w.t1

    def drift(t, y, args):
        return w.drift(jnp, y)

    def diffusion(t, y, args):
        def apply(dw):
            out = [jnp.zeros_like(yi) for yi in y]
            for j, i in enumerate(noisy):
                out[i] = w.blocks[i].sigma * dw[j]
            return tuple(out)

        return lx.FunctionLinearOperator(apply, bm_shape)

    if w.save_every is None:
        saveat = diffrax.SaveAt(t1=True)
    else:
        saveat = diffrax.SaveAt(ts=jnp.asarray(w.save_times, jnp.float32))

    @jax.jit
    def solve(key, y0):
        if variant == "diffrax-vbt":
            bm = diffrax.VirtualBrownianTree(t0, t1, tol=w.dt / 2, shape=bm_shape, key=key)
        else:
            bm = diffrax.UnsafeBrownianPath(shape=bm_shape, key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, bm))
        sol = diffrax.diffeqsolve(
            terms,
            diffrax.Euler(),
            t0,
            t1,
            dt0=w.dt,
            y0=y0,
            saveat=saveat,
            max_steps=w.steps + 8,
            adjoint=diffrax.ForwardMode(),  # forward simulation only (UnsafeBrownianPath needs it)
        )
        return sol.ys, sol.stats["num_steps"]

    return solve


def bench(variant: str, w: wl.Workload, repeats: int, budget_s: float) -> harness.Result:
    solve = make_solve(w, variant)
    y0 = initial_state(w, w.paths)
    key = jax.random.key(0)
    first, times, (ys, num_steps) = harness.time_runs(
        lambda i: solve(jax.random.fold_in(key, i), y0), jax.block_until_ready, repeats, budget_s
    )
    x0 = np.asarray(ys[0][-1, :, 0])  # ys: (n_saved, paths, size) per block
    r = harness.make_result(variant, w, first, times, x0)
    r.note = f"{int(num_steps)} steps"
    return r


if __name__ == "__main__":
    harness.main(__doc__.splitlines()[0], VARIANTS, bench)
