"""The log-posterior over a model's free parameters, as an equinox module.

Its arrays (the model's values, the held parameters, the data of a Kalman
likelihood) are leaves, so they are traced arguments of the functions
compiled for it: NUTS (:mod:`dync.runtime.posterior`) and the point
estimators (:mod:`dync.runtime.estimate`) rerun on new data or from new
values of the same sizes without compiling anything. A particle-filter
likelihood reads its data on the host, so :class:`ClosureDensity` holds it
as a static function (compiled anew for each new closure).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp

from .kalman import KalmanArrays, kalman_series_from_arrays
from .model import AbstractModel
from .params import with_unconstrained_params

__all__ = ["ClosureDensity", "KalmanDensity", "ParameterDensity"]


class ParameterDensity(eqx.Module):
    """The posterior log-density over the free unconstrained parameters, as
    a module: its arrays (model values, data) are traced arguments of the
    compiled functions that take it."""

    model: AbstractModel
    held: dict

    def at(self, position):
        """The model at ``position``, the held parameters kept."""
        return with_unconstrained_params(self.model, {**self.held, **position})

    @abc.abstractmethod
    def loglik(self, m, per_series: bool = False):
        """The log-likelihood of the data under model ``m`` (per series
        with ``per_series``)."""

    def __call__(self, position):
        m = self.at(position)
        return jnp.reshape(self.loglik(m) + m.log_prior(), ())


class KalmanDensity(ParameterDensity):
    """Exact Kalman likelihood of data held as traced arrays."""

    data: KalmanArrays

    def loglik(self, m, per_series: bool = False):
        series = kalman_series_from_arrays(m, *self.data)
        return series if per_series else jnp.sum(series)


class ClosureDensity(ParameterDensity):
    """Any likelihood, as a function of the model (a static closure)."""

    fn: Callable = eqx.field(static=True)

    def loglik(self, m, per_series: bool = False):
        return self.fn(m, per_series)
