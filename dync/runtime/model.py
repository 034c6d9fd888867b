"""The contract every compiled dync model meets.

Code generation (``dync.compiler``) writes a Python module whose ``Model`` class
subclasses :class:`AbstractModel`. The runtime (simulation, fitting, sampling)
only ever talks to that interface, so hand-written models that subclass it run
through the same solvers (the tests use that).

Conventions
-----------
* The static description (state and noise layout, parameters, constraints)
  is :class:`dync.info.ModelInfo`, JAX-free; see :mod:`dync.info.model` for
  how states and noise sit in the flat vectors ``y`` and ``dw``.
* The generated ``Model`` implements the abstract methods below and nothing
  else (equinox's abstract/final rule); everything else is derived here.
* ``source`` (a :class:`~dync.info.SpecSource`) says which spec the model
  came from; ``fbm_horizon`` and ``fbm_high`` are the fractional-noise
  settings, ``None`` for a model without fractional noise.
* ``drift`` is the drift *as written*, in the model's calculus
  (``info.calculus``). ``ito_drift`` and ``stratonovich_drift`` convert
  between the two with the exact correction
  $c(y) = \\tfrac12 \\sum_j (\\partial g_j / \\partial y)\\, g_j$, built by
  automatic differentiation from ``noise``.
* ``args`` carries run-time data that is not a parameter: interpolated inputs
  (``args["inputs"][name]`` is a callable ``t -> value``). ``None`` when the
  model has no inputs.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from ..info.model import (
    NOISE_STRUCTURES as NOISE_STRUCTURES,
    LangevinInfo as LangevinInfo,
    ModelInfo as ModelInfo,
    NoiseInfo as NoiseInfo,
    ObservationInfo as ObservationInfo,
    ParamInfo as ParamInfo,
    SpecSource as SpecSource,
    StateInfo as StateInfo,
)

def init_keys(key: PRNGKeyArray | None, info: ModelInfo, count: int) -> PRNGKeyArray:
    """The ``count`` keys a model's constructor draws its ``~ init``
    parameters and network weights with: ``jax.random.split(key, count)``.

    There is no default key: a model that draws numbers when it is built
    needs one, so that no run silently reuses ``key(0)``.

    Raises:
        UsageError: ``key`` is ``None``.
    """
    if key is None:
        from ..errors import UsageError

        what = [f"parameter `{p.name}` (`~ init`)" for p in info.params if p.init]
        what += [f"net `{n.name}`" for n in info.nets]
        listed = what[0] if len(what) == 1 else ", ".join(what[:-1]) + " and " + what[-1]
        raise UsageError(
            f"model `{info.name}` draws {listed} when it is built, so it needs a PRNG key",
            hint="pass one: `dync.load(path, jax.random.key(seed))` or `Model(jax.random.key(seed))`; "
            "the command line takes `--seed`",
        )
    return jax.random.split(key, count)


class AbstractModel(eqx.Module):
    """A compiled stochastic differential equation model.

    Subclasses implement the abstract methods; everything else is derived.
    Parameters are stored unconstrained (a field per parameter, same name);
    ``constrained_params`` maps them through their bijections.
    """

    info: eqx.AbstractClassVar[ModelInfo]
    #: the spec this model was built from (empty for a hand-written model)
    source: eqx.AbstractVar[SpecSource]
    #: the time span the fractional-noise weights are tuned to (``None``
    #: without fractional noise; see :meth:`with_horizon`)
    fbm_horizon: eqx.AbstractVar[Array | None]
    #: the cap on the fastest hidden OU speed (``None`` without fractional noise)
    fbm_high: eqx.AbstractVar[Array | None]

    # ---- implemented by generated code ------------------------------------

    @abc.abstractmethod
    def constrained_params(self) -> dict[str, Array]:
        """Every parameter and constant in its constrained (user) space."""

    @abc.abstractmethod
    def log_prior(self) -> Scalar:
        """Sum of the log prior densities of the parameters (in constrained
        space, plus the log-Jacobian of each bijection so that the density is
        one over the unconstrained leaves)."""

    @abc.abstractmethod
    def drift(self, t: Scalar, y: Float[Array, " n"], args: Any = None) -> Float[Array, " n"]:
        """The drift $f(t, y)$ as written, in the model's calculus."""

    @abc.abstractmethod
    def noise(
        self, t: Scalar, y: Float[Array, " n"], dw: Float[Array, " m"], args: Any = None
    ) -> Float[Array, " n"]:
        """The noise increment $g(t, y)\\,dw$ (linear in ``dw``)."""

    @abc.abstractmethod
    def initial_state(self, key: PRNGKeyArray, args: Any = None) -> Float[Array, " n"]:
        """Draw one initial state from the ``state`` declarations."""

    @abc.abstractmethod
    def initial_moments(self, args: Any = None) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
        """The mean and standard deviation of each component of the initial
        state, ``(mean, std)``, each of shape ``(n,)``: for a ``Normal`` law
        its ``loc`` and ``scale``, for a fixed value the value and 0, for any
        other law its mean and NaN (hidden fractional-noise states start at 0
        with std 0). The components are independent. The Kalman filter reads
        this; it applies only when no std is NaN."""

    @abc.abstractmethod
    def observation_log_prob(
        self, t: Scalar, y: Float[Array, " n"], data: dict[str, Array], args: Any = None
    ) -> Scalar:
        """Log-likelihood of one time point of observations given the state
        (zero for a model without ``observe`` lines)."""

    @abc.abstractmethod
    def observation_sample(
        self, key: PRNGKeyArray, t: Scalar, y: Float[Array, " n"], args: Any = None
    ) -> dict[str, Array]:
        """Draw one time point of every observation given the state (``{}``
        for a model without ``observe`` lines)."""

    @abc.abstractmethod
    def observation_moments(
        self, t: Scalar, y: Float[Array, " n"], args: Any = None
    ) -> dict[str, tuple[Array, Array]]:
        """Each observation's law given the state, as ``{name: (mean, std)}``
        with arrays of the observation's shape: ``(loc, scale)`` of a
        ``Normal`` law, ``(mean, NaN)`` of any other (``{}`` for a model
        without ``observe`` lines). The Kalman filter reads this: for a
        linear-Gaussian model ``mean`` is affine in ``y`` and ``std`` free of it."""

    # ---- derived -----------------------------------------------------------

    def diffusion(self, t: Scalar, y: Float[Array, " n"], args: Any = None) -> Float[Array, "n m"]:
        """The diffusion matrix $G(t, y)$, column j the response to ``dw = e_j``."""
        m = self.info.noise_size
        eye = jnp.eye(m, dtype=y.dtype)
        return jax.vmap(lambda e: self.noise(t, y, e, args), out_axes=1)(eye)

    def diffusion_diagonal(self, t: Scalar, y: Float[Array, " n"], args: Any = None) -> Float[Array, " n"]:
        """The diagonal of $G$ for diagonal or additive-diagonal noise (``m == n``)."""
        return self.noise(t, y, jnp.ones((self.info.noise_size,), y.dtype), args)

    def ito_correction(self, t: Scalar, y: Float[Array, " n"], args: Any = None) -> Float[Array, " n"]:
        """$\\tfrac12 \\sum_j (\\partial g_j/\\partial y) g_j$: Stratonovich drift minus Itô
        drift is $-c$; Itô drift = Stratonovich drift + c."""
        if self.info.noise_structure in ("none", "additive"):
            return jnp.zeros_like(y)
        if self.info.diffusion_is_elementwise:
            # G is diagonal and g_i depends on y_i only: c = 1/2 g * dg/dy (one jvp).
            ones = jnp.ones((self.info.noise_size,), y.dtype)

            def g(z):
                return self.noise(t, z, ones, args)

            gy, dg = jax.jvp(g, (y,), (jnp.ones_like(y),))
            # where g vanishes, so does the correction: a guarded root
            # `sqrt(maximum(r, 0))` has an infinite slope there, and 0 * inf is NaN
            return jnp.where(gy == 0, 0.0, 0.5 * gy * dg)
        m = self.info.noise_size
        eye = jnp.eye(m, dtype=y.dtype)

        def column_term(e):
            def g_col(z):
                return self.noise(t, z, e, args)

            gj, dgj = jax.jvp(g_col, (y,), (g_col(y),))
            return jnp.where((gj == 0) & jnp.isnan(dgj), 0.0, dgj)  # as above: no noise, no correction

        return 0.5 * jnp.sum(jax.vmap(column_term)(eye), axis=0)

    def ito_drift(self, t: Scalar, y: Float[Array, " n"], args: Any = None) -> Float[Array, " n"]:
        """The drift of the equivalent Itô SDE."""
        f = self.drift(t, y, args)
        if self.info.calculus == "stratonovich":
            return f + self.ito_correction(t, y, args)
        return f

    def stratonovich_drift(self, t: Scalar, y: Float[Array, " n"], args: Any = None) -> Float[Array, " n"]:
        """The drift of the equivalent Stratonovich SDE."""
        f = self.drift(t, y, args)
        if self.info.calculus == "ito":
            return f - self.ito_correction(t, y, args)
        return f

    def langevin_parts(
        self, t: Scalar, y: Float[Array, " n"], args: Any = None
    ) -> tuple[Float[Array, " k"], Float[Array, " k"], Float[Array, " k"]]:
        """For a model with ``info.langevin``: ``(force, gamma, sigma)`` on the
        velocity block, such that the velocity drift is ``force - gamma * v`` and
        its noise is ``sigma * dW`` (the compiler checked this structure)."""
        lv = self.info.langevin
        if lv is None:
            raise ValueError(f"model {self.info.name!r} has no underdamped-Langevin pair")
        v_info = self.info.state(lv.velocity)
        sl = slice(v_info.offset, v_info.offset + v_info.size)
        y0 = y.at[sl].set(0.0)
        y1 = y.at[sl].set(1.0)
        force = self.drift(t, y0, args)[sl]
        gamma = force - self.drift(t, y1, args)[sl]
        sigma = self.diffusion_diagonal(t, y, args)[sl]
        return force, gamma, sigma

    def with_horizon(self, horizon: float, dt: float | None = None) -> "AbstractModel":
        """The model with its fractional-noise weights tuned to ``[0, horizon]``
        (the optimal Markov approximation depends on the time span) and, given
        the step ``dt``, its fastest hidden component capped at
        ``STEP_CAP / dt`` (0.2 / dt) so that a fixed step resolves it (see
        :mod:`dync.runtime.fractional`); a
        model without fractional noise is returned unchanged."""
        if self.fbm_horizon is None:
            return self
        dtype = jnp.result_type(float)
        out = eqx.tree_at(lambda m: m.fbm_horizon, self, jnp.asarray(horizon, dtype=dtype))
        if dt is not None and self.fbm_high is not None:
            from .fractional import DEFAULT_GAMMA_HIGH, STEP_CAP

            high = min(DEFAULT_GAMMA_HIGH, STEP_CAP * float(horizon) / float(dt))
            out = eqx.tree_at(lambda m: m.fbm_high, out, jnp.asarray(high, dtype=dtype))
        return out

    def unpack(self, y: Float[Array, "... n"]) -> dict[str, Array]:
        """Split flat state(s) into named arrays with their declared shapes."""
        lead = y.shape[:-1]
        return {
            s.name: y[..., s.offset : s.offset + s.size].reshape(lead + s.shape)
            for s in self.info.states
        }

    def pack(self, values: dict[str, Array]) -> Float[Array, " n"]:
        """Inverse of :meth:`unpack` for one path."""
        parts = [jnp.reshape(jnp.asarray(values[s.name]), (s.size,)) for s in self.info.states]
        return jnp.concatenate(parts) if parts else jnp.zeros((0,))
