"""The log-density contract: what fitting, sampling and training evaluate.

Everything after simulation asks one question of a compiled model: *how
probable is this point?* The point is a **position**, a pytree of arrays that
an optimiser or sampler moves freely in $\\mathbb{R}^n$; the answer is a scalar
log-density, differentiable in the position. :class:`LogDensity` is that pair,
a log-density function and a starting position, and nothing else needs to
know where it came from:

* :func:`parameter_log_density` builds one over the model's *unconstrained
  non-fixed parameters* (the position is ``{name: unconstrained array}``, see
  :func:`dync.runtime.params.unconstrained_params`), from the model's log
  prior and any differentiable likelihood ``model -> scalar`` (an exact
  Kalman filter, a particle filter, an ELBO);
* :func:`state_log_density` wraps any ``position -> scalar`` (densities over
  states, a ``target`` expression).

What each option of :func:`parameter_log_density` computes, with $u$ the
unconstrained parameters, $x = f(u)$ their constrained values, $p(x)$ the
declared priors (a flat, improper prior for a parameter without one) and
$\\ell(x)$ the log-likelihood:

==============  =========================================================  ======================
``prior``       value                                                      used by
==============  =========================================================  ======================
``True``        $\\log p(f(u)) + \\log|\\det J_f(u)| + \\ell(f(u))$          NUTS / HMC (samples it),
                the log posterior density *over* $u$                       MAP (maximises it)
``False``       $\\ell(f(u))$, no prior and **no** Jacobian                  MLE (maximises it)
==============  =========================================================  ======================

With ``prior=True`` the density is one over the unconstrained space, so a
sampler that draws $u$ from it and maps through $f$ draws $x$ from the
posterior. Its maximiser is the *mode in the unconstrained space*, which is
not the mode of the posterior density over $x$ (the Jacobian moves it): that
is the MAP this package reports, as Stan's optimiser does with its Jacobian
on. With ``prior=False`` the value is the likelihood of the parameters;
maximising it over $u$ maximises it over $x$ (the maximiser of a function does
not depend on how the argument is parametrised), so its maximiser mapped
through $f$ is the MLE.

BlackJAX takes the function itself: ``blackjax.nuts(density.fn, ...)``;
optax takes its gradient (see
:func:`dync.runtime.kernels.optax_kernel`).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree, Scalar

from ..errors import UsageError
from .model import AbstractModel
from .params import constrain, unconstrained_params, with_unconstrained_params

__all__ = ["LogDensity", "Position", "parameter_log_density", "state_log_density"]

#: A point a sampler or optimiser moves: any pytree of floating-point arrays
#: (for a parameter log-density, ``dict[str, Array]`` of unconstrained values).
Position = PyTree[Array]


class LogDensity(eqx.Module):
    """A differentiable log-density and the position to start from.

    The contract: ``fn(position)`` returns a finite-or-``-inf`` scalar for any
    position with the structure, shapes and dtypes of ``initial_position``;
    it is a pure JAX function (usable under ``jit``, ``grad``, ``vmap``) and
    its gradient is the direction of increasing density. Nothing about the
    position's meaning is assumed by the code that consumes it (optimisers,
    samplers); the builders record it in ``model``, which :meth:`to_model`
    and :meth:`constrained` use to map a position back to user space.

    The record is an ``eqx.Module`` (a pytree; pass it through
    ``eqx.filter_jit``, not ``jax.jit``). Its ``fn`` is a plain function:
    give ``density.fn`` to ``jax.jit`` and to BlackJAX (``logdensity_fn``).
    The arrays ``fn`` closes over (the model's) are constants of whatever
    compiles it.

    Attributes:
        fn: position → scalar log-density, a plain pure function. This is what
            BlackJAX's ``logdensity_fn`` arguments take.
        initial_position: a valid position (the model's current parameters
            for :func:`parameter_log_density`).
        model: the model whose unconstrained non-fixed parameters the
            position holds; ``None`` for a density over something else.
    """

    fn: Callable[[Position], Scalar]
    initial_position: Position
    model: AbstractModel | None = None

    def __call__(self, position: Position) -> Scalar:
        """``fn(position)``."""
        return self.fn(position)

    @property
    def value_and_grad(self) -> Callable[[Position], tuple[Scalar, Position]]:
        """``position -> (log-density, gradient)``, the gradient a pytree of the
        position's structure. A plain function (``jax.value_and_grad(fn)``), so
        ``jax.jit(density.value_and_grad)`` works."""
        return jax.value_and_grad(self.fn)

    @property
    def dimension(self) -> int:
        """The number of scalars in a position (the size of a flat mass matrix)."""
        return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(self.initial_position)))

    def to_model(self, position: Position) -> AbstractModel:
        """The model with the parameters of ``position`` (traceable).

        Raises:
            UsageError: this density is not over a model's parameters.
        """
        return with_unconstrained_params(self._require_model("to_model"), position)

    def constrained(self, position: Position) -> dict[str, Array]:
        """The parameters of ``position`` in user (constrained) space, by name.

        Raises:
            UsageError: this density is not over a model's parameters.
        """
        return constrain(self._require_model("constrained"), position)

    def _require_model(self, what: str) -> AbstractModel:
        if self.model is None:
            raise UsageError(
                f"LogDensity.{what}: this log-density is over a position of its own, "
                "not over a model's parameters",
                hint="build it with `parameter_log_density(model, ...)` to map positions to models",
            )
        return self.model


def parameter_log_density(
    model: AbstractModel,
    log_likelihood: Callable[[AbstractModel], Scalar] | None = None,
    *,
    prior: bool = True,
) -> LogDensity:
    """The log-density over a model's unconstrained non-fixed parameters.

    The position is ``{name: unconstrained array}`` for every parameter that
    is not a ``const``, as :func:`~dync.runtime.params.unconstrained_params`
    gives it; the start is the model's current values. Its value at $u$ is

    $$\\log p(f(u)) + \\log|\\det J_f(u)| + \\ell(f(u))$$

    with ``prior=True`` (the log posterior density over $u$, up to a
    constant: what NUTS samples and MAP maximises) and $\\ell(f(u))$ alone
    with ``prior=False`` (what MLE maximises; no Jacobian, so the maximiser
    is the MLE whatever the parametrisation). Parameters without a declared
    prior contribute only their log-Jacobian: a flat prior in user space. See
    the module docstring for why.

    Args:
        model: a compiled model; its non-fixed parameters become the position.
        log_likelihood: any differentiable function ``model -> scalar``
            evaluated at the model with the position's parameters (an exact
            Kalman filter, a particle filter with a fixed key, an ELBO...).
            ``None`` for the prior alone.
        prior: include the log prior and the log-Jacobians.

    Returns:
        The :class:`LogDensity`, with ``model`` set so that
        :meth:`LogDensity.to_model` and :meth:`LogDensity.constrained` work.

    Raises:
        UsageError: ``prior=False`` without a likelihood (nothing to evaluate),
            or a model with no parameter to move.

    Example:
        >>> density = parameter_log_density(ou, my_log_likelihood)  # doctest: +SKIP
        >>> value, grad = jax.jit(density.value_and_grad)(density.initial_position)  # doctest: +SKIP
    """
    if not prior and log_likelihood is None:
        raise UsageError(
            "parameter_log_density: prior=False without a log_likelihood leaves nothing to evaluate",
            hint="pass a log_likelihood (a function model -> scalar), or keep prior=True",
        )
    position = unconstrained_params(model)
    if not position:
        raise UsageError(
            f"parameter_log_density: model `{model.info.name}` has no parameter to fit or sample "
            "(only constants)",
            hint="declare one with `param` in the spec",
        )
    def fn(position: Position) -> Scalar:
        at = with_unconstrained_params(model, position)
        value = at.log_prior() if prior else jnp.zeros(())
        if log_likelihood is not None:
            value = value + log_likelihood(at)
        return jnp.reshape(value, ())

    return LogDensity(fn, position, model)


def state_log_density(fn: Callable[[Position], Scalar], initial_position: Position) -> LogDensity:
    """A log-density over a position of the caller's own (states, latents).

    Args:
        fn: position → scalar log-density, a pure JAX function.
        initial_position: where to start; its structure, shapes and dtypes are
            the ones every position must have.

    Returns:
        The :class:`LogDensity` (without a model: :meth:`LogDensity.to_model`
        raises).

    Example:
        >>> density = state_log_density(lambda x: -0.5 * jnp.sum(x**2), jnp.zeros(2))
        >>> float(density(jnp.ones(2)))
        -1.0
    """
    return LogDensity(fn, jax.tree_util.tree_map(jnp.asarray, initial_position), None)

