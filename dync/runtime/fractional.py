r"""Markov approximation of fractional Brownian motion by Ornstein-Uhlenbeck processes.

A fractional Brownian motion is not Markov, so an SDE driven by one cannot be
stepped like an ordinary SDE. Following Daems et al. (ICLR 2024, "Variational
inference for SDEs driven by fractional noise"), we approximate the
Riemann-Liouville (type II) fractional Brownian motion, normalised to unit
variance at $t = 1$,

$$Z(t) = \sqrt{2H} \int_0^t (t - s)^{H - 1/2}\, dW_s, \qquad \operatorname{Var} Z(t) = t^{2H},$$

(which is $W$ itself at $H = 1/2$) by a weighted sum of Ornstein-Uhlenbeck
processes driven by the *same* Brownian motion,

$$\hat Z(t) = \sum_{k=1}^K \omega_k Y_k(t), \qquad dY_k = -\gamma_k Y_k\, dt + dW, \quad Y_k(0) = 0.$$

The speeds $\gamma_k$ are a fixed geometric grid (:func:`fbm_gammas`); the
weights $\omega_k$ minimise the integrated mean-squared error
$\int_0^T E[(Z(t) - \hat Z(t))^2]\, dt$ (:func:`fbm_weights`, which
regularises lightly), the linear system $A \omega = b$ with

$$A_{ij} = \frac{1}{\gamma_i + \gamma_j}\Big(T - \frac{1 - e^{-(\gamma_i + \gamma_j) T}}{\gamma_i + \gamma_j}\Big),
\qquad b_k = \sqrt{2H}\,\Gamma(a)\,\gamma_k^{-a}\Big[T\, P(a, \gamma_k T) - \frac{a}{\gamma_k} P(a + 1, \gamma_k T)\Big],$$

$a = H + 1/2$ and $P$ the regularised lower incomplete gamma function. ($A$ is
$\int_0^T \operatorname{Cov}(Y_i(t), Y_j(t))\,dt$ and $b_k$ is
$\int_0^T \operatorname{Cov}(Z(t), Y_k(t))\,dt$; both were checked against
numerical quadrature.)

How the compiler uses it: ``dx = f dt + g dB_H`` becomes the augmented system

$$dY = -\gamma \odot Y\, dt + \mathbf 1\, dW, \qquad
dx = \Big(f - g \sum_k \omega_k \gamma_k Y_k\Big) dt + g \Big(\sum_k \omega_k\Big) dW,$$

with one scalar $W$ shared by the $K$ hidden components and the equation.

The approximation's stated error
--------------------------------
With the defaults (``DEFAULT_NUM_OU = 10`` speeds from $0.1/T$ to $1000/T$),
the relative error $|\operatorname{Var}\hat Z(t) / t^{2H} - 1|$, maximised over
$t \in [0.1T, T]$, measured by ``tests/runtime/test_fractional.py``:

=====  ==========  ==========
H      float64     float32
=====  ==========  ==========
0.2    1.66e-2     1.66e-2
0.3    1.68e-3     1.66e-3
0.5    8.6e-5      2.6e-4
0.7    2.3e-4      2.7e-4
0.8    3.0e-4      5.3e-4
=====  ==========  ==========

The error for rough noise ($H < 1/2$) is dominated by the largest speed: the
kernel $(t-s)^{H-1/2}$ is singular at $s = t$ and the missing variance is the
part of it finer than $1/\gamma_{\max}$ (raising ``high`` to $10^4$ roughly
halves it); below $H = 0.2$ it grows quickly (14% at $H = 0.1$). For
$H \ge 1/2$ the error is set by the regularisation of the solve
(:func:`fbm_weights`); the exact minimiser would reach ~1e-6 at $H = 1/2$ but
with large cancelling weights. The float32 column differs through the rounding
of the ill-conditioned system.

Stiffness: the fastest component decays at $\gamma_{\max} = 1000/T$. An explicit
Euler-Maruyama step of the hidden states is stable only for
$\Delta t < 2/\gamma_{\max} = T/500$, and accurate only well inside that: at
$\gamma \Delta t = 1$ an Euler step forgets the component's state
($Y_{n+1} = \Delta W$) and doubles its variance. So :func:`dync.simulate` caps
the grid at $\gamma_{\max} = 0.2/\Delta t$ (:data:`STEP_CAP`: ``high =
0.2 T/Δt`` when that is below 1000, through
:meth:`~dync.runtime.model.AbstractModel.with_horizon`); components faster
than that cannot be resolved by the step anyway. The cap was chosen by the
exact covariance of the Euler recursion of the augmented linear system
(fBM and a fractional OU with $\theta = 2$, $H \in \{0.2, 0.3, 0.5, 0.7,
0.85\}$, $\Delta t = T/100$ and $T/1000$, the worst relative variance error
at $t = T/4, T/2, T$): it is the smallest worst case of the caps 1, 0.5,
0.3, 0.2, 0.15, 0.1, 0.05. Against the Riemann-Liouville variance:

==========================  ===========  ===========
case                        cap 1/Δt     cap 0.2/Δt
==========================  ===========  ===========
fBM, H 0.3, Δt = T/100      +2.33%       +0.11%
fOU θ 2, H 0.3, Δt = T/1000 +2.00%       +0.44%
fOU θ 2, H 0.3, Δt = T/100  +13.2%       +4.8%
fOU θ 1, H 0.7, Δt = T/100  +0.55%       +0.63%
==========================  ===========  ===========

(the last two include Euler's own bias of an OU, about $\theta\Delta t/2$).
For $\Delta t \le T/5000$ the cap does not bind and the table above holds.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax.scipy.special import gammainc, gammaln
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "DEFAULT_GAMMA_HIGH",
    "DEFAULT_GAMMA_LOW",
    "DEFAULT_NUM_OU",
    "STEP_CAP",
    "fbm_approx_variance",
    "fbm_gammas",
    "fbm_weights",
]

#: Number of Ornstein-Uhlenbeck components per fractional Brownian motion.
DEFAULT_NUM_OU: int = 10
#: Slowest speed, in units of ``1 / horizon``.
DEFAULT_GAMMA_LOW: float = 0.1
#: Fastest speed, in units of ``1 / horizon``.
DEFAULT_GAMMA_HIGH: float = 1000.0
#: A fixed step ``dt`` caps the fastest speed at ``STEP_CAP / dt`` (see the
#: module docstring, "Stiffness").
STEP_CAP: float = 0.2

# Solver settings (see fbm_weights): Tikhonov jitter relative to the unit
# diagonal of the rescaled system, and the number of refinement sweeps.
_JITTER = 1e-5
_REFINE_STEPS = 8


def _float_dtype(*xs: ArrayLike) -> jnp.dtype:
    """The widest floating dtype among the non-weak inputs, else the default float."""
    best = None
    for x in xs:
        if isinstance(x, (bool, int, float)) or getattr(x, "weak_type", False):
            continue
        dt = jnp.asarray(x).dtype
        if jnp.issubdtype(dt, jnp.floating) and (best is None or dt.itemsize > best.itemsize):
            best = dt
    return best if best is not None else jnp.asarray(0.0).dtype


def fbm_gammas(
    num: int = DEFAULT_NUM_OU,
    horizon: float = 1.0,
    *,
    low: float = DEFAULT_GAMMA_LOW,
    high: float = DEFAULT_GAMMA_HIGH,
) -> Float[Array, " num"]:
    r"""The speeds $\gamma_k$ of the Ornstein-Uhlenbeck components.

    A geometric grid from ``low / horizon`` to ``high / horizon``. Scaling with
    the horizon makes the approximation invariant to the time unit: the slowest
    component barely decays over $[0, T]$ (so $H \ge 1/2$ kernels, which grow or
    stay flat, are matched) and the fastest resolves lags down to $T/1000$ (the
    singular kernel of $H < 1/2$). Defaults give the errors stated in the
    module docstring.

    Args:
        num: the number of components $K \ge 1$ (one gives the geometric mean
            of ``low`` and ``high``).
        horizon: the length $T$ of the time interval that the approximation
            must cover.
        low: the slowest speed times ``horizon``.
        high: the fastest speed times ``horizon``; lower it to step the hidden
            states with explicit schemes and larger steps.

    Returns:
        The increasing speeds, shape ``(num,)``, in the default float dtype.

    Raises:
        ValueError: if ``num < 1`` or not ``0 < low < high``.

    Example:
        >>> [round(float(g), 3) for g in fbm_gammas(3, 2.0, low=1.0, high=100.0)]
        [0.5, 5.0, 50.0]
    """
    if num < 1:
        raise ValueError(f"fbm_gammas needs num >= 1, got {num}")
    concrete = all(isinstance(v, (int, float)) for v in (low, high))
    if concrete and not 0.0 < low < high:
        raise ValueError(f"fbm_gammas needs 0 < low < high, got low={low}, high={high}")
    if num == 1:
        exponents = jnp.asarray([0.5])
    else:
        exponents = jnp.arange(num) / (num - 1)
    log_low, log_high = jnp.log(low), jnp.log(high)
    return jnp.exp(log_low + (log_high - log_low) * exponents) / horizon


def _phi2(s: Float[Array, "..."]) -> Float[Array, "..."]:
    """$(e^{-s} - 1 + s) / s^2$ without cancellation for small $s \\ge 0$."""
    small = s < 1.0
    s_big = jnp.where(small, 1.0, s)
    direct = (s_big + jnp.expm1(-s_big)) / (s_big * s_big)
    # Taylor series sum_k (-s)^k / (k + 2)!, 14 terms: error < 1/16! on [0, 1).
    s_small = jnp.where(small, s, 0.0)
    series = jnp.zeros_like(s)
    for k in reversed(range(14)):
        factorial = 1.0
        for j in range(2, k + 3):
            factorial *= j
        series = series * (-s_small) + 1.0 / factorial
    return jnp.where(small, series, direct)


def fbm_weights(
    hurst: Float[ArrayLike, ""],
    gammas: Float[ArrayLike, " num"],
    horizon: float | Float[ArrayLike, ""],
) -> Float[Array, " num"]:
    r"""The weights $\omega$ that make $\sum_k \omega_k Y_k$ closest to fBM.

    Solves $A\omega = b$ (module docstring) for the weights minimising
    $\int_0^T E[(Z - \hat Z)^2]\,dt$. Differentiable in ``hurst``, which may be
    a learnable parameter ($A$ does not depend on it).

    Numerics: $A$ is nearly singular (exponentials with close speeds are
    nearly collinear; the condition number is ~1e9 for the default grid), and
    its exact solution has large weights of alternating sign that cancel, bad
    news for a simulation in float32. So the system is solved in dimensionless
    time $t/T$ (the result does not depend on the time unit), rescaled to a
    unit diagonal $\hat A$, and regularised by iterated Tikhonov: a Cholesky
    factorisation of $\hat A + \lambda I$ with $\lambda = 10^{-5}$, then 8
    sweeps of iterative refinement. Along an eigenvector of $\hat A$ with
    eigenvalue $\sigma$ this keeps the fraction $1 - (\lambda/(\lambda +
    \sigma))^9$ of the exact solution: everything the data determine
    ($\sigma \gg \lambda$), nothing of the noise directions. The weights stay
    moderate (below 10 in magnitude for $H \in [0.2, 0.8]$ and $T = 1$;
    they scale as $T^{H - 1/2}$) and float32 is nearly as accurate as
    float64, at the cost of a variance error of ~1e-4 at $H = 1/2$ where the
    exact minimiser would reach ~1e-6 (module docstring).

    Args:
        hurst: the Hurst index $H \in (0, 1)$, a scalar.
        gammas: the speeds from :func:`fbm_gammas`, shape ``(num,)``.
        horizon: the interval length $T$ used for :func:`fbm_gammas`.

    Returns:
        The weights, shape ``(num,)``, in the dtype of ``gammas`` / ``hurst``.

    Example:
        >>> gammas = fbm_gammas(10, 1.0)
        >>> w = fbm_weights(0.7, gammas, 1.0)
        >>> round(float(fbm_approx_variance(0.7, gammas, w, 1.0)), 3)  # 1 ** 1.4
        1.0
    """
    dtype = _float_dtype(hurst, gammas, horizon)
    hurst = jnp.asarray(hurst, dtype)
    horizon = jnp.asarray(horizon, dtype)
    x = jnp.asarray(gammas, dtype) * horizon  # dimensionless speeds
    n = x.shape[0]

    # A / T^2 and b / T^(H + 3/2): the system in units of t / T.
    s = x[:, None] + x[None, :]
    a_mat = _phi2(s)
    a = hurst + 0.5
    b_vec = (
        jnp.sqrt(2.0 * hurst)
        * jnp.exp(gammaln(a) - a * jnp.log(x))
        * (gammainc(a, x) - a / x * gammainc(a + 1.0, x))
    )

    # Rescale to a unit diagonal, factorise with jitter, refine.
    d = jnp.sqrt(jnp.diag(a_mat))
    a_hat = a_mat / (d[:, None] * d[None, :])
    b_hat = b_vec / d
    factor = jsl.cho_factor(a_hat + _JITTER * jnp.eye(n, dtype=dtype), lower=True)
    w_hat = jsl.cho_solve(factor, b_hat)
    for _ in range(_REFINE_STEPS):
        w_hat = w_hat + jsl.cho_solve(factor, b_hat - a_hat @ w_hat)

    # Undo the rescaling and the time unit: omega has units T^(H - 1/2).
    # Outside (0, 1) there is no fractional Brownian motion: NaN weights make
    # a simulation stop on its non-finite check and a fit reject the point,
    # rather than run on numbers that mean nothing (a parameter Hurst index
    # is range-checked at compile time and for --set; a fit can still move it).
    valid = (hurst > 0) & (hurst < 1)
    return jnp.where(valid, w_hat / d * horizon ** (hurst - 0.5), jnp.nan)


def fbm_approx_variance(
    hurst: Float[ArrayLike, ""],
    gammas: Float[ArrayLike, " num"],
    weights: Float[ArrayLike, " num"],
    t: Float[ArrayLike, "*times"],
) -> Float[Array, "*times"]:
    r"""The exact variance of the approximation, $\operatorname{Var}\hat Z(t)$.

    $$\operatorname{Var}\hat Z(t) = \sum_{ij} \omega_i \omega_j
    \frac{1 - e^{-(\gamma_i + \gamma_j) t}}{\gamma_i + \gamma_j},$$

    to compare with the target $t^{2H}$.

    Args:
        hurst: the Hurst index; the variance depends on it only through
            ``weights``, it is taken for a uniform signature with
            :func:`fbm_weights`.
        gammas: the speeds, shape ``(num,)``.
        weights: the weights, shape ``(num,)``.
        t: time(s) $\ge 0$, any shape.

    Returns:
        The variance at each time, the shape of ``t``.

    Example:
        >>> gammas = fbm_gammas()
        >>> w = fbm_weights(0.5, gammas, 1.0)
        >>> fbm_approx_variance(0.5, gammas, w, jnp.array([0.5, 1.0])).round(3)  # ~ t
        Array([0.5, 1. ], dtype=float32)
    """
    del hurst
    dtype = _float_dtype(gammas, weights, t)
    gammas = jnp.asarray(gammas, dtype)
    weights = jnp.asarray(weights, dtype)
    t = jnp.asarray(t, dtype)
    s = gammas[:, None] + gammas[None, :]
    # (1 - e^{-s t}) / s, elementwise over the time axes.
    s = s.reshape((1,) * t.ndim + s.shape)
    cov = -jnp.expm1(-s * t[..., None, None]) / s
    return jnp.einsum("i,j,...ij->...", weights, weights, cov)
