"""Posterior sampling with BlackJAX NUTS, and the result as ArviZ InferenceData.

The log-density is the posterior over the unconstrained free parameters
(:func:`~dync.runtime.logdensity.parameter_log_density`, with the prior and the
log-Jacobians), and the likelihood is what
:func:`~dync.runtime.likelihood.log_likelihood` computes: exact (Kalman) for a
linear-Gaussian model, else a particle filter with a fixed key. With a
particle filter the chain targets the posterior of that *fixed-key* estimate,
which is not exact; :mod:`dync.runtime.pmmh` (a fresh key per proposal)
samples the exact posterior, and a warning says so.

Each chain runs BlackJAX's window adaptation (step size by dual averaging to
``target_accept``, a diagonal mass matrix, over Stan's windows) for
``warmup`` steps, then ``draws`` NUTS steps. Warm-up and draws are one run of
:func:`~dync.runtime.kernels.run_kernel`: the adaptation is taken a step at a
time from BlackJAX's own building blocks (:mod:`.window_adaptation`), so the
warm-up shows progress and is checkpointed and resumed bit-identically like
the draws, and it adapts as ``blackjax.window_adaptation(...).run`` does from
the same key. A warm-up step and a draw are one NUTS step, chosen by the
step's index, so both compile as one program.
Chains run side by side (``vmap``). A parameter without a declared prior gets
an improper flat prior in user space and a ``UserWarning`` naming it.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import blackjax
import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from ..atomic import atomic_path
from ..errors import UsageError
from .inference_data import chain_first, combine_groups, data_groups, log_likelihood_group
from .kernels import Kernel, run_kernel, save_result
from .likelihood import choose_method, data_digest, log_likelihood_with_method, read_data
from .keys import prng_key
from .model import AbstractModel
from .kalman import kalman_arrays
from .parameter_density import ClosureDensity, KalmanDensity, ParameterDensity
from .params import hold_fixed
from .window_adaptation import adapt_chains, chain_warmup_keys, window_adaptation, window_schedule

__all__ = ["NutsDraws", "sample_posterior", "write_inference_data"]


class NutsDraws(NamedTuple):
    """What each chain records per NUTS step (chains first, then draws)."""

    position: Any
    log_density: Any
    diverging: Any
    acceptance_rate: Any
    n_steps: Any
    step_size: Any


class _NutsChains(NamedTuple):
    """What the chains carry from step to step, warm-up and draws alike:
    every chain's NUTS state, its window adaptation's state and the adapted
    parameters the draws use (step size, inverse mass matrix), the steps
    taken so far, and the warm-up's input (its key, the starting position)
    with a flag saying whether the first states have been built from it."""

    started: Any
    step: Any
    key: PRNGKeyArray
    start: Any
    states: Any
    adaptation: Any
    params: Any


def sample_posterior(
    model: AbstractModel,
    data: Any,
    key: PRNGKeyArray,
    *,
    chains: int = 4,
    warmup: int = 500,
    draws: int = 500,
    target_accept: float = 0.8,
    fix: Mapping[str, Any] | None = None,
    likelihood: str = "auto",
    particles: int = 1000,
    dt: float | None = None,
    pointwise: bool = False,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
):
    """Draw from the posterior of a model's parameters given data, with NUTS.

    Args:
        model: a compiled model; its current values start every chain.
        data: a NetCDF or CSV path, a Dataset, or data records.
        key: the PRNG key of the whole run (warm-up, draws, particle filter).
        chains: chains run side by side.
        warmup: window-adaptation steps per chain (not kept).
        draws: kept NUTS steps per chain.
        target_accept: the acceptance rate the step size is adapted to.
        fix: name → constrained value of parameters held fixed.
        likelihood: ``"auto"``, ``"kalman"`` or ``"particle"``.
        particles: particles per series (particle filter).
        dt: the largest solver step between observations (particle filter).
        pointwise: add the ``log_likelihood`` group: each series'
            log-likelihood at each draw (for ``arviz.loo``, leaving one
            series out).
        checkpoint: a file for checkpoints of the run, warm-up and draws
            (resumed if present; a run interrupted during the warm-up resumes
            it from its last checkpoint). Once the warm-up has ended, the
            adapted state (the chains' states, step sizes, mass matrices) is
            also written once beside it, in ``checkpoint + ".warmup"``, for
            inspection.
        checkpoint_every: steps (warm-up and draws) between checkpoints.
        progress: show a progress bar over warm-up and draws (during the
            warm-up its step size and mean acceptance rate, then the
            log-density, step size and divergences so far).

    Returns:
        An ``arviz.InferenceData`` with the groups ``posterior`` (constrained
        values, dims ``chain, draw``), ``sample_stats`` (``lp``,
        ``diverging``, ``acceptance_rate``, ``n_steps``, ``step_size``),
        ``observed_data`` and, with ``pointwise``, ``log_likelihood``
        (see :mod:`dync.runtime.inference_data`).

    Raises:
        UsageError: bad sizes, an unknown parameter in ``fix``, nothing left
            to sample.

    Example:
        >>> idata = sample_posterior(model, "ou.nc", jax.random.key(0), chains=4)  # doctest: +SKIP
        >>> arviz.summary(idata)  # doctest: +SKIP
    """
    from .arviz_import import import_arviz

    key = prng_key(key)  # an integer seed too
    az = import_arviz()

    chains, warmup, draws = chain_sizes(chains, warmup, draws)
    chosen = choose_method(model, likelihood)
    split = free_parameters(model, fix)
    model, fixed, free = split.model, split.fixed, split.free
    if chosen == "particle":
        warnings.warn(
            "NUTS on a particle-filter likelihood with a fixed key targets an approximate posterior; "
            "--method pmmh samples the exact one (particle marginal Metropolis-Hastings)",
            UserWarning,
            stacklevel=2,
        )
    records = read_data(model, data)
    key_warmup, key_draws, key_pf = jax.random.split(key, 3)
    identity = (
        f"nuts chains={chains} warmup={warmup} target={target_accept} fix={sorted(fixed.items())} "
        f"likelihood={chosen} particles={particles} dt={dt} data={data_digest(records)}"
    )
    if chosen == "kalman":
        # the model and the data are traced arguments of the compiled warm-up
        # and step: a new data set (or new fixed values) of the same sizes
        # runs without compiling anything
        padded = records.padded() if hasattr(records, "padded") else records
        density: ParameterDensity = KalmanDensity(model, split.held, kalman_arrays(model, padded))
    else:
        # a particle filter reads its data on the host: a closure, compiled
        # anew for every new closure; the same run asked again in this
        # process (same model values, data, key, settings) reuses it
        def loglik(m, per_series=False):
            value, _ = log_likelihood_with_method(
                m, records, method=chosen, key=key_pf, particles=particles, dt=dt, per_series=per_series
            )
            return value

        density = reuse_compiled(
            identity + f" model={model_digest(model, key_pf)}", lambda: ClosureDensity(model, split.held, loglik)
        )
    sampler = _NutsSampler(density, chains, warmup, float(target_accept))
    start = sampler.first(key_warmup, free)

    warm_file = None if checkpoint is None else f"{checkpoint}.warmup"

    def keep_warmup(state: _NutsChains, done: int) -> None:
        # the adapted state (step sizes, mass matrices, the chains' states),
        # written once beside the draws' checkpoint, after the warm-up's
        # last chunk, for inspection
        if warm_file is not None and done >= warmup and not os.path.exists(warm_file):
            save_result(warm_file, key_warmup, free, (state.states, state.params), identity="warmup " + identity)

    divergent = [0]

    def status(chunk, done):
        # the chunk's steps are [done - n, done): warm-up while below `warmup`
        n = len(chunk.step_size)
        drawn = np.arange(done - n, done) >= warmup
        step = f"step {np.mean(chunk.step_size[-1]):.3g}"
        if not drawn[-1]:
            return f"warm-up {done}/{warmup}  {step}  accept {np.mean(chunk.acceptance_rate):.2f}"
        divergent[0] += int(np.sum(np.asarray(chunk.diverging)[drawn]))
        lp = np.asarray(chunk.log_density)[-1]
        return f"draw {done - warmup}  lp {np.mean(lp):.4g}  {step}  divergences {divergent[0]}"

    # warm-up and draws are the steps of one run (one compiled chunk, one
    # progress bar, one checkpoint); the first chunk's `prepare` builds the
    # chains' first states inside that chunk's program
    run = run_kernel(
        Kernel(lambda s: s, sampler.step), start, key_draws, warmup + draws, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, progress=progress,
        description=f"nuts {model.info.name} ({warmup} warm-up steps, then {draws} draws)",
        trace_fn=_record_nuts, identity=identity, status_fn=status, prepare=sampler.prepare, on_state=keep_warmup,
    )  # fmt: skip
    trace = jax.tree_util.tree_map(lambda x: x[warmup:], run.info)  # leaves (draws, chains, ...)

    posterior = constrained_draws(model, {n: chain_first(u) for n, u in trace.position.items()})
    sample_stats = {
        "lp": chain_first(trace.log_density),
        "diverging": chain_first(trace.diverging),
        "acceptance_rate": chain_first(trace.acceptance_rate),
        "n_steps": chain_first(trace.n_steps),
        "step_size": chain_first(trace.step_size),
    }
    dims = {n: [f"{n}_dim{i}" for i in range(v.ndim - 2)] for n, v in posterior.items()}
    idata = az.from_dict(posterior=posterior, sample_stats=sample_stats, dims=dims)
    idata.posterior.attrs.update(
        {"model": model.info.name, "likelihood": chosen, "warmup": warmup, "fixed": str(sorted(fixed))}
    )
    shapes = {o.name: tuple(o.shape) for o in model.info.observations}
    groups = data_groups(records, shapes)
    if pointwise:
        flat = jax.tree_util.tree_map(lambda u: jnp.reshape(jnp.asarray(u), (draws * chains, *u.shape[2:])),
                                      trace.position)  # fmt: skip
        per_draw = _pointwise(density, flat)
        values = np.asarray(per_draw).reshape(draws, chains, -1)
        groups["log_likelihood"] = log_likelihood_group(np.swapaxes(values, 0, 1), records)
    return combine_groups(idata, **groups)


def chain_sizes(chains: Any, warmup: Any, draws: Any) -> tuple[int, int, int]:
    """A sampler's chains, warm-up steps and draws, checked.

    Raises:
        UsageError: one is not a whole number (at least 1; 0 for warm-up).
    """
    for what, n in (("chains", chains), ("warmup", warmup), ("draws", draws)):
        if isinstance(n, bool) or int(n) != n or n < (0 if what == "warmup" else 1):
            raise UsageError(f"{what} must be a positive whole number, got {n!r}")
    return int(chains), int(warmup), int(draws)


def free_parameters(model: AbstractModel, fix: Mapping[str, Any] | None):
    """:func:`~dync.runtime.params.hold_fixed` for a sampler, with a
    ``UserWarning`` naming each free parameter without a prior (an improper
    flat prior in user space)."""
    split = hold_fixed(model, fix, "sample")
    flat_prior = [n for n in split.free if not split.model.info.param(n).has_prior]
    if flat_prior:
        warnings.warn(
            "improper flat prior (in user space) for parameter(s) " + ", ".join(f"`{n}`" for n in flat_prior)
            + ": give each a prior (`~ DIST`) for a proper posterior",
            UserWarning,
            stacklevel=3,
        )
    return split


def constrained_draws(model: AbstractModel, unconstrained: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Draws of unconstrained parameters (name → ``(chain, draw, ...)``)
    mapped through their constraints, in the spec's order (a pytree's dict
    is sorted)."""
    declared = [p.name for p in model.info.params]
    order = sorted(unconstrained, key=lambda n: declared.index(n) if n in declared else len(declared))
    return {n: np.asarray(model.info.param(n).constraint.forward(jnp.asarray(unconstrained[n]))) for n in order}


def _record_nuts(carry, info) -> NutsDraws:
    """What a NUTS step records, warm-up or draw (module level: one function
    for every run, so the compiled chunk of a run is reused by the next)."""
    info, step_size = info
    state = carry.states
    return NutsDraws(state.position, state.logdensity, info.is_divergent, info.acceptance_rate,
                     info.num_integration_steps, step_size)


class _NutsSampler(eqx.Module):
    """Every chain's window adaptation and NUTS draws, over one density, as
    one step function: steps ``0 .. warmup - 1`` adapt, the later ones draw.

    The warm-up is BlackJAX's window adaptation taken one step at a time
    (:mod:`dync.runtime.window_adaptation`): the same schedule, the same
    ``init``/``update``/``final``, each chain's step ``i`` with the key
    ``window_adaptation(...).run`` would give it, so it adapts as ``run``
    does; but it runs inside :func:`~dync.runtime.kernels.run_kernel`'s
    chunks, so it shows progress and is checkpointed and resumed like the
    draws. A warm-up step and a draw are one NUTS step (traced once) whose
    key and parameters are chosen by the step's index.

    An equinox module: the density's arrays (model values, data) are traced
    leaves and the settings static, so that the compiled chunk of
    :func:`~dync.runtime.kernels.run_kernel` is reused by a later run with
    new data or values of the same sizes."""

    density: ParameterDensity
    chains: int = eqx.field(static=True)
    warmup: int = eqx.field(static=True)
    target_accept: float = eqx.field(static=True)

    def first(self, key: PRNGKeyArray, position) -> _NutsChains:
        """The chains before their first step: placeholders of the right
        structure, shapes and dtypes (nothing traced through the density);
        :meth:`prepare` builds the real first states inside the first
        chunk's program."""
        shapes = eqx.filter_eval_shape(self._started, position)
        zeros = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
        return _NutsChains(np.zeros((), bool), np.zeros((), np.int32), key, position, *zeros)

    def _started(self, position):
        """Every chain's first NUTS state, first adaptation state, and the
        parameters that a run without warm-up uses (BlackJAX's: step size
        1, identity mass matrix)."""
        adaptation = window_adaptation(self.target_accept)
        one = blackjax.nuts.init(position, self.density)
        adapt = adaptation.init(position, 1.0)
        step_size, inverse_mass = adaptation.final(adapt)
        params = {"step_size": jnp.asarray(step_size), "inverse_mass_matrix": jnp.asarray(inverse_mass)}
        return jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(jnp.asarray(a), (self.chains, *jnp.shape(a))), (one, adapt, params)
        )

    def prepare(self, c: _NutsChains) -> _NutsChains:
        """The chains' first states, once: built when ``c.started`` is false
        (a ``lax.cond`` on the flag, free in later chunks)."""

        def build(c: _NutsChains) -> _NutsChains:
            built = self._started(c.start)
            states, adapt, params = jax.tree_util.tree_map(
                lambda a, b: a.astype(b.dtype), built, (c.states, c.adaptation, c.params)
            )
            return c._replace(started=jnp.ones((), bool), states=states, adaptation=adapt, params=params)

        return jax.lax.cond(c.started, lambda c: c, build, c)

    def step(self, k: PRNGKeyArray, c: _NutsChains):
        """One NUTS step of every chain: a warm-up step (adapting) while
        ``c.step < warmup``, else a draw with the adapted parameters. The
        info is NUTS's, with the step size the step used."""
        nuts = blackjax.nuts.build_kernel()

        def one(k1, state, step_size, inverse_mass):
            return nuts(k1, state, self.density, step_size, inverse_mass)

        if self.warmup == 0:
            keys = jax.random.split(k, self.chains)
            step_size, inverse_mass = c.params["step_size"], c.params["inverse_mass_matrix"]
            new_states, info = jax.vmap(one)(keys, c.states, step_size, inverse_mass)
            return c._replace(states=new_states, step=c.step + 1), (info, step_size)

        adaptation = window_adaptation(self.target_accept)
        schedule = jnp.asarray(window_schedule(self.warmup))
        warming = c.step < self.warmup
        i = jnp.minimum(c.step, self.warmup - 1)
        keys = jax.lax.cond(
            warming,
            lambda: chain_warmup_keys(c.key, self.chains, self.warmup, i),
            lambda: jax.random.split(k, self.chains),
        )
        step_size = jnp.where(warming, c.adaptation.step_size, c.params["step_size"])
        inverse_mass = jnp.where(warming, c.adaptation.inverse_mass_matrix, c.params["inverse_mass_matrix"])
        new_states, info = jax.vmap(one)(keys, c.states, step_size, inverse_mass)

        def adapt(a):
            return adapt_chains(adaptation, schedule, i, a, new_states.position, info.acceptance_rate)

        adapted = jax.lax.cond(warming, adapt, lambda a: a, c.adaptation)

        def finish(params):
            step_size, inverse_mass = jax.vmap(adaptation.final)(adapted)
            new = {"step_size": step_size, "inverse_mass_matrix": inverse_mass}
            return jax.tree_util.tree_map(lambda x, y: x.astype(y.dtype), new, params)

        params = jax.lax.cond(c.step == self.warmup - 1, finish, lambda p: p, c.params)
        new = c._replace(states=new_states, adaptation=adapted, params=params, step=c.step + 1)
        return new, (info, step_size)


@eqx.filter_jit
def _pointwise(density: ParameterDensity, flat):
    """Each series' log-likelihood at each draw, ``(draws, series)``."""
    return jax.lax.map(lambda p: density.loglik(density.at(p), True), flat, batch_size=64)


#: recently built NUTS functions, by what they close over (a few: each holds
#: its model, data and compiled code)
_COMPILED: OrderedDict[str, Any] = OrderedDict()
_KEEP = 4


def reuse_compiled(identity: str, build: Callable[[], Any]) -> Any:
    """``build()``, or what an earlier call with the same ``identity`` built."""
    if identity in _COMPILED:
        _COMPILED.move_to_end(identity)
        return _COMPILED[identity]
    built = _COMPILED[identity] = build()
    while len(_COMPILED) > _KEEP:
        _COMPILED.popitem(last=False)
    return built


def model_digest(model: AbstractModel, *extra: Any) -> str:
    """A digest of a model's array values and structure (and of ``extra``
    arrays or keys): two models with equal digests compute the same
    functions."""
    import hashlib

    arrays, static = eqx.partition((model, extra), eqx.is_array)
    h = hashlib.sha256(str(jax.tree_util.tree_structure(arrays)).encode())
    h.update(repr(jax.tree_util.tree_leaves(static)).encode())
    for leaf in jax.tree_util.tree_leaves(arrays):
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def write_inference_data(idata, path) -> None:
    """Write an ``arviz.InferenceData`` to a NetCDF file atomically (a
    temporary file beside it, renamed over it when complete)."""
    with atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp))
