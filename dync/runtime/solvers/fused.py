"""Fused fixed-step kernels: every path advanced together in one ``lax.scan``.

The state of all ``P`` paths is one array, held *paths-minor* as ``(n, P)``
inside the kernel (the interface takes and returns ``(P, n)``): every state
component is then a contiguous row of ``P`` numbers, so each elementwise
operation of the model vectorises over paths. (With ``(P, n)`` and a small
``n`` the vector units work along the short state axis: 2.4x slower on
Lorenz-63, measured.) The model's one-path functions are evaluated on the
whole batch inside each step by :func:`~dync.runtime.batching.minor_batched`,
which keeps the paths last (never a whole solve per path). Gaussian
increments are drawn inside the scan, for a block of steps at a time: the
increments of step ``i`` are ``sqrt(dt) * normal(fold_in(key, i), (m, P))``,
so they depend on the key, the step index and ``P`` only -- not on the block
of steps or the save plan. The same key therefore gives the same paths
whatever is saved. The numbers come from :mod:`dync.runtime.rng` (JAX's
Threefry, unrolled so that XLA compiles it into one vectorised kernel per
block of steps; JAX's own CPU lowering is a loop, and was most of the cost of
a cheap model). On accelerators each step draws its own increments inside its
kernel instead (:func:`_in_step_unroll`): the same numbers, without the
increments going through memory.

Public entry point: :func:`solve_fixed`. Steps are kernels in the BlackJAX
style, ``init(t, y) -> state`` and ``step(t, h, state, dw) -> state``, built by
:func:`make_stepper`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from dync.errors import UsageError
from dync.runtime import rng
from dync.runtime.batching import minor_batched
from dync.runtime.model import AbstractModel
from dync.info.solvers import FUSED_SOLVERS, check_solver

#: Aim for about this many Gaussian draws per block of steps.
_BLOCK_DRAWS = 1 << 19
#: Never draw more than this many steps at once.
_MAX_BLOCK = 128
#: On CPU: about this many draws per block, and 4 to 32 steps.
_CPU_BLOCK_DRAWS = 1 << 17
_CPU_MIN_BLOCK = 4
_CPU_MAX_BLOCK = 32
#: Unrolling of the innermost step loop.
_UNROLL = 1
#: On accelerators: ``"in_step"`` draws each step's increments inside that
#: step's kernel (no increments in memory), ``"blocks"`` as on CPU.
_ACCEL_DRAW = "in_step"
#: On accelerators, with ``"in_step"``: steps per iteration of the scan.
_ACCEL_UNROLL = 8
#: On accelerators, with ``"in_step"``: advance the two halves of a block as
#: two states, so that both words of each Threefry block feed one kernel
#: (:func:`_paired`). Off: not yet measured on a GPU.
_ACCEL_PAIRS = False


@dataclasses.dataclass(frozen=True)
class SavePlan:
    """Which steps of a fixed-step solve are kept (static: part of the jit key).

    Build one with :meth:`final`, :meth:`every` or :meth:`at`:

    * ``SavePlan.final()``: the state after the last step only (``S = 1``). The
      scan then carries the state and emits nothing per step.
    * ``SavePlan.every(k)``: the initial state and the state after every
      ``k``-th step: step indices ``0, k, 2k, ..., (num_steps // k) * k``.
      Steps after the last saved one are not simulated.
    * ``SavePlan.at(steps)``: the states at the given step indices (``0`` is the
      initial state), sorted and without repeats, each in ``[0, num_steps]``.
    """

    kind: str = "final"
    stride: int = 0
    steps: tuple[int, ...] = ()

    @classmethod
    def final(cls) -> SavePlan:
        """Keep the final state only."""
        return cls("final")

    @classmethod
    def every(cls, k: int) -> SavePlan:
        """Keep the initial state and the state after every ``k``-th step."""
        if int(k) != k or k < 1:
            raise UsageError(f"a save stride must be a positive whole number of steps, got {k!r}")
        return cls("every", stride=int(k))

    @classmethod
    def at(cls, steps) -> SavePlan:
        """Keep the states at the given step indices (0 = the initial state)."""
        idx = tuple(int(s) for s in np.asarray(steps, dtype=np.int64).ravel())
        if any(b <= a for a, b in zip(idx, idx[1:])):
            raise UsageError(f"save steps must be strictly increasing, got {idx[:8]}...")
        if idx and idx[0] < 0:
            raise UsageError(f"save steps must be >= 0, got {idx[0]}")
        if not idx:
            raise UsageError("a save plan needs at least one step index")
        return cls("steps", steps=idx)

    def step_indices(self, num_steps: int) -> np.ndarray:
        """The saved step indices for a run of ``num_steps`` steps."""
        if self.kind == "final":
            return np.array([num_steps], np.int64)
        if self.kind == "every":
            return np.arange(0, num_steps // self.stride + 1, dtype=np.int64) * self.stride
        return np.asarray(self.steps, np.int64)


# ---------------------------------------------------------------------------
# Steppers: one step of a method on the batched state
# ---------------------------------------------------------------------------


class Stepper(NamedTuple):
    """A fixed-step method on the batched ``(P, n)`` state.

    ``init(t0, y)`` builds the carried state (the solution and anything a
    method reuses between steps); ``step(t, h, state, dw)`` advances it by
    ``h`` with Brownian increments ``dw`` of shape ``(m, P)``; ``read(state)``
    is the ``(n, P)`` solution (paths-minor, see the module docstring).
    """

    init: Callable[[Array, Array], PyTree]
    step: Callable[[Array, Array, PyTree, Array], PyTree]
    read: Callable[[PyTree], Array]


def _identity(state):
    return state


#: the path axis of the batched arrays inside the kernel: ``(n, P)``, ``(m, P)``
PATH_AXIS = 1


def _paths(fn: Callable, n_unbatched: int = 1) -> Callable:
    """``fn(*fixed, y, *rest)`` (one path) on the batch: the first
    ``n_unbatched`` arguments (the time, a step size) are the same for every
    path, the others carry the paths on their last axis.

    Evaluated by :func:`~dync.runtime.batching.minor_batched`, which keeps
    the paths last through every operation (``jax.vmap`` over that axis
    moves them first and back, and the step's kernel then does not
    vectorise); should it fail on some operation it has not met, ``jax.vmap``
    computes the same numbers.
    """

    def batched(*xs):
        flags = (False,) * n_unbatched + (True,) * (len(xs) - n_unbatched)
        try:
            return minor_batched(fn, flags)(*xs)
        except Exception:  # noqa: BLE001 - a safety net: vmap gives the same numbers
            axes = tuple(PATH_AXIS if f else None for f in flags)
            return jax.vmap(fn, in_axes=axes, out_axes=PATH_AXIS)(*xs)

    return batched


def make_stepper(model: AbstractModel, solver: str, args: Any = None) -> Stepper:
    """The :class:`Stepper` of fused solver ``solver`` for ``model``.

    Args:
        model: the model (one-path functions, batched here over paths).
        solver: ``euler_maruyama``, ``heun``, ``milstein``, ``baoab`` or ``rk4``.
        args: run-time data passed to every model call.

    Returns:
        The method's ``Stepper``.
    """
    info = model.info
    m = info.noise_size
    has_noise = info.noise_structure != "none" and m > 0

    def noise(t, y, dw):
        return _paths(lambda t_, y_, dw_: model.noise(t_, y_, dw_, args))(t, y, dw)

    if solver == "euler_maruyama":
        drift = _paths(lambda t_, y_: model.ito_drift(t_, y_, args))

        rows = _noisy_rows(info)

        def em_step(t, h, y, dw):
            y1 = y + drift(t, y) * h
            if not has_noise:
                return y1
            g = noise(t, y, dw)
            if rows is None:
                return y1 + g
            # only the rows that noise drives (no adds of zeros)
            for lo, hi in rows:
                y1 = y1.at[lo:hi].add(g[lo:hi])
            return y1

        return Stepper(lambda t, y: y, em_step, _identity)

    if solver == "heun":
        drift = _paths(lambda t_, y_: model.stratonovich_drift(t_, y_, args))

        def heun_step(t, h, y, dw):
            f0 = drift(t, y)
            if not has_noise:
                f1 = drift(t + h, y + f0 * h)
                return y + 0.5 * h * (f0 + f1)
            g0 = noise(t, y, dw)
            y_pred = y + f0 * h + g0
            f1 = drift(t + h, y_pred)
            g1 = noise(t + h, y_pred, dw)
            return y + 0.5 * h * (f0 + f1) + 0.5 * (g0 + g1)

        return Stepper(lambda t, y: y, heun_step, _identity)

    if solver == "milstein":
        return Stepper(lambda t, y: y, _milstein_step(model, args), _identity)

    if solver == "baoab":
        return _baoab(model, args)

    if solver == "rk4":
        drift = _paths(lambda t_, y_: model.drift(t_, y_, args))

        def rk4_step(t, h, y, dw):
            del dw
            k1 = drift(t, y)
            k2 = drift(t + 0.5 * h, y + 0.5 * h * k1)
            k3 = drift(t + 0.5 * h, y + 0.5 * h * k2)
            k4 = drift(t + h, y + h * k3)
            return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)

        return Stepper(lambda t, y: y, rk4_step, _identity)

    raise UsageError(f"`{solver}` is not a fused fixed-step solver")


def _depends_on_time(fn: Callable, t, *rest) -> bool:
    """Whether ``fn(t, *rest)`` depends on ``t`` (read off its jaxpr)."""
    closed = jax.make_jaxpr(lambda t_: fn(t_, *rest))(t)
    live = {closed.jaxpr.invars[0]}
    for eqn in closed.jaxpr.eqns:
        if any(v in live for v in eqn.invars if not isinstance(v, jax.extend.core.Literal)):
            live.update(eqn.outvars)
    return any(v in live for v in closed.jaxpr.outvars if not isinstance(v, jax.extend.core.Literal))


def _noisy_rows(info) -> tuple[tuple[int, int], ...] | None:
    """State rows ``[lo, hi)`` that the noise reaches, when only some are: in
    the diagonal layout, the rows of the noise blocks some equation uses.
    ``None`` when every row may be (or the layout says nothing)."""
    if not info.diagonal_noise:
        return None
    segments = info.driving_noise_segments
    if all(drives for _, _, drives in segments):
        return None
    return tuple((o, o + n) for o, n, drives in segments if drives)


def _milstein_step(model: AbstractModel, args: Any) -> Callable:
    """Milstein in the model's calculus.

    Itô: $y + f h + g\\,\\Delta W + \\tfrac12 (g' g)(\\Delta W^2 - h)$;
    Stratonovich: the same without $-h$. For elementwise-diagonal noise
    $g' g$ is $g_i\\,\\partial g_i/\\partial y_i$ (one jvp along ones); for scalar
    noise it is the directional derivative $(\\partial g/\\partial y)\\,g$.
    """
    info = model.info
    structure = info.noise_structure
    n, m = info.state_size, info.noise_size
    ito = info.calculus == "ito"

    def drift(t, y):
        return model.drift(t, y, args)

    if structure in ("none", "additive") or m == 0:

        def step_plain(t, h, y, dw):
            def one(y_, dw_):
                out = y_ + drift(t, y_) * h
                return out + model.noise(t, y_, dw_, args) if m else out

            return _paths(one, 0)(y, dw)

        return step_plain

    if structure == "scalar":

        def one_scalar(t, h, y, dw):
            e = jnp.ones((1,), y.dtype)
            g, g_lin = jax.linearize(lambda z: model.noise(t, z, e, args), y)
            # where the noise vanishes, so does its correction: a guarded root
            # `sqrt(maximum(r, 0))` has an infinite slope there and 0 * inf is
            # NaN (as in `ito_correction`)
            ggp = jnp.where((g == 0) & ~jnp.isfinite(ggp_raw := g_lin(g)), 0.0, ggp_raw)
            dw2 = dw[0] * dw[0] - h if ito else dw[0] * dw[0]
            return y + drift(t, y) * h + g * dw[0] + 0.5 * ggp * dw2

        return _paths(one_scalar, 2)

    def one_diagonal(t, h, y, dw):
        ones_m = jnp.ones((m,), y.dtype)
        g, dg = jax.jvp(lambda z: model.noise(t, z, ones_m, args), (y,), (jnp.ones((n,), y.dtype),))
        dw2 = dw * dw - h if ito else dw * dw
        ggp = jnp.where(g == 0, 0.0, g * dg)  # as above: no noise, no correction
        return y + drift(t, y) * h + g * dw + 0.5 * ggp * dw2

    return _paths(one_diagonal, 2)


def _baoab(model: AbstractModel, args: Any) -> Stepper:
    """BAOAB for ``dx = v dt``, ``dv = (F(x) - gamma v) dt + sigma dW``.

    B: $v \\mathrel{+}= \\tfrac h2 F(x)$; A: $x \\mathrel{+}= \\tfrac h2 v$;
    O: $v \\leftarrow e^{-\\gamma h} v + \\sqrt{(1 - e^{-2\\gamma h})/(2\\gamma h)}\\,
    \\sigma\\,\\Delta W$ (exact for the Ornstein-Uhlenbeck part; the factor tends
    to 1 as $\\gamma \\to 0$); A; B. The force at the end of a step is carried
    into the next one, so it is evaluated once per step. ``gamma`` is the same
    for every state (the compiler checked it), so it is read from the first
    path: once, when it does not depend on time, else at every step. Positions
    and velocities are carried apart (joined only where the model is
    evaluated). 64-oscillator chain: 0.44 s -> 0.40 s.
    """
    lv = model.info.langevin
    xi, vi = model.info.state(lv.position), model.info.state(lv.velocity)
    xs = slice(xi.offset, xi.offset + xi.size)
    vs = slice(vi.offset, vi.offset + vi.size)
    has_noise = model.info.noise_size > 0 and model.info.noise_structure != "none"

    def with_velocity(y, value):
        # a dynamic_update_slice, which batching.py keeps paths-minor (`.at[].set`
        # is a scatter; a concatenation here ran the chain's steps 1.3x slower)
        return lax.dynamic_update_slice(y, jnp.full((vi.size,), value, y.dtype), (vi.offset,))

    def force_one(t, y):
        return model.drift(t, with_velocity(y, 0.0), args)[vs]

    force = _paths(force_one)

    def friction(t, y_one):
        return force_one(t, y_one) - model.drift(t, with_velocity(y_one, 1.0), args)[vs]

    def join(x, v):
        parts = [(xi.offset, x), (vi.offset, v)]
        return jnp.concatenate([p for _, p in sorted(parts, key=lambda q: q[0])], axis=0)

    def ou_factors(gamma, h):
        decay = jnp.exp(-gamma * h)
        z = 2.0 * gamma * h
        small = z < 1e-6
        ratio = -jnp.expm1(-jnp.where(small, 1.0, z)) / jnp.where(small, 1.0, z)
        return decay, jnp.sqrt(jnp.where(small, 1.0 - 0.5 * z, ratio))

    def init(t, y):
        # gamma is read once when it does not depend on time (the usual case)
        gamma = friction(t, y[:, 0])[:, None] if not _depends_on_time(friction, t, y[:, 0]) else None
        return (y[xs], y[vs], force(t, y), gamma)

    def step(t, h, state, dw):
        x, v, f, gamma0 = state
        gamma = gamma0 if gamma0 is not None else friction(t, join(x[:, 0], v[:, 0]))[:, None]
        decay, scale = ou_factors(gamma, h)
        v = v + 0.5 * h * f
        x = x + 0.5 * h * v
        if has_noise:
            kick = _paths(lambda t_, y_, dw_: model.noise(t_, y_, dw_, args)[vs])(t, join(x, v), dw)
            v = decay * v + scale * kick
        else:
            v = decay * v
        x = x + 0.5 * h * v
        f1 = force(t + h, join(x, v))
        v = v + 0.5 * h * f1
        return (x, v, f1, gamma0)

    return Stepper(init, step, lambda state: join(state[0], state[1]))


# ---------------------------------------------------------------------------
# The scan
# ---------------------------------------------------------------------------


def _block_size(num_paths: int, m: int) -> int:
    """Steps whose increments are drawn in one call, before those steps run.

    The draw of a block of steps is one kernel of its own and the steps read
    its output from memory. On CPU that is faster than drawing inside each
    step, where XLA fuses the hash into the step's kernel (2-D double-well
    Langevin, 10,000 paths x 1,000 steps: 0.11 s drawn per step, 0.057 s in
    blocks of 16; OU: 0.034 s against 0.024 s). Blocks hold about
    ``_CPU_BLOCK_DRAWS`` numbers on CPU (within the L2 cache; 4 to 32 steps)
    and about ``_BLOCK_DRAWS`` on accelerators, which saves kernel launches.
    """
    per_step = max(num_paths * max(m, 1), 1)
    if jax.default_backend() == "cpu":
        return int(min(_CPU_MAX_BLOCK, max(_CPU_MIN_BLOCK, _CPU_BLOCK_DRAWS // per_step)))
    return int(min(_MAX_BLOCK, max(1, _BLOCK_DRAWS // per_step)))


def _in_step_unroll() -> int:
    """Steps per scan iteration when increments are drawn inside each step,
    or 0 to draw them in blocks of steps first (:func:`_block_size`).

    On CPU: 0 (blocks are faster there; see :func:`_block_size`). On
    accelerators (``_ACCEL_DRAW == "in_step"``): each step hashes its own
    counters in the kernel that advances the state, so neither the increments
    nor a block of them go through memory, and ``_ACCEL_UNROLL`` steps run per
    iteration of the scan (fewer loop round trips; XLA may fuse consecutive
    steps). The numbers are the same function of the key and the step index
    either way.
    """
    if jax.default_backend() == "cpu" or _ACCEL_DRAW != "in_step":
        return 0
    return max(1, int(_ACCEL_UNROLL))


def _paired_draws() -> bool:
    """Whether increments drawn inside each step are drawn in pairs (:func:`_paired`)."""
    return bool(_ACCEL_PAIRS)


def _paired(stepper: Stepper, half: int) -> Stepper:
    """``stepper`` on the two halves of the paths, side by side.

    :func:`~dync.runtime.rng.standard_normal` of one row of ``P`` paths
    takes path ``p`` from the first word of Threefry block ``p`` and path
    ``p + P/2`` from the second word of the same block. With the halves
    advanced as two states in one step, XLA can compute each block once for
    both (one multi-output kernel) instead of once per path. Paths are
    independent, so the numbers are those of ``stepper``.
    """

    def init(t, y):
        return (stepper.init(t, y[:, :half]), stepper.init(t, y[:, half:]))

    def step(t, h, state, dw):
        return (stepper.step(t, h, state[0], dw[0]), stepper.step(t, h, state[1], dw[1]))

    def read(state):
        return jnp.concatenate([stepper.read(state[0]), stepper.read(state[1])], axis=1)

    return Stepper(init, step, read)


def _solve(
    model: AbstractModel,
    key: PRNGKeyArray | None,
    y0: Array,
    t0: Array,
    dt: Array,
    args: Any,
    increments: Array | None,
    *,
    solver: str,
    num_steps: int,
    plan: SavePlan,
    block: int,
    in_step: int = 0,
    pairs: bool = False,
) -> tuple[Array, Array]:
    info = model.info
    P, _ = y0.shape
    m = info.noise_size if info.noise_structure != "none" else 0
    dtype = y0.dtype
    stepper = make_stepper(model, solver, args)
    sqrt_dt = jnp.sqrt(dt)
    y0 = y0.T  # paths-minor from here on: (n, P)
    segments = info.driving_noise_segments
    drawn = sum(size for _, size, drives in segments if drives) if m else 0
    if increments is not None:
        increments = jnp.transpose(increments, (0, 2, 1))  # (steps, m, P)
    # one row of increments, an even number of paths, steps drawn in the loop
    pairs = pairs and bool(in_step) and increments is None and m == drawn == 1 and P % 2 == 0
    pairs = pairs and plan.kind != "steps"
    if pairs:
        stepper = _paired(stepper, P // 2)

    def step_keys(i0, length):
        """The keys ``fold_in(key, i)`` of steps ``i0 .. i0 + length - 1``, as data ``(length, 2)``."""
        return jax.vmap(lambda i: rng.key_data(jax.random.fold_in(key, i)))(i0 + jnp.arange(length))

    def draw(i0, length, keys=None):
        """Increments of steps ``i0 .. i0 + length - 1``, shape ``(length, m, P)``
        (``keys``: their step keys, when already computed)."""
        if m == 0:
            return jnp.zeros((length, 0, P), dtype)
        if increments is not None:
            return lax.dynamic_slice_in_dim(increments, i0, length, axis=0)
        if keys is None:
            keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(i0 + jnp.arange(length))
        z = jax.vmap(lambda k: rng.standard_normal(k, (drawn, P), dtype))(keys) * sqrt_dt
        if drawn == m:
            return z
        # rows of `dw` that no equation uses stay zero and are not drawn
        parts, row = [], 0
        for _, size, drives in segments:
            if drives:
                parts.append(z[:, row : row + size])
                row += size
            else:
                parts.append(jnp.zeros((length, size, P), dtype))
        return jnp.concatenate(parts, axis=1)

    def run_steps(state, i0, dws):
        """Advance through the pre-drawn increments ``dws`` (steps from ``i0``)."""

        def one(state, xs):
            j, dw = xs
            t = t0 + (i0 + j).astype(dtype) * dt
            return stepper.step(t, dt, state, dw), None

        return lax.scan(one, state, (jnp.arange(dws.shape[0]), dws), unroll=_UNROLL)[0]

    def advance(state, i0, length: int):
        """``length`` (static) steps from step ``i0``, no output, in blocks
        (or drawn inside each step, ``in_step`` steps per iteration)."""
        if in_step and increments is None:
            # the step keys are hashed once, before the loop; each step hashes
            # its counters inside its own kernel
            keys = step_keys(i0, length) if m else jnp.zeros((length, 2), jnp.uint32)

            def one(state, xs):
                j, k = xs
                i = i0 + j
                t = t0 + i.astype(dtype) * dt
                if pairs:  # the same numbers as draw(): rows of (2, P/2) are the halves of (1, P)
                    z = rng.standard_normal(k, (2, P // 2), dtype) * sqrt_dt
                    return stepper.step(t, dt, state, (z[0:1], z[1:2])), None
                return stepper.step(t, dt, state, draw(i, 1, k[None])[0]), None

            return lax.scan(one, state, (jnp.arange(length), keys), unroll=min(in_step, length))[0]
        nb, rem = divmod(length, block)
        if nb:

            def outer(state, b):
                start = i0 + b * block
                return run_steps(state, start, draw(start, block)), None

            state = lax.scan(outer, state, jnp.arange(nb))[0]
        if rem:
            start = i0 + nb * block
            state = run_steps(state, start, draw(start, rem))
        return state

    state = stepper.init(t0, y0)
    idx = plan.step_indices(num_steps)
    ts = t0 + jnp.asarray(idx, dtype) * dt

    if plan.kind == "final":
        state = advance(state, jnp.int32(0), num_steps)
        return ts, stepper.read(state).T[:, None, :]

    if plan.kind == "every":
        k = plan.stride
        nsaves = num_steps // k
        if nsaves == 0:
            return ts, y0.T[:, None, :]
        if k >= block or (in_step and increments is None):

            def seg(state, s):
                state = advance(state, s * k, k)
                return state, stepper.read(state)

            _, ys = lax.scan(seg, state, jnp.arange(nsaves))
        else:
            per_block = block // k

            def save_block(state, i_start, count: int):
                dws = draw(i_start, count * k).reshape((count, k) + (m, P))

                def seg(state, xs):
                    s, dw_seg = xs
                    state = run_steps(state, i_start + s * k, dw_seg)
                    return state, stepper.read(state)

                return lax.scan(seg, state, (jnp.arange(count), dws))

            nb, rem = divmod(nsaves, per_block)
            chunks = []
            if nb:

                def outer(state, b):
                    return save_block(state, b * (per_block * k), per_block)

                state, ys_b = lax.scan(outer, state, jnp.arange(nb))
                chunks.append(ys_b.reshape((nb * per_block,) + ys_b.shape[2:]))
            if rem:
                state, ys_r = save_block(state, jnp.int32(nb * per_block * k), rem)
                chunks.append(ys_r)
            ys = jnp.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        ys = jnp.concatenate([y0[None], ys])  # (S, n, P)
        return ts, jnp.transpose(ys, (2, 0, 1))

    # Arbitrary step indices: a buffer in the carry, written on the save steps.
    last = int(idx[-1])
    slot_of = np.full(last + 1, -1, np.int32)
    slot_of[idx] = np.arange(idx.size, dtype=np.int32)
    slots = jnp.asarray(slot_of)
    buf = jnp.zeros((idx.size,) + y0.shape, dtype)
    if slot_of[0] == 0:
        buf = buf.at[0].set(y0)

    def one_saving(carry, xs):
        state, buf = carry
        i, dw = xs
        t = t0 + i.astype(dtype) * dt
        state = stepper.step(t, dt, state, dw)
        slot = slots[i + 1]
        buf = lax.cond(slot >= 0, lambda b: b.at[slot].set(stepper.read(state)), lambda b: b, buf)
        return (state, buf), None

    def block_saving(carry, i_start, length: int):
        dws = draw(i_start, length)
        return lax.scan(one_saving, carry, (i_start + jnp.arange(length), dws))[0]

    nb, rem = divmod(last, block)
    carry = (state, buf)
    if nb:
        carry = lax.scan(lambda c, b: (block_saving(c, b * block, block), None), carry, jnp.arange(nb))[0]
    if rem:
        carry = block_saving(carry, jnp.int32(nb * block), rem)
    return ts, jnp.transpose(carry[1], (2, 0, 1))


_solve_jit = eqx.filter_jit(_solve)


def state_batch(y, info, *, allow_single: bool = False) -> tuple[Array, bool]:
    """``y`` as a floating batch of states ``(paths, n)``, and whether it was
    one state ``(n,)`` (accepted only with ``allow_single``).

    Raises:
        UsageError: any other shape.
    """
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    single = allow_single and y.ndim == 1
    if single:
        y = y[None]
    if y.ndim != 2 or y.shape[1] != info.state_size:
        allowed = f"(paths, {info.state_size})" + (f" or ({info.state_size},)" if allow_single else "")
        what = "states" if allow_single else "initial states"
        raise UsageError(f"{what} must have shape {allowed} for model `{info.name}`, got {tuple(y.shape)}")
    return y, single


def solve_fixed(
    model: AbstractModel,
    solver: str,
    key: PRNGKeyArray | None,
    y0: Float[Array, "paths states"],
    t0: float,
    dt: float,
    num_steps: int,
    plan: SavePlan,
    args: Any = None,
    *,
    increments: Float[Array, "steps paths noises"] | None = None,
) -> tuple[Float[Array, " saves"], Float[Array, "paths saves states"]]:
    """Integrate every path with a fixed step in one fused ``lax.scan``.

    The time of step ``i`` is ``t0 + i * dt`` (not a running sum, so float32
    runs do not drift). The increments of step ``i`` are
    ``sqrt(dt) * normal(fold_in(key, i), (m, P))``: the same key gives the
    same paths for every save plan. (Inside, the batch is held paths-minor;
    the arguments and results here are paths-major.)

    Args:
        model: the compiled model.
        solver: ``euler_maruyama``, ``heun``, ``milstein``, ``baoab`` or ``rk4``
            (checked against the model by
            :func:`~dync.info.solvers.check_solver`).
        key: a JAX PRNG key; may be ``None`` when ``increments`` is given or
            the model has no noise.
        y0: initial states of shape ``(P, n)``; its floating dtype is the
            dtype of the whole computation.
        t0: start time.
        dt: step size (> 0).
        num_steps: number of steps (static: a new value recompiles).
        plan: which states to keep (static).
        args: run-time data passed to every model call.
        increments: Brownian increments ``(num_steps, P, m)`` to use instead
            of drawing them (each ``~ N(0, dt)``); for convergence studies
            that refine one Brownian path.

    Returns:
        ``(ts, ys)``: the saved times ``(S,)`` and states ``(P, S, n)``.

    Raises:
        UsageError: the solver does not fit the model, or the arguments are
            inconsistent (shapes, a non-positive step, save steps out of range).

    Example:
        >>> ts, ys = solve_fixed(ou, "euler_maruyama", jax.random.key(0),
        ...                      jnp.zeros((10_000, 1)), 0.0, 1e-3, 1000,
        ...                      SavePlan.every(10))
        >>> ys.shape
        (10000, 101, 1)
    """
    info = model.info
    check_solver(info, solver)
    if solver not in FUSED_SOLVERS:
        raise UsageError(
            f"`{solver}` runs on diffrax, not on the fused kernels",
            hint="call `solve_diffrax`, or pick " + ", ".join(f"`{n}`" for n in sorted(FUSED_SOLVERS)),
        )
    y0, _ = state_batch(y0, info)
    if int(num_steps) != num_steps or num_steps < 1:
        raise UsageError(f"num_steps must be a positive whole number, got {num_steps!r}")
    num_steps = int(num_steps)
    if not isinstance(plan, SavePlan):
        raise UsageError(f"plan must be a SavePlan, got {type(plan).__name__}")
    if plan.kind == "steps" and plan.steps[-1] > num_steps:
        raise UsageError(f"save step {plan.steps[-1]} is beyond num_steps = {num_steps}")
    if isinstance(dt, (int, float)) and not (dt > 0 and math.isfinite(dt)):
        raise UsageError(f"dt must be positive and finite, got {dt!r}")
    m = info.noise_size if info.noise_structure != "none" else 0
    P = y0.shape[0]
    if increments is not None:
        increments = jnp.asarray(increments, y0.dtype)
        if increments.shape != (num_steps, P, m):
            raise UsageError(
                f"increments must have shape (num_steps, paths, noises) = {(num_steps, P, m)}, "
                f"got {tuple(increments.shape)}"
            )
        key = None
    elif key is None and m > 0:
        raise UsageError("a PRNG key is needed to draw the Brownian increments")
    return _solve_jit(
        model,
        key,
        y0,
        jnp.asarray(t0, y0.dtype),
        jnp.asarray(dt, y0.dtype),
        args,
        increments,
        solver=solver,
        num_steps=num_steps,
        plan=plan,
        block=_block_size(P, m),
        in_step=_in_step_unroll(),
        pairs=_paired_draws(),
    )
