"""Simulate an ensemble of paths of a compiled model into an ``xarray.Dataset``.

:func:`simulate` is the one entry point (the ``dync simulate`` command calls
it). It reads like the pipeline it runs::

    resolve the key → override parameters → choose the solver → lay out the
    save times → cut the paths into blocks and chunks → for each sweep value,
    for each chunk: run the blocks (sharded over devices), copy to host,
    check for non-finite values → build the dataset

Reproducibility rule
--------------------
The key is split into three streams, ``init, noise, obs = split(key, 3)``:

* path ``i`` starts from ``model.initial_state(fold_in(init, i))``;
* paths are cut into *blocks* of ``block_size`` consecutive paths; block ``b``
  is integrated with the key ``fold_in(noise, b)`` (the solver draws the
  increments of all paths of a block from that key);
* the observation of path ``i`` at saved time ``s`` is drawn with
  ``fold_in(fold_in(obs, i), s)``.

``block_size`` cuts the paths into as few blocks of at most 8192 paths as
fit (fewer when one path's saved output is so large that a block would exceed
64 MiB), and into at least two from 512 paths on, so that 10,000 paths run as
two blocks of 5,000 rather than 16,384 padded paths; it is recorded in the
dataset's ``block_size`` attribute. It depends only on the number of paths,
the model and the save times, never on ``chunk_size`` or on the devices:
chunks are whole numbers of blocks, and devices each run whole blocks. So the
same seed and the same number of paths give the same numbers whatever the
chunking and on any number of devices. (A run with a different number of
paths has other blocks, hence other numbers.)

Sweeps use the same key for every value (common random numbers), so the
differences between sweep values are not blurred by independent noise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ..errors import DyncRuntimeError, UsageError, did_you_mean
from .devices import PATH_AXIS, path_mesh, resolve_devices
from .model import AbstractModel, ModelInfo, ParamInfo
from .progress import progress_bar, show_progress

__all__ = ["LinearInput", "simulate", "with_params"]

#: paths per block when memory allows (see the module docstring)
BLOCK_PATHS = 8192
#: from this many paths on, a run is cut into at least two blocks
SPLIT_PATHS = 512
#: largest saved output of one block, bytes
BLOCK_BYTES = 64 * 2**20
#: most paths of one device that run side by side (whole blocks)
GROUP_PATHS = 16384
#: default largest saved output of one chunk, bytes
CHUNK_BYTES = 256 * 2**20
#: default largest number of paths in one chunk
CHUNK_PATHS = 2**18
#: relative tolerance for a save time to count as lying on the step grid
GRID_RTOL = 1e-6

_RESERVED_NAMES = ("time", "path", "sweep")
_NONFINITE_MODES = ("raise", "warn", "keep")


# ---------------------------------------------------------------------------
# Parameters and inputs
# ---------------------------------------------------------------------------


def _describe_constraint(constraint: tuple) -> str:
    kind = constraint[0]
    rest = constraint[1:]
    if kind == "real":
        return "real"
    if kind == "positive":
        return "positive (> 0)"
    if kind == "negative":
        return "negative (< 0)"
    if kind == "unit":
        return "in the unit interval (0, 1)"
    if kind == "interval":
        return f"in the interval ({rest[0]}, {rest[1]})"
    if kind == "lower":
        return f"bounded below by {rest[0]}"
    if kind == "upper":
        return f"bounded above by {rest[0]}"
    return "(" + ", ".join(str(c) for c in constraint) + ")"


def _param_infos(info: ModelInfo) -> dict[str, ParamInfo]:
    return {p.name: p for p in info.params}


def _lookup_param(info: ModelInfo, name: str, what: str) -> ParamInfo:
    params = _param_infos(info)
    if name not in params:
        known = ", ".join(f"`{n}`" for n in params) or "none"
        raise UsageError(
            f"{what}: model `{info.name}` has no parameter `{name}` (its parameters: {known})",
            hint=did_you_mean(name, params),
        )
    return params[name]


def _constraint(p: ParamInfo):
    """The bijection of a parameter's constraint; ``None`` for ``real`` (identity)."""
    if tuple(p.constraint)[:1] == ("real",):
        return None
    from .constraints import from_tuple

    return from_tuple(tuple(p.constraint))


def _checked_value(p: ParamInfo, value: ArrayLike, what: str) -> np.ndarray | Array:
    """``value`` as a float64 array of the parameter's shape, inside its constraint.

    A traced value (under ``jax.grad``, ``jit`` or ``vmap``) is only
    broadcast to the shape: its numbers are not known, so not checked."""
    if isinstance(value, jax.core.Tracer):
        try:
            return jnp.broadcast_to(value, tuple(p.shape))
        except ValueError:
            raise UsageError(
                f"{what}: parameter `{p.name}` has shape {tuple(p.shape)}, got a value of shape {jnp.shape(value)}"
            ) from None
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: parameter `{p.name}` must be a number, got {value!r}") from None
    try:
        v = np.broadcast_to(v, p.shape).copy() if v.shape != tuple(p.shape) else v
    except ValueError:
        raise UsageError(
            f"{what}: parameter `{p.name}` has shape {tuple(p.shape)}, got a value of shape {v.shape}"
        ) from None
    constraint = _constraint(p)
    inside = bool(np.all(np.isfinite(v)))
    if inside and constraint is not None:
        inside = bool(np.all(np.asarray(constraint.contains(jnp.asarray(v)))))
    if not inside:
        shown = v.item() if v.ndim == 0 else v.tolist()
        raise UsageError(
            f"{what}: parameter `{p.name}` = {shown} violates its constraint: it must be "
            f"{_describe_constraint(tuple(p.constraint))}" + ("" if constraint is not None else " and finite"),
        )
    return v


def _set_param(model: AbstractModel, p: ParamInfo, value: np.ndarray) -> AbstractModel:
    """Store the constrained ``value`` as the model's unconstrained leaf."""
    field = getattr(p, "field", p.name)
    leaf = getattr(model, field, None)
    if not eqx.is_array(leaf):
        raise UsageError(
            f"parameter `{p.name}` of model `{model.info.name}` is compiled in as a constant "
            "and cannot be overridden",
            hint="declare it as a (non-fixed) parameter in the spec",
        )
    constraint = _constraint(p)
    x = jnp.asarray(value, dtype=leaf.dtype)
    u = x if constraint is None else constraint.inverse(x)
    u = jnp.asarray(u, dtype=leaf.dtype).reshape(leaf.shape)
    return eqx.tree_at(lambda m: getattr(m, field), model, u)


def with_params(model: AbstractModel, params: Mapping[str, ArrayLike]) -> AbstractModel:
    """A copy of ``model`` with some parameters set to new constrained values.

    Each value is given in user (constrained) space, checked against the
    parameter's constraint and stored through the constraint's inverse as the
    unconstrained leaf, so the result is an ordinary model of the same
    structure (no recompilation). Values may be traced (``jax.grad`` with
    respect to a parameter, ``jit``, ``vmap``); those are not checked.

    Args:
        model: a compiled model.
        params: parameter name → value (broadcast to the parameter's shape).

    Returns:
        The updated model.

    Raises:
        UsageError: an unknown parameter name (with a did-you-mean hint), a
            value of the wrong shape, or a value outside the constraint.

    Example:
        >>> faster = with_params(ou, {"theta": 2.0})  # doctest: +SKIP
    """
    info = model.info
    for name, value in params.items():
        p = _lookup_param(info, name, "params")
        model = _set_param(model, p, _checked_value(p, value, "params"))
    return model


class LinearInput(eqx.Module):
    """A time series ``t -> value`` interpolated linearly (held constant outside)."""

    ts: Array
    values: Array
    shape: tuple[int, ...] = eqx.field(static=True)

    def __call__(self, t):
        flat = jax.vmap(lambda column: jnp.interp(t, self.ts, column), in_axes=1)(self.values)
        return flat.reshape(self.shape)


def _make_input(name: str, shape: tuple[int, ...], value: Any) -> Callable:
    if callable(value):
        return value
    if isinstance(value, xr.DataArray):
        if "time" not in value.dims:
            raise UsageError(f"input `{name}` given as a DataArray needs a `time` dimension")
        ts = np.asarray(value["time"].values, dtype=np.float64)
        vals = np.asarray(value.transpose("time", ...).values, dtype=np.float64)
    elif isinstance(value, tuple) and len(value) == 2:
        ts = np.asarray(value[0], dtype=np.float64)
        vals = np.asarray(value[1], dtype=np.float64)
    else:
        raise UsageError(
            f"input `{name}` must be a callable t -> value, a (times, values) pair, "
            "or an xarray.DataArray with a `time` dimension"
        )
    if ts.ndim != 1 or ts.size < 1 or vals.shape[:1] != ts.shape:
        raise UsageError(f"input `{name}`: {ts.size} times but values of shape {vals.shape}")
    if np.any(np.diff(ts) <= 0):
        raise UsageError(f"input `{name}`: times must be strictly increasing")
    size = math.prod(shape)
    if math.prod(vals.shape[1:]) != size:
        raise UsageError(f"input `{name}` has shape {shape}, got values of shape {vals.shape[1:]} per time")
    dtype = jnp.result_type(float)
    return LinearInput(jnp.asarray(ts, dtype), jnp.asarray(vals.reshape(ts.size, size), dtype), tuple(shape))


def _make_args(info: ModelInfo, inputs: Mapping[str, Any] | None) -> Any:
    declared = dict(info.inputs)
    given = dict(inputs or {})
    for name in given:
        if name not in declared:
            known = ", ".join(f"`{n}`" for n in declared) or "none"
            raise UsageError(
                f"model `{info.name}` has no input `{name}` (its inputs: {known})",
                hint=did_you_mean(name, declared),
            )
    missing = [n for n in declared if n not in given]
    if missing:
        raise UsageError(
            f"model `{info.name}` needs input(s) {', '.join(f'`{n}`' for n in missing)}",
            hint="pass inputs={name: (times, values)} or a callable t -> value",
        )
    if not declared:
        return None
    return {"inputs": {n: _make_input(n, tuple(shape), given[n]) for n, shape in declared.items()}}


# ---------------------------------------------------------------------------
# Time grid and save times
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Schedule:
    times: np.ndarray  # saved times, float64, (S,)
    num_steps: int
    plan: Any  # a fused SavePlan, or None for diffrax
    description: str


def _suggest_dt(span: float, dt: float, offsets: np.ndarray) -> float | None:
    """The largest ``span / n <= dt`` that puts every offset on the grid."""
    n0 = max(1, math.ceil(span / dt - GRID_RTOL))
    for n in range(n0, n0 * 1000 + 1):
        h = span / n
        k = offsets / h
        if np.all(np.abs(k - np.round(k)) <= GRID_RTOL * np.maximum(1.0, np.abs(k))):
            return h
    return None


def _on_grid(t: float, t0: float, dt: float, span: float) -> int | None:
    i = round((t - t0) / dt)
    if abs(t0 + i * dt - t) <= GRID_RTOL * max(abs(t), span, dt):
        return i
    return None


def _schedule(save: Any, t0: float, t1: float, dt: float, backend: str, adaptive: bool) -> _Schedule:
    span = t1 - t0
    num_steps = round(span / dt)
    fixed_grid = not adaptive
    if fixed_grid and (num_steps < 1 or _on_grid(t1, t0, dt, span) is None):
        n = max(1, math.ceil(span / dt - GRID_RTOL))
        raise UsageError(
            f"t1 - t0 = {span:g} is not a whole number of steps of dt = {dt:g}",
            hint=f"use dt = {span / n:.10g} ({n} steps)",
        )
    if adaptive:
        num_steps = max(1, math.ceil(span / dt - GRID_RTOL))
    plan_mod = None
    if backend == "fused":
        from .solvers import fused as plan_mod

    if isinstance(save, str):
        if save != "final":
            raise UsageError(
                f"save={save!r}: use \"final\", a whole number of steps k, or an array of times"
            )
        plan = plan_mod.SavePlan.final() if plan_mod else None
        return _Schedule(np.array([t1]), num_steps, plan, "final")

    if isinstance(save, (int, np.integer)) and not isinstance(save, bool):
        k = int(save)
        if k < 1:
            raise UsageError(f"save={k}: the save stride must be a positive number of steps")
        idx = np.arange(0, num_steps // k + 1, dtype=np.int64) * k
        times = t0 + idx * dt
        plan = plan_mod.SavePlan.every(k) if plan_mod else None
        return _Schedule(times, num_steps, plan, f"every {k} steps")

    try:
        times = np.asarray(save, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise UsageError(f"save={save!r}: use \"final\", a whole number of steps k, or an array of times") from None
    if times.size == 0:
        raise UsageError("save: the array of save times is empty")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise UsageError("save: save times must be finite and strictly increasing")
    tol = GRID_RTOL * max(abs(span), abs(t1))
    if times[0] < t0 - tol or times[-1] > t1 + tol:
        bad = times[0] if times[0] < t0 - tol else times[-1]
        raise UsageError(f"save time {bad:g} lies outside the simulated interval [{t0:g}, {t1:g}]")
    if backend == "diffrax":
        return _Schedule(times, num_steps, None, "times")
    steps = []
    for t in times:
        i = _on_grid(float(t), t0, dt, span)
        if i is None:
            suggestion = _suggest_dt(span, dt, np.append(times - t0, span))
            hint = (
                f"use dt = {suggestion:.10g}, which puts every save time on the grid"
                if suggestion is not None
                else "save every k steps instead, or use a diffrax solver (e.g. solver=\"heun_diffrax\")"
            )
            raise UsageError(
                f"save time {t:g} is not on the step grid t0 + i*dt (t0 = {t0:g}, dt = {dt:g})",
                hint=hint,
            )
        steps.append(i)
    return _Schedule(t0 + np.asarray(steps, np.float64) * dt, num_steps, plan_mod.SavePlan.at(steps), "times")


# ---------------------------------------------------------------------------
# Blocks, chunks and the compiled kernel
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Layout:
    """How paths are cut: ``n_blocks`` blocks of ``block_size`` paths, run
    ``blocks_per_chunk`` at a time (a multiple of the device count)."""

    paths: int
    block_size: int
    n_blocks: int
    blocks_per_chunk: int
    n_devices: int

    @property
    def n_chunks(self) -> int:
        return -(-self.n_blocks // self.blocks_per_chunk)

    def chunk_blocks(self, c: int) -> tuple[int, int]:
        """(first block, number of real blocks) of chunk ``c``."""
        first = c * self.blocks_per_chunk
        return first, min(self.blocks_per_chunk, self.n_blocks - first)

    def padded_blocks(self, real: int) -> int:
        """Blocks actually run for a chunk with ``real`` blocks: the full chunk
        (one compilation) unless the chunk is less than half full."""
        if 2 * real >= self.blocks_per_chunk:
            return self.blocks_per_chunk
        return -(-real // self.n_devices) * self.n_devices


def _block_size(paths: int, bytes_per_path: int) -> int:
    """Paths per block: the paths cut into as few blocks as fit ``BLOCK_PATHS``
    and ``BLOCK_BYTES`` (so almost no padded paths are simulated), and into at
    least two from ``SPLIT_PATHS`` paths on, so that two devices share even a
    small run; a multiple of 8 (the vector width) from 16 paths on. Depends on
    ``paths`` and the output size only, never on the devices or chunks."""
    cap = BLOCK_PATHS
    while cap > 1 and cap * bytes_per_path > BLOCK_BYTES:
        cap //= 2
    n_blocks = -(-paths // cap)
    if paths >= SPLIT_PATHS:
        n_blocks = max(n_blocks, 2)
    block = -(-paths // n_blocks)
    if block >= 16:
        block = min(-(-block // 8) * 8, max(cap // 8 * 8, 8))
    return max(block, 1)


def _layout(paths: int, bytes_per_path: int, chunk_size: int | None, n_devices: int) -> _Layout:
    block = _block_size(paths, bytes_per_path)
    n_blocks = -(-paths // block)
    if chunk_size is None:
        chunk_size = max(1, min(CHUNK_PATHS, CHUNK_BYTES // max(bytes_per_path, 1)))
    per_chunk = max(1, chunk_size // block)
    per_chunk = -(-per_chunk // n_devices) * n_devices
    per_chunk = min(per_chunk, -(-n_blocks // n_devices) * n_devices)
    return _Layout(paths, block, n_blocks, per_chunk, n_devices)


@dataclasses.dataclass(frozen=True)
class _Kernel:
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


def _path_indices(blocks, block_size: int):
    """Global indices ``(G * B,)`` of the paths of ``blocks`` ``(G,)``."""
    blocks = jnp.asarray(blocks)
    return (blocks[:, None] * block_size + jnp.arange(block_size, dtype=blocks.dtype)).reshape(-1)


def _initial_states(model, args, init_key, blocks, block_size: int):
    """Initial states ``(G, B, n)``: path ``i`` from ``fold_in(init_key, i)``.

    One ``vmap`` over all paths (not one per block): a flat batch of keys
    compiles much faster than nested ones.
    """
    idx = _path_indices(blocks, block_size)
    y0 = jax.vmap(lambda i: model.initial_state(jax.random.fold_in(init_key, i), args))(idx)
    return y0.reshape((-1, block_size) + y0.shape[1:])


def _observations(model, args, obs_key, blocks, block_size: int, ys, times):
    """Observations of ``blocks`` at the saved times: ``name -> (G, B, S, *shape)``.

    Path ``i`` at save ``s`` uses ``fold_in(fold_in(obs_key, i), s)``; one flat
    ``vmap`` over all (path, time) pairs.
    """
    G, B, S, n = ys.shape
    idx = jnp.repeat(_path_indices(blocks, block_size), S)
    s_idx = jnp.tile(jnp.arange(S, dtype=idx.dtype), G * B)
    t = jnp.tile(times.astype(ys.dtype), G * B)

    def one(i, s, t, y):
        k = jax.random.fold_in(jax.random.fold_in(obs_key, i), s)
        return model.observation_sample(k, t, y, args)

    obs = jax.vmap(one)(idx, s_idx, t, ys.reshape(G * B * S, n))
    return jax.tree.map(lambda a: a.reshape((G, B, S) + a.shape[1:]), obs)


def _blocks_per_group(n_blocks: int, block_size: int) -> int:
    """How many of a device's ``n_blocks`` blocks run side by side: the most
    that divide ``n_blocks`` and hold at most ``GROUP_PATHS`` paths (at least
    one). Side by side, a step of all of them is one wider kernel (BAOAB on
    the 64-oscillator chain, 1,000 paths in two blocks: 0.50 s -> 0.40 s);
    beyond ``GROUP_PATHS`` the state of a group would no longer stay in cache.
    Each block keeps its own key, so the numbers do not change."""
    most = max(1, GROUP_PATHS // max(block_size, 1))
    return max(d for d in range(1, min(n_blocks, most) + 1) if n_blocks % d == 0)


@eqx.filter_jit
def _run_fused_chunk(model, args, keys, blocks, times, kernel: _Kernel):
    """Simulate the blocks with indices ``blocks`` (sharded over the mesh) with
    a fused fixed-step solver, in one computation.

    Each device runs its blocks in groups of up to ``GROUP_PATHS`` paths
    (:func:`_blocks_per_group`): the blocks of a group side by side
    (``vmap``), the groups one after the other (``lax.map``).

    Returns ``(ys, obs)``: states ``(G, B, S, n)`` and a dict of observations
    ``(G, B, S, *shape)``.
    """
    from .solvers.fused import solve_fixed

    dynamic, static = eqx.partition((model, args, keys, times), eqx.is_array)
    B = kernel.block_size

    def local(dynamic, blocks):
        model, args, (init_key, noise_key, obs_key), times = eqx.combine(dynamic, static)
        y0 = _initial_states(model, args, init_key, blocks, B)

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
        group = _blocks_per_group(G, B)
        grouped = (blocks.reshape(G // group, group), y0.reshape((G // group, group) + y0.shape[1:]))
        ys = jax.lax.map(jax.vmap(solve_block), grouped)
        ys = ys.reshape((G,) + ys.shape[2:])
        obs = _observations(model, args, obs_key, blocks, B, ys, times) if kernel.observe else {}
        return ys, obs

    sharded = jax.shard_map(
        local,
        mesh=kernel.mesh,
        in_specs=(P(), P(PATH_AXIS)),
        out_specs=P(PATH_AXIS),
        check_vma=False,
    )
    return sharded(dynamic, blocks)


_initial_states_jit = eqx.filter_jit(_initial_states)
_observations_jit = eqx.filter_jit(_observations)


def _run_diffrax_chunk(model, args, keys, blocks: np.ndarray, times: np.ndarray, kernel: _Kernel):
    """The diffrax counterpart of :func:`_run_fused_chunk`.

    ``solve_diffrax`` checks its result on the host, so each block is one
    call; blocks are dealt round-robin to the devices, one thread per device.
    """
    from .solvers.diffrax_backend import solve_diffrax

    init_key, noise_key, obs_key = keys
    B = kernel.block_size
    devices = list(kernel.mesh.devices.flat)

    def run_on(device, my_blocks):
        m, a = _replicate((model, args), device) if len(devices) > 1 else (model, args)
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


# ---------------------------------------------------------------------------
# Non-finite values
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Nonfinite:
    """Running record of non-finite values of one state."""

    state: str
    first_index: int  # first saved-time index with a non-finite value
    nan: bool  # whether a NaN (rather than only +-inf) appeared at first_index
    paths: int  # number of affected paths


def _scan_nonfinite(info: ModelInfo, ys: np.ndarray) -> list[_Nonfinite]:
    """Non-finite values per state in ``ys`` of shape ``(paths, S, n)``."""
    found = []
    finite = np.isfinite(ys)
    if finite.all():
        return found
    for s in info.states:
        bad = ~finite[:, :, s.offset : s.offset + s.size].all(axis=-1)  # (paths, S)
        if not bad.any():
            continue
        per_time = bad.any(axis=0)
        first = int(np.argmax(per_time))
        at_first = ys[bad[:, first], first, s.offset : s.offset + s.size]
        found.append(_Nonfinite(s.name, first, bool(np.isnan(at_first).any()), int(bad.any(axis=1).sum())))
    return found


def _merge_nonfinite(total: dict[str, _Nonfinite], new: list[_Nonfinite]) -> None:
    for r in new:
        old = total.get(r.state)
        if old is None:
            total[r.state] = r
            continue
        if r.first_index < old.first_index:
            old.first_index, old.nan = r.first_index, r.nan
        elif r.first_index == old.first_index:
            old.nan = old.nan or r.nan
        old.paths += r.paths


def _nonfinite_message(records: Sequence[_Nonfinite], times: np.ndarray, of_paths: int, where: str) -> str:
    records = sorted(records, key=lambda r: (r.first_index, r.state))
    parts = []
    for r in records:
        what = "NaN" if r.nan else "infinite"
        parts.append(f"state `{r.state}` became {what} at t = {times[r.first_index]:.6g} in {r.paths} of {of_paths} paths")
    msg = "; ".join(parts) + where
    if times.size == 1:
        msg += " (only the final state is saved: save more often to see when it happened)"
    return msg


def _nonfinite_hint(dt: float) -> str:
    return (
        f"try a smaller dt (now {dt:g}) or check the drift and diffusion for overflow; "
        "on_nonfinite=\"warn\" or \"keep\" keeps the result"
    )


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def _resolve_key(key: Any, seed: int | None) -> tuple[PRNGKeyArray, int | str]:
    if key is not None and seed is not None:
        raise UsageError("pass either a key or a seed, not both")
    if key is None and seed is None:
        raise UsageError("simulate needs a PRNG key or a seed", hint="e.g. simulate(model, seed=0, ...)")
    if key is None or isinstance(key, (int, np.integer)):
        value = int(seed if key is None else key)
        if isinstance(seed, bool) or isinstance(key, bool):
            raise UsageError("the seed must be a whole number, not a bool")
        return jax.random.key(value), value
    arr = key
    if not jnp.issubdtype(getattr(arr, "dtype", np.float64), jax.dtypes.prng_key):
        arr = jnp.asarray(arr)
        if arr.dtype != jnp.uint32 or arr.shape != (2,):
            raise UsageError(f"expected a JAX PRNG key, got an array of shape {arr.shape} and dtype {arr.dtype}")
        arr = jax.random.wrap_key_data(arr)
    if arr.shape != ():
        raise UsageError(f"expected a single PRNG key, got a batch of shape {arr.shape}")
    data = np.asarray(jax.random.key_data(arr)).ravel().tolist()
    return arr, "key:" + ",".join(str(int(x)) for x in data)


def _check_sweep(info: ModelInfo, sweep: Mapping[str, ArrayLike] | None, params: Mapping | None) -> dict[str, np.ndarray]:
    if not sweep:
        return {}
    out = {}
    length = None
    for name, values in sweep.items():
        p = _lookup_param(info, name, "sweep")
        if params and name in params:
            raise UsageError(f"parameter `{name}` is both set in `params` and swept in `sweep`")
        v = np.asarray(values, dtype=np.float64)
        if v.ndim == len(p.shape):
            v = v[None]
        if v.shape[1:] != p.shape or v.shape[0] < 1:
            raise UsageError(
                f"sweep: values of `{name}` must have shape (k,) + {p.shape}, got {v.shape}"
            )
        if length is not None and v.shape[0] != length:
            raise UsageError(
                f"sweep: every swept parameter needs the same number of values "
                f"(`{name}` has {v.shape[0]}, others {length})",
                hint="sweep values are zipped, not crossed; build the grid yourself for a cross product",
            )
        length = v.shape[0]
        out[name] = np.stack([_checked_value(p, x, "sweep") for x in v])
    return out


def _replicate(tree, sharding):
    return jax.tree.map(lambda x: jax.device_put(x, sharding) if eqx.is_array(x) else x, tree)


def _json_params(model: AbstractModel) -> str:
    values = model.constrained_params()
    return json.dumps({k: np.asarray(v).tolist() for k, v in values.items()}, sort_keys=True)


def simulate(
    model: AbstractModel,
    key: PRNGKeyArray | int | None = None,
    *,
    paths: int,
    t1: float,
    dt: float,
    t0: float = 0.0,
    save: str | int | ArrayLike = "final",
    solver: str = "auto",
    params: Mapping[str, ArrayLike] | None = None,
    inputs: Mapping[str, Any] | None = None,
    sweep: Mapping[str, ArrayLike] | None = None,
    chunk_size: int | None = None,
    devices: int | Sequence | None = None,
    adaptive: bool = False,
    progress: bool | None = None,
    seed: int | None = None,
    on_nonfinite: str = "raise",
    rtol: float = 1e-3,
    atol: float = 1e-6,
    max_steps: int | None = None,
) -> xr.Dataset:
    """Simulate ``paths`` independent paths of ``model`` from ``t0`` to ``t1``.

    Args:
        model: a compiled model (an :class:`~dync.runtime.model.AbstractModel`).
        key: a JAX PRNG key, or an ``int`` seed. Give exactly one of ``key``
            and ``seed``.
        paths: number of paths.
        t1: end time.
        dt: step size; for fixed steps ``t1 - t0`` must be a whole number of
            steps. With ``adaptive=True`` the initial step.
        t0: start time.
        save: ``"final"`` (the state at ``t1`` only), an ``int`` ``k`` (the
            initial state and every ``k``-th step), or an array of times. With
            a fixed-step (fused) solver each time must lie on the grid
            ``t0 + i*dt``; diffrax solvers save at any time.
        solver: a solver name or ``"auto"``
            (:func:`~dync.runtime.solvers.selection.choose_solver`).
        params: parameter name → constrained value, overriding the model's.
        inputs: input name → ``(times, values)``, an ``xarray.DataArray`` with
            a ``time`` dimension (both interpolated linearly) or a callable
            ``t -> value``.
        sweep: parameter name → values ``(k,) + shape``; every value is
            simulated with the same key and without recompiling. Several names
            are zipped (all need ``k`` values).
        chunk_size: paths per chunk (rounded to whole blocks); bounds memory.
            Default: at most 2**18 paths and 256 MiB of saved output. Does not
            change the numbers.
        devices: ``None`` (all devices), a count, or a list of devices; each
            chunk's blocks are sharded over them. Does not change the numbers.
        adaptive: adaptive step-size control (diffrax solvers only).
        progress: a progress bar over chunks: ``True``, ``False``, or ``None``
            (only when standard error is a terminal).
        seed: an integer seed (instead of ``key``).
        on_nonfinite: ``"raise"`` (default) a
            :class:`~dync.errors.DyncRuntimeError` naming the state, time and
            number of paths at the first chunk with a NaN or infinity;
            ``"warn"`` (a ``RuntimeWarning``) or ``"keep"`` keep the values.
            Either way the dataset's ``nonfinite`` attribute describes them.
        rtol: relative tolerance for adaptive stepping.
        atol: absolute tolerance for adaptive stepping.
        max_steps: step budget of a diffrax solve (default: the fixed-step
            count, or 16,384 adaptive steps); reaching it is an error.

    Returns:
        An ``xarray.Dataset`` with one variable per non-hidden state, named
        after it, with dimensions ``("path", "time", "<state>_dim0", ...)``
        (a leading ``"sweep"`` dimension when sweeping, with one coordinate
        per swept parameter), a ``time`` coordinate, one variable per
        observation sampled at the saved times, and the attributes ``spec``,
        ``model``, ``solver``, ``backend``, ``dt``, ``t0``, ``t1``, ``seed``,
        ``paths``, ``calculus``, ``noise_structure``, ``dync_version``,
        ``block_size``, ``save``, ``adaptive`` and ``params`` (JSON).

    Raises:
        UsageError: bad arguments (unknown parameter, value outside its
            constraint, a save time off the grid, an unsuitable solver, ...).
        DyncRuntimeError: a state became NaN or infinite
            (``on_nonfinite="raise"``).

    Example:
        >>> ds = simulate(ou, seed=0, paths=10_000, t1=1.0, dt=1e-3, save=100)  # doctest: +SKIP
        >>> ds["x"].dims
        ('path', 'time')
    """
    from .. import __version__
    from .solvers.selection import choose_solver

    if not isinstance(model, AbstractModel):
        raise UsageError(f"simulate needs a compiled dync model, got {type(model).__name__}")
    info = model.info
    key, seed_attr = _resolve_key(key, seed)
    if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths < 1:
        raise UsageError(f"paths must be a positive whole number, got {paths!r}")
    paths = int(paths)
    t0, t1, dt = float(t0), float(t1), float(dt)
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise UsageError(f"need finite t0 < t1, got t0 = {t0:g}, t1 = {t1:g}")
    if not (math.isfinite(dt) and dt > 0):
        raise UsageError(f"dt must be positive and finite, got {dt:g}")
    if on_nonfinite not in _NONFINITE_MODES:
        raise UsageError(f"on_nonfinite must be one of {', '.join(_NONFINITE_MODES)}, got {on_nonfinite!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1):
        raise UsageError(f"max_steps must be a positive whole number, got {max_steps!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1):
        raise UsageError(f"chunk_size must be a positive whole number of paths, got {chunk_size!r}")
    for name in [s.name for s in info.states] + [o.name for o in info.observations]:
        if name in _RESERVED_NAMES:
            raise UsageError(f"a state or observation named `{name}` clashes with the output dimension `{name}`")

    # fractional noise (if any) is approximated best on the simulated span
    model = model.with_horizon(t1 - t0, dt) if hasattr(model, "with_horizon") else model
    if params:
        model = with_params(model, params)
    swept = _check_sweep(info, sweep, params)
    args = _make_args(info, inputs)
    choice = choose_solver(info, solver, adaptive)
    schedule = _schedule(save, t0, t1, dt, choice.backend, adaptive)
    times = schedule.times
    S = times.size

    mesh = path_mesh(resolve_devices(devices))
    n_devices = mesh.devices.size
    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    obs_size = sum(math.prod(o.shape) for o in info.observations)
    bytes_per_path = max(1, S * (info.state_size + obs_size) * itemsize)
    layout = _layout(paths, bytes_per_path, chunk_size, n_devices)
    kernel = _Kernel(
        solver=choice.name,
        backend=choice.backend,
        block_size=layout.block_size,
        t0=t0,
        t1=t1,
        dt=dt,
        num_steps=schedule.num_steps,
        plan=schedule.plan,
        adaptive=bool(adaptive),
        rtol=float(rtol),
        atol=float(atol),
        max_steps=None if max_steps is None else int(max_steps),
        observe=bool(info.observations),
        mesh=mesh,
    )

    replicated = NamedSharding(mesh, P())
    blocks_sharding = NamedSharding(mesh, P(PATH_AXIS))
    keys_host = tuple(jax.random.split(key, 3))
    keys = jax.device_put(keys_host, replicated)
    times_dev = jax.device_put(jnp.asarray(times, jnp.result_type(float)), replicated)
    args_dev = _replicate(args, replicated)

    n_sweep = len(next(iter(swept.values()))) if swept else 1
    sweep_models = []
    for j in range(n_sweep):
        m = model
        for name, values in swept.items():
            m = _set_param(m, _param_infos(info)[name], values[j])
        sweep_models.append(m if choice.backend == "diffrax" else _replicate(m, replicated))

    states_out: dict[str, np.ndarray] = {}
    obs_out: dict[str, np.ndarray] = {}
    nonfinite: dict[str, _Nonfinite] = {}
    total_units = n_sweep * layout.n_chunks
    enabled = show_progress(progress, total_units)

    def dispatch(m, c):
        first, real = layout.chunk_blocks(c)
        run = layout.padded_blocks(real)
        blocks = np.arange(first, first + run, dtype=np.int32)
        if kernel.backend == "diffrax":
            return _run_diffrax_chunk(m, args, keys_host, blocks, times, kernel)
        blocks = jax.device_put(blocks, blocks_sharding)
        return _run_fused_chunk(m, args_dev, keys, blocks, times_dev, kernel)

    with progress_bar(total_units, f"simulating {info.name}", enabled) as advance:
        for j, m in enumerate(sweep_models):
            pending = dispatch(m, 0)
            for c in range(layout.n_chunks):
                ys_dev, obs_dev = pending
                if c + 1 < layout.n_chunks:
                    pending = dispatch(m, c + 1)  # overlap the next chunk with this copy
                first, real = layout.chunk_blocks(c)
                lo = first * layout.block_size
                hi = min(paths, (first + real) * layout.block_size)
                ys = np.asarray(ys_dev).reshape((-1, S, info.state_size))[: hi - lo]
                found = _scan_nonfinite(info, ys)
                if found and on_nonfinite == "raise":
                    where = ""
                    if layout.n_chunks > 1:
                        where = f" (chunk {c + 1} of {layout.n_chunks}: paths {lo}..{hi - 1} of {paths})"
                    if swept:
                        where += " with " + ", ".join(f"{n} = {v[j].tolist()}" for n, v in swept.items())
                    raise DyncRuntimeError(
                        _nonfinite_message(found, times, hi - lo, where), hint=_nonfinite_hint(dt)
                    )
                _merge_nonfinite(nonfinite, found)
                for s in info.states:
                    if s.hidden:
                        continue
                    if s.name not in states_out:
                        states_out[s.name] = np.empty((n_sweep, paths, S) + s.shape, ys.dtype)
                    block = ys[:, :, s.offset : s.offset + s.size]
                    states_out[s.name][j, lo:hi] = block.reshape((hi - lo, S) + s.shape)
                for name, value in obs_dev.items():
                    arr = np.asarray(value)
                    arr = arr.reshape((-1,) + arr.shape[2:])[: hi - lo]
                    if name not in obs_out:
                        obs_out[name] = np.empty((n_sweep, paths) + arr.shape[1:], arr.dtype)
                    obs_out[name][j, lo:hi] = arr
                advance()

    return _dataset(
        model=model,
        info=info,
        choice=choice,
        schedule=schedule,
        layout=layout,
        states_out=states_out,
        obs_out=obs_out,
        swept=swept,
        nonfinite=nonfinite,
        on_nonfinite=on_nonfinite,
        attrs_extra={
            "dt": dt,
            "t0": t0,
            "t1": t1,
            "seed": seed_attr,
            "paths": paths,
            "adaptive": int(bool(adaptive)),
            "dync_version": __version__,
            **({"rtol": float(rtol), "atol": float(atol)} if adaptive else {}),
        },
    )


def _dataset(
    *,
    model,
    info: ModelInfo,
    choice,
    schedule: _Schedule,
    layout: _Layout,
    states_out,
    obs_out,
    swept,
    nonfinite,
    on_nonfinite,
    attrs_extra,
) -> xr.Dataset:
    lead = ("sweep",) if swept else ()

    def squeeze(arr):
        return arr if swept else arr[0]

    data_vars = {}
    for s in info.states:
        if s.hidden:
            continue
        dims = lead + ("path", "time") + tuple(f"{s.name}_dim{i}" for i in range(len(s.shape)))
        data_vars[s.name] = xr.Variable(dims, squeeze(states_out[s.name]), attrs={"kind": "state"})
    for o in info.observations:
        arr = squeeze(obs_out[o.name])
        extra = arr.shape[len(lead) + 2 :]
        dims = lead + ("path", "time") + tuple(f"{o.name}_dim{i}" for i in range(len(extra)))
        data_vars[o.name] = xr.Variable(
            dims, arr, attrs={"kind": "observation", "distribution": o.distribution}
        )
    coords: dict[str, Any] = {"time": ("time", schedule.times)}
    for name, values in swept.items():
        coords[name] = (("sweep",) + tuple(f"{name}_dim{i}" for i in range(values.ndim - 1)), values)
    attrs: dict[str, Any] = {
        "spec": info.spec_text,
        "model": info.name,
        "solver": choice.name,
        "backend": choice.backend,
        **attrs_extra,
        "calculus": info.calculus,
        "noise_structure": info.noise_structure,
        "block_size": layout.block_size,
        "save": schedule.description,
        "params": _json_params(model),
    }
    if swept:
        attrs["sweep"] = ", ".join(swept)
    if nonfinite:
        msg = _nonfinite_message(list(nonfinite.values()), schedule.times, layout.paths, "")
        attrs["nonfinite"] = msg
        if on_nonfinite == "warn":
            warnings.warn(f"{msg}; {_nonfinite_hint(float(attrs['dt']))}", RuntimeWarning, stacklevel=3)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
