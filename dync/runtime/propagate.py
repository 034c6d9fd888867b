r"""Move a batch of states from one time to another: the pure kernel under
particle filters, training losses and samplers.

:func:`propagate` advances states ``y`` of shape ``(paths, n)`` (or one state
``(n,)``) from ``t0`` to ``t1`` with a fused fixed-step solver
(:func:`~dync.runtime.solvers.fused.solve_fixed`) and returns the final
states only. It is a pure function of its arguments, so it composes with
``jax.jit``, ``jax.grad`` and ``jax.vmap``:

* **jit.** The number of steps is static (it is the length of a
  ``lax.scan``). Give it as ``num_steps=`` and ``t0``, ``t1`` may be traced
  (the step is then ``(t1 - t0) / num_steps``): one compilation serves every
  pair of times, which is what a particle filter needs between irregular
  observation times. Give ``dt=`` instead and ``t0``, ``t1``, ``dt`` must be
  concrete numbers, with ``t1 - t0`` a whole number of steps (the rule of
  :func:`~dync.runtime.simulate.simulate`).
* **grad.** Differentiable with respect to ``y``, to the model's parameters
  (build the model inside the differentiated function with
  :func:`~dync.runtime.params.with_params`, or differentiate the model
  itself with ``eqx.filter_grad``), and to traced ``t0``/``t1``.
* **vmap.** Over keys, states, and (with ``num_steps=``) over ``t0``/``t1``.

How the key is used
-------------------
The key drives the Brownian increments only: the increment of step ``i``
(counted from ``t0``) is ``sqrt(dt) * normal(fold_in(key, i), (m, paths))``,
the rule of :mod:`dync.runtime.solvers.fused`. So the same key, states,
times and model give the same numbers, and the numbers of one path depend on
the number of paths in the batch. ``propagate(fold_in(noise, 0), ...)`` is
exactly one block of :func:`~dync.runtime.simulate.simulate` (whose key is
split into ``init, noise, obs``). When moving a state on in several calls
(``t0 -> t1 -> t2``), give each call its own key (``jax.random.split``):
the same key twice reuses the same increments. A model without noise needs no
key (``None``).

Solvers
-------
``solver="auto"`` is :func:`~dync.info.solvers.choose_solver`'s fixed-step
choice, except that an ODE (for which it picks diffrax's ``tsit5``) runs on
the fused ``rk4``. Diffrax solvers (``tsit5``, ``dopri5``, ``shark``,
``sra1``, ``euler_diffrax``, ``heun_diffrax``) are refused with a
:class:`~dync.errors.UsageError`: their runner checks the result on the host,
which cannot happen under ``jit``/``grad``/``vmap``, and adaptive steps
would make the work depend on the values.

Fractional noise
----------------
A model with fractional noise carries the noise's memory in its hidden
states (part of ``y``), and its quadrature weights are tuned to the span
``[0, model.fbm_horizon]``. ``propagate`` uses the model as given and never
retunes it, so that consecutive calls integrate one and the same augmented
system: call ``model.with_horizon(T, dt)`` once, for the whole span the
states will be moved over, before propagating.
"""

from __future__ import annotations

import math
from typing import Any

import jax
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from ..errors import UsageError
from .keys import prng_key
from .model import AbstractModel
from .schedule import GRID_RTOL, on_grid

__all__ = ["propagate"]

def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _fused_solver(model: AbstractModel, solver: str) -> str:
    """The fused solver that runs ``solver`` for ``model`` (see the module docstring)."""
    from ..info.solvers import FUSED_SOLVERS, choose_solver

    choice = choose_solver(model.info, solver)
    if choice.backend == "fused":
        return choice.name
    if solver == "auto":
        return "rk4"  # an ODE: auto picks tsit5 for simulate, rk4 on the fused kernels
    raise UsageError(
        f"propagate runs the fused fixed-step solvers only, and `{choice.name}` runs on diffrax "
        "(its result is checked on the host, which cannot happen under jit, grad or vmap)",
        hint="use `auto` or one of " + ", ".join(f"`{s}`" for s in sorted(FUSED_SOLVERS))
        + "; `simulate` runs the diffrax solvers",
    )


def _steps(t0, t1, dt, num_steps) -> tuple[Any, int]:
    """``(dt, num_steps)`` from either form of the time arguments."""
    if num_steps is not None:
        if dt is not None:
            raise UsageError("give either dt or num_steps, not both")
        if isinstance(num_steps, bool) or _is_traced(num_steps) or int(num_steps) != num_steps or num_steps < 1:
            raise UsageError(f"num_steps must be a positive whole number (static), got {num_steps!r}")
        num_steps = int(num_steps)
        if not (_is_traced(t0) or _is_traced(t1)):
            a, b = float(t0), float(t1)
            if not (math.isfinite(a) and math.isfinite(b) and b > a):
                raise UsageError(f"need finite t0 < t1, got t0 = {a:g}, t1 = {b:g}")
        return (t1 - t0) / num_steps, num_steps
    if dt is None:
        raise UsageError(
            "propagate needs a step: dt= (with concrete t0, t1) or num_steps= (t0, t1 may be traced)"
        )
    if _is_traced(t0) or _is_traced(t1) or _is_traced(dt):
        raise UsageError(
            "with dt=, t0, t1 and dt must be concrete numbers (the number of steps is static), "
            "but some are traced",
            hint="pass num_steps= instead of dt= to move between traced times",
        )
    t0, t1, dt = float(t0), float(t1), float(dt)
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise UsageError(f"need finite t0 < t1, got t0 = {t0:g}, t1 = {t1:g}")
    if not (math.isfinite(dt) and dt > 0):
        raise UsageError(f"dt must be positive and finite, got {dt:g}")
    span = t1 - t0
    n = round(span / dt)
    if n < 1 or on_grid(t1, t0, dt, span) is None:
        n = max(1, math.ceil(span / dt - GRID_RTOL))
        raise UsageError(
            f"t1 - t0 = {span:g} is not a whole number of steps of dt = {dt:g}",
            hint=f"use dt = {span / n:.10g} ({n} step{'s' if n != 1 else ''}), or num_steps={n}",
        )
    return dt, n


def propagate(
    key: PRNGKeyArray | None,
    model: AbstractModel,
    y: Float[Array, "paths states"] | Float[Array, " states"],
    t0: float | Scalar,
    t1: float | Scalar,
    dt: float | None = None,
    solver: str = "auto",
    args: Any = None,
    *,
    num_steps: int | None = None,
) -> Float[Array, "paths states"] | Float[Array, " states"]:
    """Move states ``y`` from time ``t0`` to ``t1``; return the final states.

    Args:
        key: a JAX PRNG key for the Brownian increments (see the module
            docstring for exactly how it is used); ``None`` for a model
            without noise.
        model: a compiled model, used as given (parameters, fractional-noise
            horizon).
        y: states ``(paths, n)``, or one state ``(n,)``, with
            ``n = model.info.state_size`` (hidden states included); their
            floating dtype is the dtype of the computation.
        t0: start time; may be traced with ``num_steps``.
        t1: end time (> ``t0``); may be traced with ``num_steps``.
        dt: the step, when ``t0``, ``t1`` are concrete; ``t1 - t0`` must be a
            whole number of steps. Give ``dt`` or ``num_steps``.
        solver: ``"auto"`` or a fused solver: ``euler_maruyama``, ``heun``,
            ``milstein``, ``baoab``, ``rk4`` (checked against the model).
        args: run-time data of the model calls: for a model with inputs,
            ``dync.runtime.inputs.make_args(model.info, {name: ...})``.
        num_steps: the (static) number of equal steps from ``t0`` to ``t1``;
            the step is ``(t1 - t0) / num_steps``.

    Returns:
        The states at ``t1``, of the shape of ``y``.

    Raises:
        UsageError: neither or both of ``dt`` and ``num_steps``; traced times
            with ``dt``; ``t1 - t0`` not a whole number of steps of ``dt``; a
            diffrax or unfitting solver; ``y`` of the wrong shape; a model
            with inputs but no ``args``; a model with noise but no key.

    Example:
        >>> keys = jax.random.split(jax.random.key(0), 2)
        >>> y = jnp.zeros((1000, 1))
        >>> y = propagate(keys[0], ou, y, 0.0, 0.5, dt=0.01)
        >>> y = propagate(keys[1], ou, y, 0.5, 1.0, dt=0.01)  # t0 -> t1 -> t2
        >>> step = jax.jit(lambda k, y, a, b: propagate(k, ou, y, a, b, num_steps=20))
    """
    from .solvers.fused import SavePlan, solve_fixed, state_batch

    if not isinstance(model, AbstractModel):
        raise UsageError(f"propagate needs a compiled dync model, got {type(model).__name__}")
    key = prng_key(key)  # an integer seed too, as simulate takes one
    info = model.info
    step, n_steps = _steps(t0, t1, dt, num_steps)
    name = _fused_solver(model, solver)
    if info.inputs and args is None:
        names = ", ".join(f"`{n}`" for n in dict(info.inputs))
        raise UsageError(
            f"model `{info.name}` reads input(s) {names}: pass them in args",
            hint="args = dync.runtime.inputs.make_args(model.info, {name: (times, values)})",
        )
    batch, single = state_batch(y, info, allow_single=True)
    _, ys = solve_fixed(model, name, key, batch, t0, step, n_steps, SavePlan.final(), args=args)
    out = ys[:, 0, :]
    return out[0] if single else out
