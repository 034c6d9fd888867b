"""The contract every compiled dync model meets.

Code generation (``dync.compiler``) writes a Python module whose ``Model`` class
subclasses :class:`AbstractModel`. The runtime (simulation, fitting, sampling)
only ever talks to that interface, so hand-written models that subclass it run
through the same solvers (the tests use that).

Conventions
-----------
* The state of one path is a flat vector ``y`` of length ``info.state_size``;
  each declared state occupies ``y[offset : offset + size]`` reshaped to its
  declared shape (row-major). Hidden states added by the compiler (for example
  the Ornstein-Uhlenbeck components of a fractional Brownian motion) come after
  the declared ones and are flagged ``hidden``.
* The driving noise of one path is a vector ``dw`` of length
  ``info.noise_size``: every implicit (per-equation) noise and every declared
  Brownian motion, concatenated in declaration order.
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
import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

#: The noise structures the compiler can infer, from most to least special.
NOISE_STRUCTURES = ("none", "additive", "diagonal", "scalar", "shared", "general")


@dataclasses.dataclass(frozen=True)
class StateInfo:
    """One state variable's place in the flat state vector."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int
    hidden: bool = False


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """A parameter: its shape, its constraint and whether fitting may change it.

    ``constraint`` is a tuple: ``("real",)``, ``("positive",)``,
    ``("negative",)``, ``("unit",)``, ``("interval", lo, hi)``,
    ``("lower", lo)`` or ``("upper", hi)``.
    """

    name: str
    shape: tuple[int, ...]
    constraint: tuple = ("real",)
    fixed: bool = False
    has_prior: bool = False
    #: attribute of the module holding the unconstrained value ("" = same as name;
    #: differs when the name is a Python keyword such as ``lambda``)
    attr: str = ""

    @property
    def field(self) -> str:
        return self.attr or self.name


@dataclasses.dataclass(frozen=True)
class NoiseInfo:
    """One block of the driving-noise vector ``dw``."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int
    implicit: bool
    kind: str = "brownian"  # or "fractional"
    #: whether any equation uses it: the diagonal layout gives every state a
    #: block (``m == n``), but a state without a noise term leaves its block
    #: unused, and solvers need not draw it
    drives: bool = True


@dataclasses.dataclass(frozen=True)
class ObservationInfo:
    """An observation model ``observe NAME[SHAPE] ~ DIST``."""

    name: str
    shape: tuple[int, ...]
    distribution: str
    discrete: bool


@dataclasses.dataclass(frozen=True)
class LangevinInfo:
    """A recognised underdamped-Langevin pair, for splitting integrators.

    The pair is ``dx = v dt``, ``dv = (-gamma v + force(x)) dt + sigma dW`` with
    ``gamma`` and ``sigma`` independent of the state. The model exposes
    ``langevin_force(t, x_flat)``, ``langevin_friction()`` and
    ``langevin_sigma()`` for it.
    """

    position: str
    velocity: str


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Static metadata of a compiled model."""

    name: str
    doc: str
    calculus: str  # "ito" or "stratonovich"
    noise_structure: str  # one of NOISE_STRUCTURES
    states: tuple[StateInfo, ...]
    state_size: int
    noises: tuple[NoiseInfo, ...]
    noise_size: int
    params: tuple[ParamInfo, ...]
    observations: tuple[ObservationInfo, ...] = ()
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    dims: tuple[tuple[str, int], ...] = ()
    langevin: LangevinInfo | None = None
    diffusion_is_elementwise: bool = False
    #: G is square and diagonal (m == n, noise block i drives state component i)
    diagonal_noise: bool = False
    #: hidden OU components per fractional Brownian motion (0 if none)
    fbm_num_ou: int = 0
    spec_text: str = ""
    spec_path: str = ""

    @property
    def driving_noise_segments(self) -> tuple[tuple[int, int, bool], ...]:
        """``(offset, size, drives)`` runs of ``dw`` in order, adjacent blocks
        with the same ``drives`` merged: what a solver must draw and what it
        may leave zero."""
        runs: list[list] = []
        for b in self.noises:
            if runs and runs[-1][2] == b.drives and runs[-1][0] + runs[-1][1] == b.offset:
                runs[-1][1] += b.size
            else:
                runs.append([b.offset, b.size, b.drives])
        return tuple((o, n, d) for o, n, d in runs)

    def state(self, name: str) -> StateInfo:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)


class AbstractModel(eqx.Module):
    """A compiled stochastic differential equation model.

    Subclasses implement the abstract methods; everything else is derived.
    Parameters are stored unconstrained (a field per parameter, same name);
    ``constrained_params`` maps them through their bijections.
    """

    info: eqx.AbstractClassVar[ModelInfo]

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

    def observation_log_prob(
        self, t: Scalar, y: Float[Array, " n"], data: dict[str, Array], args: Any = None
    ) -> Scalar:
        """Log-likelihood of one time point of observations given the state."""
        del t, y, data, args
        return jnp.zeros(())

    def observation_sample(
        self, key: PRNGKeyArray, t: Scalar, y: Float[Array, " n"], args: Any = None
    ) -> dict[str, Array]:
        """Draw one time point of every observation given the state."""
        del key, t, y, args
        return {}

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
            return 0.5 * gy * dg
        m = self.info.noise_size
        eye = jnp.eye(m, dtype=y.dtype)

        def column_term(e):
            def g_col(z):
                return self.noise(t, z, e, args)

            gj, dgj = jax.jvp(g_col, (y,), (g_col(y),))
            del gj
            return dgj

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
        the step ``dt``, its fastest hidden component capped at ``1/dt`` so
        that a fixed step is stable (see :mod:`dync.runtime.fractional`); a
        model without fractional noise is returned unchanged."""
        if not hasattr(self, "fbm_horizon"):
            return self
        dtype = jnp.result_type(float)
        out = eqx.tree_at(lambda m: m.fbm_horizon, self, jnp.asarray(horizon, dtype=dtype))
        if dt is not None and hasattr(self, "fbm_high"):
            from .fractional import DEFAULT_GAMMA_HIGH

            high = min(DEFAULT_GAMMA_HIGH, float(horizon) / float(dt))
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
