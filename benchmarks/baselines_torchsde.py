"""PyTorch baselines: torchsde ``sdeint`` and a hand-written eager loop (CPU).

Variants:
    ``torchsde``     ``torchsde.sdeint(method="euler", dt=dt)`` on the batched
                     state ``(paths, n)`` (the blocks concatenated), Itô,
                     ``noise_type="diagonal"`` with the diffusion zero on the
                     noiseless blocks (torchsde's cheapest form for additive
                     noise: "additive" goes through a ``bmm`` with an
                     ``(n, m)`` matrix per path), and a ``BrownianInterval``
                     told the step size. Under ``torch.no_grad()``.
    ``torch-eager``  Euler–Maruyama as a Python loop over steps on the tuple of
                     ``(paths, size)`` blocks, ``torch.randn`` per step and per
                     noisy block from one seeded generator, under
                     ``torch.no_grad()``.

Both use torch's default intra-op threads (all cores). When torch or torchsde
cannot be imported, each configuration reports itself ``unavailable`` with
the reason (install with ``pip install -e .[bench]``, see the README).

Run alone: ``python benchmarks/baselines_torchsde.py [--workload W3] [--paths N]``.
"""

from __future__ import annotations

import math

import harness
import workloads as wl

VARIANTS = ("torchsde", "torch-eager")

try:
    import torch
except ImportError as e:  # the bench extra is optional
    torch = None
    _TORCH_MISSING = f"torch not importable ({e})"
try:
    import torchsde
except ImportError as e:
    torchsde = None
    _TORCHSDE_MISSING = f"torchsde not importable ({e}); pip install -e '.[bench]'"


def _y0(w: wl.Workload) -> tuple:
    return tuple(torch.tensor(b.init, dtype=torch.float32).expand(w.paths, b.size).clone() for b in w.blocks)


def make_eager(w: wl.Workload):
    dt = w.dt
    scale = [None if b.sigma is None else b.sigma * math.sqrt(dt) for b in w.blocks]

    @torch.no_grad()
    def simulate(seed: int):
        gen = torch.Generator().manual_seed(seed)
        ys = _y0(w)
        saved = []
        for i in range(w.steps):
            derivs = w.drift(torch, ys)
            new = []
            for y, dy, s in zip(ys, derivs, scale):
                y = y + dt * dy
                if s is not None:
                    y = y + s * torch.randn(y.shape, generator=gen)
                new.append(y)
            ys = tuple(new)
            if w.save_every is not None and (i + 1) % w.save_every == 0:
                saved.append(ys[0])
        return torch.stack(saved) if saved else ys[0][None]

    return simulate


def make_torchsde(w: wl.Workload):
    sizes = [b.size for b in w.blocks]
    n = sum(sizes)
    g = torch.cat([torch.full((w.paths, b.size), 0.0 if b.sigma is None else b.sigma) for b in w.blocks], -1)

    class SDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, t, y):
            return torch.cat(w.drift(torch, y.split(sizes, -1)), -1)

        def g(self, t, y):
            return g

    sde = SDE()
    ts = torch.tensor([0.0, *w.save_times] if w.save_every is not None else [0.0, w.t1])

    @torch.no_grad()
    def simulate(seed: int):
        y0 = torch.cat(_y0(w), -1)
        bm = torchsde.BrownianInterval(
            t0=0.0, t1=float(ts[-1]), size=(w.paths, n), dtype=torch.float32, entropy=seed, dt=w.dt
        )
        ys = torchsde.sdeint(sde, y0, ts, bm=bm, method="euler", dt=w.dt)
        return ys[1:, :, : w.blocks[0].size]  # (n_saved, paths, size of the first block)

    return simulate


def bench(variant: str, w: wl.Workload, repeats: int, budget_s: float) -> harness.Result:
    if torch is None:
        return harness.Result(impl=variant, workload=w.id, paths=w.paths, status="unavailable", reason=_TORCH_MISSING)
    if variant == "torchsde" and torchsde is None:
        return harness.Result(impl=variant, workload=w.id, paths=w.paths, status="unavailable", reason=_TORCHSDE_MISSING)
    simulate = make_torchsde(w) if variant == "torchsde" else make_eager(w)
    first, times, out = harness.time_runs(simulate, lambda y: y, repeats, budget_s)
    r = harness.make_result(variant, w, first, times, out[-1, :, 0].numpy())
    r.note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    return r


if __name__ == "__main__":
    harness.main(__doc__.splitlines()[0], VARIANTS, bench)
