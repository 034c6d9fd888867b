"""Drawing from a log-density with many chains: warm-up (step-size and mass
adaptation where the method has one, else burn-in), then the draws through
:func:`~dync.runtime.kernels.run_kernel` (progress, checkpoints,
bit-identical resume), chains side by side (``vmap``).

=========  ================================  ==================================
method     warm-up                           draws
=========  ================================  ==================================
``ula``    burn-in at ``step_size``          :func:`~.samplers.ula`
``baoab``  burn-in at ``step_size``          :func:`~.samplers.baoab`
``mala``   dual averaging of each chain's    :func:`~.samplers.mala`
           step to ``target_accept`` (0.574)
``hmc``    BlackJAX window adaptation (step  :func:`~.samplers.hmc`
           size and diagonal mass matrix),
           in ``run_kernel``'s chunks
``nuts``   the same                          :func:`~.samplers.nuts`
``sgld``   burn-in at the step schedule      :func:`~.samplers.sgld` (minibatches
                                             of a :class:`SumOverData`)
=========  ================================  ==================================

With ``step_size`` given, MALA, HMC and NUTS skip the adaptation (burn-in
only, unit mass). ULA, BAOAB and SGLD have no acceptance rate to adapt to, so
they need ``step_size``.

A chain whose position leaves the finite numbers stops the run with a
:class:`~dync.errors.DyncRuntimeError` naming the chain, the iteration and the
state.

HMC's and NUTS's window adaptation runs as steps of the run itself
(:mod:`~dync.runtime.window_adaptation`, as :func:`dync.fit`'s NUTS does):
``warmup`` adapting steps, then the draws, in ``run_kernel``'s chunks, so the
progress bar moves during the warm-up, Ctrl-C keeps the warm-up done so far
and a resumed run is bit-identical; on one chain it adapts bit for bit as
``blackjax.window_adaptation(...).run`` from the same key. The other methods'
warm-up (burn-in, MALA's dual averaging) is ``run_kernel``'s ``prepare``,
run once at the start of the first chunk. Either way the warm-up and the
draws compile as one program, and the sampler is an equinox module whose
arrays are arguments of that program, so a later run of the same target with
the same settings reuses it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..errors import DyncRuntimeError, UsageError, did_you_mean
from . import samplers
from .inference_data import chain_first
from .kernels import Kernel, run_kernel, save_result
from .samplers import SumOverData
from .window_adaptation import adapt_chains, chain_warmup_keys, window_adaptation, window_schedule

__all__ = ["DEFAULT_TARGET_ACCEPT", "SAMPLE_METHODS", "SampleRun", "SumOverData", "sample_density"]

#: the samplers of a log-density (``sgld`` needs it as a :class:`SumOverData`)
SAMPLE_METHODS = ("ula", "mala", "baoab", "hmc", "nuts", "sgld")

#: the methods that need ``step_size`` (no acceptance rate to adapt it to)
_NEED_STEP = ("ula", "baoab", "sgld")

#: the acceptance rate each adapting method aims at by default (MALA: the
#: optimal 0.574 of Roberts & Rosenthal 1998; HMC/NUTS: Stan's 0.8)
DEFAULT_TARGET_ACCEPT = {"mala": 0.574, "hmc": 0.8, "nuts": 0.8}


class SampleRun(NamedTuple):
    """What :func:`sample_density` returns.

    Attributes:
        positions: ``(chains, samples, n)`` the draws.
        logdensity: ``(chains, samples)`` the log-density at each draw.
        info: a :class:`~.samplers.SamplerInfo` of ``(chains, samples)``
            arrays.
        step_size: ``(chains,)`` the step size used for the draws (SGLD:
            its first step).
        step_sizes: ``(chains, samples)`` the step of the move that made
            each draw (the schedule's $h_t$ for SGLD, else ``step_size``).
    """

    positions: np.ndarray
    logdensity: np.ndarray
    info: samplers.SamplerInfo
    step_size: np.ndarray
    step_sizes: np.ndarray | None = None


def _check_sizes(chains: int, warmup: int, samples: int, thin: int) -> None:
    for what, n, least in (("chains", chains, 1), ("warmup", warmup, 0), ("samples", samples, 1), ("thin", thin, 1)):
        if isinstance(n, bool) or int(n) != n or n < least:
            word = "positive" if least else "non-negative"
            raise UsageError(f"{what} must be a {word} whole number, got {n!r}")


def _mala_warmup(logdensity_fn, warmup: int, initial_step: float, target: float):
    """One chain's MALA warm-up: dual averaging of log(step) towards
    ``target`` acceptance; returns the state and the averaged step."""
    da_init, da_update, da_final = blackjax.adaptation.step_size.dual_averaging_adaptation(target)

    def run(key, position):
        state = samplers.mala(logdensity_fn, initial_step).init(position)

        def body(carry, k):
            state, da = carry
            step = jnp.exp(da.log_step_size)
            state, info = samplers.mala(logdensity_fn, step).step(k, state)
            accept = jnp.where(jnp.isfinite(info.acceptance_rate), info.acceptance_rate, 0.0)
            return (state, da_update(da, accept)), None

        (state, da), _ = jax.lax.scan(body, (state, da_init(initial_step)), jax.random.split(key, warmup))
        return state, da_final(da) if warmup > 0 else jnp.asarray(initial_step, position.dtype)

    return run


def _burn_in(kernel: Kernel, warmup: int, random_init: bool = False):
    """One chain's burn-in: ``warmup`` steps from ``kernel.init(position)``
    (with a key for a kernel whose state has a random part: BAOAB's
    momentum, drawn from its stationary law)."""

    def run(key, position):
        key, key_init = jax.random.split(key)
        state = kernel.init(position, key_init) if random_init else kernel.init(position)
        if warmup == 0:
            return state

        def body(s, k):
            return kernel.step(k, s)[0], None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, warmup))
        return state

    return run


def _split_chains(initial: Array, devices: Any) -> Array:
    """``initial`` with its chain axis sharded over ``devices`` (when there
    are several and they divide the chains evenly); the vmapped warm-up and
    draws follow the sharding of their input, so every device runs its own
    chains."""
    from jax.sharding import NamedSharding, PartitionSpec

    from .devices import resolve_devices

    chosen = resolve_devices(devices)
    if len(chosen) < 2 or initial.shape[0] % len(chosen):
        return initial
    mesh = jax.sharding.Mesh(np.asarray(chosen, dtype=object), ("chain",))
    return jax.device_put(initial, NamedSharding(mesh, PartitionSpec("chain")))


class _Chains(NamedTuple):
    """What the chains carry from step to step: every chain's sampler state
    and the step and inverse mass it draws with, the warm-up's input (its
    key, the starting positions) with a flag saying whether ``prepare`` has
    run, the steps taken so far, and (HMC/NUTS adapting in the run's steps)
    every chain's window adaptation state (``()`` for the other methods).

    ``prepare`` runs inside the first chunk's program: the whole warm-up for
    the methods that burn in or adapt MALA's step, only the first states
    for HMC/NUTS, whose warm-up is the run's first ``warmup`` steps."""

    warmed: Any
    step: Any
    key: PRNGKeyArray
    start: Float[Array, "chains n"]
    states: Any
    step_size: Float[Array, " chains"]
    inverse_mass: Float[Array, "chains n"]
    adaptation: Any


class _Record(NamedTuple):
    """What is kept of each draw (``finite``: the position and log-density
    are finite, computed on the device)."""

    position: Any
    logdensity: Any
    info: samplers.SamplerInfo
    step_size: Any
    finite: Any


#: the per-draw scalars of a :class:`_Record`, in the order they are packed
_STATS = ("logdensity", "acceptance_rate", "is_accepted", "diverging", "energy", "n_steps", "step_size", "finite")


class _PackedRecord(NamedTuple):
    """A :class:`_Record` as the compiled program stacks it: the position,
    and every per-draw scalar packed into one ``(chains, len(_STATS))`` array
    of the position's dtype. Each stacked output of the draw loop is a buffer
    and an update per draw that XLA compiles separately: packed, a 1000-D
    BAOAB's program compiles 0.1 s faster, a MALA's likewise. Booleans and
    gradient counts are exact in any float dtype (counts below 2**24)."""

    position: Any
    stats: Any

    def unpack(self) -> _Record:
        """The :class:`_Record` (host arrays, the original dtypes)."""
        column = {name: self.stats[..., i] for i, name in enumerate(_STATS)}
        info = samplers.SamplerInfo(
            column["acceptance_rate"], column["is_accepted"] != 0, column["diverging"] != 0,
            column["energy"], np.rint(column["n_steps"]).astype(np.int32),
        )  # fmt: skip
        return _Record(self.position, column["logdensity"], info, column["step_size"], column["finite"] != 0)


class _Sampler(eqx.Module):
    """One sampler over all chains: its warm-up and its draw step.

    A pytree whose leaves are the log-density's arrays (a model's parameters,
    a target's data) and whose settings are static, so that the compiled
    chunk of :func:`run_kernel` is reused by a later run of the same target
    with the same settings (equinox compares the static parts by value; a
    plain ``logdensity_fn`` by identity)."""

    logdensity_fn: Callable
    sum_over_data: SumOverData | None
    method: str
    chains: int
    warmup: int
    thin: int
    step_size: float | None
    target: float
    friction: float
    mass: Any
    num_integration_steps: int
    batch_size: int | None
    step_decay: float
    decay_steps: float

    def kernel(self, step, inverse_mass) -> Kernel:
        """One chain's kernel at ``step`` (and ``inverse_mass`` for HMC/NUTS)."""
        if self.method == "sgld":
            d = self.sum_over_data
            return samplers.sgld(d.logprior_fn, d.loglikelihood_fn, d.data, self.batch_size, self.step_size,
                                 self.step_decay, self.decay_steps)  # fmt: skip
        if self.method == "ula":
            return samplers.ula(self.logdensity_fn, step)
        if self.method == "mala":
            return samplers.mala(self.logdensity_fn, step)
        if self.method == "baoab":
            return samplers.baoab(self.logdensity_fn, step, self.friction, self.mass)
        if self.method == "hmc":
            return samplers.hmc(self.logdensity_fn, step, inverse_mass, self.num_integration_steps)
        return samplers.nuts(self.logdensity_fn, step, inverse_mass)

    def warm(self, key: PRNGKeyArray, positions: Float[Array, "chains n"]):
        """Every chain's warm-up: its state, step and inverse mass for the draws."""
        chains, n = positions.shape
        dtype = positions.dtype
        keys = jax.random.split(key, chains)
        unit = jnp.ones((chains, n), dtype)
        fixed = jnp.full((chains,), self.step_size or 0.0, dtype)
        method = self.method
        if method in ("sgld", "ula", "baoab") or (self.step_size is not None and method in ("mala", "hmc", "nuts")):
            kernel = self.kernel(self.step_size, jnp.ones(n, dtype))
            states = jax.vmap(_burn_in(kernel, self.warmup, random_init=method == "baoab"))(keys, positions)
            return states, fixed, unit
        if method == "mala":
            states, steps = jax.vmap(_mala_warmup(self.logdensity_fn, self.warmup, 0.1, self.target))(keys, positions)
            return states, steps.astype(dtype), unit
        raise AssertionError(f"`{method}` adapts in the run's own steps (_Sampler.adapts_in_steps), not in warm")

    @property
    def adapts_in_steps(self) -> bool:
        """Whether the warm-up is the run's first ``warmup`` steps: HMC's and
        NUTS's window adaptation (no ``step_size`` given); the other methods
        warm up inside :meth:`prepare`."""
        return self.method in ("hmc", "nuts") and self.step_size is None and self.warmup > 0

    @property
    def steps(self) -> int:
        """The run's steps before the first draw (``run_kernel`` runs
        ``steps + samples`` steps, the first ``steps`` of them warm-up)."""
        return self.warmup if self.adapts_in_steps else 0

    def _first(self, positions: Float[Array, "chains n"]):
        """Every chain's first state, first adaptation state, and the
        parameters of a run without warm-up (BlackJAX's: step 1, identity
        mass); a chunked warm-up replaces the parameters at its end."""
        chains, n = positions.shape
        dtype = positions.dtype
        states = jax.vmap(self.kernel(jnp.ones((), dtype), jnp.ones(n, dtype)).init)(positions)
        adaptation = window_adaptation(self.target)
        adapt = jax.vmap(lambda p: adaptation.init(p, 1.0))(positions)
        steps, inverse_mass = jax.vmap(adaptation.final)(adapt)
        return states, steps.astype(dtype), inverse_mass.astype(dtype), adapt

    def unwarmed(self, positions: Float[Array, "chains n"]):
        """Placeholders of the chains' state after :meth:`prepare` (its
        structure, shapes and dtypes), without running it: the states, step
        sizes, inverse masses and adaptation states."""
        chains, n = positions.shape
        dtype = positions.dtype
        if self.adapts_in_steps:
            return self._first(positions)
        states = jax.vmap(self.kernel(jnp.ones((), dtype), jnp.ones(n, dtype)).init)(positions)
        return states, jnp.zeros((chains,), dtype), jnp.zeros((chains, n), dtype), ()

    def prepare(self, chains: _Chains) -> _Chains:
        """Once, when ``chains.warmed`` is false: the warm-up, or for a
        chunked warm-up (:attr:`adapts_in_steps`) the first states."""

        def run(c: _Chains) -> _Chains:
            if self.adapts_in_steps:
                built = self._first(c.start)
            else:
                built = (*self.warm(c.key, c.start), ())
            like = (c.states, c.step_size, c.inverse_mass, c.adaptation)
            states, steps, inverse_mass, adapt = jax.tree_util.tree_map(lambda a, b: a.astype(b.dtype), built, like)
            return c._replace(warmed=jnp.ones((), bool), states=states, step_size=steps, inverse_mass=inverse_mass,
                              adaptation=adapt)  # fmt: skip

        return jax.lax.cond(chains.warmed, lambda c: c, run, chains)

    def step(self, key: PRNGKeyArray, chains: _Chains):
        """One step of every chain: a draw (``thin`` steps of its kernel),
        or, while ``chains.step < warmup`` of a chunked warm-up, one
        adapting step. Returns the info and the step size each chain used."""

        def draw(k, state, step, inverse_mass):
            return samplers.thinned(self.kernel(step, inverse_mass), self.thin).step(k, state)

        if not self.adapts_in_steps:
            keys = jax.random.split(key, self.chains)
            states, info = jax.vmap(draw)(keys, chains.states, chains.step_size, chains.inverse_mass)
            return chains._replace(states=states, step=chains.step + 1), (info, chains.step_size)
        return self._adapting_step(key, chains, draw)

    def _warm_step(self, k, state, step, inverse_mass):
        """One warm-up step of one chain, as ``window_adaptation(...).run``
        takes it: BlackJAX's kernel (HMC with exactly ``L`` leapfrog steps,
        not the draws' jittered number)."""
        extra = {} if self.method == "nuts" else {"num_integration_steps": self.num_integration_steps}
        algorithm = blackjax.nuts if self.method == "nuts" else blackjax.hmc
        new, info = algorithm.build_kernel()(k, state, self.logdensity_fn, step, inverse_mass, **extra)
        return new, samplers.hmc_info(new, info)

    def _adapting_step(self, key: PRNGKeyArray, c: _Chains, draw):
        """A step of a run whose first ``warmup`` steps are HMC's/NUTS's
        window adaptation (:mod:`~dync.runtime.window_adaptation`): each
        chain's warm-up step ``i`` is keyed as ``window_adaptation(...).run``
        keys it from the chain's warm-up key, the adaptation state is updated
        after it, and the last one sets the draws' step size and inverse mass
        from the adaptation's ``final``. NUTS without thinning takes a
        warm-up step and a draw as one traced kernel (the same BlackJAX
        step, its key and parameters chosen by the step's index); otherwise
        a ``lax.cond`` picks the one or the other."""
        adaptation = window_adaptation(self.target)
        schedule = jnp.asarray(window_schedule(self.warmup))
        warming = c.step < self.warmup
        i = jnp.minimum(c.step, self.warmup - 1)

        def warm_keys():
            return chain_warmup_keys(c.key, self.chains, self.warmup, i)

        step_size = jnp.where(warming, c.adaptation.step_size.astype(c.step_size.dtype), c.step_size)
        inverse_mass = jnp.where(warming, c.adaptation.inverse_mass_matrix.astype(c.inverse_mass.dtype), c.inverse_mass)
        if self.method == "nuts" and self.thin == 1:
            keys = jax.lax.cond(warming, warm_keys, lambda: jax.random.split(key, self.chains))
            states, info = jax.vmap(self._warm_step)(keys, c.states, step_size, inverse_mass)
        else:
            states, info = jax.lax.cond(
                warming,
                lambda: jax.vmap(self._warm_step)(warm_keys(), c.states, step_size, inverse_mass),
                lambda: jax.vmap(draw)(jax.random.split(key, self.chains), c.states, step_size, inverse_mass),
            )

        def adapt(a):
            return adapt_chains(adaptation, schedule, i, a, states.position, info.acceptance_rate)

        adapted = jax.lax.cond(warming, adapt, lambda a: a, c.adaptation)

        def finish(params):
            steps, inverse = jax.vmap(adaptation.final)(adapted)
            return steps.astype(params[0].dtype), inverse.astype(params[1].dtype)

        params = jax.lax.cond(c.step == self.warmup - 1, finish, lambda p: p, (c.step_size, c.inverse_mass))
        new = c._replace(states=states, adaptation=adapted, step_size=params[0], inverse_mass=params[1],
                         step=c.step + 1)  # fmt: skip
        return new, (info, step_size)

    def record(self, chains: _Chains, out) -> _PackedRecord:
        """What a step keeps: position, log-density, info, the step of the
        move that made it (SGLD's schedule; the adapting step size during a
        chunked warm-up), and whether it is finite (packed;
        :meth:`_PackedRecord.unpack` gives the :class:`_Record`)."""
        info, h = out
        s = chains.states
        if self.method == "sgld":
            schedule = samplers.step_schedule(self.step_size, self.step_decay, self.decay_steps)
            h = jnp.broadcast_to(schedule(s.count - 1), (self.chains,)).astype(s.position.dtype)
        finite = jnp.isfinite(s.logdensity) & jnp.all(jnp.isfinite(s.position), axis=-1)
        values = {"logdensity": s.logdensity, "step_size": h, "finite": finite, **info._asdict()}
        dtype = jnp.result_type(s.position.dtype, jnp.asarray(s.logdensity).dtype, jnp.asarray(info.energy).dtype,
                                jnp.asarray(info.acceptance_rate).dtype)  # fmt: skip
        stats = jnp.stack([jnp.broadcast_to(jnp.asarray(values[n]).astype(dtype), (self.chains,)) for n in _STATS], axis=-1)
        return _PackedRecord(s.position, stats)


#: (the sampler's and the positions' structure, shapes and static values) →
#: what ``_Sampler.unwarmed`` returns, as shapes; oldest dropped first. Small:
#: a key holds its non-array leaves (a log-density function and whatever its
#: closure holds) alive
_UNWARMED_SHAPES: dict = {}
_UNWARMED_SHAPES_MAX = 8


def _unwarmed_shapes(sampler: _Sampler, initial: Array):
    """``eqx.filter_eval_shape(sampler.unwarmed, initial)``, remembered by
    what it depends on (the pytree structure, the arrays' shapes and dtypes,
    the other leaves' values): a repeated run of the same target does not
    trace its log-density again just to learn the state's shapes."""
    leaves, treedef = jax.tree_util.tree_flatten((sampler, initial))
    key = (treedef, tuple((np.shape(x), np.dtype(x.dtype), bool(getattr(x, "weak_type", False)))
                          if eqx.is_array(x) else x for x in leaves))  # fmt: skip
    try:
        return _UNWARMED_SHAPES[key]
    except TypeError:  # an unhashable leaf: no remembering
        return eqx.filter_eval_shape(sampler.unwarmed, initial)
    except KeyError:
        pass
    shape = _UNWARMED_SHAPES[key] = eqx.filter_eval_shape(sampler.unwarmed, initial)
    while len(_UNWARMED_SHAPES) > _UNWARMED_SHAPES_MAX:
        del _UNWARMED_SHAPES[next(iter(_UNWARMED_SHAPES))]
    return shape


def sample_density(
    logdensity_fn: Callable[[Float[Array, " n"]], Any],
    initial: Float[Array, "chains n"],
    key: PRNGKeyArray,
    *,
    method: str = "nuts",
    warmup: int = 1000,
    samples: int = 1000,
    step_size: float | None = None,
    thin: int = 1,
    target_accept: float | None = None,
    friction: float = 1.0,
    mass: float = 1.0,
    num_integration_steps: int = 16,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
    description: str = "",
    identity: str = "",
    describe_state: Callable[[np.ndarray], str] | None = None,
    devices: Any = None,
    sum_over_data: SumOverData | None = None,
    batch_size: int | None = None,
    step_decay: float = 0.0,
    decay_steps: float = 1000.0,
) -> SampleRun:
    """Run ``chains`` chains of a sampler on ``logdensity_fn``.

    Args:
        logdensity_fn: the unnormalised log-density of one flat position.
        initial: ``(chains, n)`` the chains' starting positions.
        key: the run's key (warm-up, then draws).
        method: one of :data:`SAMPLE_METHODS`.
        warmup: warm-up steps per chain (adaptation or burn-in; not kept).
        samples: kept draws per chain (each ``thin`` steps apart).
        step_size: the step; required for ``ula`` and ``baoab``; for the
            others it switches the adaptation off.
        thin: steps per kept draw.
        target_accept: the acceptance rate to adapt to (default
            :data:`DEFAULT_TARGET_ACCEPT`).
        friction, mass: BAOAB's ``gamma`` and ``m``.
        num_integration_steps: HMC's leapfrog steps per proposal.
        checkpoint: a checkpoint file for the draws (resumed if present); the
            warm-up result is kept in ``checkpoint + ".warmup"``.
        checkpoint_every: draws between checkpoints (steps, warm-up steps
            included, for HMC/NUTS adapting in the run's steps).
        progress: show progress.
        description: the progress bar's label.
        identity: the caller's description of the target (for checkpoints).
        describe_state: ``position -> text`` for the error of a chain that
            turned non-finite (default: the array).
        devices: the devices the chains are split over (``None``: every
            device of JAX's default backend; an ``int``: the first that
            many). The chains are split evenly when their number is a
            multiple of the device count, else they stay on one device. A
            split run makes the same draws as an unsplit one up to float
            round-off (XLA fuses the split program differently).
        sum_over_data: the same log-density as a :class:`SumOverData`
            (required for ``sgld``, which draws minibatches of its data).
        batch_size: SGLD's minibatch size ``B`` (default ``min(N, 32)``).
        step_decay, decay_steps: SGLD's schedule
            ``h_t = h (1 + t / tau) ** -gamma`` with gamma = ``step_decay``
            (0: constant) and tau = ``decay_steps``, $t$ counting every
            step from the first warm-up step.

    Returns:
        A :class:`SampleRun`.

    Raises:
        UsageError: an unknown method, bad sizes, a missing or bad step, a
            missing :class:`SumOverData` or a bad batch for ``sgld``.
        DyncRuntimeError: a chain's position turned NaN or infinite.
    """
    if method not in SAMPLE_METHODS:
        hint = did_you_mean(method, SAMPLE_METHODS) or "use one of " + ", ".join(SAMPLE_METHODS)
        raise UsageError(f"unknown sampler `{method}`", hint=hint)
    initial = jnp.asarray(initial)
    if initial.ndim != 2:
        raise UsageError(f"initial positions must be (chains, n), got shape {initial.shape}")
    chains = int(initial.shape[0])
    _check_sizes(chains, warmup, samples, thin)
    warmup, samples, thin = int(warmup), int(samples), int(thin)
    if step_size is not None and not float(step_size) > 0:
        raise UsageError(f"the step size must be positive, got {step_size}")
    if method in _NEED_STEP and step_size is None:
        raise UsageError(
            f"`{method}` needs a step size (it has no acceptance rate to adapt one to)",
            hint="give --step, e.g. --step 0.01, or use mala, hmc or nuts, which adapt theirs",
        )
    if method == "sgld":
        if sum_over_data is None:
            raise UsageError(
                "`sgld` needs a log-density written as a sum over data points",
                hint="pass sum_over_data=SumOverData(logprior_fn, loglikelihood_fn, data)",
            )
        size = sum_over_data.size
        batch_size = min(size, 32) if batch_size is None else batch_size
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or not 1 <= batch_size <= size:
            raise UsageError(f"the batch size must be a whole number from 1 to the {size} data points, got {batch_size!r}")
        batch_size = int(batch_size)
        if not float(step_decay) >= 0:
            raise UsageError(f"the step decay must be non-negative, got {step_decay}", hint="0 keeps the step constant; 0.55 is usual")
        if not float(decay_steps) > 0:
            raise UsageError(f"the decay time must be positive, got {decay_steps}")
    if not float(friction) > 0:
        raise UsageError(f"the friction must be positive, got {friction}")
    if not np.all(np.asarray(mass) > 0):
        raise UsageError(f"the mass must be positive, got {mass}")
    target = float(target_accept if target_accept is not None else DEFAULT_TARGET_ACCEPT.get(method, 0.8))
    if not 0.0 < target < 1.0:
        raise UsageError(f"the target acceptance rate must lie in (0, 1), got {target}")
    if warmup == 0 and method in ("hmc", "nuts") and step_size is None:
        raise UsageError(f"`{method}` adapts its step during warm-up: give --warmup > 0, or a --step")
    key_warmup, key_draws = jax.random.split(key)
    initial = _split_chains(initial, devices)
    sampler = _Sampler(
        logdensity_fn, sum_over_data, method, chains, warmup, thin, None if step_size is None else float(step_size),
        target, float(friction), np.asarray(mass, float) if np.ndim(mass) else float(mass), int(num_integration_steps), batch_size,
        float(step_decay), float(decay_steps),
    )  # fmt: skip
    settings = (
        f"sample {method} chains={chains} warmup={warmup} step={step_size} thin={thin} target={target} "
        f"friction={friction} mass={mass} L={num_integration_steps} {identity}"
    )
    if method == "sgld":
        settings += f" batch={batch_size} decay={step_decay} tau={decay_steps}"
    # the run's first `ahead` steps are a chunked warm-up (HMC/NUTS adapting)
    ahead = sampler.steps
    if ahead:
        settings += " warmup-in-steps"
    shape = _unwarmed_shapes(sampler, initial)
    states, steps, inverse_mass, adapt = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shape)
    start = _Chains(np.zeros((), bool), np.zeros((), np.int32), key_warmup, initial, states, steps, inverse_mass, adapt)

    warm_file = None if checkpoint is None else f"{os.fspath(checkpoint)}.warmup"

    def keep_warmup(chains: _Chains, done: int) -> None:
        # the warm-up's result, written once beside the draws' checkpoint
        # after the warm-up's last step
        if warm_file is not None and done >= ahead and not os.path.exists(warm_file):
            save_result(warm_file, key_warmup, initial, (chains.states, chains.step_size, chains.inverse_mass),
                        identity="warmup " + settings)  # fmt: skip

    def drawn_part(chunk: _Record, done: int) -> _Record | None:
        """The rows of a chunk of steps ``[done - n, done)`` that are draws
        (``None`` if it is all warm-up)."""
        drawn = np.arange(done - len(chunk.finite), done) >= ahead
        if not drawn.any():
            return None
        return jax.tree_util.tree_map(lambda x: np.asarray(x)[drawn], chunk)

    divergent = [0]

    def status(packed: _PackedRecord, done: int) -> str:
        chunk = packed.unpack()
        step = f"step {np.mean(chunk.step_size[-1]):.3g}"
        accept = f"accept {np.mean(chunk.info.acceptance_rate):.2f}"
        if done <= ahead:
            return f"warm-up {done}/{ahead}  {step}  {accept}"
        divergent[0] += int(np.sum(drawn_part(chunk, done).info.diverging))
        return (
            f"draw {done - ahead}  lp {np.mean(chunk.logdensity[-1]):.4g}  {step}  {accept}  "
            f"divergences {divergent[0]}"
        )

    warned_climbing = [False]

    def show(state) -> str:
        return describe_state(state) if describe_state else np.array2string(np.asarray(state), threshold=12)

    def stop_if_not_finite(packed: _PackedRecord, done: int) -> None:
        chunk = packed.unpack()
        if not chunk.finite.all():  # computed on the device: one flag per chain and step
            i, c = (int(v[0]) for v in np.nonzero(~chunk.finite))
            iteration = done - len(chunk.finite) + i + 1 - ahead
            when = f"at draw {iteration} (after {warmup} warm-up steps)"
            if iteration <= 0:
                when = f"during the warm-up, at its step {iteration + ahead} of {ahead}"
            elif iteration == 1 and warmup > 0 and not ahead:
                when = f"during the {warmup} warm-up steps (its first draw is not finite)"
            raise DyncRuntimeError(
                f"chain {c} left the finite numbers {when}: log-density {chunk.logdensity[i, c]}, "
                f"state {show(chunk.position[i, c])}",
                hint="lower --step (or let mala/hmc/nuts adapt it), or check that the target is integrable",
            )
        draws = drawn_part(chunk, done)  # the warm-up's own moves are not judged: it is still adapting
        if draws is None:
            return
        _stop_if_stuck(logdensity_fn, method, draws, done - ahead, initial, show)
        if not warned_climbing[0]:
            warned_climbing[0] = _warn_if_climbing(draws, done - ahead)

    label = description or method
    if ahead:
        label += f" ({ahead} warm-up steps, then {samples} draws)"
    run = run_kernel(
        Kernel(_Chains, sampler.step), start, key_draws, ahead + samples, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every if checkpoint is not None else None, progress=progress,
        description=label, trace_fn=sampler.record, identity=settings, status_fn=status,
        on_chunk=stop_if_not_finite, prepare=sampler.prepare, on_state=keep_warmup,
    )  # fmt: skip
    trace = run.info.unpack()  # (steps, chains, ...)
    if ahead:
        trace = jax.tree_util.tree_map(lambda x: x[ahead:], trace)  # the draws

    info = jax.tree_util.tree_map(chain_first, trace.info)
    return SampleRun(chain_first(trace.position), chain_first(trace.logdensity), info,
                     np.asarray(run.state.step_size), chain_first(trace.step_size))  # fmt: skip


#: a chain that accepts no proposal in this many draws in a row is stuck
_STUCK_DRAWS = 50


def _stop_if_stuck(logdensity_fn, method: str, chunk: _Record, done: int, initial, show) -> None:
    """Stop a run whose chains cannot move, saying why, rather than return
    draws of one point (R-hat ~1e16, "run longer").

    A chain is stuck when its step size is 0 or not finite (what warm-up
    adaptation does on a target with a NaN gradient, or on a flat one), or
    when it accepted none of at least :data:`_STUCK_DRAWS` proposals in this
    chunk. The gradient at the chain's position and at its start tells the
    cause: a NaN gradient (``(x^2)^0.75`` at 0), a log-density that does not
    change (a flat, improper target), or else a step far too large.

    Raises:
        DyncRuntimeError: a chain is stuck.
    """
    steps = chunk.step_size  # (draws, chains)
    accept = np.asarray(chunk.info.acceptance_rate)
    moved = np.any(np.asarray(chunk.position)[1:] != np.asarray(chunk.position)[:-1], axis=(0, -1))
    # a chain that moves on a constant log-density: a flat target
    flat_lp = (len(accept) >= 20) & moved & (np.ptp(np.asarray(chunk.logdensity), axis=0) == 0)
    if method in ("mala", "hmc", "nuts"):
        bad_step = ~np.isfinite(steps[-1]) | (steps[-1] <= 0) | (steps[-1] > 1e30)
        frozen = (len(accept) >= _STUCK_DRAWS) & np.all(accept == 0, axis=0)
    else:  # ula, baoab and sgld accept every move: a NaN shows as a non-finite position
        bad_step = frozen = np.zeros_like(flat_lp)
    stuck = np.nonzero(bad_step | frozen | flat_lp)[0]
    if stuck.size == 0:
        return
    primary = np.nonzero(bad_step | frozen)[0]
    c = int(primary[0] if primary.size else stuck[0])
    step = float(steps[-1, c])
    first = done - len(accept) + 1
    where_now = np.asarray(chunk.position[-1, c])
    only_constant_lp = bool(flat_lp[c] and not bad_step[c] and not frozen[c])
    value_and_grad = jax.jit(jax.value_and_grad(logdensity_fn))
    zero_gradient = True
    for label, point in (("at its position", where_now), ("at its start", np.asarray(initial[c]))):
        lp, grad = (np.asarray(v) for v in value_and_grad(jnp.asarray(point)))
        zero_gradient = zero_gradient and not np.any(grad)
        if not np.all(np.isfinite(grad)):
            bad = np.flatnonzero(~np.isfinite(grad))
            raise DyncRuntimeError(
                f"chain {c} cannot move: the gradient of the target is {grad.ravel()[bad[0]]} {label}, "
                f"state {show(point)} (component{'s' if bad.size > 1 else ''} {', '.join(map(str, bad[:6]))} of the flat state)",
                hint="start the chains where the target is smooth (a different initial value, or `state x ~ LAW`), "
                "or write the target so that its gradient is finite there (e.g. `(x^2 + 1e-9)^0.75` for `abs(x)^1.5`)",
            )
        if not np.isfinite(lp):
            raise DyncRuntimeError(
                f"chain {c} cannot move: the log-density of the target is {lp} {label}, state {show(point)}",
                hint="start the chains inside the target's support",
            )
    if only_constant_lp and not zero_gradient:
        return  # a log-density constant to its float precision, but not flat: no verdict
    if zero_gradient or not np.isfinite(step) or step > 1e30:
        raise DyncRuntimeError(
            f"chain {c} cannot be tuned (step size {step:g}): the target does not change with the state "
            f"(its gradient is 0), and a flat log-density is not a probability density",
            hint="give the target a maximum (e.g. add `- x^2 / 2`), and check its sign: `target` is the log-density",
        )
    reason = "warm-up shrank its step size to 0" if step <= 0 else f"it accepted none of draws {first}-{done} at step {step:.3g}"
    raise DyncRuntimeError(
        f"chain {c} cannot move: {reason}; the target's gradient is finite at state {show(where_now)}, "
        "so the target may be improper (growing without bound) or far steeper than the step",
        hint="check the sign of the target (it is the log-density: `-x^2/2`, not `x^2/2`); "
        "let mala/hmc/nuts adapt the step (drop --step), or lower it",
    )


def _rank_trend(values: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each column of ``(draws, chains)``
    ``values`` with the draw index: 1 for a steady climb."""
    draws = values.shape[0]
    ranks = np.argsort(np.argsort(values, axis=0), axis=0).astype(float)
    index = np.arange(draws, dtype=float)[:, None]
    cov = np.mean((ranks - ranks.mean(0)) * (index - index.mean()), axis=0)
    return cov / (ranks.std(0) * index.std() + 1e-300)


def _warn_if_climbing(chunk: _Record, done: int) -> bool:
    """Warn (once; returns whether it did) when every chain's log-density
    rose through a chunk of at least 100 draws while its state ran away: the
    mark of an improper target (``target x^2``, a sign error), whose chains
    climb forever. After a warm-up on a proper target the log-density is
    stationary, so this does not fire on healthy runs; it does fire on a
    chain still climbing to a far-away bulk after too short a warm-up, which
    the message names as the other cause."""
    lp = np.asarray(chunk.logdensity, float)  # (draws, chains)
    draws = lp.shape[0]
    if draws < 100 or not np.all(np.isfinite(lp)):
        return False
    size = np.linalg.norm(np.asarray(chunk.position, float).reshape(draws, lp.shape[1], -1), axis=-1)
    if not (np.all(_rank_trend(lp) > 0.9) and np.all(_rank_trend(size) > 0.9)):
        return False
    quarter = draws // 4
    import warnings

    warnings.warn(
        f"the log-density rose through every chain's draws {done - draws + 1}-{done} "
        f"(mean {lp[:quarter].mean():.4g} -> {lp[-quarter:].mean():.4g}) while the states ran away: "
        "the target looks improper (it has no maximum; check its sign: `target` is the log-density, e.g. `-x^2/2`), "
        "or the chains have not reached its bulk yet (raise --warmup)",
        RuntimeWarning,
        stacklevel=2,
    )
    return True


#: every method of ``dync sample`` (the density samplers and the model's own dynamics)
MODEL_METHODS = SAMPLE_METHODS + ("dynamics",)


def _states_posterior(model, positions: np.ndarray) -> dict[str, np.ndarray]:
    """``(chains, draws, n)`` flat draws as ``name → (chains, draws, *shape)``."""
    out = {}
    for s in model.info.states:
        if s.hidden:
            continue
        start, size = s.offset, s.size
        out[s.name] = positions[..., start:start + size].reshape(positions.shape[:2] + tuple(s.shape))
    return out


def sample_model(
    model,
    *,
    method: str = "nuts",
    chains: int = 4,
    warmup: int = 500,
    samples: int = 1000,
    step: float | None = None,
    thin: int = 1,
    seed: int = 0,
    friction: float = 1.0,
    mass: float = 1.0,
    target_accept: float | None = None,
    integration_steps: int = 16,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
    data: Any = None,
    batch: int | None = None,
    step_decay: float = 0.0,
    decay_steps: float = 1000.0,
):
    """Draw a model's states from its ``target`` density (LANGUAGE.md §9), or
    run its own dynamics (``method="dynamics"``), as ArviZ InferenceData.

    Args:
        model: a compiled model with a ``target`` (or, for ``dynamics``,
            equations).
        method: ``ula``, ``mala``, ``baoab``, ``hmc``, ``nuts`` or
            ``dynamics`` (the spec's SDE, stepped with ``step`` by its solver,
            one draw every ``thin`` steps after ``warmup`` steps).
        chains: chains (paths), each started from the states' initial law.
        warmup, samples, step, thin: see :func:`sample_density`.
        seed: the run's seed (same seed, same draws).
        friction, mass: BAOAB.
        target_accept: the acceptance rate MALA/HMC/NUTS adapt to.
        integration_steps: HMC's mean number of leapfrog steps.
        checkpoint, checkpoint_every, progress: as in :func:`sample_density`.
        data: the data of a target model (one whose ``input`` arrays run
            along a data-point dim, ``info.data_dim``): a ``.csv`` or ``.nc``
            path, an ``xarray.Dataset`` or ``{name: array}``; every method
            then samples the target on all of it, and ``sgld`` on minibatches.
        batch: SGLD's minibatch size (default ``min(N, 32)``).
        step_decay, decay_steps: SGLD's step schedule
            ``h_t = step (1 + t / decay_steps) ** -step_decay`` (:func:`sample_density`).

    Returns:
        ``arviz.InferenceData`` with ``posterior`` (one variable per state,
        dims ``chain, draw, NAME_dim0, ...``) and ``sample_stats`` (``lp``,
        ``acceptance_rate``, ``step_size``, ``energy``, ``diverging``,
        ``n_steps``); the posterior's attributes hold the method, the
        settings, the model and its spec, and ``sampling_seconds``.

    Raises:
        UsageError: no target (or no equations for ``dynamics``), an unknown
            method, bad settings.
        DyncRuntimeError: a chain left the finite numbers.
    """
    import json
    import time

    from .._version import __version__
    from .arviz_import import import_arviz
    from .inference_data import draws_dataset

    az = import_arviz()

    if method not in MODEL_METHODS:
        hint = did_you_mean(method, MODEL_METHODS) or "use one of " + ", ".join(MODEL_METHODS)
        raise UsageError(f"unknown sampler `{method}`", hint=hint)
    info = model.info
    key = jax.random.key(int(seed))
    key_init, key_run = jax.random.split(key)
    _check_sizes(chains, warmup, samples, thin)
    start = time.perf_counter()
    split = None
    if method == "dynamics":
        posterior, stats, steps = _run_dynamics(model, key_run, chains, warmup, samples, thin, step, progress)
    else:
        if not getattr(info, "target", None) or not hasattr(model, "target_log_density"):
            raise UsageError(
                f"model `{info.name}` has no `target` to sample",
                hint="add `target EXPR` (the log-density of the states, LANGUAGE.md §9), "
                "or use --method dynamics to run the model's own equations",
            )
        initial = _initial_states(model, key_init, int(chains))
        logdensity, split, data_note = _target_density(model, method, data, initial)

        def describe(y):
            def shown(v):
                v = np.asarray(v)[0, 0]  # one chain, one draw
                return f"{float(v):.4g}" if v.ndim == 0 else np.array2string(v, threshold=8, precision=4)

            return ", ".join(f"{name} = {shown(v)}" for name, v in _states_posterior(model, np.asarray(y)[None, None]).items())

        run = sample_density(
            logdensity, initial, key_run, method=method,
            warmup=warmup, samples=samples, step_size=step, thin=thin, target_accept=target_accept,
            friction=friction, mass=mass, num_integration_steps=integration_steps, checkpoint=checkpoint,
            checkpoint_every=checkpoint_every, progress=progress, description=f"{method} {info.name}",
            identity=f"model={info.name} params={_param_digest(model)}{data_note}", describe_state=describe,
            sum_over_data=split, batch_size=batch, step_decay=step_decay, decay_steps=decay_steps,
        )  # fmt: skip
        posterior = _states_posterior(model, np.asarray(run.positions))
        stats = {
            "lp": run.logdensity,
            "acceptance_rate": run.info.acceptance_rate,
            "step_size": run.step_sizes,
            "energy": run.info.energy,
            "diverging": run.info.diverging,
            "n_steps": np.asarray(run.info.n_steps),
        }
        steps = run.step_size
        edge = _edge_near_draws(logdensity, np.asarray(run.positions), key_init, describe) if np.any(
            run.info.diverging) else None  # fmt: skip
    seconds = time.perf_counter() - start
    dims = {n: [f"{n}_dim{i}" for i in range(v.ndim - 2)] for n, v in posterior.items()}
    idata = az.InferenceData(posterior=draws_dataset(posterior, dims), sample_stats=draws_dataset(stats))
    source = getattr(model, "source", None)
    idata.posterior.attrs.update(
        {
            "method": method,
            "model": info.name,
            "spec_text": getattr(source, "text", "") or "",
            "spec_path": getattr(source, "path", "") or "",
            "dims_json": json.dumps(dict(info.dims)),
            "warmup": int(warmup),
            "thin": int(thin),
            "seed": int(seed),
            "step": float(np.mean(steps)),
            "friction": float(friction),
            "mass": float(mass),
            **({"batch": _batch(split, batch), "data_points": split.size, "step_decay": float(step_decay),
                "decay_steps": float(decay_steps)} if split is not None else {}),
            "sampling_seconds": float(seconds),
            "dync_version": __version__,
            **({"not_finite_near": edge} if method != "dynamics" and edge else {}),
        }
    )
    return idata


#: draws probed for a support bound near them, and how far (in posterior sds)
EDGE_PROBES = 256
EDGE_REACH = 3.0


def _edge_near_draws(logdensity, positions: np.ndarray, key: PRNGKeyArray, describe) -> str:
    """Where the target is not finite close to the draws, if anywhere: the
    usual cause of divergences is a support bound (``log(q)`` needs q > 0)
    that the sampler's trajectories cross. Probes up to
    :data:`EDGE_PROBES` draws moved by ``N(0, (EDGE_REACH sd)^2)`` per
    coordinate; returns one such point, described (``""`` if none)."""
    flat = positions.reshape(-1, positions.shape[-1]).astype(np.float64)
    if flat.shape[0] < 2:
        return ""
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel()[-1].item())
    chosen = flat[rng.choice(flat.shape[0], size=min(EDGE_PROBES, flat.shape[0]), replace=False)]
    sd = flat.std(axis=0)
    probes = chosen + EDGE_REACH * sd * rng.standard_normal(chosen.shape)
    values = np.asarray(jax.jit(jax.vmap(logdensity))(jnp.asarray(probes, positions.dtype)))
    bad = np.nonzero(~np.isfinite(values))[0]
    return describe(probes[bad[0]]) if bad.size else ""


@eqx.filter_jit
def _initial_states(model, key: PRNGKeyArray, chains: int) -> Float[Array, "chains n"]:
    """Every chain's start, drawn from the states' initial law: one small
    compiled program (run op by op, a ``vmap`` would compile a program per
    operation, some 25 ms each)."""
    return jax.vmap(model.initial_state)(jax.random.split(key, chains))


def _batch(split, batch) -> int:
    return min(split.size, 32) if batch is None else int(batch)


def _target_density(model, method: str, data: Any, initial):
    """The log-density ``sample_density`` runs on, the target as a
    :class:`SumOverData` (``sgld`` only; its additivity checked at the
    chains' starts), and a digest of the data for checkpoints."""
    import hashlib

    from .data_target import check_additive, model_data, split_target

    info = model.info
    if not info.data_dim:
        if data is not None:
            raise UsageError(
                f"--data: the target of `{info.name}` reads no data",
                hint="data arrays are `input NAME[N, ...]` of a model with a `target` and no equations (docs/sampling.md)",
            )
        if method == "sgld":
            raise UsageError(
                f"`sgld` samples a target that sums over data points, and the target of `{info.name}` reads no data",
                hint="declare the data as inputs along a dim (`dim N = 100`, `input x[N]`) and pass --data FILE; "
                "or use nuts, mala, hmc, ula or baoab",
            )
        return _Target(model), None, ""
    arrays = model_data(model, data)
    h = hashlib.sha256()
    for name, v in arrays.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(np.asarray(v)).tobytes())
    split = split_target(model, arrays)
    logdensity = _Target(model, {"data": arrays})
    if method != "sgld":
        return logdensity, None, f" data={h.hexdigest()[:16]}"
    check_additive(model, split, initial)
    return logdensity, split, f" data={h.hexdigest()[:16]}"


class _Target(eqx.Module):
    """A model's target as the log-density of a flat state (with its data):
    a pytree, so that a later run of the same model reuses the compiled
    sampler."""

    model: Any
    args: Any = None

    def __call__(self, y):
        if self.args is None:
            return jnp.reshape(self.model.target_log_density(y), ())
        return jnp.reshape(self.model.target_log_density(y, self.args), ())


def _param_digest(model) -> str:
    """A digest of a model's parameter values (a checkpoint of another
    parametrisation is refused)."""
    import hashlib

    from .params import constrain, unconstrained_params

    h = hashlib.sha256()
    for name, value in sorted(constrain(model, unconstrained_params(model)).items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(np.asarray(value)).tobytes())
    return h.hexdigest()[:16]


def _run_dynamics(model, key, chains, warmup, samples, thin, step, progress):
    """The model's own SDE as a sampler: ``chains`` paths stepped by ``step``
    with the model's solver; one draw every ``thin`` steps after ``warmup``."""
    from .simulate import simulate

    if not model.info.states or not _has_equations(model):
        raise UsageError(
            f"model `{model.info.name}` has no equations to run: not every state has one",
            hint="--method dynamics runs the spec's SDE; use ula, mala, baoab, hmc or nuts for its target",
        )
    if step is None:
        raise UsageError("--method dynamics needs --step (the SDE's time step)", hint="for example --step 0.01")
    total = int(warmup) + int(samples) * int(thin)
    times = [(int(warmup) + (j + 1) * int(thin)) * float(step) for j in range(int(samples))]
    ds = simulate(model, key, paths=int(chains), t1=total * float(step), dt=float(step), save=times,
                  progress=progress)  # fmt: skip
    posterior = {}
    for s in model.info.states:
        if s.hidden or s.name not in ds:
            continue
        values = np.asarray(ds[s.name].values)  # (path, time, ...)
        posterior[s.name] = values.reshape((int(chains), int(samples)) + tuple(s.shape))
    shape = (int(chains), int(samples))
    stats = {"step_size": np.full(shape, float(step))}
    return posterior, stats, np.full((int(chains),), float(step))


def _has_equations(model) -> bool:
    """Whether every state has an equation (``ModelInfo.has_dynamics``; was
    read as ``has_equations``, a field that does not exist, so always true)."""
    return bool(getattr(model.info, "has_dynamics", True))
