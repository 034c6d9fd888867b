"""The exact likelihood of a linear-Gaussian model: a continuous-discrete
Kalman filter.

A model is linear-Gaussian (``model.info.linear_gaussian``, decided by the
compiler's analysis) when it is

$$dx = (A x + b)\\,dt + G\\,dW,\\qquad x(t_0) \\sim \\mathcal N(m_0, P_0),
\\qquad z_k \\mid x(t_k) \\sim \\mathcal N(H x(t_k) + c, R)$$

with $A, G, H, R$ constant in time and state ($b$ and $c$ too, except for
an added affine term in the model's inputs, which are linear between their
given times: :func:`_input_offsets`), $P_0$ and $R$ diagonal
($P_0$ may be singular: a fixed initial state has variance 0). The filter
reads every matrix from the model numerically, so it needs nothing beyond the
:class:`~dync.runtime.model.AbstractModel` contract:

* $A$ is the Jacobian of the (Itô) drift at $y = 0$ and $b$ the drift there;
* $G$ is ``model.diffusion`` (state-free), so $Q_c = G G^\\top$;
* $H$ and $c$ are the Jacobian and value at $y = 0$ of the Normal
  observations' ``loc`` and $R$ the squares of their ``scale``, from
  :meth:`~dync.runtime.model.AbstractModel.observation_moments` (chosen over
  recovering them from derivatives of ``observation_log_prob`` with respect
  to the data: it is exact, needs no Hessian, and keeps float32 accurate);
* $m_0$ and $P_0$ from
  :meth:`~dync.runtime.model.AbstractModel.initial_moments`.

Between two observation times $h$ apart the transition is exact: the mean map
$x \\mapsto F x + u$ is the matrix exponential of the augmented matrix
$\\begin{pmatrix} A & b \\\\ 0 & 0\\end{pmatrix} h$, and the covariance
$Q = \\int_0^h e^{As} Q_c e^{A^\\top s} ds$ comes from Van Loan's block
exponential; both from one ``expm`` (:func:`exact_transition`). Any
gap works, including 0 (a padded slot repeats the last time and updates
nothing).

The initial law holds at each series' first observation time. $R$ is
diagonal, so each time's update takes the components one at a time
(sequential processing: exact, and free of matrix inverses). Missing
components (NaN) are masked with static shapes: an unobserved component gets
gain 0 and adds 0, so the value is the exact Gaussian log-density of the
observed components. The covariance update is in Joseph form, which keeps $P$
symmetric positive semi-definite in float32.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Scalar

from .data import PaddedData
from .inputs import LinearInput
from .model import AbstractModel

__all__ = ["LinearGaussianSystem", "kalman_log_likelihood", "kalman_series_log_likelihood", "linear_gaussian_system"]

_LOG_2PI = math.log(2.0 * math.pi)


class LinearGaussianSystem(NamedTuple):
    """The matrices of a linear-Gaussian model (see the module docstring).

    Attributes:
        A: ``(n, n)`` drift matrix.
        b: ``(n,)`` drift offset.
        Qc: ``(n, n)`` diffusion covariance rate $G G^\\top$.
        H: ``(p, n)`` observation matrix (every Normal observation, flattened
            and concatenated in declaration order).
        c: ``(p,)`` observation offset.
        R: ``(p,)`` observation variances.
        m0: ``(n,)`` initial mean.
        P0: ``(n, n)`` initial covariance (diagonal, possibly singular).
    """

    A: Float[Array, "n n"]
    b: Float[Array, " n"]
    Qc: Float[Array, "n n"]
    H: Float[Array, "p n"]
    c: Float[Array, " p"]
    R: Float[Array, " p"]
    m0: Float[Array, " n"]
    P0: Float[Array, "n n"]


def linear_gaussian_system(model: AbstractModel, args: Any = None) -> LinearGaussianSystem:
    """Read $A, b, Q_c, H, c, R, m_0, P_0$ off a linear-Gaussian model, in the
    default float dtype. Pure and differentiable in the model's parameters.
    A model with inputs is read at $t = 0$ with ``args`` (one series'
    inputs): $b$ and $c$ are then those at $t = 0$, and the filter reads
    them at every time (:func:`_input_offsets`).

    Example:
        >>> sys = linear_gaussian_system(dync.load("specs/ou.dync"))
        >>> sys.A  # -theta
        Array([[-1.]], dtype=float32)
    """
    dtype = jnp.result_type(float)
    info = model.info
    n = info.state_size
    t0 = jnp.zeros((), dtype)
    y0 = jnp.zeros((n,), dtype)

    def drift(y):
        return model.ito_drift(t0, y, args).astype(dtype)

    A = jax.jacfwd(drift)(y0)
    b = drift(y0)
    if info.noise_size:
        G = model.diffusion(t0, y0, args).astype(dtype)
        Qc = G @ G.T
    else:
        Qc = jnp.zeros((n, n), dtype)

    def loc(y):
        return _observation_moments(model, t0, y, args, dtype)[0]

    H = jax.jacfwd(loc)(y0)
    c = loc(y0)
    std = _observation_moments(model, t0, y0, args, dtype)[1]
    mean0, std0 = model.initial_moments(args)
    mean0, std0 = jnp.asarray(mean0, dtype), jnp.asarray(std0, dtype)
    return LinearGaussianSystem(A, b, Qc, jnp.reshape(H, (c.shape[0], n)), c, std**2, mean0, jnp.diag(std0**2))


def _observation_moments(model: AbstractModel, t, y, args: Any, dtype) -> tuple[Float[Array, " p"], Float[Array, " p"]]:
    """The Normal observations' ``loc`` and ``scale`` at ``(t, y)``, every
    observation flattened and concatenated in declaration order."""
    moments = model.observation_moments(t, y, args)
    names = [o.name for o in model.info.observations]
    return tuple(
        jnp.concatenate([jnp.reshape(moments[k][i], (-1,)).astype(dtype) for k in names] + [jnp.zeros((0,), dtype)])
        for i in (0, 1)
    )  # type: ignore[return-value]


def _phi(x: Scalar) -> Scalar:
    """$(e^x - 1)/x$, 1 at $x = 0$, with finite gradients there."""
    small = jnp.abs(x) < 1e-4
    safe = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, 1.0 + x / 2.0 + x * x / 6.0, jnp.expm1(safe) / safe)


def exact_transition(
    sys: LinearGaussianSystem, h: Scalar
) -> tuple[Float[Array, "n n"], Float[Array, " n"], Float[Array, "n n"]]:
    """``(F, u, Q)``: over a gap ``h``, $x(t + h) \\mid x(t) \\sim \\mathcal N(F x(t) + u, Q)$.

    One matrix exponential (Van Loan, 1978) of the augmented system
    $\\tilde A = \\begin{pmatrix} A & b \\\\ 0 & 0\\end{pmatrix}$,
    $\\tilde Q_c = \\begin{pmatrix} Q_c & 0 \\\\ 0 & 0\\end{pmatrix}$:
    $E = \\exp\\begin{pmatrix} -\\tilde A & \\tilde Q_c \\\\ 0 & \\tilde A^\\top\\end{pmatrix} h$
    gives $e^{\\tilde A h} = E_{22}^\\top = \\begin{pmatrix} F & u \\\\ 0 & 1\\end{pmatrix}$
    and $Q$ is the top-left block of $E_{22}^\\top E_{12}$. ``h = 0`` gives $(I, 0, 0)$.
    """
    F, u, Q = _transitions(sys, jnp.reshape(h, (1,)))
    return F[0], u[0], Q[0]


def _transitions(
    sys: LinearGaussianSystem, gaps: Float[Array, " N"]
) -> tuple[Float[Array, "N n n"], Float[Array, "N n"], Float[Array, "N n n"]]:
    """:func:`exact_transition` of every gap of ``gaps``, in one batch.

    One state has a closed form. Otherwise the block exponentials of all
    gaps are taken together by :func:`_expm`, whose cost is set by the
    largest gap: the filter computes every transition of a data set in one
    call, before its time loop."""
    A, b, Qc = sys.A, sys.b, sys.Qc
    n = A.shape[0]
    h = gaps[:, None, None]
    if n == 1:
        # one state: the closed form, $F = e^{ah}$, $u = b h \\varphi(ah)$,
        # $Q = q h \\varphi(2ah)$ with $\\varphi(x) = (e^x - 1)/x$
        a = A[0, 0] * gaps
        return jnp.exp(A * h), b * gaps[:, None] * _phi(a)[:, None], Qc * h * _phi(2.0 * a)[:, None, None]
    k = n + 1
    block = (
        jnp.zeros((2 * k, 2 * k), A.dtype)
        .at[:n, :n].set(-A)
        .at[:n, n].set(-b)
        .at[:n, k : k + n].set(Qc)
        .at[k : k + n, k : k + n].set(A.T)
        .at[2 * k - 1, k : k + n].set(b)
    )
    E = _expm(block[None] * h)
    transition = jnp.swapaxes(E[:, k:, k:], 1, 2)  # exp(A~ h)
    F, u = transition[:, :n, :n], transition[:, :n, n]
    Q = _batched_matmul(transition, E[:, :k, k:])[:, :n, :n]
    return F, u, 0.5 * (Q + jnp.swapaxes(Q, 1, 2))


#: the most squarings :func:`_expm` takes: a block exponent of norm up to
#: about ``5.4 * 2**16`` (float64); beyond, the result is NaN, as with
#: ``jax.scipy.linalg.expm``
_MAX_SQUARINGS = 16

# Pade approximants of degree 13 (float64) and 7 (float32) and the norms up to
# which they are accurate to the unit roundoff (Higham 2005, "The scaling and
# squaring method for the matrix exponential revisited", Table 2.3)
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_PADE7 = (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0)
_THETA13 = 5.371920351148152
_THETA7 = 3.925724783138660


def _batched_matmul(a: Float[Array, "N i j"], b: Float[Array, "N j k"]) -> Float[Array, "N i k"]:
    """``a @ b`` over a leading batch axis."""
    return a @ b


def _matmul_batch_last(a: Float[Array, "i j N"], b: Float[Array, "j k N"]) -> Float[Array, "i k N"]:
    """Products of small matrices stored batch axis last: elementwise work on
    contiguous rows of the batch, which XLA:CPU vectorises (about twice as
    fast as a batched ``dot`` of 6 x 6 matrices, with its gradient)."""
    return jnp.sum(a[:, :, None, :] * b[None, :, :, :], axis=1)


def _expm(M: Float[Array, "N k k"]) -> Float[Array, "N k k"]:
    """The matrix exponentials of a batch of small matrices: scaling and
    squaring with one Pade approximant (degree 13 in float64, 7 in float32).

    Each matrix is scaled by $2^{-s}$ with the least $s \\ge 0$ that brings its
    1-norm under the approximant's bound, and squared back $s$ times. Unlike
    ``jax.scipy.linalg.expm`` (which, batched, evaluates every approximant
    degree for every matrix, and differentiates through a Frechet-derivative
    block exponential of twice the size), this takes one degree, and its
    gradient is reverse mode through the same few products. The squarings
    run in a loop of :data:`_MAX_SQUARINGS` steps of which those past the
    batch's largest $s$ skip their work (``lax.cond``)."""
    dtype = M.dtype
    double = dtype == jnp.float64
    coeffs, theta = (_PADE13, _THETA13) if double else (_PADE7, _THETA7)
    norm = jax.lax.stop_gradient(jnp.max(jnp.sum(jnp.abs(M), axis=-2), axis=-1))
    s = jnp.maximum(jnp.ceil(jnp.log2(norm / theta)), 0.0)
    s = jnp.where(jnp.isfinite(s), s, 0.0)
    X = jnp.moveaxis(M * jnp.exp2(-s)[:, None, None], 0, -1)  # (k, k, N)
    mm = _matmul_batch_last
    eye = jnp.eye(M.shape[-1], dtype=dtype)[:, :, None]
    X2 = mm(X, X)
    X4 = mm(X2, X2)
    X6 = mm(X4, X2)
    b = coeffs
    if double:
        U = mm(X6, b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * eye
        V = mm(X6, b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * eye
    else:
        U = b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * eye
        V = b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * eye
    U = mm(X, U)
    R = jnp.moveaxis(jnp.linalg.solve(jnp.moveaxis(V - U, -1, 0), jnp.moveaxis(V + U, -1, 0)), 0, -1)
    s_max = jnp.max(s)

    def square(R, i):
        def do(R):
            return jnp.where(i < s, mm(R, R), R)

        return jax.lax.cond(i < s_max, do, lambda R: R, R), None

    R, _ = jax.lax.scan(square, R, jnp.arange(_MAX_SQUARINGS, dtype=dtype))
    R = jnp.moveaxis(R, -1, 0)
    return jnp.where(s_max > _MAX_SQUARINGS, jnp.full_like(R, jnp.nan), R)


#: up to this many states, the filter's small matrix products are written as
#: broadcast multiply-and-sum, which XLA fuses with the elementwise work around
#: them; a ``dot`` is a kernel call of its own, and inside the time loop (and
#: its reverse for the gradient) those calls dominate the cost of small systems
_FUSED_MATMUL_MAX = 8


def _matmul(a: Float[Array, "i j"], b: Float[Array, "j k"]) -> Float[Array, "i k"]:
    """``a @ b``, fused for small matrices (see :data:`_FUSED_MATMUL_MAX`)."""
    if max(a.shape + b.shape) > _FUSED_MATMUL_MAX:
        return a @ b
    return jnp.sum(a[:, :, None] * b[None, :, :], axis=1)


def _matvec(a: Float[Array, "i j"], x: Float[Array, " j"]) -> Float[Array, " i"]:
    """``a @ x``, fused for small matrices."""
    if max(a.shape) > _FUSED_MATMUL_MAX:
        return a @ x
    return jnp.sum(a * x[None, :], axis=1)


def _where(observed: Bool[Array, ""] | None, x: Array, zero: Array) -> Array:
    """``x`` where ``observed``, else ``zero``; ``x`` when ``observed`` is
    None (every value of the data set is present: no mask at all in the
    time loop, which is then shorter)."""
    return x if observed is None else jnp.where(observed, x, zero)


def _update(
    sys: LinearGaussianSystem,
    m: Float[Array, " n"],
    P: Float[Array, "n n"],
    z: Float[Array, " p"],
    observed: Bool[Array, " p"] | None,
) -> tuple[Float[Array, " n"], Float[Array, "n n"], Scalar]:
    """The measurement update at one time: the exact log-density of the
    observed components of ``z`` and the conditioned ``(m, P)``.

    $R$ is diagonal, so the components are taken one at a time (sequential
    processing): the joint density is the product of the scalar innovations'
    densities, with no matrix inverse or Cholesky factor. An unobserved
    component (``observed`` False) gets gain 0 and adds 0, so it changes
    nothing. Each covariance update is in Joseph form."""
    dtype = m.dtype
    eye = jnp.eye(m.shape[0], dtype=dtype)
    zero = jnp.zeros((), dtype)
    ll = zero
    for i in range(z.shape[0]):  # p is static and small; unrolled
        h, o = sys.H[i], None if observed is None else observed[i]
        residual = _where(o, z[i] - (jnp.sum(h * m) + sys.c[i]), zero)
        Ph = _matvec(P, h)
        s = jnp.sum(h * Ph) + sys.R[i]
        k = _where(o, Ph / s, zero)
        ll = ll + _where(o, -0.5 * (residual * residual / s + jnp.log(s) + _LOG_2PI), zero)
        m = m + k * residual
        IKH = eye - k[:, None] * h[None, :]
        P = _matmul(_matmul(IKH, P), IKH.T) + sys.R[i] * (k[:, None] * k[None, :])
    return m, 0.5 * (P + P.T), ll


def _scalar_filter(
    sys: LinearGaussianSystem,
    trans: tuple[Float[Array, "T 1 1"], Float[Array, "T 1"], Float[Array, "T 1 1"]],
    z: Float[Array, "T p"],
    observed: Bool[Array, "T p"] | None,
    offsets: Float[Array, "T p"] | None = None,
) -> Scalar:
    """The filter of a one-state system, on scalars: the same prediction and
    sequential Joseph-form updates as the matrix filter, written with the
    state mean and variance as 0-d arrays. A time loop carrying 0-d values
    compiles to much less work per step on XLA:CPU than one carrying
    ``(1,)`` and ``(1, 1)`` arrays (about 7x less in float64)."""
    dtype = sys.m0.dtype
    zero = jnp.zeros((), dtype)
    H, R = sys.H[:, 0], sys.R
    p = z.shape[-1]

    def step(carry, inputs):
        m, P, ll = carry
        F, u, Q, z_k, o_k, c_k = inputs
        c = sys.c if c_k is None else c_k
        m = F * m + u
        P = F * F * P + Q
        for i in range(p):  # unrolled, as in _update
            h, o = H[i], None if o_k is None else o_k[i]
            residual = _where(o, z_k[i] - (h * m + c[i]), zero)
            Ph = P * h
            s = h * Ph + R[i]
            k = _where(o, Ph / s, zero)
            ll = ll + _where(o, -0.5 * (residual * residual / s + jnp.log(s) + _LOG_2PI), zero)
            m = m + k * residual
            # the Joseph form $(1 - kh)^2 P + R k^2$ is $(1 - kh) P$ for one
            # state (both are $PR/s$), and $0 \\le 1 - kh \\le 1$ in floating
            # point too, so this form keeps $P \\ge 0$ with fewer operations
            P = (1.0 - k * h) * P
        return (m, P, ll), None

    F, u, Q = trans
    init = (sys.m0[0], sys.P0[0, 0], zero)
    (_, _, ll), _ = jax.lax.scan(step, init, (F[:, 0, 0], u[:, 0], Q[:, 0, 0], z, observed, offsets))
    return ll


def _series_log_likelihood(
    sys: LinearGaussianSystem,
    gaps: Float[Array, " T"],
    z: Float[Array, "T p"],
    observed: Bool[Array, "T p"] | None,
    trans: tuple[Array, Array, Array] | None = None,
    offsets: Float[Array, "T p"] | None = None,
) -> Scalar:
    """The filter over one series: ``gaps[0]`` is 0 (the initial law holds at
    the first time), ``gaps[k]`` the time since the previous slot. The
    transitions of every gap are computed first, in parallel (or given as
    ``trans``, :func:`_transitions` of ``gaps``), so the sequential scan does
    only the cheap prediction and update. ``observed`` None: every value is
    present. ``offsets``: the observation offset $c$ at each slot (a model
    with inputs), else ``sys.c`` throughout."""
    if trans is None:
        trans = _transitions(sys, gaps)
    if sys.A.shape[0] == 1:
        return _scalar_filter(sys, trans, z, observed, offsets)

    def step(carry, inputs):
        m, P, ll = carry
        (F, u, Q), z_k, o_k, c_k = inputs
        m = _matvec(F, m) + u
        P = _matmul(_matmul(F, P), F.T) + Q
        m, P, lk = _update(sys if c_k is None else sys._replace(c=c_k), m, P, z_k, o_k)
        return (m, P, ll + lk), None

    init = (sys.m0, sys.P0, jnp.zeros((), sys.m0.dtype))
    (_, _, ll), _ = jax.lax.scan(step, init, (trans, z, observed, offsets))
    return ll


def _input_offsets(
    model: AbstractModel, sys: LinearGaussianSystem, gaps: Float[Array, "S T"], times: Float[Array, "S T"], args: Any
) -> tuple[Float[Array, "S T n"], Float[Array, "S T p"]]:
    """A model with inputs: the mean offset $u_k$ of each slot's transition
    and the observation offset $c_k$ at each slot, ``(S, T, n)`` and
    ``(S, T, p)``.

    The drift is $A x + b(t)$ with $b$ affine in the inputs (the compiler's
    analysis), and the inputs are linear between their given times, which
    are slots of the grid (:func:`kalman_arrays`): on each gap $b$ is linear,
    $b(t_{k-1} + s) = b_{k-1} + \\beta s$, and
    $u_k = \\int_0^h e^{A(h - s)} (b_{k-1} + \\beta s)\\, ds$ is the column
    $n$ of $\\exp(M h)$ with
    $M = \\begin{pmatrix} A & b_{k-1} & \\beta \\\\ 0 & 0 & 0 \\\\ 0 & 1 & 0\\end{pmatrix}$
    (the augmented state $(x, 1, s)$). $b$ and $c$ are the drift and the
    Normal observations' ``loc`` at $y = 0$, each series with its own
    inputs."""
    dtype = sys.A.dtype
    n = sys.A.shape[0]
    zero = jnp.zeros((n,), dtype)

    def at(t, a):
        return model.ito_drift(t, zero, a).astype(dtype), _observation_moments(model, t, zero, a, dtype)[0]

    b, c = jax.vmap(lambda ts, a: jax.vmap(lambda t: at(t, a))(ts))(times, args)
    before = jnp.concatenate([b[:, :1], b[:, :-1]], axis=1)
    h = gaps[..., None]
    slope = jnp.where(h > 0, (b - before) / jnp.where(h > 0, h, 1.0), 0.0)
    S, T = gaps.shape
    M = (
        jnp.zeros((S * T, n + 2, n + 2), dtype)
        .at[:, :n, :n].set(sys.A)
        .at[:, :n, n].set(before.reshape(S * T, n))
        .at[:, :n, n + 1].set(slope.reshape(S * T, n))
        .at[:, n + 1, n].set(1.0)
    )
    u = _expm(M * gaps.reshape(S * T, 1, 1))[:, :n, n]
    return u.reshape(S, T, n), c


@eqx.filter_jit
def _log_likelihood(
    model: AbstractModel, gaps, z, observed, times=None, args=None, unique_gaps=None, gap_index=None
) -> Float[Array, " series"]:
    sys = linear_gaussian_system(model, None if args is None else jax.tree_util.tree_map(lambda x: x[0], args))
    S, T = gaps.shape
    # every transition of the data set in one batch, outside the vmap over
    # series (so that _expm's loop bound is one number for all of them); one
    # per distinct gap when those are known
    if unique_gaps is not None:
        trans = jax.tree_util.tree_map(lambda x: x[gap_index], _transitions(sys, unique_gaps))
    else:
        trans = jax.tree_util.tree_map(lambda x: jnp.reshape(x, (S, T) + x.shape[1:]), _transitions(sys, gaps.reshape(-1)))
    offsets = None
    if times is not None:
        u, offsets = _input_offsets(model, sys, gaps, times, args)
        trans = (trans[0], u, trans[2])
    if S == 1:
        # one series: no vmap, whose batch axis of size 1 would turn every
        # scalar of the time loop into a (1,) array (slower on XLA:CPU)
        first = jax.tree_util.tree_map(lambda x: x[0], (gaps, z, observed, trans, offsets))
        return _series_log_likelihood(sys, *first)[None]
    return jax.vmap(_series_log_likelihood, in_axes=(None, 0, 0, 0, 0, 0))(sys, gaps, z, observed, trans, offsets)


def kalman_log_likelihood(model: AbstractModel, data: PaddedData) -> Scalar:
    """The exact log-likelihood $\\log p(\\text{data} \\mid \\text{model})$ of a
    linear-Gaussian model, summed over the independent series of ``data``.

    Differentiable with respect to the model's parameters (``eqx.filter_grad``),
    in float32 or float64 (the default float dtype); one jitted computation
    for every series (``vmap`` over series, ``lax.scan`` over times).

    Args:
        model: a compiled model with ``model.info.linear_gaussian`` (``dync
            check`` says "linear-Gaussian: exact Kalman likelihood").
        data: the padded series (:meth:`ObservationData.padded`); NaN marks a
            missing value or component, padded slots are skipped. An
            observation of the model absent from ``data`` counts as missing.

    Returns:
        The scalar log-likelihood.

    Raises:
        UsageError: the model is not linear-Gaussian.

    Example:
        >>> model = dync.load("specs/ou.dync")
        >>> data = ObservationData((Series(np.array([0.0, 0.5, 2.0]), {"y": np.array([0.1, np.nan, -0.2])}),))
        >>> float(kalman_log_likelihood(model, data.padded()))
        -0.034...
    """
    return jnp.sum(kalman_series_log_likelihood(model, data))


def kalman_series_log_likelihood(model: AbstractModel, data: PaddedData) -> Float[Array, " series"]:
    """The exact log-likelihood of each series of ``data``, ``(S,)`` (see
    :func:`kalman_log_likelihood`, which sums them)."""
    return kalman_series_from_arrays(model, *kalman_arrays(model, data))


class KalmanArrays(NamedTuple):
    """A data set as the arrays the Kalman recursion reads: the gap before
    each time ``(S, T)`` (0 in padded slots), the observations ``(S, T, c)``
    (0 where missing) and which are observed (``None`` when all are).
    Passing these, rather than the data, as arguments of a jitted function
    lets one compilation serve every data set of the same sizes."""

    gaps: Array
    z: Array
    observed: Array | None
    #: a model with inputs: each slot's time ``(S, T)``, and each series'
    #: inputs as ``args`` stacked along a leading series axis
    times: Array | None = None
    args: Any = None
    #: the distinct gaps ``(U,)`` and each slot's index among them ``(S, T)``:
    #: regular data has one or two, so the transitions (a matrix exponential
    #: and its gradient each) are computed U times, not S T times
    unique_gaps: Array | None = None
    gap_index: Array | None = None


def kalman_series_from_arrays(
    model: AbstractModel, gaps, z, observed, times=None, args=None, unique_gaps=None, gap_index=None
) -> Float[Array, " series"]:
    """:func:`kalman_series_log_likelihood` of data given as
    :class:`KalmanArrays` (traceable in every argument)."""
    return _log_likelihood(model, gaps, z, observed, times, args, unique_gaps, gap_index)


def _table_size(n: int) -> int:
    """The smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (powers of two and
    three halves of them) that holds ``n``: at most a third more than ``n``,
    and few distinct sizes."""
    power = 1
    while True:
        if n <= power:
            return power
        if power >= 2 and n <= power * 3 // 2:
            return power * 3 // 2
        power *= 2


def kalman_arrays(model: AbstractModel, data: PaddedData) -> KalmanArrays:
    """The :class:`KalmanArrays` of ``data`` for ``model`` (on the host).

    Raises:
        UsageError: the model is not linear-Gaussian.
    """
    if not model.info.linear_gaussian:
        from ..errors import UsageError

        raise UsageError(
            f"model `{model.info.name}` is not linear-Gaussian, so it has no exact Kalman likelihood",
            hint="`dync check` says why; use the particle filter: `--likelihood particle` (Python: `likelihood=\"particle\"`)",
        )
    dtype = jnp.result_type(float)
    if model.info.inputs:
        data = _with_input_times(data)
    times = np.asarray(data.times, np.float64)
    present = np.asarray(data.present, bool)
    S, T = times.shape
    gaps = np.zeros((S, T), np.float64)
    gaps[:, 1:] = np.diff(times, axis=1)
    gaps = np.where(present, gaps, 0.0)
    columns = []
    for o in model.info.observations:
        size = int(np.prod(o.shape, dtype=np.int64))
        v = data.values.get(o.name)
        v = np.full((S, T, size), np.nan) if v is None else np.reshape(np.asarray(v, np.float64), (S, T, size))
        columns.append(v)
    z = np.concatenate(columns, axis=-1) if columns else np.zeros((S, T, 0))
    observed = ~np.isnan(z) & present[:, :, None]
    z = np.where(observed, z, 0.0)
    # known here, not traced: with every value present the time loop needs no mask
    mask = None if observed.all() else jnp.asarray(observed)
    unique, index = np.unique(gaps, return_inverse=True)
    # the table of distinct gaps is padded (with its last gap, never
    # indexed) to a size of a few fixed steps, so data sets of the same
    # sizes give the same shapes and a fit of one reuses another's compiled
    # program; where the table would be no smaller than the slots, each slot
    # computes its own transition
    size = _table_size(unique.size)
    if size < S * T:
        unique = np.concatenate([unique, np.full(size - unique.size, unique[-1])])
        distinct = (jnp.asarray(unique, dtype), jnp.asarray(index.reshape(S, T), jnp.int32))
    else:
        distinct = (None, None)
    if not model.info.inputs:
        return KalmanArrays(jnp.asarray(gaps, dtype), jnp.asarray(z, dtype), mask, None, None, *distinct)
    args = {"inputs": {}}
    for name, shape in model.info.inputs:
        if name not in data.inputs:
            from ..errors import UsageError

            raise UsageError(f"the data gives no values of the input `{name}`", hint=f"add a column `{name}` to the data file")
        ts, vs = data.inputs[name]
        size = int(np.prod(shape, dtype=np.int64))
        args["inputs"][name] = LinearInput(
            jnp.asarray(ts, dtype), jnp.asarray(np.reshape(vs, (S, ts.shape[1], size)), dtype), tuple(shape)
        )
    return KalmanArrays(jnp.asarray(gaps, dtype), jnp.asarray(z, dtype), mask, jnp.asarray(times, dtype), args, *distinct)


def _with_input_times(data: PaddedData) -> PaddedData:
    """The data on a grid that also holds the inputs' given times inside
    each series' observation span (slots observing nothing), so that the
    inputs are linear between two slots (:func:`_input_offsets`). Times
    before a series' first observation do not count: its initial law holds
    there. A shorter series is padded as before (its last time repeated,
    absent)."""
    times = np.asarray(data.times, np.float64)
    present = np.asarray(data.present, bool)
    S = times.shape[0]
    grids, where = [], []
    for i in range(S):
        obs = times[i][present[i]]
        knots = np.concatenate([np.asarray(ts[i], np.float64) for ts, _ in data.inputs.values()] + [np.zeros(0)])
        if obs.size:
            knots = knots[(knots > obs[0]) & (knots < obs[-1])]
        grid = np.union1d(obs, knots)
        grids.append(grid)
        where.append(np.searchsorted(grid, obs))
    T = max(1, max(g.size for g in grids))
    new_times = np.zeros((S, T))
    new_present = np.zeros((S, T), bool)
    values = {k: np.full((S, T) + np.shape(v)[2:], np.nan) for k, v in data.values.items()}
    for i, (grid, idx) in enumerate(zip(grids, where)):
        new_times[i, : grid.size] = grid
        new_times[i, grid.size :] = grid[-1] if grid.size else 0.0
        new_present[i, : grid.size] = True
        for k, v in data.values.items():
            values[k][i, idx] = np.asarray(v)[i][present[i]]
    return PaddedData(new_times, values, new_present, new_present.sum(axis=1), data.inputs)
