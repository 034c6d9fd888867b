"""Simulate an ensemble of paths of a compiled model into an ``xarray.Dataset``.

:func:`simulate` is the one entry point (the ``dync simulate`` command calls
it). It reads like the pipeline it runs::

    resolve the key → override parameters → choose the solver → lay out the
    save times → cut the paths into blocks and chunks (from the devices) →
    for each sweep value, for each chunk: run the blocks (sharded over
    devices), copy to host, check for non-finite values (on an accelerator,
    when the output fits: keep the chunks on the device, check them there and
    copy once at the end) → build the dataset

Each stage is a module of its own: parameters :mod:`dync.runtime.params`,
inputs :mod:`dync.runtime.inputs`, save times :mod:`dync.runtime.schedule`,
blocks and chunks :mod:`dync.runtime.layout`, running a chunk
:mod:`dync.runtime.chunks`, the non-finite check and the dataset
:mod:`dync.runtime.output`. This module resolves the key, checks the
arguments and sweeps, and dispatches the chunks.

Reproducibility rule
--------------------
The key is split into three streams, ``init, noise, obs = split(key, 3)``:

* path ``i`` starts from ``model.initial_state(fold_in(init, i))``;
* paths are cut into *blocks* of ``block_size`` consecutive paths; block ``b``
  is integrated with the key ``fold_in(noise, b)`` (the solver draws the
  increments of all paths of a block from that key);
* the observation of path ``i`` at saved time ``s`` is drawn with
  ``fold_in(fold_in(obs, i), s)``.

``block_size`` (the rule is in :mod:`dync.runtime.layout`) depends only on
the number of paths, the model and the save times, never on ``chunk_size`` or
on the devices, and is recorded in the dataset's ``block_size`` attribute. So
the same seed and the same number of paths give the same numbers whatever the
chunking and on any number of devices. (A run with a different number of
paths has other blocks, hence other numbers.)

Sweeps use the same key for every value (common random numbers), so the
differences between sweep values are not blurred by independent noise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, PRNGKeyArray

from ..errors import DyncRuntimeError, UsageError
from .chunks import ChunkKernel, run_diffrax_chunk, run_fused_chunk
from .devices import PATH_AXIS, describe_devices, path_mesh, resolve_devices
from .distributed import is_initialized, put, to_host
from .inputs import LinearInput, make_args
from .layout import BLOCK_BYTES as BLOCK_BYTES
from .layout import BLOCK_PATHS as BLOCK_PATHS
from .layout import CHUNK_BYTES as CHUNK_BYTES
from .layout import plan_layout, replicate
from .keys import resolve_key
from .memory_maps import relieve_mappings
from .model import AbstractModel, ModelInfo
from .output import (
    NONFINITE_MODES,
    RESERVED_NAMES,
    Nonfinite,
    build_dataset,
    merge_nonfinite,
    nonfinite_hint,
    nonfinite_message,
    scan_nonfinite,
)
from .params import checked_value, compile_time_refusal, lookup_param, param_infos, set_param, with_params
from .preflight import preflight_simulate
from .progress import progress_bar, show_progress
from .schedule import save_schedule

__all__ = ["LinearInput", "simulate", "with_params"]

# `BLOCK_PATHS` (re-exported above) is the block cap that `simulate` passes
# to the layout: tests shrink it here to get several blocks out of few paths.
# `_layout` is the layout rule under its old name, for those tests too.
_layout = plan_layout


def _warn_if_float32_blurs_the_times(t0: float, t1: float, dt: float) -> None:
    """Warn when float32 cannot tell the step's times apart well: near
    ``t = 1e6`` float32 numbers are 0.0625 apart, so steps of 0.01 read
    ``t`` wrong by several steps (``dy = cos(t) dt`` from 1e6 to 1e6 + 10 came
    out 0.1435 instead of 0.1341). Warned when the spacing at the largest
    time exceeds a hundredth of the step."""
    if jnp.dtype(jnp.result_type(float)) != jnp.float32:
        return
    largest = max(abs(float(t0)), abs(float(t1)))
    spacing = float(np.spacing(np.float32(largest)))
    if spacing > float(dt) / 100:
        import warnings

        warnings.warn(
            f"float32 numbers near t = {largest:g} are {spacing:.3g} apart, {spacing / float(dt):.3g} of the step "
            f"dt = {float(dt):g}: the times the model reads are rounded by that much; start the time at 0 "
            "(--t0 0, and shift any time the model reads), or compute in float64 (--x64; JAX_ENABLE_X64=1)",
            UserWarning,
            stacklevel=3,
        )


def _only_compiled_value(values: np.ndarray, compiled: ArrayLike) -> bool:
    """Whether every swept value is the value compiled in: a sweep of a
    parameter read when the spec compiles changes nothing only then."""
    compiled = np.asarray(compiled, dtype=float)
    try:
        return values.size > 0 and bool(np.allclose(values, compiled, rtol=1e-6, atol=0.0))
    except ValueError:  # shapes that do not broadcast: `_check_sweep` says what is wrong
        return False


def _check_sweep(info: ModelInfo, sweep: Mapping[str, ArrayLike] | None, params: Mapping | None) -> dict[str, np.ndarray]:
    """Swept name → checked values ``(k,) + shape``; every name with the same ``k``."""
    if not sweep:
        return {}
    out = {}
    length = None
    for name, values in sweep.items():
        p = lookup_param(info, name, "sweep")
        if params and name in params:
            raise UsageError(f"parameter `{name}` is both set in `params` and swept in `sweep`")
        v = np.asarray(values, dtype=np.float64)
        shape = tuple(p.shape)
        if v.ndim == 1 and shape and v.shape != shape:
            # k scalar values for a vector parameter: each fills it, as `--set` does
            v = np.broadcast_to(v.reshape((-1,) + (1,) * len(shape)), (v.shape[0],) + shape)
        elif v.ndim == len(shape):
            v = v[None]
        if v.shape[1:] != shape or v.shape[0] < 1:
            raise UsageError(
                f"sweep: values of `{name}` must have shape (k,) + {shape}, or (k,) to fill it with each value; "
                f"got {v.shape}"
            )
        if length is not None and v.shape[0] != length:
            raise UsageError(
                f"sweep: every swept parameter needs the same number of values "
                f"(`{name}` has {v.shape[0]}, others {length})",
                hint="sweep values are zipped, not crossed; build the grid yourself for a cross product",
            )
        length = v.shape[0]
        out[name] = np.stack([checked_value(p, x, "sweep") for x in v])
    return out


def _require_dynamics(info: ModelInfo) -> None:
    """Refuse a model that cannot be simulated: one whose states are not all
    given equations (a `target` to sample), or whose initial law is a data
    set (`state x ~ data`, which needs the data: `dync train`).

    Raises:
        UsageError: with what to run instead.
    """
    if not info.has_dynamics:
        hint = "draw its states with `dync sample` (its `target`)" if info.target is not None else (
            "give every state an equation `dx = ... dt + ... dW`")
        raise UsageError(f"not every state of model `{info.name}` has an equation, so there is nothing to simulate",
                         hint=hint)
    if info.data_states:
        names = ", ".join(f"`{n}`" for n in info.data_states)
        raise UsageError(
            f"the initial law of {names} in model `{info.name}` is a data set (`~ data`), which simulate has not got",
            hint="train its score with `dync train SPEC DATA`, or give the state an initial value or law to simulate it",
        )


@jax.jit
def _all_finite(ys):
    """Whether every value of ``ys`` is finite (a device scalar)."""
    return jnp.isfinite(ys).all()


def _gather(parts: list):
    """The chunks ``parts`` (device arrays, paths first) as one device array."""
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


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
    distributed: bool = False,
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
            (:func:`~dync.info.solvers.choose_solver`).
        params: parameter name → constrained value, overriding the model's.
        inputs: input name → ``(times, values)``, an ``xarray.DataArray`` with
            a ``time`` dimension (both interpolated linearly) or a callable
            ``t -> value``.
        sweep: parameter name → values ``(k,) + shape``; every value is
            simulated with the same key and without recompiling. Several names
            are zipped (all need ``k`` values).
        chunk_size: paths per chunk (rounded to whole blocks); bounds memory.
            Default: from the devices (:func:`~dync.runtime.layout.layout_limits`):
            on CPU at most 2**18 paths and 256 MiB of saved output, on an
            accelerator what fits a quarter of its memory. Does not change
            the numbers.
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
        distributed: shard the paths over the devices of every process of a
            multi-process run (:mod:`dync.runtime.distributed`; call its
            ``initialize`` first, in every process). Every process returns
            the whole output; the numbers are those of a one-process run.
            Fixed-step (fused) solvers only.

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
    from .._version import __version__
    from ..info.solvers import choose_solver

    if not isinstance(model, AbstractModel):
        raise UsageError(f"simulate needs a compiled dync model, got {type(model).__name__}")
    relieve_mappings()  # a session of many runs compiles program after program
    info = model.info
    _require_dynamics(info)
    key, seed_attr = resolve_key(key, seed)
    if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths < 1:
        raise UsageError(f"paths must be a positive whole number, got {paths!r}")
    paths = int(paths)
    for name, value in (("t0", t0), ("t1", t1), ("dt", dt)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise UsageError(f"{name} must be a number, got {value!r}")
    if not isinstance(solver, str):
        raise UsageError(f"solver must be a name (a string such as \"auto\"), got {solver!r}")
    if params is not None and not isinstance(params, Mapping):
        raise UsageError(f"params must be a mapping of parameter name to value, got {type(params).__name__}",
                         hint='e.g. params={"theta": 2.0}')  # fmt: skip
    for name, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 < float(value) < math.inf:
            raise UsageError(f"{name}={value!r}: the tolerance must be a positive, finite number")
    t0, t1, dt = float(t0), float(t1), float(dt)
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise UsageError(f"need finite t0 < t1, got t0 = {t0:g}, t1 = {t1:g}")
    if not (math.isfinite(dt) and dt > 0):
        raise UsageError(f"dt must be positive and finite, got {dt:g}")
    if on_nonfinite not in NONFINITE_MODES:
        raise UsageError(f"on_nonfinite must be one of {', '.join(NONFINITE_MODES)}, got {on_nonfinite!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1):
        raise UsageError(f"max_steps must be a positive whole number, got {max_steps!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1):
        raise UsageError(f"chunk_size must be a positive whole number of paths, got {chunk_size!r}")
    # refuse a run whose state blocks or saved output cannot fit, before allocating them
    preflight_simulate(info, paths=paths, t1=t1, dt=dt, t0=t0, save=save, sweep=sweep, devices=devices)
    for name in [s.name for s in info.states] + [o.name for o in info.observations]:
        if name in RESERVED_NAMES:
            raise UsageError(f"a state or observation named `{name}` clashes with the output dimension `{name}`")

    # fractional noise (if any) is approximated best on the simulated span
    model = model.with_horizon(t1 - t0, dt)
    if params:
        model = with_params(model, params)
    for name in sweep or {}:
        if lookup_param(info, name, "sweep").compile_time:  # its values would never reach the compiled code
            values = np.asarray(sweep[name], dtype=float)
            if not _only_compiled_value(values, model.constrained_params()[name]):
                raise compile_time_refusal(model, param_infos(info)[name], "sweep", values)
    swept = _check_sweep(info, sweep, params)
    args = make_args(info, inputs)
    choice = choose_solver(info, solver, adaptive)
    schedule = save_schedule(save, t0, t1, dt, choice.backend, adaptive)
    _warn_if_float32_blurs_the_times(t0, t1, dt)
    if max_steps is not None and not adaptive and int(max_steps) < schedule.num_steps:
        # a fixed-step run takes every step of its grid: a smaller budget cannot be met
        # (the fused solvers used to ignore it; diffrax ran out of steps at the end)
        raise UsageError(
            f"max_steps={max_steps} is below the {schedule.num_steps} steps of dt = {dt:g} a fixed-step run takes",
            hint="max_steps bounds adaptive runs; drop it, or raise dt",
        )
    times = schedule.times
    S = times.size

    if distributed:
        if devices is not None:
            raise UsageError("`devices` cannot be chosen in a distributed run: it uses every process's devices")
        if choice.backend != "fused":
            raise UsageError(
                f"a distributed run needs a fixed-step solver; `{choice.name}` runs through diffrax",
                hint="choose a fixed-step solver (e.g. --solver euler_maruyama, heun or milstein) and no --adaptive",
            )
        if not is_initialized():
            raise UsageError(
                "distributed=True but this process has not joined a multi-process run",
                hint="call dync.runtime.distributed.initialize(...) in every process first "
                "(`dync simulate --distributed` does)",
            )
    chosen = resolve_devices(devices)
    mesh = path_mesh(chosen)
    n_devices = mesh.devices.size
    described = describe_devices([d for d in chosen if d.process_index == jax.process_index()] or chosen)
    described = dataclasses.replace(described, count=n_devices)
    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    obs_size = sum(math.prod(o.shape) for o in info.observations)
    bytes_per_path = max(1, S * (info.state_size + obs_size) * itemsize)
    layout = plan_layout(
        paths,
        bytes_per_path,
        chunk_size,
        n_devices,
        block_paths=BLOCK_PATHS,
        device=described,
        state_bytes=info.state_size * itemsize,
    )
    # on accelerators, chunks stay on the device and are copied once, at the end
    resident = layout.resident and choice.backend == "fused"
    kernel = ChunkKernel(
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
        group_paths=layout.group_paths,
    )

    replicated = NamedSharding(mesh, P())
    blocks_sharding = NamedSharding(mesh, P(PATH_AXIS))
    keys_host = tuple(jax.random.split(key, 3))
    keys = replicate(keys_host, replicated)
    times_dev = put(jnp.asarray(times, jnp.result_type(float)), replicated)
    args_dev = replicate(args, replicated)

    n_sweep = len(next(iter(swept.values()))) if swept else 1
    sweep_models = []
    for j in range(n_sweep):
        m = model
        for name, values in swept.items():
            m = set_param(m, param_infos(info)[name], values[j])
        sweep_models.append(m if choice.backend == "diffrax" else replicate(m, replicated))

    states_out: dict[str, np.ndarray] = {}
    obs_out: dict[str, np.ndarray] = {}
    nonfinite: dict[str, Nonfinite] = {}
    total_units = n_sweep * layout.n_chunks
    enabled = show_progress(progress, total_units)

    def dispatch(m, c):
        first, real = layout.chunk_blocks(c)
        run = layout.padded_blocks(real)
        blocks = np.arange(first, first + run, dtype=np.int32)
        if kernel.backend == "diffrax":
            return run_diffrax_chunk(m, args, keys_host, blocks, times, kernel)
        blocks = put(blocks, blocks_sharding)
        return run_fused_chunk(m, args_dev, keys, blocks, times_dev, kernel)

    def check(c: int, j: int, ys: np.ndarray) -> None:
        """Scan chunk ``c`` (host states ``(paths of c, S, n)``) for NaN and infinity."""
        first, real = layout.chunk_blocks(c)
        lo = first * layout.block_size
        hi = min(paths, (first + real) * layout.block_size)
        found = scan_nonfinite(info, ys)
        if found and on_nonfinite == "raise":
            where = ""
            if layout.n_chunks > 1:
                where = f" (chunk {c + 1} of {layout.n_chunks}: paths {lo}..{hi - 1} of {paths})"
            if swept:
                where += " with " + ", ".join(f"{n} = {v[j].tolist()}" for n, v in swept.items())
            raise DyncRuntimeError(nonfinite_message(found, times, hi - lo, where), hint=nonfinite_hint(dt))
        merge_nonfinite(nonfinite, found)

    def store(j: int, lo: int, hi: int, ys: np.ndarray, obs: dict[str, np.ndarray], view: bool = False) -> None:
        """Put the host states ``(hi - lo, S, n)`` and observations of paths
        ``lo..hi`` in place (``view``: keep views of ``ys`` when it is the
        whole run, without copying)."""
        view = view and n_sweep == 1 and (lo, hi) == (0, paths)
        for s in info.states:
            if s.hidden:
                continue
            part = ys[:, :, s.offset : s.offset + s.size].reshape((hi - lo, S) + s.shape)
            if view:
                states_out[s.name] = part[None]  # the whole run at once: a view, no copy
                continue
            if s.name not in states_out:
                states_out[s.name] = np.empty((n_sweep, paths, S) + s.shape, ys.dtype)
            states_out[s.name][j, lo:hi] = part
        for name, arr in obs.items():
            if view:
                obs_out[name] = arr[None]
                continue
            if name not in obs_out:
                obs_out[name] = np.empty((n_sweep, paths) + arr.shape[1:], arr.dtype)
            obs_out[name][j, lo:hi] = arr

    def flat_obs(value):
        return value.reshape((-1,) + value.shape[2:])

    with progress_bar(total_units, f"simulating {info.name}", enabled) as advance:
        for j, m in enumerate(sweep_models):
            pending = dispatch(m, 0)
            kept = []  # resident: (device states, device observations, device "all finite") per chunk
            for c in range(layout.n_chunks):
                ys_dev, obs_dev = pending
                if c + 1 < layout.n_chunks:
                    pending = dispatch(m, c + 1)  # overlap the next chunk with this copy
                if resident:
                    kept.append((ys_dev, obs_dev, _all_finite(ys_dev)))
                    advance()
                    continue
                first, real = layout.chunk_blocks(c)
                lo = first * layout.block_size
                hi = min(paths, (first + real) * layout.block_size)
                ys = to_host(ys_dev).reshape((-1, S, info.state_size))[: hi - lo]
                check(c, j, ys)
                store(j, lo, hi, ys, {k: to_host(flat_obs(v))[: hi - lo] for k, v in obs_dev.items()})
                advance()
            if resident:
                # one small transfer says which chunks need a look on the host
                for c, ok in enumerate(to_host(k[2]) for k in kept):
                    if not ok:
                        first, real = layout.chunk_blocks(c)
                        n_real = min(paths, (first + real) * layout.block_size) - first * layout.block_size
                        check(c, j, to_host(kept[c][0]).reshape((-1, S, info.state_size))[:n_real])
                ys_all = _gather([k[0].reshape((-1, S, info.state_size)) for k in kept])
                obs_all = {name: _gather([flat_obs(k[1][name]) for k in kept]) for name in kept[0][1]}
                obs_host = {k: to_host(v)[:paths] for k, v in obs_all.items()}
                store(j, 0, paths, to_host(ys_all)[:paths], obs_host, view=True)

    return build_dataset(
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
