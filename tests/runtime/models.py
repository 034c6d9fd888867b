"""Small hand-written models with closed-form answers, for the solver tests.

Each subclasses :class:`~dync.runtime.model.AbstractModel` directly (the same
contract generated code meets). Parameters are plain Python floats (weakly
typed, so the models run in float32 and float64 alike).
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from dync.info import LangevinInfo, ModelInfo, NoiseInfo, ParamInfo, SpecSource, StateInfo
from dync.runtime.model import AbstractModel


def make_info(
    name: str,
    states: tuple[tuple[str, int], ...],
    noise_size: int,
    noise_structure: str,
    calculus: str = "ito",
    params: tuple[str, ...] = (),
    langevin: LangevinInfo | None = None,
    elementwise: bool = False,
) -> ModelInfo:
    """A :class:`ModelInfo` for flat states ``(name, size)`` and one noise block."""
    infos, offset = [], 0
    for s_name, size in states:
        infos.append(StateInfo(s_name, (size,), offset, size))
        offset += size
    noises = (NoiseInfo("W", (noise_size,), 0, noise_size, implicit=True),) if noise_size else ()
    return ModelInfo(
        name=name,
        calculus=calculus,
        noise_structure=noise_structure,
        states=tuple(infos),
        state_size=offset,
        noises=noises,
        noise_size=noise_size,
        params=tuple(ParamInfo(p, ()) for p in params),
        langevin=langevin,
        diffusion_is_elementwise=elementwise,
    )


class _Base(AbstractModel):
    source: ClassVar[SpecSource] = SpecSource()
    fbm_horizon: ClassVar[None] = None
    fbm_high: ClassVar[None] = None

    def observation_log_prob(self, t, y, data, args=None):
        return jnp.zeros(())

    def observation_sample(self, key, t, y, args=None):
        return {}

    def constrained_params(self):
        return {}

    def log_prior(self):
        return jnp.zeros(())

    def initial_state(self, key, args=None):
        del key, args
        return jnp.zeros((self.info.state_size,))

    def initial_moments(self, args=None):
        del args
        return jnp.zeros((self.info.state_size,)), jnp.zeros((self.info.state_size,))

    def observation_moments(self, t, y, args=None):
        return {}


class OrnsteinUhlenbeck(_Base):
    """$dx = -\\theta x\\,dt + \\sigma\\,dW$ (additive noise)."""

    info: ClassVar[ModelInfo] = make_info("ou", (("x", 1),), 1, "additive", params=("theta", "sigma"))
    theta: float = 1.0
    sigma: float = 0.5

    def drift(self, t, y, args=None):
        return -self.theta * y

    def noise(self, t, y, dw, args=None):
        return self.sigma * dw


class GBMIto(_Base):
    """$dS = \\mu S\\,dt + \\sigma S\\,dW$ (Itô, elementwise diagonal noise)."""

    info: ClassVar[ModelInfo] = make_info("gbm", (("S", 1),), 1, "diagonal", params=("mu", "sigma"), elementwise=True)
    mu: float = 0.5
    sigma: float = 0.8

    def drift(self, t, y, args=None):
        return self.mu * y

    def noise(self, t, y, dw, args=None):
        return self.sigma * y * dw


class GBMStratonovich(GBMIto):
    """$dS = \\mu S\\,dt + \\sigma S \\circ dW$ (Stratonovich)."""

    info: ClassVar[ModelInfo] = make_info(
        "gbm_strat", (("S", 1),), 1, "diagonal", calculus="stratonovich", params=("mu", "sigma"), elementwise=True
    )


class ScalarNoiseGBM(_Base):
    """Two GBMs driven by one Brownian motion: $dX_i = a_i X_i\\,dt + b_i X_i\\,dW$.

    Exact (Itô): $X_i(t) = X_i(0) \\exp((a_i - b_i^2/2) t + b_i W_t)$.
    """

    info: ClassVar[ModelInfo] = make_info("scalar2", (("X", 2),), 1, "scalar", params=("a", "b"))
    a: tuple[float, float] = (0.3, -0.2)
    b: tuple[float, float] = (0.6, 0.4)

    def drift(self, t, y, args=None):
        return jnp.asarray(self.a, y.dtype) * y

    def noise(self, t, y, dw, args=None):
        return jnp.asarray(self.b, y.dtype) * y * dw[0]

    def exact(self, y0, w, t):
        a, b = jnp.asarray(self.a, y0.dtype), jnp.asarray(self.b, y0.dtype)
        return y0 * jnp.exp((a - 0.5 * b**2) * t + b * w)


class MatrixOU(_Base):
    """$dX = -X\\,dt + L\\,dW$ in 2-d: additive noise through a full matrix.

    Stationary covariance $\\Sigma$ solves $-\\Sigma - \\Sigma + L L^T = 0$, so
    $\\Sigma = L L^T / 2$.
    """

    info: ClassVar[ModelInfo] = make_info("matrix_ou", (("X", 2),), 2, "additive")
    L: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.0), (0.6, 0.8))

    def drift(self, t, y, args=None):
        return -y

    def noise(self, t, y, dw, args=None):
        return jnp.asarray(self.L, y.dtype) @ dw


class HarmonicLangevin(_Base):
    """$dx = v\\,dt$, $dv = (-k x - \\gamma v)\\,dt + \\sqrt{2\\gamma T}\\,dW$.

    Stationary: $x \\sim N(0, T/k)$, $v \\sim N(0, T)$.
    """

    info: ClassVar[ModelInfo] = make_info(
        "harmonic_langevin",
        (("x", 1), ("v", 1)),
        1,
        "additive",
        params=("k", "gamma", "temperature"),
        langevin=LangevinInfo("x", "v"),
    )
    k: float = 4.0
    gamma: float = 1.0
    temperature: float = 0.5

    def drift(self, t, y, args=None):
        x, v = y[:1], y[1:]
        return jnp.concatenate([v, -self.k * x - self.gamma * v])

    def noise(self, t, y, dw, args=None):
        s = jnp.sqrt(2.0 * self.gamma * self.temperature)
        return jnp.concatenate([jnp.zeros((1,), y.dtype), s * dw])


class DampedPendulum(_Base):
    """An ODE: $\\ddot\\theta = -\\sin\\theta - c\\,\\dot\\theta$ (no noise)."""

    info: ClassVar[ModelInfo] = make_info("pendulum", (("theta", 1), ("omega", 1)), 0, "none", params=("c",))
    c: float = 0.2

    def drift(self, t, y, args=None):
        return jnp.stack([y[1], -jnp.sin(y[0]) - self.c * y[1]])

    def noise(self, t, y, dw, args=None):
        return jnp.zeros_like(y)

    def scipy_rhs(self, t, y):
        import numpy as np

        return np.array([y[1], -np.sin(y[0]) - self.c * y[1]])


class CoupledDiagonal(_Base):
    """Diagonal noise whose $g_1$ depends on $y_2$: not commutative (no Milstein)."""

    info: ClassVar[ModelInfo] = make_info("coupled_diag", (("X", 2),), 2, "diagonal", elementwise=False)

    def drift(self, t, y, args=None):
        return -y

    def noise(self, t, y, dw, args=None):
        return jnp.stack([jnp.cos(y[1]), jnp.cos(y[0])]) * dw
