"""The kernel contract and the one driver that runs kernels.

A **kernel** is BlackJAX's shape of an iterative algorithm: a record of two
pure functions,

* ``init(...) -> state``: build the first state (for samplers and optimisers,
  from a position);
* ``step(key, state) -> (state, info)``: one step; ``state`` and ``info`` are
  pytrees of arrays (NamedTuples or equinox modules, never dicts), ``state``
  with the same structure, shapes and dtypes after the step as before.

Optimiser steps (:func:`optax_kernel`), MCMC steps (:func:`from_blackjax`),
score-training steps and particle-filter steps all have this shape, so they
all run through :func:`run_kernel`, which owns what every long run needs:
chunked compilation, progress, atomic checkpoints and bit-identical resume.

Key rule
--------
Step ``i`` (counting from 0 over the whole run) gets the key
``jax.random.fold_in(key, i)``. A step's randomness therefore depends only on
the run's key and the step's index, never on how the run was cut into chunks
or whether it was interrupted and resumed.

Checkpoints
-----------
With ``checkpoint=path``, :func:`run_kernel` writes, atomically (temporary
file, fsync, rename), every ``checkpoint_every`` steps and at the end:

* a first line ``dync-kernel-checkpoint 1``;
* a JSON line: ``steps_done`` and the run's ``fingerprint`` (``num_steps``,
  the key's data, a digest of the structure, shapes and dtypes of the state
  and of the per-step record, a digest of the initial state's values, and the
  caller's ``identity`` string);
* the leaves of ``(state, records so far)``, written by
  ``equinox.tree_serialise_leaves``.

If the file exists when a run starts, the run resumes from it (after checking
the fingerprint) and the result is bit-identical to an uninterrupted run. The
checkpoint is kept at the end, holding the finished run: rerunning the same
call returns the result without stepping again, and the file is a record of
the run. Delete it to start afresh.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree, Scalar

from ..atomic import write_bytes_atomic
from ..errors import UsageError
from .gc_pause import gc_paused
from .memory_maps import relieve_mappings
from .logdensity import LogDensity, Position
from .progress import progress_bar, show_progress

__all__ = [
    "Kernel",
    "cached_call",
    "KernelRun",
    "OptaxInfo",
    "OptaxState",
    "from_blackjax",
    "load_result",
    "optax_kernel",
    "run_kernel",
    "save_result",
]

#: most steps in one compiled chunk when the caller does not choose
DEFAULT_CHUNK_STEPS = 256

#: a run with neither progress nor checkpoints goes in one chunk when its
#: steps times its state's bytes (a bound on what each step records, for
#: samplers and optimisers) stay under this
_WHOLE_RUN_BYTES = 256 * 2**20

#: first line of a checkpoint file
CHECKPOINT_MAGIC = b"dync-kernel-checkpoint 1"

State = PyTree[Array]
Info = PyTree[Array]


class Kernel(NamedTuple):
    """An iterative algorithm as two pure functions (BlackJAX's convention).

    The contract implementations meet:

    * ``init(*args, **kwargs) -> state`` builds the first state; samplers and
      optimisers take a position (``kernel.init(density.initial_position)``).
    * ``step(key, state) -> (state, info)`` is one pure, jittable step: it
      draws its randomness from ``key`` only, returns a state with exactly the
      structure, shapes and dtypes of the one it was given, and an ``info``
      pytree of arrays (same structure at every step) describing the step.

    Attributes:
        init: builds the first state.
        step: advances a state by one step.
    """

    init: Callable[..., State]
    step: Callable[[PRNGKeyArray, State], tuple[State, Info]]


class KernelRun(NamedTuple):
    """The result of :func:`run_kernel`.

    Attributes:
        state: the state after the last step.
        info: what was recorded at each step (by default the step's ``info``),
            every leaf stacked along a new leading axis of length
            ``steps_done``, as host (NumPy) arrays.
        steps_done: the number of steps run, counting any done before a resume.
    """

    state: State
    info: PyTree[np.ndarray]
    steps_done: int


def from_blackjax(algorithm: Any) -> Kernel:
    """A BlackJAX ``SamplingAlgorithm`` (``blackjax.nuts(...)``,
    ``blackjax.hmc(...)``, ``blackjax.mala(...)``...) as a :class:`Kernel`.

    BlackJAX already meets the contract (``init(position)``,
    ``step(rng_key, state) -> (state, info)``), so this only records the two
    functions; building the kernel from the same algorithm object twice gives
    the same functions, hence no recompilation.

    Example:
        >>> import blackjax
        >>> density = state_log_density(lambda x: -0.5 * jnp.sum(x**2), jnp.zeros(2))  # doctest: +SKIP
        >>> nuts = blackjax.nuts(density.fn, step_size=0.5, inverse_mass_matrix=jnp.ones(2))  # doctest: +SKIP
        >>> kernel = from_blackjax(nuts)  # doctest: +SKIP
        >>> run = run_kernel(kernel, kernel.init(density.initial_position), key, 1000)  # doctest: +SKIP
    """
    return Kernel(algorithm.init, algorithm.step)


class OptaxState(NamedTuple):
    """The state of :func:`optax_kernel`.

    Attributes:
        position: the current point (the log-density's position pytree).
        opt_state: the optimiser's state.
        step: the number of optimiser steps taken (int32 scalar).
    """

    position: Position
    opt_state: optax.OptState
    step: Array


class OptaxInfo(NamedTuple):
    """What one :func:`optax_kernel` step reports.

    Attributes:
        value: the log-density at the position *before* the step (the value
            whose gradient the step used).
        grad_norm: the global norm of that gradient.
    """

    value: Scalar
    grad_norm: Scalar


def optax_kernel(
    log_density: LogDensity,
    optimizer: optax.GradientTransformation,
    *,
    maximize: bool = True,
) -> Kernel:
    """An optax optimiser on a log-density, as a :class:`Kernel`.

    ``maximize=True`` climbs the log-density (MAP with a
    :func:`~dync.runtime.logdensity.parameter_log_density` built with
    ``prior=True``, MLE with ``prior=False``); ``maximize=False`` descends it
    (a loss). The step ignores its key: optax steps are deterministic (a
    stochastic objective, a particle filter, an ELBO, draws its noise from
    keys it owns or from the position).

    ``init(position=None)`` starts from ``position`` or, by default, from
    ``log_density.initial_position``.

    Args:
        log_density: the objective.
        optimizer: any optax ``GradientTransformation``
            (``optax.adam(1e-2)``, ``optax.chain(...)``).
        maximize: climb (``True``) or descend (``False``).

    Returns:
        A kernel with state :class:`OptaxState` and info :class:`OptaxInfo`.

    Example:
        >>> kernel = optax_kernel(density, optax.adam(0.05))  # doctest: +SKIP
        >>> run = run_kernel(kernel, kernel.init(), key, 500)  # doctest: +SKIP
        >>> best = density.constrained(run.state.position)  # doctest: +SKIP
    """
    sign = -1.0 if maximize else 1.0

    def init(position: Position | None = None) -> OptaxState:
        position = log_density.initial_position if position is None else position
        position = jax.tree_util.tree_map(jnp.asarray, position)
        return OptaxState(position, optimizer.init(position), jnp.zeros((), jnp.int32))

    def step(key: PRNGKeyArray, state: OptaxState) -> tuple[OptaxState, OptaxInfo]:
        del key
        value, grad = log_density.value_and_grad(state.position)
        loss_grad = jax.tree_util.tree_map(lambda g: sign * g, grad)
        updates, opt_state = optimizer.update(loss_grad, state.opt_state, state.position)
        position = optax.apply_updates(state.position, updates)
        position = jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype), position, state.position)
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(grad)))
        info = OptaxInfo(value, norm)
        return OptaxState(position, opt_state, state.step + 1), info

    return Kernel(init, step)


class BestState(NamedTuple):
    """The state of :func:`keeping_best`: the optimiser's own state, and the
    highest-valued position it has visited (before its latest step).

    Attributes:
        inner: the wrapped optimiser's :class:`OptaxState`.
        position: the best position seen so far.
        value: its log-density (``-inf`` before the first step).
    """

    inner: OptaxState
    position: Position
    value: Scalar


def keeping_best(kernel: Kernel) -> Kernel:
    """An :func:`optax_kernel` (``maximize=True``) that also remembers its
    best position.

    Adam with a fixed step size does not settle at the maximum: its last
    iterate can be worse than one it passed (it oscillates, or a noisy
    objective pushes it off). A point estimate should report the best point
    visited. Each step's info value is the log-density at the position the
    step started from, so that position is kept when its value is the
    highest yet. The last position (after the last step) is not evaluated
    here: compare it with ``state.value`` once the run ends.
    """

    def init(position: Position | None = None) -> BestState:
        inner = kernel.init(position)
        return BestState(inner, inner.position, jnp.asarray(-jnp.inf, jnp.result_type(float)))

    def step(key: PRNGKeyArray, state: BestState) -> tuple[BestState, OptaxInfo]:
        inner, info = kernel.step(key, state.inner)
        better = jnp.isfinite(info.value) & (info.value > state.value)
        position = jax.tree_util.tree_map(lambda new, old: jnp.where(better, new, old), state.inner.position, state.position)
        value = jnp.where(better, info.value, state.value).astype(state.value.dtype)
        return BestState(inner, position, value), info

    return Kernel(init, step)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def _keep_info(state: State, info: Info) -> Info:
    del state
    return info


def _strong(tree: PyTree) -> PyTree:
    """Arrays with weak types made strong, so a state read back from a
    checkpoint traces exactly like the state it was written from."""

    def fix(x):
        # NumPy arrays and scalars are strong already (jit types them by
        # their dtype) and are left as they are: converting each costs a
        # transfer, which the jitted call makes anyway
        if isinstance(x, jax.Array) and getattr(x, "weak_type", False) and not _is_key(x):
            return jnp.asarray(x, dtype=x.dtype)
        return x

    return jax.tree_util.tree_map(fix, tree)


def _same(state: State) -> State:
    return state


@eqx.filter_jit
def _run_chunk(step, trace_fn, prepare, length: int, padded: bool, state, key, start, num_steps):
    """``prepare(state)``, then ``length`` steps from global index ``start``
    in one ``lax.scan``.

    With ``padded`` (the run's steps are not a whole number of chunks),
    steps with index ``>= num_steps`` (padding of the last, short chunk) are
    computed but discarded, so every chunk of a run has the same length and
    compiles once; without it no step is discarded and the program has no
    select per step. ``start`` and ``num_steps`` are traced, so neither
    causes a recompile. The functions are static: equal functions (the same
    function, or equal equinox modules and their bound methods) reuse the
    compiled chunk across runs."""
    state = prepare(state)

    def body(state, i):
        new, info = step(jax.random.fold_in(key, i), state)
        if padded:
            keep = i < num_steps
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, state)
        return new, trace_fn(new, info)

    return jax.lax.scan(body, state, start + jnp.arange(length, dtype=start.dtype))


def _choose_chunk(num_steps: int, chunk_size: int | None, checkpoint_every: int | None) -> int:
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise UsageError(f"run_kernel: chunk_size must be at least 1, got {chunk_size}")
        size = int(chunk_size)
    elif checkpoint_every is not None:
        # the largest divisor of checkpoint_every that fits a default chunk
        size = max(d for d in range(1, min(checkpoint_every, DEFAULT_CHUNK_STEPS) + 1) if checkpoint_every % d == 0)
    else:
        # equal chunks of at most DEFAULT_CHUNK_STEPS: little padding at the end
        chunks = max(1, math.ceil(num_steps / DEFAULT_CHUNK_STEPS))
        size = math.ceil(num_steps / chunks) if num_steps else 1
    if checkpoint_every is not None and checkpoint_every % size:
        raise UsageError(
            f"run_kernel: checkpoint_every ({checkpoint_every}) must be a whole number of chunks "
            f"of chunk_size ({size}) steps",
            hint="choose checkpoint_every as a multiple of chunk_size, or leave chunk_size unset",
        )
    return max(1, min(size, num_steps))


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _key_data(key: PRNGKeyArray) -> np.ndarray:
    return np.asarray(jax.random.key_data(key) if _is_key(key) else key)


def _keys_as_data(tree: PyTree) -> PyTree:
    """Typed PRNG keys in a state replaced by their raw data (for writing)."""
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _keys_from_data(tree: PyTree, like: PyTree) -> PyTree:
    """The inverse of :func:`_keys_as_data`, with the key types of ``like``."""
    return jax.tree_util.tree_map(
        lambda x, t: jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x, tree, like
    )


def _structure(tree: PyTree) -> str:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    text = str(treedef) + repr([(tuple(np.shape(x)), str(getattr(x, "dtype", type(x).__name__))) for x in leaves])
    # function and object reprs carry memory addresses, which differ between processes
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def _digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def _fingerprint(num_steps: int, key: PRNGKeyArray, state: State, record_shape: PyTree, identity: str) -> dict:
    values = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(state):
        if eqx.is_array(leaf):
            values.update(_key_data(leaf).tobytes())
    return {
        "num_steps": int(num_steps),
        "key": _key_data(key).tobytes().hex(),
        "structure": _digest(_structure(state) + "|" + _structure(record_shape)),
        "initial_state": values.hexdigest()[:16],
        "identity": identity,
    }


_FINGERPRINT_WORDS = {
    "num_steps": "the number of steps",
    "key": "the key",
    "structure": "the structure, shapes or dtypes of the state or of what is recorded per step",
    "initial_state": "the initial state's values",
    "identity": "the kernel's identity",
}


def _read_checkpoint(
    path: Path, fingerprint: dict, state_like: State, record_shape: PyTree
) -> tuple[State, PyTree, int]:
    try:
        data = path.read_bytes()
        magic, header, payload = data.split(b"\n", 2)
        if magic != CHECKPOINT_MAGIC:
            raise ValueError("bad magic")
        meta = json.loads(header)
        steps_done = int(meta["steps_done"])
        found = meta["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"run_kernel: `{path}` exists but is not a dync kernel checkpoint",
            hint="delete it, or pass another checkpoint path",
        ) from None
    differ = [k for k in fingerprint if found.get(k) != fingerprint[k]]
    if differ:
        details = []
        for k in differ:
            if k in ("num_steps", "identity"):
                details.append(f"{_FINGERPRINT_WORDS[k]} (checkpoint: {found.get(k)!r}, this run: {fingerprint[k]!r})")
            else:
                details.append(_FINGERPRINT_WORDS[k])
        raise UsageError(
            f"run_kernel: checkpoint `{path}` belongs to another run; it differs in " + "; ".join(details),
            hint="delete the file to start afresh, or rerun with the settings that wrote it to resume",
        )
    records_like = jax.tree_util.tree_map(lambda s: np.zeros((steps_done, *s.shape), s.dtype), record_shape)
    try:
        state, records = eqx.tree_deserialise_leaves(io.BytesIO(payload), (_keys_as_data(state_like), records_like))
        state = _keys_from_data(state, state_like)
    except Exception as err:  # a truncated or foreign payload
        raise UsageError(
            f"run_kernel: checkpoint `{path}` could not be read ({type(err).__name__}: {err})",
            hint="delete it to start afresh",
        ) from None
    return _strong(state), records, steps_done


def _write_checkpoint(path: Path, fingerprint: dict, state: State, records: PyTree, steps_done: int) -> None:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, (_keys_as_data(state), records))
    header = json.dumps({"steps_done": steps_done, "fingerprint": fingerprint}, sort_keys=True).encode()
    write_bytes_atomic(path, CHECKPOINT_MAGIC + b"\n" + header + b"\n" + buffer.getvalue())


def _concat(parts: list[PyTree], record_shape: Callable[[], PyTree]) -> PyTree:
    """The parts' records end to end; no parts: empty records of the shapes
    ``record_shape()`` gives."""
    if not parts:
        return jax.tree_util.tree_map(lambda s: np.zeros((0, *s.shape), s.dtype), record_shape())
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *parts)


def cached_call(
    compute: Callable[[PRNGKeyArray, PyTree], PyTree],
    key: PRNGKeyArray,
    inputs: PyTree,
    *,
    checkpoint: str | os.PathLike | None,
    identity: str = "",
) -> PyTree:
    """``compute(key, inputs)``, saved to ``checkpoint`` (atomically) and read
    back from it by a later identical call instead of computed again.

    For one long computation that :func:`run_kernel` cannot cut into steps
    (BlackJAX's window adaptation runs as one scan): a run killed after it
    resumes without redoing it. The file has the format of a
    :func:`run_kernel` checkpoint, with the same fingerprint (the key, the
    inputs' values and structure, the result's structure, ``identity``), so a
    file from another computation is refused with a clear error.

    Args:
        compute: a pure function of a key and a pytree of arrays, returning a
            pytree of arrays (no PRNG keys).
        key: its key.
        inputs: its inputs.
        checkpoint: the file; ``None`` computes without saving.
        identity: names the computation and its settings.
    """
    if checkpoint is None:
        return compute(key, inputs)
    shape = eqx.filter_eval_shape(compute, key, inputs)
    if Path(checkpoint).exists():
        return load_result(checkpoint, key, inputs, shape, identity=identity)
    result = compute(key, inputs)
    save_result(checkpoint, key, inputs, result, identity=identity)
    return result


def save_result(
    checkpoint: str | os.PathLike, key: PRNGKeyArray, inputs: PyTree, result: PyTree, *, identity: str = ""
) -> None:
    """Write what a computation of ``(key, inputs)`` returned, as
    :func:`cached_call` does (atomically, with the fingerprint of the key,
    the inputs and ``identity``), for :func:`load_result` to read back."""
    fingerprint = _fingerprint(0, key, inputs, jax.eval_shape(lambda: result), identity)
    _write_checkpoint(Path(checkpoint), fingerprint, result, (), 1)


def load_result(
    checkpoint: str | os.PathLike, key: PRNGKeyArray, inputs: PyTree, shape: PyTree, *, identity: str = ""
) -> PyTree:
    """Read back a result written by :func:`save_result` (or
    :func:`cached_call`) for the same key, inputs and ``identity``.

    Args:
        checkpoint: the file.
        key, inputs, identity: what the computation was given.
        shape: the result's structure, shapes and dtypes
            (``jax.ShapeDtypeStruct`` leaves, as ``jax.eval_shape`` gives).

    Raises:
        UsageError: the file is unreadable or belongs to another computation.
    """
    template = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
    fingerprint = _fingerprint(0, key, inputs, shape, identity)
    result, _, _ = _read_checkpoint(Path(checkpoint), fingerprint, template, ())
    return result


def run_kernel(
    kernel: Kernel,
    state: State,
    key: PRNGKeyArray,
    num_steps: int,
    *,
    chunk_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
    description: str = "",
    trace_fn: Callable[[State, Info], PyTree] | None = None,
    identity: str = "",
    status_fn: Callable[[PyTree, int], str] | None = None,
    on_chunk: Callable[[PyTree, int], None] | None = None,
    prepare: Callable[[State], State] | None = None,
    on_state: Callable[[State, int], None] | None = None,
) -> KernelRun:
    """Run ``num_steps`` steps of ``kernel`` from ``state``: the one driver.

    Step ``i`` gets the key ``jax.random.fold_in(key, i)``. Steps run in
    chunks of ``chunk_size``, each one jitted ``lax.scan``; a last, shorter
    chunk is padded (its extra steps are computed and thrown away), so a run
    compiles once, and runs of any length with the same kernel, chunk size and
    state structure share that compilation. What is recorded per step is
    copied to the host after each chunk.

    Results do not depend on ``chunk_size`` nor on interruptions: a run
    resumed from a checkpoint gives bit-identical final state and records.

    Args:
        kernel: the algorithm (see :class:`Kernel`).
        state: the initial state (``kernel.init(...)``). It is also the
            template a checkpoint is read back with.
        key: the run's PRNG key.
        num_steps: how many steps to run in all (including any done before a
            resume).
        chunk_size: steps per compiled chunk; by default equal chunks of at
            most 256 steps, or, with ``checkpoint_every``, its largest
            divisor up to 256.
        checkpoint: a file to write checkpoints to and resume from; if it
            exists when the run starts, the run resumes from it. Kept at the
            end (holding the finished run).
        checkpoint_every: steps between checkpoints, a whole number of
            chunks; by default every chunk when ``checkpoint`` is given. A
            checkpoint is also written after the last step.
        progress: show a progress bar, one advance per chunk (``None``: only
            when standard error is a terminal).
        description: the bar's label.
        trace_fn: ``trace_fn(state, info) -> pytree``, what to record at each
            step (after the step); by default the step's ``info``. Samplers
            record the position: ``lambda state, info: state.position``.
        identity: a string naming the kernel and its settings (for example
            ``"nuts step_size=0.5"``), stored in the checkpoint's fingerprint
            so that a checkpoint written by another kernel is refused. The
            kernel's functions themselves cannot be compared across processes.
        status_fn: ``status_fn(records, steps_done) -> str``: a short text
            shown beside the progress bar after each chunk (for example the
            log-density, step size and divergences), from the records of the
            last chunk (host arrays, steps first).
        on_chunk: ``on_chunk(records, steps_done)``, called after each chunk
            with that chunk's records (host arrays, steps first), before its
            checkpoint; it may raise to stop the run (a sampler that drifted
            to NaN), leaving the previous checkpoint intact.
        prepare: ``prepare(state) -> state``, run at the start of every
            chunk inside its compiled program, before the steps: work that
            must happen once before the first step (a sampler's warm-up),
            compiled into the same program as the steps instead of a
            program of its own. It must be pure and return its input
            unchanged once it has run (a flag in the state says so; a
            ``lax.cond`` on it costs nothing in later chunks).
        on_state: ``on_state(state, steps_done)``, called after each chunk
            with the state (device arrays), after ``on_chunk`` and before
            the chunk's checkpoint.

    Returns:
        A :class:`KernelRun`.

    Raises:
        UsageError: a bad ``num_steps``/``chunk_size``/``checkpoint_every``,
            ``checkpoint_every`` without ``checkpoint``, or an existing
            checkpoint that is unreadable or belongs to another run (another
            number of steps, key, state structure, initial state or identity).

    Interrupting a run (``KeyboardInterrupt``) leaves the last checkpoint
    intact: checkpoints are written atomically, between chunks.

    Example:
        >>> kernel = optax_kernel(density, optax.adam(0.05))  # doctest: +SKIP
        >>> run = run_kernel(kernel, kernel.init(), jax.random.key(0), 1000,
        ...                  checkpoint="fit.ckpt", checkpoint_every=100)  # doctest: +SKIP
    """
    relieve_mappings()  # a session of many fits compiles program after program
    num_steps = int(num_steps)
    if num_steps < 0:
        raise UsageError(f"run_kernel: num_steps must be non-negative, got {num_steps}")
    if checkpoint_every is not None:
        if checkpoint is None:
            raise UsageError(
                "run_kernel: checkpoint_every is given but no checkpoint path",
                hint="pass checkpoint=PATH as well",
            )
        checkpoint_every = int(checkpoint_every)
        if checkpoint_every < 1:
            raise UsageError(f"run_kernel: checkpoint_every must be at least 1, got {checkpoint_every}")
    size = _choose_chunk(num_steps, chunk_size, checkpoint_every)
    if chunk_size is None and checkpoint is None and not show_progress(progress, 2):
        # nothing to show or save between chunks: one chunk (one dispatch, no
        # padding) when its records stay small on the device
        state_bytes = sum(np.dtype(x.dtype).itemsize * math.prod(np.shape(x))
                          for x in jax.tree_util.tree_leaves(state) if hasattr(x, "dtype") and not _is_key(x))  # fmt: skip
        if num_steps * max(state_bytes, 64) <= _WHOLE_RUN_BYTES:
            size = max(1, num_steps)
    if checkpoint is not None and checkpoint_every is None:
        checkpoint_every = size
    trace_fn = _keep_info if trace_fn is None else trace_fn
    padded = num_steps % size != 0
    prepare = _same if prepare is None else prepare

    state = _strong(state)
    start_dtype = jnp.int32
    total = np.asarray(num_steps, start_dtype)

    @functools.cache
    def record_shape() -> PyTree:
        """One step's record, as shapes: traced only where a checkpoint or an
        empty run needs it (tracing the chunk costs as much again as the
        compiled call's own tracing)."""
        _, shape = eqx.filter_eval_shape(
            _run_chunk, kernel.step, trace_fn, prepare, size, padded, state, key, np.zeros((), start_dtype), total
        )
        return jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), shape)

    parts: list[PyTree] = []
    done = 0
    path = None if checkpoint is None else Path(checkpoint)
    fingerprint = None
    if path is not None:
        fingerprint = _fingerprint(num_steps, key, state, record_shape(), identity)
        if path.exists():
            state, records, done = _read_checkpoint(path, fingerprint, state, record_shape())
            parts.append(records)

    remaining = math.ceil((num_steps - done) / size)
    shown = show_progress(progress, remaining)
    with progress_bar(remaining, description, shown, unit=f"chunks of {size} steps") as advance:
        while done < num_steps:
            with gc_paused():  # tracing and compiling the first chunk: no full collections (gc_pause.py)
                state, records = _run_chunk(
                    kernel.step, trace_fn, prepare, size, padded, state, key, np.asarray(done, start_dtype), total
                )
            n = min(size, num_steps - done)
            chunk = jax.tree_util.tree_map(lambda x, n=n: np.asarray(x)[:n], records)
            if on_chunk is not None:
                on_chunk(chunk, done + n)
            if on_state is not None:
                on_state(state, done + n)
            parts.append(chunk)
            done += n
            if path is not None and (done % checkpoint_every == 0 or done == num_steps):
                parts = [_concat(parts, record_shape)]
                _write_checkpoint(path, fingerprint, state, parts[0], done)
            advance(1, status_fn(chunk, done) if (shown and status_fn is not None) else None)
    return KernelRun(state, _concat(parts, record_shape), done)
