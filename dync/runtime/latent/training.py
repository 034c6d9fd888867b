"""Training of the variational posterior together with the spec's
parameters and nets: optax Adam on minibatches of series, with KL annealing,
run by :func:`~dync.runtime.kernels.run_kernel` (progress, checkpoints,
bit-identical resume).

The loss of one step, on a minibatch $B$ of the $S$ series, is

$$-\\frac{S}{|B|\\,N}\\sum_{b\\in B}\\Big(\\ell_b - \\beta_k\\,(\\mathrm{KL}^0_b + \\mathrm{KL}^{\\rm path}_b)\\Big),$$

with $N$ the number of observed values in the data set (so the step size
means the same for any data size) and $\\beta_k = \\min(1, k/K_{\\rm anneal})$
the KL weight at step $k$ (0 at the start, so the encoder first learns to
explain the data, then 1). With $\\beta = 1$ the bracket is the ELBO, and the
recorded ``elbo`` is its minibatch estimate for the whole data set
($S/|B|$ times the minibatch sum). Step $k$ draws its minibatch and paths
from the key ``fold_in(key, k)`` only (the kernel contract).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from ..kernels import Kernel
from .elbo import series_elbo

__all__ = ["FINAL_LEARNING_RATE", "TrainInfo", "TrainState", "vi_kernel"]

#: the step size at the end of the cosine schedule, as a fraction of the peak
FINAL_LEARNING_RATE = 0.01


class TrainState(NamedTuple):
    """The state of the VI kernel.

    Attributes:
        learned: the learnable arrays (model parameters and nets, encoder,
            controller), the array half of an ``eqx.partition``.
        opt_state: Adam's state.
        step: steps taken.
    """

    learned: Any
    opt_state: Any
    step: Array


class TrainInfo(NamedTuple):
    """What one step records: the minibatch estimate of the data set's
    ELBO (at $\\beta = 1$), the three terms, and the KL weight used."""

    elbo: Array
    loglik: Array
    kl_initial: Array
    kl_path: Array
    beta: Array


class Batch(NamedTuple):
    """The whole data set on the device, padded: features ``(S, T, F)``,
    times ``(S, T)``, values name → ``(S, T, ...)``, present ``(S, T)``."""

    features: Array
    times: Array
    values: dict
    present: Array


def vi_kernel(
    static: Any,
    data: Batch,
    *,
    free: np.ndarray,
    driven: np.ndarray,
    samples: int,
    substeps: int,
    batch_size: int,
    kl_anneal: int,
    learning_rate: float,
    steps: int,
    observed: int,
) -> tuple[Kernel, optax.GradientTransformation]:
    """The training kernel (see the module docstring).

    Args:
        static: the non-learnable half of ``(model, encoder, controller)``.
        data: the padded data set (device arrays).
        free, driven, samples, substeps: as in :func:`.elbo.series_elbo`.
        batch_size: series per step (all of them when larger).
        kl_anneal: steps over which the KL weight rises from 0 to 1.
        learning_rate: Adam's peak step size (cosine decay to a hundredth
            of it over ``steps``, gradients clipped to norm 10; a hundredth
            rather than a tenth: on the Lorenz spiking benchmark the last
            steps at the small step lift test rate R² 0.867 -> 0.871 and
            unseen-condition R² 0.862 -> 0.865, ``docs/latent.md``).
        steps: the run's length (for the schedule).
        observed: $N$, the number of observed values.

    Returns:
        The kernel and its optimiser (``kernel.init(learned)`` starts it).
    """
    num_series = int(data.present.shape[0])
    batch = min(int(batch_size), num_series)
    schedule = optax.cosine_decay_schedule(learning_rate, max(int(steps), 1), alpha=FINAL_LEARNING_RATE)
    optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(schedule))

    def batch_terms(learned, key, index):
        model, encoder, controller = eqx.combine(learned, static)
        keys = jax.random.split(key, index.shape[0])

        def one(k, i):
            values = {n: v[i] for n, v in data.values.items()}
            out = series_elbo(model, encoder, controller, k, data.features[i], data.times[i], values,
                              data.present[i], free=free, driven=driven, samples=samples, substeps=substeps)  # fmt: skip
            return out.loglik, out.kl_initial, out.kl_path

        return jax.vmap(one)(keys, index)

    def loss(learned, key, index, beta):
        ll, kl0, klp = batch_terms(learned, key, index)
        scale = num_series / index.shape[0]
        value = -scale * jnp.sum(ll - beta * (kl0 + klp)) / observed
        return value, (scale * jnp.sum(ll), scale * jnp.sum(kl0), scale * jnp.sum(klp))

    def init(learned) -> TrainState:
        return TrainState(learned, optimizer.init(learned), jnp.zeros((), jnp.int32))

    def step(key, state: TrainState):
        kb, kp = jax.random.split(key)
        if batch < num_series:
            index = jax.random.choice(kb, num_series, (batch,), replace=False)
        else:
            index = jnp.arange(num_series)
        beta = jnp.minimum(1.0, state.step.astype(jnp.float32) / max(int(kl_anneal), 1)) if kl_anneal > 0 else 1.0
        beta = jnp.asarray(beta, jnp.float32)
        (_, (ll, kl0, klp)), grads = jax.value_and_grad(loss, has_aux=True)(state.learned, kp, index, beta)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.learned)
        learned = eqx.apply_updates(state.learned, updates)
        info = TrainInfo(ll - kl0 - klp, ll, kl0, klp, beta)
        return TrainState(learned, opt_state, state.step + 1), info

    return Kernel(init, step), optimizer
