"""The evidence lower bound of one series, estimated by sampling posterior
paths (reparameterised Euler–Maruyama, :mod:`.posterior`).

For a series with observations $y_{1:T}$ at times $t_1 < \\dots < t_T$:

$$\\mathrm{ELBO} = \\mathbb E_q\\Big[\\sum_j \\log p(y_j \\mid x_{t_j})\\Big]
- \\mathrm{KL}\\big(q(x_0)\\,\\|\\,p(x_0)\\big)
- \\mathbb E_q\\Big[\\tfrac12 \\int_{t_1}^{t_T} |u|^2 dt\\Big]
\\;\\le\\; \\log p(y_{1:T}).$$

The path starts at the first observation time from $q(x_0)$, a diagonal
normal over the initial components whose prior law is normal (components
fixed by the spec stay at their value and cost nothing). Between two
observations it takes ``substeps`` equal Euler–Maruyama steps, so a series
with irregular times steps at gap/substeps. The observation terms are the
spec's own ``observe`` laws (``observation_log_prob``: a missing component
adds 0, a padded slot is skipped). The control reads the context of the interval and the phase within it,
$(t - t_j)/(t_{j+1} - t_j)$ (the pull towards the next observation grows as
it nears). The whole series is one ``lax.scan`` over
the observation times whose carry accumulates the path KL; ``samples``
independent paths are averaged.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..model import AbstractModel
from .encoder import Encoder
from .posterior import Controller, posterior_step

__all__ = ["SeriesElbo", "initial_kl", "series_elbo"]


class SeriesElbo(NamedTuple):
    """One series' ELBO terms, averaged over the sampled paths.

    Attributes:
        loglik: the expected observation log-likelihood.
        kl_initial: KL(q(x0) || p(x0)).
        kl_path: the expected path KL, $\\tfrac12\\int|u|^2dt$.
        paths: the sampled states at the observation times, ``(samples, T, n)``.
    """

    loglik: Array
    kl_initial: Array
    kl_path: Array
    paths: Array

    @property
    def elbo(self) -> Array:
        """``loglik - kl_initial - kl_path``."""
        return self.loglik - self.kl_initial - self.kl_path


def initial_kl(mean, log_std, prior_mean, prior_std) -> Array:
    """KL of ``N(mean, exp(log_std)^2)`` from ``N(prior_mean, prior_std^2)``, summed."""
    var_ratio = jnp.exp(2 * log_std) / prior_std**2
    return 0.5 * jnp.sum(var_ratio + (mean - prior_mean) ** 2 / prior_std**2 - 1.0 - jnp.log(var_ratio))


def series_elbo(
    model: AbstractModel,
    encoder: Encoder,
    controller: Controller,
    key: PRNGKeyArray,
    features: Float[Array, "T F"],
    times: Float[Array, " T"],
    values: dict[str, Array],
    present: Array,
    *,
    free: np.ndarray,
    driven: np.ndarray,
    samples: int,
    substeps: int,
) -> SeriesElbo:
    """The ELBO terms of one series (see the module docstring).

    Args:
        model: the prior.
        encoder, controller: the variational posterior.
        key: the draws of this series.
        features: the encoder's input (:func:`.encoder.encoder_features`).
        times: ``(T,)`` observation times (padding repeats the last).
        values: name → ``(T, ...)`` observations, NaN where missing.
        present: ``(T,)`` False in padded slots.
        free: indices of the initial components with a normal prior law.
        driven: :func:`.posterior.driven_noise`.
        samples: paths averaged.
        substeps: Euler–Maruyama steps per observation interval.
    """
    mean0, log_std0, context = encoder(features, present)
    prior_mean, prior_std = model.initial_moments()
    kl0 = initial_kl(mean0, log_std0, prior_mean[free], prior_std[free])
    gaps = jnp.concatenate([times[1:] - times[:-1], jnp.zeros((1,), times.dtype)])
    gaps = jnp.where(jnp.concatenate([present[1:], jnp.zeros((1,), bool)]), gaps, 0.0)
    a = len(driven)

    def one_path(k):
        k0, kw = jax.random.split(k)
        x0 = prior_mean.at[free].set(mean0 + jnp.exp(log_std0) * jax.random.normal(k0, mean0.shape, mean0.dtype))
        eps_all = jax.random.normal(kw, (times.shape[0], substeps, a), x0.dtype)

        def interval(carry, inputs):
            y, ll, kl = carry
            t, gap, obs, here, ctx, eps = inputs
            ll = ll + jnp.where(here, model.observation_log_prob(t, y, obs), 0.0)
            h = gap / substeps

            def sub(c, inp):
                yy, kk = c
                i, e = inp
                phase = jnp.reshape(i / substeps, (1,)).astype(ctx.dtype)
                yy, dk = posterior_step(model, controller, driven, t + i * h, yy, jnp.concatenate([ctx, phase]), h, e)
                return (yy, kk + dk), None

            (y_next, kl), _ = jax.lax.scan(sub, (y, kl), (jnp.arange(substeps, dtype=y.dtype), eps))
            return (y_next, ll, kl), y

        zero = jnp.zeros((), x0.dtype)
        (_, ll, kl), ys = jax.lax.scan(interval, (x0, zero, zero), (times, gaps, values, present, context, eps_all))
        return ll, kl, ys

    ll, kl, paths = jax.vmap(one_path)(jax.random.split(key, samples))
    return SeriesElbo(jnp.mean(ll), kl0, jnp.mean(kl), paths)
