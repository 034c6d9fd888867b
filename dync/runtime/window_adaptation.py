"""Stan's window adaptation for NUTS and HMC, one step at a time, from
BlackJAX's own building blocks.

``blackjax.window_adaptation(...).run`` runs the whole warm-up as one
``lax.scan``: nothing can be shown while it runs, and an interrupted warm-up
is lost. The pieces that scan is made of are public in
``blackjax.adaptation.window_adaptation``: the schedule
(:func:`build_schedule`: an initial fast window, slow windows doubling in
size, a final fast window) and the adaptation's ``init``/``update``/``final``
(``base``: dual averaging of the step size towards the target acceptance
rate, a diagonal inverse mass matrix from Welford variances, recomputed at
the end of each slow window, the step size restarted there). This module
hands them to a caller that takes the steps itself, a chunk at a time
(:mod:`dync.runtime.posterior`'s NUTS, :mod:`dync.runtime.sampling`'s HMC and
NUTS), and draws each step's key exactly as ``run`` does, so the chunked
warm-up adapts to the same step size and mass matrix as ``run`` from the
same key. The adaptation does not depend on the kernel: the caller's step
is BlackJAX's NUTS or HMC kernel (with HMC's ``num_integration_steps``, as
``run`` passes its ``extra_parameters``) at the adaptation's step size and
inverse mass matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation import window_adaptation as _blackjax_window
from jax.extend.random import threefry_2x32
from jaxtyping import Array, Int, PRNGKeyArray

__all__ = ["WindowAdaptation", "adapt_chains", "chain_warmup_keys", "window_adaptation", "window_schedule", "warmup_step_key"]


class WindowAdaptation(NamedTuple):
    """BlackJAX's window adaptation as three functions of one chain.

    Attributes:
        init: ``init(position, initial_step_size) -> state``.
        update: ``update(state, (stage, window_end), position,
            acceptance_rate) -> state``, after each NUTS/HMC step; the state's
            ``step_size`` and ``inverse_mass_matrix`` are what the next step
            uses.
        final: ``final(state) -> (step_size, inverse_mass_matrix)``, the
            adapted values the draws use.
    """

    init: Callable[..., Any]
    update: Callable[..., Any]
    final: Callable[[Any], tuple[Array, Array]]


def window_adaptation(target_accept: float) -> WindowAdaptation:
    """The functions ``blackjax.window_adaptation(blackjax.nuts, ...,
    target_acceptance_rate=target_accept)`` adapts with (a diagonal mass
    matrix), from ``blackjax.adaptation.window_adaptation.base``; the same
    for ``blackjax.hmc``, whose kernel differs and adaptation does not.

    BlackJAX 1.7 marks ``base`` deprecated (its ``window_adaptation`` now
    delegates to ``staged_adaptation`` with the ``"welford_diag"`` metric,
    which its documentation says reproduces ``base`` exactly); the warning is
    silenced here, and ``tests/runtime/test_posterior_warmup.py`` and
    ``tests/runtime/test_sampling_warmup.py`` (NUTS and HMC) check the
    result against ``window_adaptation(...).run`` so that a BlackJAX that
    changes one and not the other is noticed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        init, update, final = _blackjax_window.base(True, target_acceptance_rate=target_accept)
    return WindowAdaptation(init, update, final)


def window_schedule(num_steps: int) -> Int[np.ndarray, "steps 2"]:
    """Stan's schedule for ``num_steps`` warm-up steps, as
    ``blackjax.adaptation.window_adaptation.build_schedule`` gives it: per
    step its stage (0 fast, 1 slow) and whether it ends a slow window."""
    if num_steps <= 0:
        return np.zeros((0, 2), np.int32)
    with jax.ensure_compile_time_eval():  # a constant, also when called while tracing
        return np.asarray(_blackjax_window.build_schedule(num_steps), np.int32)


def warmup_step_key(key: PRNGKeyArray, num_steps: int, i: Int[Array, ""]) -> PRNGKeyArray:
    """The key of warm-up step ``i`` of a chain whose warm-up key is ``key``:
    ``jax.random.split(key, num_steps)[i]``, as ``window_adaptation(...).run``
    draws them.

    With JAX's default keys (Threefry, ``jax_threefry_partitionable``, the
    default since JAX 0.5) key ``i`` of a split is the Threefry hash of the
    counter ``(0, i)``, whatever ``num_steps`` is: that one hash is computed
    (``tests/runtime/test_window_adaptation.py`` checks it equals the split's
    key). Otherwise all ``num_steps`` keys are derived and one taken, which
    costs ``num_steps`` hashes a step (on a cheap target a NUTS warm-up of
    500 steps ran 1.6-2x slower that way)."""
    if jax.config.jax_threefry_partitionable and str(jax.random.key_impl(key)) == "threefry2x32":
        counter = jnp.stack([jnp.zeros((), jnp.uint32), jnp.asarray(i).astype(jnp.uint32)])
        return jax.random.wrap_key_data(threefry_2x32(jax.random.key_data(key), counter), impl="threefry2x32")
    return jax.random.split(key, num_steps)[i]


def chain_warmup_keys(key: PRNGKeyArray, chains: int, num_steps: int, i: Int[Array, ""]) -> PRNGKeyArray:
    """Every chain's key of warm-up step ``i``: chain ``c`` warms up with the
    key ``split(key, chains)[c]``, as ``run`` would if called per chain."""
    return jax.vmap(lambda kc: warmup_step_key(kc, num_steps, i))(jax.random.split(key, chains))


def adapt_chains(adaptation: WindowAdaptation, schedule, i: Int[Array, ""], states, positions, acceptance):
    """Every chain's adaptation state after warm-up step ``i`` (its window
    from ``schedule``, :func:`window_schedule` as an array), from the
    chains' new positions and acceptance rates; dtypes kept, so the state
    traces alike at every step."""
    stage = (schedule[i, 0], schedule[i, 1])
    new = jax.vmap(lambda a, p, acc: adaptation.update(a, stage, p, acc))(states, positions, acceptance)
    return jax.tree_util.tree_map(lambda x, y: jnp.asarray(x).astype(y.dtype), new, states)
