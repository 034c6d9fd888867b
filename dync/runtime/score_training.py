"""Training a spec's ``score`` by denoising score matching (``dync train``).

For a linear forward SDE the transition ``x_t | x_0`` is Gaussian,
``N(Phi x0 + h, P)`` (:mod:`dync.runtime.forward_sde`), with score
``-P^{-1}(x_t - Phi x0 - h) = -L^{-T} eps`` for ``x_t = Phi x0 + h + L eps``
(``P = L L^T``). Denoising score matching (Vincent 2011; Song et al. 2021,
eq. 7) regresses the net on that score with the weight ``lambda(t) = P(t)``
(``sigma_t^2`` for a scalar noise level), which in matrix form is

    loss = E_{t ~ U[t_min, t1], x0 ~ data, eps ~ N(0, I)} || L^T s(t, x_t) + eps ||^2,

summed over components, averaged over the batch. Its minimiser is the true
score of the forward marginal ``p_t``; for Gaussian data ``N(mu, S0)`` the
minimum at time ``t`` is ``tr(Phi S0 Phi^T C_t^{-1})`` with
``C_t = Phi S0 Phi^T + P`` (what the tests check).

Training is a :class:`~dync.runtime.kernels.Kernel` run by
:func:`~dync.runtime.kernels.run_kernel`, so it shows progress with the loss,
checkpoints atomically and resumes bit-identically. The optimiser is optax
Adam (with global-norm clipping); an exponential moving average (EMA) of the
weights is kept and is what is saved. Only the model's nets are trained; its
parameters (the forward SDE's schedule) stay as given.

A forward SDE outside that class (state-dependent diffusion) is trained by
sliced score matching instead (:func:`ssm_loss`, :func:`ssm_kernel`).

Trained weights are saved by :func:`save_weights` (atomically): a header line,
a JSON line (the model, a digest of its array structure, the forward time
span, the data's mean and covariance, the training settings) and the model's
arrays written by ``equinox.tree_serialise_leaves``;
:func:`load_weights` restores them into a freshly compiled model.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray, PyTree, Scalar

from ..atomic import write_bytes_atomic
from ..errors import DyncRuntimeError, UsageError
from .forward_sde import GaussianTransition, LogCoordinates, classify_forward, gaussian_transition
from .kernels import Kernel, run_kernel

__all__ = [
    "ScoreTrainInfo",
    "ScoreTrainState",
    "TimeSampler",
    "WEIGHTINGS",
    "TrainedScore",
    "dsm_kernel",
    "dsm_loss",
    "likelihood_time_sampler",
    "load_weights",
    "ssm_kernel",
    "ssm_loss",
    "terminal_samples",
    "save_weights",
    "score_state",
    "train_score",
]

WEIGHTS_MAGIC = b"dync-score-weights 1"


def _score_hint(info) -> str:
    """What to add to a model without a ``score``, in the names of its own
    (first) state."""
    state = info.states[0] if info.states else None
    x = state.name if state else "x"
    size = state.size if state else 1
    net = f"net s = mlp(in = {size + 1}, out = {size}, ...)"
    element = "[0]" if state is not None and state.shape == () else ""  # a net's output is a vector
    return f"add `score {x} = s({x}, t){element}` with a `{net}` and `state {x} ~ data` (LANGUAGE.md §10)"


def score_state(model) -> str:
    """The state the model's ``score`` is for, checked to be trainable.

    Raises:
        UsageError: the model has no ``score``, or more than one state.
        (A score with no net is allowed: :func:`train_score` then only
        records the data's moments that the reverse processes start from.)
    """
    info = model.info
    if info.score_state is None:
        raise UsageError(
            f"model `{info.name}` has no `score` statement, so there is nothing to train",
            hint=_score_hint(info),
        )
    if len(info.states) != 1:
        names = ", ".join(s.name for s in info.states)
        raise UsageError(
            f"model `{info.name}` has {len(info.states)} states ({names}); score training supports one state, "
            f"the one the score is for (`{info.score_state}`)",
            hint="write the generated variable as one vector state",
        )
    return info.score_state


def trainable(model) -> PyTree[bool]:
    """The filter of what training changes: the floating arrays of the nets."""
    spec = jax.tree_util.tree_map(lambda _: False, model)
    for net in model.info.nets:
        sub = getattr(model, net.field)
        spec = eqx.tree_at(lambda m, f=net.field: getattr(m, f), spec, jax.tree_util.tree_map(eqx.is_inexact_array, sub))
    return spec


def log_score(model, t, y):
    """The score of ``y = log x`` from the model's score of ``x``:
    ``x * s(t, x) + 1`` at ``x = e^y`` (the density of ``y`` carries the
    Jacobian ``e^{sum y}``)."""
    x = jnp.exp(y)
    return x * model.score(t, x, None) + 1.0


def dsm_loss(
    score_fn,
    transition: GaussianTransition,
    x0: Float[Array, "b n"],
    t: Float[Array, " b"],
    eps: Float[Array, "b n"],
    weight: Float[Array, " b"] | None = None,
) -> Scalar:
    """The denoising score-matching loss of ``score_fn(t, x)`` on a batch
    (see the module's docstring): mean over the batch of
    ``weight * || L(t)^T score(t, x_t) + eps ||^2`` (``weight`` 1 by default;
    an importance weight when ``t`` is not uniform)."""

    def one(x0, t, eps):
        xt, scale = transition.perturb(t, x0, eps)
        s = score_fn(t, xt)
        r = (scale * s if transition.diagonal else scale.T @ s) + eps
        return jnp.sum(jnp.square(r))

    per = jax.vmap(one)(x0, t, eps)
    return jnp.mean(per if weight is None else weight * per)


#: the time weightings of ``dync train --weighting``
WEIGHTINGS = ("sigma2", "likelihood")


class TimeSampler(eqx.Module):
    """Diffusion times for ``likelihood`` weighting: ``lambda(t) = g(t)^2``
    (Song, Durkan, Murray & Ermon 2021), i.e. ``g^2 / sigma^2`` times the
    ``sigma^2``-weighted loss, with ``t`` drawn by importance sampling from
    ``q(t) ~ r(t) = tr(G G^T) / tr(P)`` (inverse CDF on a log-spaced grid),
    so that every draw has the same weight ``int r dt / (t1 - t_min)``: the
    loss is the likelihood-weighted objective averaged over ``t``, without
    the variance that ``r ~ 1/t`` near 0 would give uniform times."""

    times: Array
    cdf: Array
    weight: Array

    def sample(self, key: PRNGKeyArray, count: int) -> tuple[Array, Array]:
        u = jax.random.uniform(key, (count,), self.times.dtype)
        return jnp.interp(u, self.cdf, self.times), jnp.broadcast_to(self.weight, (count,))


def likelihood_time_sampler(model, transition: GaussianTransition, t_min: float, t1: float, points: int = 2048) -> TimeSampler:
    """The :class:`TimeSampler` of a linear forward SDE on ``[t_min, t1]``."""
    dtype = jnp.result_type(float)
    times = jnp.asarray(np.geomspace(t_min, t1, points), dtype)
    zero = jnp.zeros(transition.n, dtype)

    def rate(t):
        g = model.diffusion(t, zero, None)
        _, _, p = transition.coefficients(t)
        return jnp.sum(g**2) / (jnp.sum(p) if transition.diagonal else jnp.trace(p))

    r = np.asarray(jax.jit(jax.vmap(rate))(times), dtype=np.float64)
    ts = np.asarray(times, dtype=np.float64)
    pieces = 0.5 * (r[1:] + r[:-1]) * np.diff(ts)
    cdf = np.concatenate([[0.0], np.cumsum(pieces)])
    total = cdf[-1]
    return TimeSampler(times, jnp.asarray(cdf / total, dtype), jnp.asarray(total / (t1 - t_min), dtype))


def ssm_loss(score_fn, x: Float[Array, "b n"], t: Float[Array, " b"], v: Float[Array, "b n"], weight: Float[Array, " b"]) -> Scalar:
    """Sliced score matching with variance reduction (Song et al. 2019): the
    mean of ``weight * (v^T (d s/dx) v + |s|^2 / 2)`` over the batch, for
    samples ``x`` of the marginals at times ``t`` and Gaussian probes ``v``.
    Up to a constant it is the weighted Fisher divergence of ``s`` from the
    true score, so it needs no transition density."""

    def one(x, t, v, w):
        s, jv = jax.jvp(lambda z: score_fn(t, z), (x,), (v,))
        return w * (jnp.sum(v * jv) + 0.5 * jnp.sum(s**2))

    return jnp.mean(jax.vmap(one)(x, t, v, weight))


class ScoreTrainState(NamedTuple):
    """The state of :func:`dsm_kernel`.

    Attributes:
        params: the trainable arrays (the nets; other leaves ``None``).
        opt_state: the optimiser's state.
        ema: the moving average of ``params``.
        step: steps taken (int32).
    """

    params: PyTree
    opt_state: optax.OptState
    ema: PyTree
    step: Array


class ScoreTrainInfo(NamedTuple):
    """What one training step reports: the batch loss before the step and
    the global norm of its gradient."""

    loss: Scalar
    grad_norm: Scalar


class _DSMStep(eqx.Module):
    """One Adam step on a fresh batch (a module, so that the data and the
    transition are traced inputs of the compiled chunk, not constants)."""

    static: PyTree
    transition: GaussianTransition
    data: Array
    times: TimeSampler | None
    optimizer: optax.GradientTransformation = eqx.field(static=True)
    batch: int = eqx.field(static=True)
    t_min: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)
    ema: float = eqx.field(static=True)
    #: the data and the transition are in ``y = log x`` (a log-linear forward SDE)
    log_space: bool = eqx.field(static=True, default=False)

    def __call__(self, key: PRNGKeyArray, state: ScoreTrainState) -> tuple[ScoreTrainState, ScoreTrainInfo]:
        k_idx, k_t, k_eps = jax.random.split(key, 3)
        dtype = self.data.dtype
        idx = jax.random.randint(k_idx, (self.batch,), 0, self.data.shape[0])
        x0 = self.data[idx]
        if self.times is None:
            t, weight = jax.random.uniform(k_t, (self.batch,), dtype, self.t_min, self.t1), None
        else:
            t, weight = self.times.sample(k_t, self.batch)
        eps = jax.random.normal(k_eps, x0.shape, dtype)

        def loss_fn(params):
            model = eqx.combine(params, self.static)
            if self.log_space:
                return dsm_loss(lambda t, y: log_score(model, t, y), self.transition, x0, t, eps, weight)
            return dsm_loss(lambda t, x: model.score(t, x, None), self.transition, x0, t, eps, weight)

        loss, grad = eqx.filter_value_and_grad(loss_fn)(state.params)
        updates, opt_state = self.optimizer.update(grad, state.opt_state, state.params)
        params = eqx.apply_updates(state.params, updates)
        step = state.step + 1
        decay = jnp.minimum(self.ema, (1.0 + step) / (10.0 + step)).astype(dtype)
        ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p, state.ema, params)
        norm = optax.tree.norm(grad)
        return ScoreTrainState(params, opt_state, ema, step), ScoreTrainInfo(loss, norm)


@functools.lru_cache(maxsize=16)
def _optimizer(learning_rate: float) -> optax.GradientTransformation:
    """Adam with global-norm clipping; the same object for the same rate, so
    that a second training run reuses the compiled step."""
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))


class _SSMStep(eqx.Module):
    """One Adam step of sliced score matching on ``x_t`` simulated from a
    fresh batch by the model's own solver (``propagate``, ``substeps`` equal
    steps from 0 to each ``t``); weight ``t * mean diag D(t, x_t)``, the
    scale of the transition's variance."""

    static: PyTree
    data: Array
    optimizer: optax.GradientTransformation = eqx.field(static=True)
    batch: int = eqx.field(static=True)
    t_min: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)
    ema: float = eqx.field(static=True)
    substeps: int = eqx.field(static=True)

    def __call__(self, key: PRNGKeyArray, state: ScoreTrainState) -> tuple[ScoreTrainState, ScoreTrainInfo]:
        from .propagate import propagate

        k_idx, k_t, k_sim, k_v = jax.random.split(key, 4)
        dtype = self.data.dtype
        x0 = self.data[jax.random.randint(k_idx, (self.batch,), 0, self.data.shape[0])]
        t = jax.random.uniform(k_t, (self.batch,), dtype, self.t_min, self.t1)
        frozen = eqx.combine(state.params, self.static)  # x_t is computed outside the loss: no gradient
        keys = jax.random.split(k_sim, self.batch)
        xt = jax.vmap(lambda k, x, tt: propagate(k, frozen, x, jnp.zeros((), dtype), tt, num_steps=self.substeps))(keys, x0, t)
        v = jax.random.normal(k_v, x0.shape, dtype)
        weight = jax.vmap(lambda tt, x: tt * jnp.mean(jnp.sum(frozen.diffusion(tt, x, None) ** 2, axis=1)))(t, xt)

        def loss_fn(params):
            model = eqx.combine(params, self.static)
            return ssm_loss(lambda tt, x: model.score(tt, x, None), xt, t, v, weight)

        loss, grad = eqx.filter_value_and_grad(loss_fn)(state.params)
        updates, opt_state = self.optimizer.update(grad, state.opt_state, state.params)
        params = eqx.apply_updates(state.params, updates)
        step = state.step + 1
        decay = jnp.minimum(self.ema, (1.0 + step) / (10.0 + step)).astype(dtype)
        ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p, state.ema, params)
        return ScoreTrainState(params, opt_state, ema, step), ScoreTrainInfo(loss, optax.tree.norm(grad))


def ssm_kernel(
    model,
    data: Float[Array, "N n"],
    *,
    batch: int = 256,
    learning_rate: float = 1e-3,
    ema: float = 0.999,
    t_min: float = 1e-3,
    t1: float = 1.0,
    substeps: int = 32,
) -> Kernel:
    """Sliced score matching of ``model.score`` as a :class:`Kernel`, for a
    forward SDE without Gaussian transition (state-dependent diffusion)."""
    optimizer = _optimizer(float(learning_rate))
    params, static = eqx.partition(model, trainable(model))
    data = jnp.asarray(data, dtype=jnp.result_type(float)).reshape(len(data), -1)
    step = _SSMStep(static, data, optimizer, int(batch), float(t_min), float(t1), float(ema), int(substeps))

    def init() -> ScoreTrainState:
        return ScoreTrainState(params, optimizer.init(params), params, jnp.zeros((), jnp.int32))

    return Kernel(init, step)


#: forward-solver steps from 0 to t1 for the terminal samples of a non-linear forward SDE
TERMINAL_STEPS = 1000
#: how many terminal samples a weights file keeps (non-linear forward SDEs)
TERMINAL_SAMPLES = 2000


def terminal_samples(model, data: np.ndarray, t1: float, seed: int) -> np.ndarray:
    """Data pushed through the forward SDE to ``t1`` (the model's solver,
    :data:`TERMINAL_STEPS` steps), at most :data:`TERMINAL_SAMPLES` of them:
    the start of the reverse processes when the terminal law has no closed form."""
    from .propagate import propagate

    rng = np.random.default_rng(seed)
    pick = data if len(data) <= TERMINAL_SAMPLES else data[rng.choice(len(data), TERMINAL_SAMPLES, replace=False)]
    y = jnp.asarray(pick, dtype=jnp.result_type(float))
    out = propagate(jax.random.key(seed + 1), model, y, 0.0, float(t1), num_steps=TERMINAL_STEPS)
    return np.asarray(out)


def dsm_kernel(
    model,
    transition: GaussianTransition,
    data: Float[Array, "N n"],
    *,
    batch: int = 256,
    learning_rate: float = 1e-3,
    ema: float = 0.999,
    t_min: float = 1e-3,
    weighting: str = "sigma2",
    log_space: bool = False,
) -> Kernel:
    """Denoising score matching of ``model.score`` as a :class:`Kernel`.

    With ``log_space`` the forward SDE is log-linear: ``transition`` is that
    of ``y = log x`` (:class:`~dync.runtime.forward_sde.LogCoordinates`),
    the positive ``data`` are taken to logs, and the loss is that of the
    score of ``y``, ``x * s(t, x) + 1`` (:func:`log_score`): the exact
    log-normal transition of ``x``.

    ``weighting="sigma2"`` draws ``t`` uniformly with ``lambda = P(t)``;
    ``"likelihood"`` uses ``lambda = g^2`` with importance-sampled times
    (:class:`TimeSampler`).

    ``init()`` starts from the model's current weights. Each step draws a
    batch of data points, times ``t ~ U[t_min, transition.t1]`` and noise
    from its key, and takes one Adam step (gradients clipped to global norm
    1). The state carries an EMA of the weights (decay ``min(ema, (1 + k) /
    (10 + k))`` at step ``k``, so short runs average short windows).
    """
    optimizer = _optimizer(float(learning_rate))
    params, static = eqx.partition(model, trainable(model))
    data = jnp.asarray(data, dtype=jnp.result_type(float)).reshape(len(data), -1)
    if log_space:
        data = jnp.log(data)
    if weighting not in WEIGHTINGS:
        raise UsageError(f"--weighting {weighting}: unknown", hint="use " + " or ".join(WEIGHTINGS))
    coords = LogCoordinates(model) if log_space else model
    times = likelihood_time_sampler(coords, transition, float(t_min), transition.t1) if weighting == "likelihood" else None
    step = _DSMStep(static, transition, data, times, optimizer, int(batch), float(t_min), float(transition.t1), float(ema),
                    bool(log_space))  # fmt: skip

    def init() -> ScoreTrainState:
        return ScoreTrainState(params, optimizer.init(params), params, jnp.zeros((), jnp.int32))

    return Kernel(init, step)


class TrainedScore(NamedTuple):
    """The result of :func:`train_score`.

    Attributes:
        model: the model with the trained (EMA, unless ``ema=0``) weights.
        loss: the batch loss at each step, shape ``(steps,)``.
        grad_norm: the gradient's norm at each step.
        meta: what :func:`save_weights` stores beside the weights.
    """

    model: Any
    loss: np.ndarray
    grad_norm: np.ndarray
    meta: dict


def _check_positive(value: float, name: str) -> None:
    if not float(value) > 0:
        raise UsageError(f"{name} {value}: must be positive")


def train_score(
    model,
    samples,
    *,
    steps: int = 2000,
    batch: int = 256,
    learning_rate: float = 1e-3,
    ema: float = 0.999,
    seed: int = 0,
    t_min: float = 1e-3,
    t1: float = 1.0,
    weighting: str = "sigma2",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
) -> TrainedScore:
    """Train the model's score on ``samples`` of its data state.

    Args:
        model: a compiled model with a ``score`` over a net and one state.
        samples: ``(N, *state shape)`` data points (``read_samples``).
        steps: optimiser steps.
        batch: data points per step.
        learning_rate: Adam's step.
        ema: the EMA decay of the saved weights (0: save the last weights).
        seed: the run's seed (batches, times, noise).
        t_min: the smallest diffusion time trained on (the score blows up
            as ``t -> 0``).
        t1: the end of the forward process.
        weighting: ``sigma2`` (``lambda = P(t)``, uniform times) or
            ``likelihood`` (``lambda = g^2``, importance-sampled times; linear
            forward SDEs only).
        checkpoint: resume from / write checkpoints to this file.
        checkpoint_every: steps between checkpoints.
        progress: show a progress bar with the loss.

    Raises:
        UsageError: a bad setting, or a model that cannot be trained.
        DyncRuntimeError: a loss that became NaN.

    A linear forward SDE (Gaussian transition) trains by denoising score
    matching; any other (state-dependent noise, e.g. multiplicative GBM) by
    sliced score matching on ``x_t`` simulated with the model's own solver
    (:func:`ssm_kernel`), and the weights file then keeps
    :data:`TERMINAL_SAMPLES` data points pushed forward to ``t1``, where the
    reverse processes start.
    """
    score_state(model)
    for value, name in ((steps, "--steps"), (batch, "--batch"), (learning_rate, "--lr"), (t1, "--t1"), (t_min, "--t-min")):
        _check_positive(value, name)
    if not 0 <= float(ema) < 1:
        raise UsageError(f"--ema {ema}: must be in [0, 1)", hint="0.999 is usual; 0 saves the last weights")
    if not float(t_min) < float(t1):
        raise UsageError(f"--t-min {t_min}: must be below t1 = {t1}")
    samples = np.asarray(samples, dtype=np.float64)
    data = samples.reshape(samples.shape[0], -1)
    n = model.info.state_size
    if data.shape[1] != n:
        raise UsageError(f"the samples have {data.shape[1]} components, but the state has {n}")
    kind, reason = classify_forward(model, t1)
    if kind == "log-linear" and not np.all(data > 0):
        bad = int(np.argmax(~np.all(data > 0, axis=1)))
        raise UsageError(
            f"the forward SDE of model `{model.info.name}` is multiplicative (linear in log x), so the data must be "
            f"positive, but sample {bad} is {data[bad].tolist()}",
            hint="a multiplicative (GBM) forward SDE is for positive data; for data of any sign use VP, VE or sub-VP",
        )
    if not model.info.nets:
        # a closed-form score: nothing to fit, but the reverse processes still
        # need where they start (the data's law pushed to t1: the meta below)
        trained, loss, grad_norm = model, np.zeros((0,)), np.zeros((0,))
        steps, objective = 0, "none (closed-form score)"
        return _trained(trained, loss, grad_norm, data, kind, reason, objective, weighting, t_min, t1, steps, batch,
                        learning_rate, ema, seed)  # fmt: skip

    if kind in ("linear", "log-linear"):
        log_space = kind == "log-linear"
        transition = gaussian_transition(LogCoordinates(model) if log_space else model, t1)
        kernel = dsm_kernel(model, transition, data, batch=batch, learning_rate=learning_rate, ema=ema, t_min=t_min,
                            weighting=weighting, log_space=log_space)  # fmt: skip
        objective = "dsm_log" if log_space else "dsm"
    else:
        if weighting != "sigma2":
            raise UsageError(f"--weighting {weighting} needs a linear forward SDE", hint="leave --weighting at sigma2")
        kernel = ssm_kernel(model, data, batch=batch, learning_rate=learning_rate, ema=ema, t_min=t_min, t1=t1)
        objective = "ssm"

    def status(records, done):
        return f"loss {float(np.mean(records.loss)):.4g}"

    def check(records, done):
        if not np.all(np.isfinite(records.loss)):
            raise DyncRuntimeError(
                f"the training loss is not finite (by step {done})",
                hint="lower --lr, or raise --t-min (the score is very large near t = 0)",
            )

    identity = f"{objective} weighting={weighting} batch={batch} lr={learning_rate!r} ema={ema!r} t_min={t_min!r} t1={t1!r} data={_digest(data)}"
    run = run_kernel(
        kernel, kernel.init(), jax.random.key(seed), steps, checkpoint=checkpoint,
        checkpoint_every=None if checkpoint is None else checkpoint_every,
        progress=progress, description="train", identity=identity, status_fn=status, on_chunk=check,
    )  # fmt: skip
    static = kernel.step.static
    weights = run.state.ema if ema > 0 else run.state.params
    trained = eqx.combine(weights, static)
    return _trained(trained, np.asarray(run.info.loss), np.asarray(run.info.grad_norm), data, kind, reason, objective,
                    weighting, t_min, t1, steps, batch, learning_rate, ema, seed)  # fmt: skip


def _trained(trained, loss, grad_norm, data, kind, reason, objective, weighting, t_min, t1, steps, batch,
             learning_rate, ema, seed) -> TrainedScore:  # fmt: skip
    """The :class:`TrainedScore` with its metadata: the time span, the data's
    moments (and for a non-linear forward SDE data pushed to ``t1``), the
    training settings."""
    model = trained
    meta = {
        "model": model.info.name,
        "state": model.info.score_state,
        "t_min": float(t_min),
        "t1": float(t1),
        "data_mean": data.mean(axis=0).tolist(),
        "data_cov": np.atleast_2d(np.cov(data, rowvar=False)).tolist(),
        "data_samples": int(data.shape[0]),
        "steps": int(steps),
        "batch": int(batch),
        "learning_rate": float(learning_rate),
        "ema": float(ema),
        "seed": int(seed),
        "final_loss": float(np.mean(loss[-max(1, steps // 20) :])) if loss.size else float("nan"),
        "objective": objective,
        "weighting": weighting,
        "forward_class": kind,
    }
    if kind == "log-linear":
        logs = np.log(data)
        meta["log_data_mean"] = logs.mean(axis=0).tolist()
        meta["log_data_cov"] = np.atleast_2d(np.cov(logs, rowvar=False)).tolist()
    if kind == "other":
        meta["forward_reason"] = reason
        meta["terminal_samples"] = terminal_samples(trained, data, t1, seed).tolist()
    return TrainedScore(trained, loss, grad_norm, meta)


def _digest(data: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:16]


def _structure_digest(model) -> str:
    """A digest of the model's arrays: where each sits in the model (its key
    path), its shape and dtype. Not the tree's static parts: those hold the
    spec's path, and the same spec read as `./m.dync` or `/abs/m.dync` must
    take the same weights."""
    arrays = eqx.filter(model, eqx.is_array)
    leaves = jax.tree_util.tree_flatten_with_path(arrays)[0]
    text = repr([(jax.tree_util.keystr(k), tuple(x.shape), str(x.dtype)) for k, x in leaves])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _legacy_structure_digest(model) -> str:
    """The digest weights files written before 2026-12-06 carry (it hashed
    the tree's static parts too, the spec's path among them)."""
    arrays = eqx.filter(model, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten(arrays)
    text = str(treedef) + repr([(tuple(x.shape), str(x.dtype)) for x in leaves])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_weights(path: str | os.PathLike, model, meta: dict) -> Path:
    """Write a trained model's arrays and ``meta`` atomically (the format is
    in the module's docstring)."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, eqx.filter(model, eqx.is_array))
    header = dict(meta, structure=_structure_digest(model), dtype=str(jnp.result_type(float)))
    payload = WEIGHTS_MAGIC + b"\n" + json.dumps(header, sort_keys=True).encode() + b"\n" + buffer.getvalue()
    return write_bytes_atomic(path, payload)


def load_weights(model, path: str | os.PathLike) -> tuple[Any, dict]:
    """``(model with the saved arrays, meta)``: the weights written by
    :func:`save_weights` for a model compiled from the same spec and dims.

    Raises:
        UsageError: no such file, not a weights file, or weights of another
            model (other nets, dims or precision).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the weights file `{path}`: {err.strerror or err}", hint="train one with `dync train`") from None
    try:
        magic, header, payload = raw.split(b"\n", 2)
        if magic != WEIGHTS_MAGIC:
            raise ValueError
        meta = json.loads(header)
    except ValueError:
        raise UsageError(f"`{path}` is not a dync weights file", hint="it is written by `dync train -o FILE`") from None
    run_dtype = jnp.result_type(float)
    saved = meta.get("dtype", str(run_dtype))
    if saved not in ("float32", "float64"):
        raise UsageError(f"`{path}` holds weights of an unknown float type `{saved}`", hint="train them again")
    if jnp.dtype(saved).itemsize > run_dtype.itemsize:
        raise UsageError(
            f"the weights in `{path}` are {saved}, but this run computes in {run_dtype}",
            hint="add --x64 (in Python: inside `with jax.enable_x64(True)`), as when they were trained",
        )
    # float32 weights in a float64 run are read as float32 and widened, exactly
    as_saved = _with_float_dtype(model, jnp.dtype(saved))
    if meta.get("model") != model.info.name or meta.get("structure") not in (
        _structure_digest(as_saved), _legacy_structure_digest(as_saved)
    ):  # fmt: skip
        raise UsageError(
            f"the weights in `{path}` were trained for model `{meta.get('model')}` with other nets, dims or parameters "
            f"than this model `{model.info.name}`",
            hint="load them with the spec and --set values they were trained with",
        )
    arrays, static = eqx.partition(as_saved, eqx.is_array)
    try:
        arrays = eqx.tree_deserialise_leaves(io.BytesIO(payload), arrays)
    except Exception as err:  # a truncated file
        raise UsageError(f"the weights file `{path}` could not be read ({type(err).__name__})", hint="train it again") from None
    return _with_float_dtype(eqx.combine(arrays, static), run_dtype), meta


def _with_float_dtype(model, dtype):
    """``model`` with every floating-point array cast to ``dtype`` (others,
    such as integer keys, unchanged)."""

    def cast(x):
        if eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != dtype:
            return x.astype(dtype)
        return x

    return jax.tree_util.tree_map(cast, model)
