"""Running one chunk of a simulation: initial states, the solve, observations.

A chunk is a list of block indices (see :mod:`dync.runtime.layout`). For each
block ``b`` of it, :func:`run_fused_chunk` and :func:`run_diffrax_chunk`
draw the initial states of its paths, integrate them with the noise key
``fold_in(noise, b)`` and sample the observations at the saved times, all by
the reproducibility rule of :mod:`dync.runtime.simulate`:

* path ``i`` starts from ``model.initial_state(fold_in(init, i))``;
* block ``b`` is integrated with ``fold_in(noise, b)``;
* the observation of path ``i`` at saved time ``s`` is drawn with
  ``fold_in(fold_in(obs, i), s)``.

The fused runner is one computation sharded over the device mesh; the
diffrax runner calls :func:`~dync.runtime.solvers.diffrax_backend.solve_diffrax`
once per block (it checks its result on the host), one thread per device.
What a chunk computes is described by a static :class:`ChunkKernel`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from .devices import PATH_AXIS
from .layout import GROUP_PATHS, blocks_per_group, replicate

__all__ = [
    "ChunkKernel",
    "initial_states",
    "observations",
    "path_indices",
    "run_diffrax_chunk",
    "run_fused_chunk",
]


@dataclasses.dataclass(frozen=True)
class ChunkKernel:
    """Static description of one chunk computation (part of the jit key)."""

    solver: str
    backend: str
    block_size: int
    t0: float
    t1: float
    dt: float
    num_steps: int
    plan: Any
    adaptive: bool
    rtol: float
    atol: float
    max_steps: int | None
    observe: bool
    mesh: Any
    group_paths: int = GROUP_PATHS


def path_indices(blocks, block_size: int):
    """Global indices ``(G * B,)`` of the paths of ``blocks`` ``(G,)``."""
    blocks = jnp.asarray(blocks)
    return (blocks[:, None] * block_size + jnp.arange(block_size, dtype=blocks.dtype)).reshape(-1)


def initial_states(model, args, init_key, blocks, block_size: int):
    """Initial states ``(G, B, n)``: path ``i`` from ``fold_in(init_key, i)``.

    One ``vmap`` over all paths (not one per block): a flat batch of keys
    compiles much faster than nested ones.
    """
    idx = path_indices(blocks, block_size)
    y0 = jax.vmap(lambda i: model.initial_state(jax.random.fold_in(init_key, i), args))(idx)
    return y0.reshape((-1, block_size) + y0.shape[1:])


def observations(model, args, obs_key, blocks, block_size: int, ys, times):
    """Observations of ``blocks`` at the saved times: ``name -> (G, B, S, *shape)``.

    Path ``i`` at save ``s`` uses ``fold_in(fold_in(obs_key, i), s)``; one flat
    ``vmap`` over all (path, time) pairs.
    """
    G, B, S, n = ys.shape
    idx = jnp.repeat(path_indices(blocks, block_size), S)
    s_idx = jnp.tile(jnp.arange(S, dtype=idx.dtype), G * B)
    t = jnp.tile(times.astype(ys.dtype), G * B)

    def one(i, s, t, y):
        k = jax.random.fold_in(jax.random.fold_in(obs_key, i), s)
        return model.observation_sample(k, t, y, args)

    obs = jax.vmap(one)(idx, s_idx, t, ys.reshape(G * B * S, n))
    return jax.tree.map(lambda a: a.reshape((G, B, S) + a.shape[1:]), obs)


@eqx.filter_jit
def run_fused_chunk(model, args, keys, blocks, times, kernel: ChunkKernel):
    """Simulate the blocks with indices ``blocks`` (sharded over the mesh) with
    a fused fixed-step solver, in one computation.

    Each device runs its blocks in groups of up to ``kernel.group_paths``
    paths (:func:`~dync.runtime.layout.blocks_per_group`; on accelerators
    all of them): the blocks of a group side by side (``vmap``), the groups
    one after the other (``lax.map``).

    Returns ``(ys, obs)``: states ``(G, B, S, n)`` and a dict of observations
    ``(G, B, S, *shape)``.
    """
    from .solvers.fused import solve_fixed

    dynamic, static = eqx.partition((model, args, keys, times), eqx.is_array)
    B = kernel.block_size

    def local(dynamic, blocks):
        model, args, (init_key, noise_key, obs_key), times = eqx.combine(dynamic, static)
        y0 = initial_states(model, args, init_key, blocks, B)

        def solve_block(xs):
            b, y0_b = xs
            _, ys = solve_fixed(
                model,
                kernel.solver,
                jax.random.fold_in(noise_key, b),
                y0_b,
                kernel.t0,
                kernel.dt,
                kernel.num_steps,
                kernel.plan,
                args=args,
            )
            return ys

        G = blocks.shape[0]
        group = blocks_per_group(G, B, kernel.group_paths)
        if kernel.group_paths <= 0:  # accelerators: the whole chunk side by side
            ys = jax.vmap(solve_block)((blocks, y0))
        else:
            grouped = (blocks.reshape(G // group, group), y0.reshape((G // group, group) + y0.shape[1:]))
            ys = jax.lax.map(jax.vmap(solve_block), grouped)
            ys = ys.reshape((G,) + ys.shape[2:])
        obs = observations(model, args, obs_key, blocks, B, ys, times) if kernel.observe else {}
        return ys, obs

    sharded = jax.shard_map(
        local,
        mesh=kernel.mesh,
        in_specs=(P(), P(PATH_AXIS)),
        out_specs=P(PATH_AXIS),
        check_vma=False,
    )
    return sharded(dynamic, blocks)


_initial_states_jit = eqx.filter_jit(initial_states)
_observations_jit = eqx.filter_jit(observations)


def run_diffrax_chunk(model, args, keys, blocks: np.ndarray, times: np.ndarray, kernel: ChunkKernel):
    """The diffrax counterpart of :func:`run_fused_chunk`.

    ``solve_diffrax`` checks its result on the host, so each block is one
    call; blocks are dealt round-robin to the devices, one thread per device.
    """
    from .solvers.diffrax_backend import solve_diffrax

    init_key, noise_key, obs_key = keys
    B = kernel.block_size
    devices = list(kernel.mesh.devices.flat)

    def run_on(device, my_blocks):
        m, a = replicate((model, args), device) if len(devices) > 1 else (model, args)
        out = []
        for b in my_blocks:
            b_dev = jax.device_put(np.array([b], np.int32), device)
            y0 = _initial_states_jit(m, a, jax.device_put(init_key, device), b_dev, B)[0]
            _, ys = solve_diffrax(
                m,
                kernel.solver,
                jax.device_put(jax.random.fold_in(noise_key, int(b)), device),
                y0,
                kernel.t0,
                kernel.t1,
                kernel.dt,
                save_ts=times,
                args=a,
                adaptive=kernel.adaptive,
                rtol=kernel.rtol,
                atol=kernel.atol,
                max_steps=kernel.max_steps,
            )
            obs = {}
            if kernel.observe:
                t_dev = jax.device_put(jnp.asarray(times, ys.dtype), device)
                obs = _observations_jit(m, a, jax.device_put(obs_key, device), b_dev, B, ys[None], t_dev)
            out.append((b, np.asarray(ys), {k: np.asarray(v[0]) for k, v in obs.items()}))
        return out

    assignment = [(d, [int(b) for b in blocks[i :: len(devices)]]) for i, d in enumerate(devices)]
    if len(devices) == 1:
        results = run_on(*assignment[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(devices)) as pool:
            results = [r for part in pool.map(lambda a: run_on(*a), assignment) for r in part]
    results.sort(key=lambda r: r[0])
    ys = np.stack([r[1] for r in results])
    obs = {name: np.stack([r[2][name] for r in results]) for name in results[0][2]}
    return ys, obs
