r"""Langevin-family MCMC kernels, BlackJAX-style: ``init(position)`` and
``step(key, state) -> (state, info)`` (the kernel contract of
:mod:`dync.runtime.kernels`), each over one chain whose position is a flat
array.

Every kernel returns the same info record, :class:`SamplerInfo`, so that the
driver (:mod:`dync.runtime.sampling`) records and writes them alike.

============  =================================================================
``ula``       unadjusted Langevin: $x' = x + h\nabla\log\pi(x) + \sqrt{2h}\,\xi$.
              Biased: for a Gaussian target $N(0, \sigma^2)$ its stationary
              variance is $\sigma^2 / (1 - h / (2\sigma^2))$.
``mala``      the same proposal with a Metropolis–Hastings correction
              (BlackJAX ``mala``): exact at every step size.
``baoab``     underdamped Langevin by the BAOAB splitting (Leimkuhler &
              Matthews 2013) with friction $\gamma$ and mass $m$: half kick,
              half drift, Ornstein–Uhlenbeck on the momentum, half drift, half
              kick. Unadjusted, but its configurational law is exact for a
              Gaussian target at any stable step ($h < 2\sqrt{m}\sigma$).
``hmc``       BlackJAX ``hmc`` (velocity Verlet, Metropolis-adjusted), with the
              number of leapfrog steps jittered around ``L``.
``nuts``      BlackJAX ``nuts``.
``sgld``      stochastic-gradient Langevin (Welling & Teh 2011; BlackJAX
              ``sgld``) for a log-density that sums over data points: the
              ULA step with the gradient of
              $\log p(x) + \frac{N}{B}\sum_{i \in \text{batch}} \log p(d_i | x)$
              on a minibatch of $B$ of the $N$ points, at the step
              $h_t = h (1 + t/\tau)^{-\gamma}$ ($\gamma = 0$: constant).
============  =================================================================

``thinned(kernel, k)`` makes one step of ``k`` steps, keeping the last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray, Scalar

from .kernels import Kernel

__all__ = [
    "BAOABState",
    "LangevinState",
    "SGLDState",
    "SamplerInfo",
    "SumOverData",
    "baoab",
    "hmc",
    "mala",
    "nuts",
    "sgld",
    "step_schedule",
    "thinned",
    "ula",
]

LogDensityFn = Callable[[Float[Array, " n"]], Scalar]


class SamplerInfo(NamedTuple):
    r"""What every sampler step reports.

    Attributes:
        acceptance_rate: the Metropolis acceptance probability (1 for the
            unadjusted kernels).
        is_accepted: whether the proposal was taken.
        diverging: the step left the finite numbers, or (HMC/NUTS) the energy
            error passed BlackJAX's divergence threshold.
        energy: the Hamiltonian (HMC, NUTS, BAOAB) or $-\log\pi$ (ULA, MALA)
            after the step.
        n_steps: gradient evaluations in the step.
    """

    acceptance_rate: Float[Array, ""]
    is_accepted: Bool[Array, ""]
    diverging: Bool[Array, ""]
    energy: Float[Array, ""]
    n_steps: Any


class LangevinState(NamedTuple):
    """A chain of ULA or MALA: the position, its log-density and gradient."""

    position: Float[Array, " n"]
    logdensity: Scalar
    logdensity_grad: Float[Array, " n"]


class BAOABState(NamedTuple):
    """A chain of BAOAB: position, momentum, log-density and its gradient."""

    position: Float[Array, " n"]
    momentum: Float[Array, " n"]
    logdensity: Scalar
    logdensity_grad: Float[Array, " n"]


def _langevin_init(logdensity_fn: LogDensityFn) -> Callable[[Array], LangevinState]:
    def init(position):
        position = jnp.asarray(position)
        value, grad = jax.value_and_grad(logdensity_fn)(position)
        return LangevinState(position, value, grad)

    return init


def _finite(state) -> Bool[Array, ""]:
    return jnp.isfinite(state.logdensity) & jnp.all(jnp.isfinite(state.position))


def ula(logdensity_fn: LogDensityFn, step_size: float) -> Kernel:
    """Unadjusted Langevin: ``x' = x + h grad log pi(x) + sqrt(2h) xi``.

    Args:
        logdensity_fn: the log-density of a flat position.
        step_size: ``h``.
    """
    init = _langevin_init(logdensity_fn)

    def step(key: PRNGKeyArray, state: LangevinState) -> tuple[LangevinState, SamplerInfo]:
        h = jnp.asarray(step_size, state.position.dtype)
        noise = jax.random.normal(key, state.position.shape, state.position.dtype)
        new = init(state.position + h * state.logdensity_grad + jnp.sqrt(2 * h) * noise)
        one = jnp.ones((), state.position.dtype)
        return new, SamplerInfo(one, jnp.asarray(True), ~_finite(new), -new.logdensity, 1)

    return Kernel(init, step)


def mala(logdensity_fn: LogDensityFn, step_size: float | Array) -> Kernel:
    """Metropolis-adjusted Langevin (BlackJAX ``mala``), exact at every step
    size; ``step_size`` may be a traced value (adaptation)."""
    algorithm = blackjax.mala(logdensity_fn, step_size)

    def init(position):
        return algorithm.init(jnp.asarray(position))  # BlackJAX's MALAState: position, logdensity, grad

    def step(key, state):
        new, info = algorithm.step(key, state)
        return new, SamplerInfo(
            jnp.asarray(info.acceptance_rate), jnp.asarray(info.is_accepted), ~_finite(new), -new.logdensity, 1
        )

    return Kernel(init, step)


def baoab(
    logdensity_fn: LogDensityFn, step_size: float, friction: float = 1.0, mass: float | Array = 1.0
) -> Kernel:
    """Underdamped Langevin by the BAOAB splitting.

    ``dx = p / m dt``, ``dp = grad log pi(x) dt - gamma p dt + sqrt(2 gamma m) dW``:
    B (half kick), A (half drift), O (exact OU step of the momentum with
    ``c = exp(-gamma h)``), A, B. One gradient per step (the last B's
    gradient is kept for the next step's first).

    Args:
        logdensity_fn: the log-density of a flat position.
        step_size: ``h``.
        friction: ``gamma`` > 0.
        mass: ``m``, a scalar or one per coordinate.
    """

    def init(position, key: PRNGKeyArray | None = None):
        position = jnp.asarray(position)
        value, grad = jax.value_and_grad(logdensity_fn)(position)
        m = jnp.broadcast_to(jnp.asarray(mass, position.dtype), position.shape)
        if key is None:
            momentum = jnp.zeros_like(position)
        else:
            momentum = jnp.sqrt(m) * jax.random.normal(key, position.shape, position.dtype)
        return BAOABState(position, momentum, value, grad)

    def step(key, state):
        dtype = state.position.dtype
        h = jnp.asarray(step_size, dtype)
        m = jnp.asarray(mass, dtype)  # a scalar, or one per coordinate: broadcasts either way
        c = jnp.exp(-jnp.asarray(friction, dtype) * h)
        p = state.momentum + 0.5 * h * state.logdensity_grad
        x = state.position + (0.5 * h / m) * p
        p = c * p + jnp.sqrt((1 - c**2) * m) * jax.random.normal(key, x.shape, dtype)
        x = x + (0.5 * h / m) * p
        value, grad = jax.value_and_grad(logdensity_fn)(x)
        p = p + 0.5 * h * grad
        new = BAOABState(x, p, value, grad)
        energy = -value + 0.5 * jnp.sum(p**2 / m)
        return new, SamplerInfo(jnp.ones((), dtype), jnp.asarray(True), ~_finite(new), energy, 1)

    return Kernel(init, step)


def hmc_info(new, info) -> SamplerInfo:
    """A BlackJAX HMC/NUTS step's info as a :class:`SamplerInfo` (``new``:
    the state it moved to; a non-finite one counts as a divergence)."""
    return SamplerInfo(
        jnp.asarray(info.acceptance_rate),
        jnp.asarray(getattr(info, "is_accepted", True)),  # NUTS always moves along its tree
        jnp.asarray(info.is_divergent) | ~_finite(new),
        jnp.asarray(info.energy),
        info.num_integration_steps,
    )


def hmc(
    logdensity_fn: LogDensityFn, step_size: float | Array, inverse_mass_matrix: Array, num_integration_steps: int
) -> Kernel:
    """Hamiltonian Monte Carlo (BlackJAX ``hmc``, velocity Verlet) with a
    jittered trajectory: each step draws its number of leapfrog steps
    uniformly from ``ceil(L/2) .. floor(3L/2)`` (mean ``L``), independently
    of the state, so detailed balance holds. A fixed length can resonate
    with the target's periods (on a Gaussian, a trajectory near a period
    barely moves and the chain is not ergodic: its draws' variance came out
    25 % off in our tests); the jitter breaks that (Mackenzie 1989; Neal 2011,
    §5.4.2.3)."""
    base = blackjax.hmc(logdensity_fn, step_size, inverse_mass_matrix, int(num_integration_steps))
    low = (int(num_integration_steps) + 1) // 2
    high = int(num_integration_steps) + int(num_integration_steps) // 2

    def step(key, state):
        key_steps, key_step = jax.random.split(key)
        steps = jax.random.randint(key_steps, (), low, high + 1)
        new, info = blackjax.hmc(logdensity_fn, step_size, inverse_mass_matrix, steps).step(key_step, state)
        return new, hmc_info(new, info)

    return Kernel(lambda position: base.init(jnp.asarray(position)), step)


def nuts(logdensity_fn: LogDensityFn, step_size: float | Array, inverse_mass_matrix: Array) -> Kernel:
    """The No-U-Turn sampler (BlackJAX ``nuts``)."""
    algorithm = blackjax.nuts(logdensity_fn, step_size, inverse_mass_matrix)

    def step(key, state):
        new, info = algorithm.step(key, state)
        return new, hmc_info(new, info)

    return Kernel(lambda position: algorithm.init(jnp.asarray(position)), step)


class SumOverData(NamedTuple):
    r"""A log-density written as a sum over data points,
    $\log\pi(x) = \log p(x) + \sum_{i=1}^N \log p(d_i | x)$: what SGLD
    samples with minibatches.

    Attributes:
        logprior_fn: $\log p(x)$ of a flat position.
        loglikelihood_fn: $\log p(d | x)$ of a position and one data point
            (the leaves of ``data`` without their leading axis).
        data: a pytree of arrays whose leading axis is the $N$ points.
    """

    logprior_fn: Callable[[Any], Any]
    loglikelihood_fn: Callable[[Any, Any], Any]
    data: Any

    @property
    def size(self) -> int:
        """$N$, the number of data points."""
        return int(jax.tree_util.tree_leaves(self.data)[0].shape[0])


class SGLDState(NamedTuple):
    r"""A chain of SGLD.

    Attributes:
        position: the flat position.
        logdensity: the minibatch estimate of $\log\pi$ at the position
            (BlackJAX's ``logdensity_estimator`` on the batch of the step that
            reached it; on all the data at ``init``).
        count: the steps taken, ``t`` of the step-size schedule.
    """

    position: Float[Array, " n"]
    logdensity: Scalar
    count: Any


def step_schedule(step_size: float, decay: float = 0.0, decay_steps: float = 1000.0) -> Callable[[Any], Array]:
    r"""The polynomially decaying step $h_t = h (1 + t/\tau)^{-\gamma}$
    (Welling & Teh 2011 use $\gamma \in (0.5, 1]$, so that $\sum h_t =
    \infty$ and $\sum h_t^2 < \infty$); ``decay = 0`` is the constant step.

    Args:
        step_size: $h$, the first step.
        decay: $\gamma \ge 0$.
        decay_steps: $\tau > 0$, the steps over which the step halves
            (for $\gamma = 1$).
    """

    def schedule(t):
        h = jnp.asarray(step_size)
        if float(decay) == 0.0:
            return h
        return h * (1.0 + jnp.asarray(t, h.dtype) / float(decay_steps)) ** (-float(decay))

    return schedule


def sgld(
    logprior_fn: LogDensityFn,
    loglikelihood_fn: Callable[[Array, Any], Scalar],
    data: Any,
    batch_size: int,
    step_size: float,
    decay: float = 0.0,
    decay_steps: float = 1000.0,
) -> Kernel:
    r"""Stochastic-gradient Langevin dynamics (Welling & Teh 2011), BlackJAX's
    ``sgld`` with its ``grad_estimator``.

    Each step draws a minibatch of ``batch_size`` of the $N$ data points
    without replacement (all of them, in order, when ``batch_size`` is
    $N$: then it is ULA), estimates $\nabla\log\pi$ by
    $\nabla\log p(x) + \frac{N}{B}\sum_{i\in\text{batch}}\nabla\log p(d_i|x)$
    and moves $x' = x + h_t\hat\nabla + \sqrt{2h_t}\,\xi$. Not exact:
    besides ULA's $O(h)$ bias, the gradient noise adds about
    $h_t\,\mathrm{Var}(\hat\nabla)$ to the spread (it vanishes with $h_t$).

    Args:
        logprior_fn: $\log p(x)$ of a flat position.
        loglikelihood_fn: $\log p(d | x)$ of a position and one data point
            (a pytree of the data's leaves without their leading axis).
        data: a pytree of arrays whose leading axis is the $N$ data points.
        batch_size: $B$, ``1 <= B <= N``.
        step_size, decay, decay_steps: the schedule (:func:`step_schedule`).
    """
    leaves = jax.tree_util.tree_leaves(data)
    size = int(leaves[0].shape[0])
    batch_size = int(batch_size)
    grad_fn = blackjax.sgmcmc.gradients.grad_estimator(logprior_fn, loglikelihood_fn, size)
    estimate = blackjax.sgmcmc.gradients.logdensity_estimator(logprior_fn, loglikelihood_fn, size)
    algorithm = blackjax.sgld(grad_fn)
    schedule = step_schedule(step_size, decay, decay_steps)

    def init(position):
        position = jnp.asarray(position)
        return SGLDState(position, estimate(position, data), jnp.zeros((), jnp.int32))

    def minibatch(key):
        if batch_size >= size:
            return data
        index = jax.random.choice(key, size, (batch_size,), replace=False)
        return jax.tree_util.tree_map(lambda a: a[index], data)

    def step(key, state):
        key_batch, key_noise = jax.random.split(key)
        batch = minibatch(key_batch)
        h = schedule(state.count).astype(state.position.dtype)
        position = algorithm.step(key_noise, state.position, batch, h)
        new = SGLDState(position, estimate(position, batch).astype(position.dtype), state.count + 1)
        one = jnp.ones((), position.dtype)
        return new, SamplerInfo(one, jnp.asarray(True), ~_finite(new), -new.logdensity, 1)

    return Kernel(init, step)


def thinned(kernel: Kernel, every: int) -> Kernel:
    """A kernel whose one step is ``every`` steps of ``kernel`` (keys
    ``fold_in(key, j)``); the info is the last step's, with the acceptance
    rate averaged, ``diverging`` or-ed and ``n_steps`` summed over them."""
    every = int(every)
    if every == 1:
        return kernel

    def step(key, state):
        # the sums over the block ride in the loop's carry (no stacked
        # per-step infos): a smaller program, which compiles faster
        shape = jax.eval_shape(kernel.step, key, state)[1]
        last = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
        acc = jnp.zeros((), jnp.result_type(shape.acceptance_rate.dtype, jnp.float32))

        def body(j, carry):
            s, acc, diverging, n, _ = carry
            s, info = kernel.step(jax.random.fold_in(key, j), s)
            return s, acc + info.acceptance_rate, diverging | info.diverging, n + jnp.asarray(info.n_steps), info

        n0 = jnp.zeros((), jnp.asarray(last.n_steps).dtype)
        state, acc, diverging, n, last = jax.lax.fori_loop(
            0, every, body, (state, acc, jnp.zeros((), bool), n0, last)
        )
        return state, last._replace(acceptance_rate=(acc / every).astype(shape.acceptance_rate.dtype),
                                    diverging=diverging, n_steps=n)  # fmt: skip

    return Kernel(kernel.init, step)
