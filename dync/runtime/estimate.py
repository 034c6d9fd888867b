"""Point estimates: maximum likelihood and MAP, with Laplace standard errors.

Both estimators climb a :class:`~dync.runtime.logdensity.LogDensity` over the
unconstrained free parameters with an optax optimiser run by
:func:`~dync.runtime.kernels.run_kernel` (progress, checkpoints, resume):

==========  ==========================================================
``mle``     $\\ell(f(u))$: the log-likelihood alone, no prior, no Jacobian
``map``     $\\log p(f(u)) + \\log|\\det J_f(u)| + \\ell(f(u))$: the mode of
            the posterior density *over the unconstrained* $u$ (Stan's
            optimiser with its Jacobian on; see :mod:`dync.runtime.logdensity`)
==========  ==========================================================

Adam with a fixed step size circles the optimum rather than settling on it,
so the run ends with damped Newton steps (:func:`_newton_polish`): the
estimate is the optimum to the gradient tolerance, not Adam's last iterate.

Standard errors come from the Laplace approximation at the optimum: the
covariance of $u$ is $(-\\nabla^2 L(\\hat u))^{-1}$, the inverse of the
negative Hessian of the objective, and each constrained value's standard
error follows by the delta method, $\\mathrm{se}(x_i) = |f'(\\hat u_i)|\\,
\\mathrm{se}(u_i)$. The likelihood is whatever
:func:`~dync.runtime.likelihood.log_likelihood` computes for the model: exact
(Kalman) for a linear-Gaussian model, else a particle-filter estimate with a
fixed key (common random numbers, so the objective is a deterministic
function of the parameters for the optimiser).

The Hessian $H$ is the exact autodiff one for a Kalman likelihood. For the
particle filter it is not: the fixed-key estimate is piecewise in the
parameters (resampling jumps), and autodiff's Hessian ignores the jumps, so it
came out indefinite (NaN standard errors) or several times too sharp. There
$H$ is the curvature of a quadratic fitted to particle-filter estimates with
independent keys at a design of points about two standard errors around the
optimum (:mod:`dync.runtime.curvature`, after Box & Wilson 1951 and Ionides
et al. 2017), plus the log prior's exact Hessian for MAP; parameters along
which that curvature is not negative definite get NaN standard errors, named
in ``PointEstimate.curvature["undefined"]``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import equinox as eqx
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import PRNGKeyArray

from ..errors import DyncRuntimeError, UsageError, did_you_mean
from .kalman import kalman_arrays
from .kernels import Kernel, keeping_best, optax_kernel, run_kernel
from .likelihood import choose_method, data_digest, log_likelihood_with_method, read_data
from .logdensity import state_log_density
from .model import AbstractModel
from .parameter_density import ClosureDensity, KalmanDensity, ParameterDensity
from .params import hold_fixed

__all__ = ["POINT_METHODS", "PointEstimate", "fit_point"]

#: the point estimators
POINT_METHODS = ("mle", "map")


@dataclasses.dataclass(frozen=True)
class PointEstimate:
    """The result of :func:`fit_point`.

    Attributes:
        method: ``"mle"`` or ``"map"``.
        likelihood: ``"kalman"`` or ``"particle"``.
        estimates: name → constrained estimate of every free parameter.
        std_errors: name → Laplace standard error of each estimate (NaN where
            the negative Hessian is not positive definite: all of them for a
            Kalman likelihood, those named in ``curvature["undefined"]`` for
            the particle filter).
        names: the free parameters' flat coordinates, ``name`` or ``name[i]``,
            in the order of ``covariance``.
        covariance: the Laplace covariance of the *unconstrained* free
            parameters, ``(d, d)``.
        fixed: name → constrained value of the parameters held fixed.
        log_likelihood: the log-likelihood at the estimate.
        objective: the maximised value (the log-likelihood for MLE, the log
            posterior density over the unconstrained space for MAP).
        trace: the objective before each optimiser step.
        grad_norm: the gradient norm at the estimate.
        converged: ``grad_norm`` below the tolerance.
        model: the model at the estimate.
    """

    method: str
    likelihood: str
    estimates: dict[str, np.ndarray]
    std_errors: dict[str, np.ndarray]
    names: tuple[str, ...]
    covariance: np.ndarray
    fixed: dict[str, np.ndarray]
    log_likelihood: float
    objective: float
    trace: np.ndarray
    grad_norm: float
    converged: bool
    model: AbstractModel
    #: name → ``(lower, upper)`` 95 % Laplace interval, computed in the
    #: unconstrained space and mapped through the constraint (so it stays
    #: inside it: a positive parameter never gets a negative bound)
    intervals: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    #: how the curvature was measured: ``{"curvature": "autodiff"}`` (the
    #: exact Hessian of a Kalman likelihood), or for the particle filter
    #: ``"response-surface"`` with its design (``design_points``, ``keys``,
    #: ``evaluations``, ``steps``, ``noise_sd``), ``mc_relative_error`` and
    #: ``undefined``: the names of the coordinates whose standard error is NaN
    #: because the fitted curvature is not negative definite along them
    curvature: dict[str, Any] = dataclasses.field(default_factory=lambda: {"curvature": "autodiff"})


def _flat_names(values: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for name, v in values.items():
        shape = np.shape(v)
        if shape == ():
            out.append(name)
        else:
            out.extend(f"{name}[{', '.join(map(str, i))}]" for i in np.ndindex(*shape))
    return tuple(out)


def _in_spec_order(model: AbstractModel, position: Mapping[str, Any], covariance: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The covariance's coordinate names and rows in the spec's parameter
    order (the flat vector follows the position's own, sorted, key order)."""
    offsets, start = {}, 0
    for name, v in position.items():
        offsets[name] = np.arange(start, start + int(np.size(v)))
        start += int(np.size(v))
    order = [p.name for p in model.info.params if p.name in offsets]
    order += [n for n in offsets if n not in order]
    index = np.concatenate([offsets[n] for n in order]) if order else np.arange(0)
    return _flat_names({n: position[n] for n in order}), covariance[np.ix_(index, index)]


def fit_point(
    model: AbstractModel,
    data: Any,
    *,
    method: str = "mle",
    likelihood: str = "auto",
    steps: int = 2000,
    learning_rate: float = 0.05,
    fix: Mapping[str, Any] | None = None,
    key: PRNGKeyArray | None = None,
    particles: int = 1000,
    dt: float | None = None,
    tolerance: float = 1e-3,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
) -> PointEstimate:
    """Maximum-likelihood or MAP estimate of a model's parameters from data.

    Args:
        model: a compiled model; its current parameter values are the start.
        data: what :func:`~dync.runtime.likelihood.log_likelihood` reads (a
            NetCDF or CSV path, a Dataset, or data records).
        method: ``"mle"`` or ``"map"``.
        likelihood: ``"auto"``, ``"kalman"`` or ``"particle"``.
        steps: optimiser steps (Adam).
        learning_rate: Adam's step size, in the unconstrained space.
        fix: name → constrained value of parameters held fixed.
        key: the particle filter's key (required when it is used); the same
            key at every step.
        particles: particles per series for the particle filter.
        dt: the largest solver step between observations (particle filter).
        tolerance: the gradient norm below which the fit counts as converged.
        checkpoint: a file for checkpoints; an existing one is resumed
            (bit-identically, see :func:`~dync.runtime.kernels.run_kernel`).
        checkpoint_every: steps between checkpoints.
        progress: show a progress bar.

    Returns:
        A :class:`PointEstimate`.

    Raises:
        UsageError: an unknown method, a fixed name that is no parameter, no
            free parameter left, the particle filter without a key.

    Example:
        >>> fit = fit_point(dync.load("specs/ou.dync"), "ou.nc", method="mle")  # doctest: +SKIP
        >>> fit.estimates["theta"], fit.std_errors["theta"]  # doctest: +SKIP
    """
    if method not in POINT_METHODS:
        raise UsageError(f"unknown estimator `{method}`", hint=did_you_mean(method, POINT_METHODS) or "use mle or map")
    chosen = choose_method(model, likelihood)
    if chosen == "particle" and key is None:
        raise UsageError("the particle-filter likelihood needs a key", hint="pass key=jax.random.key(0)")
    split = hold_fixed(model, fix, "estimate")
    model, fixed, free, at = split.model, split.fixed, split.free, split.at
    records = read_data(model, data)

    def loglik(m):
        value, _ = log_likelihood_with_method(m, records, method=chosen, key=key, particles=particles, dt=dt)
        return value

    if chosen == "kalman":
        # the model's values and the data are traced leaves: a later fit of
        # new data (or from new values) of the same sizes compiles nothing
        padded = records.padded() if hasattr(records, "padded") else records
        density: ParameterDensity = KalmanDensity(model, split.held, kalman_arrays(model, padded))
    else:
        density = ClosureDensity(model, split.held, lambda m, per_series=False: loglik(m))
    objective = _Objective(density, method == "map")
    steps_of = _BestAdam(objective, float(learning_rate))
    kernel = Kernel(steps_of.init, steps_of.step)
    identity = (
        f"fit_point {method} {chosen} lr={learning_rate} fix={sorted(fixed.items())} particles={particles} "
        f"dt={dt} data={data_digest(records)}"
    )
    start = kernel.init(free)

    def stop_if_not_finite(chunk, done: int) -> None:
        values = np.asarray(chunk.value)
        if np.all(np.isfinite(values)):
            return
        i = int(np.argmax(~np.isfinite(values)))
        at_start = float(objective(start.inner.position))
        if not np.isfinite(at_start):
            raise DyncRuntimeError(
                f"the {method.upper()} objective is {at_start} at the starting values, before any step: some "
                "observation is impossible under the model there (its log-likelihood is -inf), so there is "
                "nothing to climb",
                hint="check the data against the observation laws: a count above a `Binomial`'s `n`, a value "
                "outside bounds that depend on a parameter (`Uniform(low, high)`), a positive count where a rate "
                "is 0; or start from values that allow every observation (--set NAME=VALUE)",
            )
        raise DyncRuntimeError(
            f"the {method.upper()} objective became {values[i]} at step {done - len(values) + i + 1}: "
            "the optimiser left the finite numbers, so there is no estimate to report",
            hint=_not_finite_hint(objective, start.inner.position, learning_rate),
        )

    run = run_kernel(
        kernel, start, jax.random.key(0), steps, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, progress=progress, description=f"{method} {model.info.name}",
        identity=identity, status_fn=lambda chunk, done: f"step {done}  objective {float(chunk.value[-1]):.6g}",
        on_chunk=stop_if_not_finite,
    )
    flat, unravel = ravel_pytree(run.state.inner.position)
    layout = _FlatLayout.of(run.state.inner.position)

    def value_and_grad(z):
        return _flat_value_and_grad(objective, layout, z)

    def hessian_fn(z):
        return _flat_hessian(objective, layout, z)

    if not float(value_and_grad(flat)[0]) >= float(run.state.value):
        flat = ravel_pytree(run.state.position)[0]  # the last iterate fell back: start from the best one
    flat, hessian = _newton_polish(flat, value_and_grad, hessian_fn, tolerance)
    best = unravel(flat)
    value, grad = jax.value_and_grad(objective)(best)
    if chosen == "particle":
        covariance, curvature = _particle_covariance(
            flat, unravel, at, records, hessian, method=method, key=key, particles=particles, dt=dt,
            progress=progress, description=f"standard errors {model.info.name}",
        )  # fmt: skip
    else:
        covariance, curvature = _laplace_covariance(np.asarray(hessian, np.float64)), {"curvature": "autodiff"}
    se_u = unravel(jnp.asarray(np.sqrt(np.diag(covariance)), flat.dtype))
    fitted = at(best)
    estimates, std_errors, intervals = {}, {}, {}
    for name, u in best.items():
        p = model.info.param(name)
        x = p.constraint.forward(u)
        slope = jnp.exp(p.constraint.log_det_jacobian(u))  # |f'(u)|
        estimates[name] = np.asarray(x)
        std_errors[name] = np.asarray(slope * se_u[name])
        ends = (p.constraint.forward(u - 1.96 * se_u[name]), p.constraint.forward(u + 1.96 * se_u[name]))
        intervals[name] = (np.asarray(jnp.minimum(*ends)), np.asarray(jnp.maximum(*ends)))
    grad_norm = float(jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(grad))))
    fixed_values = {n: np.asarray(v) for n, v in fixed.items()}
    converged = bool(math.isfinite(grad_norm) and grad_norm < tolerance)
    if "undefined" in curvature:  # the flat mask, in the position's order, as names
        flat_names = _flat_names(best)
        curvature = {**curvature, "undefined": tuple(n for n, bad in zip(flat_names, curvature["undefined"]) if bad),
                     "steps": dict(zip(flat_names, map(float, curvature["steps"])))}  # fmt: skip
    names, covariance = _in_spec_order(model, best, covariance)
    # positional, in the order of the PointEstimate fields
    return PointEstimate(
        method, chosen, estimates, std_errors, names, covariance, fixed_values,
        float(loglik(fitted)), float(value), np.asarray(run.info.value), grad_norm, converged, fitted, intervals,
        curvature,
    )


def _particle_covariance(
    flat, unravel, at, records, hessian, *, method: str, key, particles: int, dt, progress, description: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The Laplace covariance of a particle-filter fit from a quadratic
    response surface (:mod:`dync.runtime.curvature`), not the autodiff
    Hessian of the fixed-key estimate (piecewise in the parameters: its
    Hessian ignores the resampling jumps, and came out indefinite or several
    times too sharp).

    The surface is fitted to the log-likelihood at the fit's own particle
    count, with keys drawn from the fit's key (the same seed gives the same
    standard errors); for MAP the log prior's exact Hessian is added.

    Returns:
        The covariance of the flat unconstrained parameters (NaN rows and
        columns where the fitted curvature is not negative definite), and a
        record of how it was measured: ``curvature``, ``design_points``,
        ``keys``, ``evaluations``, ``steps``, ``noise_sd``,
        ``mc_relative_error`` (the largest jackknife relative Monte Carlo
        error of the standard errors), ``undefined`` (flat coordinates with
        no standard error).
    """
    from .curvature import jackknife_relative_error, partial_covariance, surface_hessian
    from .progress import progress_bar, show_progress

    d = int(flat.size)
    block, max_keys, pilot = 8, 32, 4
    surface_keys = jax.random.split(jax.random.fold_in(key, 0x5E), max_keys)

    @jax.jit
    def estimates(z, keys):
        def one(k):
            value, _ = log_likelihood_with_method(at(unravel(z)), records, method="particle", key=k,
                                                  particles=particles, dt=dt)  # fmt: skip
            return value

        return jax.vmap(one)(keys)

    def evaluate(point, first: int, count: int) -> np.ndarray:
        return np.asarray(estimates(jnp.asarray(point, flat.dtype), surface_keys[first:first + count]))

    extra = None
    if method == "map":
        extra = np.asarray(jax.hessian(lambda z: at(unravel(z)).log_prior())(flat), np.float64)
    total = 1 + 2 * d + (1 + 2 * d * d)  # one pilot round and one block of keys; the surface adds what it adds
    with progress_bar(total, description, show_progress(progress, total), unit="points") as advance:
        surface = surface_hessian(
            evaluate, np.asarray(flat, np.float64), np.asarray(hessian, np.float64), keys=block, max_keys=max_keys,
            pilot_rounds=pilot, extra_hessian=extra, advance=advance,
        )  # fmt: skip
    full = surface.hessian + (0 if extra is None else extra)
    covariance, affected = partial_covariance(full, surface.per_key)
    keep = np.flatnonzero(~affected)  # the Monte Carlo error of the standard errors that are there
    block_extra = None if extra is None else extra[np.ix_(keep, keep)]
    error = jackknife_relative_error(surface.per_key[:, keep][:, :, keep], block_extra) if keep.size else np.array([])
    record = {
        "curvature": "response-surface",
        "design_points": surface.points,
        "keys": surface.keys,
        "evaluations": surface.evaluations,
        "steps": surface.steps,
        "noise_sd": surface.noise_sd,
        "mc_relative_error": float(np.max(error)) if error.size else float("nan"),
        "undefined": affected,
    }
    return covariance, record


class _Objective(eqx.Module):
    """The MLE or MAP objective over the free unconstrained parameters, as a
    module: the density's arrays (model values, and the data of a Kalman
    likelihood) are traced arguments of the functions compiled for it, so a
    fit of new data of the same sizes reuses them."""

    density: ParameterDensity
    with_prior: bool = eqx.field(static=True)

    def __call__(self, position):
        m = self.density.at(position)
        value = self.density.loglik(m)
        if self.with_prior:
            value = value + m.log_prior()
        return jnp.reshape(value, ())


class _BestAdam(eqx.Module):
    """:func:`~dync.runtime.kernels.keeping_best` of an Adam
    :func:`~dync.runtime.kernels.optax_kernel` on ``objective``, with bound
    methods for ``init`` and ``step``: equal modules (same sizes and
    settings) share :func:`~dync.runtime.kernels.run_kernel`'s compiled
    chunk, where the closures of a fresh kernel compiled it anew per fit."""

    objective: _Objective
    learning_rate: float = eqx.field(static=True)

    def _kernel(self, position) -> Kernel:
        density = state_log_density(self.objective, position)
        return keeping_best(optax_kernel(density, optax.adam(self.learning_rate)))

    def init(self, position):
        return self._kernel(position).init(position)

    def step(self, key, state):
        return self._kernel(state.position).step(key, state)


class _FlatLayout(eqx.Module):
    """A position pytree's layout (names, shapes, dtypes) as static data:
    ``unravel`` of a flat vector, equal for equal layouts (the function
    ``ravel_pytree`` returns is new at every call, so a jit over it
    compiled anew per fit)."""

    names: tuple[str, ...] = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    dtypes: tuple[str, ...] = eqx.field(static=True)

    @classmethod
    def of(cls, position: Mapping[str, Any]) -> "_FlatLayout":
        names = tuple(sorted(position))  # ravel_pytree's order: a dict's sorted keys
        return cls(names, tuple(tuple(np.shape(position[n])) for n in names),
                   tuple(str(jnp.asarray(position[n]).dtype) for n in names))  # fmt: skip

    def unravel(self, flat):
        out, start = {}, 0
        for name, shape, dtype in zip(self.names, self.shapes, self.dtypes):
            size = int(np.prod(shape, dtype=int))
            out[name] = jnp.reshape(flat[start : start + size], shape).astype(dtype)
            start += size
        return out


@eqx.filter_jit
def _flat_value_and_grad(objective: _Objective, layout: _FlatLayout, flat):
    return jax.value_and_grad(lambda z: objective(layout.unravel(z)))(flat)


@eqx.filter_jit
def _flat_hessian(objective: _Objective, layout: _FlatLayout, flat):
    return jax.hessian(lambda z: objective(layout.unravel(z)))(flat)


def _not_finite_hint(objective, position, learning_rate: float) -> str:
    """What to change when the optimiser left the finite numbers: a gradient
    that is not finite at the start is the model's (a root or log at 0), not
    the step size's."""
    grad = jax.grad(objective)(position)
    bad = [name for name, g in grad.items() if not bool(jnp.all(jnp.isfinite(g)))]
    if bad:
        return (
            f"the gradient in {', '.join(f'`{n}`' for n in bad)} is not finite at the starting values: a sqrt or log "
            "at 0 where the model reaches it (a guard `sqrt(maximum(x, 0))` has an infinite slope at 0; write "
            "`sqrt(maximum(x, 0) + 1e-9)`), or start from other values (--set NAME=VALUE); `dync test` names such spots"
        )
    return f"lower --learning-rate (now {learning_rate:g}), or start from other values (--set NAME=VALUE)"


def _newton_polish(flat, value_and_grad, hessian_fn, tolerance: float, max_iterations: int = 25):
    """Finish an Adam run with damped Newton steps on the flat position.

    Adam with a fixed step size wanders around the optimum at a distance set
    by the step size (it never settles, and after many steps it drifts), so
    its last iterate is not the maximum. Near a maximum the objective is close
    to quadratic and Newton's step $-H^{-1}g$ lands on it in a few
    iterations. Each step is halved until the objective increases, or stays
    within its round-off while the gradient shrinks (at the top, float32
    values are flat to their last digits; at most 30 halvings); the loop stops when the gradient norm is below
    ``tolerance / 100``, when $-H$ is not positive definite (no maximum
    nearby: the Adam iterate is kept), or after ``max_iterations``. The
    result is never worse than where it started, beyond round-off.

    Returns:
        The polished flat position and the Hessian there.
    """
    value, grad = value_and_grad(flat)
    hessian = hessian_fn(flat)
    for _ in range(max_iterations):
        g = np.asarray(grad, np.float64)
        if not np.all(np.isfinite(g)) or np.linalg.norm(g) < tolerance / 100:
            break
        precision = -0.5 * (np.asarray(hessian, np.float64) + np.asarray(hessian, np.float64).T)
        try:
            chol = np.linalg.cholesky(precision)
        except np.linalg.LinAlgError:
            break
        direction = np.linalg.solve(chol.T, np.linalg.solve(chol, g))  # (-H)^{-1} g: uphill
        # at the top, in float32, the objective is flat to its round-off: a
        # step that keeps the value within that and shrinks the gradient counts
        round_off = 16 * float(jnp.finfo(flat.dtype).eps) * max(1.0, abs(float(value)))
        scale, improved = 1.0, False
        for _ in range(30):
            trial = flat + jnp.asarray(scale * direction, flat.dtype)
            trial_value, trial_grad = value_and_grad(trial)
            if bool(jnp.isfinite(trial_value)) and (
                float(trial_value) > float(value)
                or (
                    float(trial_value) >= float(value) - round_off
                    and np.linalg.norm(np.asarray(trial_grad, np.float64)) < np.linalg.norm(g)
                )
            ):
                improved = True
                break
            scale *= 0.5
        if not improved:
            break
        flat, value, grad = trial, trial_value, trial_grad
        hessian = hessian_fn(flat)
    return flat, hessian


def _laplace_covariance(hessian: np.ndarray) -> np.ndarray:
    """$(-H)^{-1}$, or NaN where $-H$ is not positive definite (not a maximum,
    or a flat direction)."""
    precision = -0.5 * (hessian + hessian.T)
    try:
        np.linalg.cholesky(precision)
    except np.linalg.LinAlgError:
        return np.full_like(precision, np.nan)
    return np.linalg.inv(precision)
