"""The function library of the spec language, as generated code calls it.

Every name the checker accepts in :data:`dync.compiler.library.FUNCTIONS`
(except ``grad``, ``zeros``, ``ones`` and ``eye``, which the compiler lowers
itself) is a function here, called as ``F.<name>(...)`` from generated code.
Static arguments (``axis``, ``shift``) arrive as Python ints the checker has
already validated against the argument's shape.

Two choices matter for numerics:

* ``power`` with an integer exponent lowers to ``lax.integer_pow`` (exact
  repeated multiplication, defined for negative bases, with a finite gradient
  at 0), as ``x^2`` is by far the most common power in potentials.
* ``softplus``, ``sigmoid``, ``logsumexp`` use the overflow-safe forms of
  ``jax.nn``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
from jaxtyping import Array, ArrayLike

# ---- elementwise -------------------------------------------------------------


def exp(x: ArrayLike) -> Array:
    """$e^x$."""
    return jnp.exp(x)


def log(x: ArrayLike) -> Array:
    """Natural logarithm."""
    return jnp.log(x)


def log1p(x: ArrayLike) -> Array:
    """$\\log(1 + x)$, accurate for small $x$."""
    return jnp.log1p(x)


def expm1(x: ArrayLike) -> Array:
    """$e^x - 1$, accurate for small $x$."""
    return jnp.expm1(x)


def sqrt(x: ArrayLike) -> Array:
    """Square root (NaN below 0: wrap as ``sqrt(maximum(v, 0))`` to clip)."""
    return jnp.sqrt(x)


def abs(x: ArrayLike) -> Array:  # noqa: A001 - the spec language's name
    """$|x|$."""
    return jnp.abs(x)


def sign(x: ArrayLike) -> Array:
    """$-1$, $0$ or $1$."""
    return jnp.sign(x)


def sin(x: ArrayLike) -> Array:
    """Sine."""
    return jnp.sin(x)


def cos(x: ArrayLike) -> Array:
    """Cosine."""
    return jnp.cos(x)


def tan(x: ArrayLike) -> Array:
    """Tangent."""
    return jnp.tan(x)


def tanh(x: ArrayLike) -> Array:
    """Hyperbolic tangent."""
    return jnp.tanh(x)


def sinh(x: ArrayLike) -> Array:
    """Hyperbolic sine."""
    return jnp.sinh(x)


def cosh(x: ArrayLike) -> Array:
    """Hyperbolic cosine."""
    return jnp.cosh(x)


def arctan(x: ArrayLike) -> Array:
    """Inverse tangent."""
    return jnp.arctan(x)


def sigmoid(x: ArrayLike) -> Array:
    """Logistic function $1 / (1 + e^{-x})$."""
    return jax.nn.sigmoid(x)


def softplus(x: ArrayLike) -> Array:
    """$\\log(1 + e^x)$, overflow-safe."""
    return jax.nn.softplus(x)


def relu(x: ArrayLike) -> Array:
    """$\\max(x, 0)$."""
    return jax.nn.relu(x)


def erf(x: ArrayLike) -> Array:
    """The error function."""
    return jsp.erf(x)


def power(x: ArrayLike, p: ArrayLike) -> Array:
    """$x^p$; an integer Python exponent becomes exact repeated multiplication."""
    if isinstance(p, int) and not isinstance(p, bool):
        return jax.lax.integer_pow(jnp.asarray(x, dtype=jnp.result_type(x, float)), p)
    return jnp.power(x, p)


# ---- broadcasting --------------------------------------------------------------


def minimum(a: ArrayLike, b: ArrayLike) -> Array:
    """Elementwise minimum."""
    return jnp.minimum(a, b)


def maximum(a: ArrayLike, b: ArrayLike) -> Array:
    """Elementwise maximum."""
    return jnp.maximum(a, b)


def clip(x: ArrayLike, lo: ArrayLike | None = None, hi: ArrayLike | None = None) -> Array:
    """``x`` clipped to ``[lo, hi]`` (either bound may be omitted)."""
    out = jnp.asarray(x)
    if lo is not None:
        out = jnp.maximum(out, lo)
    if hi is not None:
        out = jnp.minimum(out, hi)
    return out


def where(cond: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """``a`` where ``cond`` holds, else ``b``."""
    return jnp.where(cond, a, b)


# ---- reductions ----------------------------------------------------------------


def sum(x: ArrayLike, axis: int | None = None) -> Array:  # noqa: A001
    """Sum over all elements, or over one axis."""
    return jnp.sum(x, axis=axis)


def mean(x: ArrayLike, axis: int | None = None) -> Array:
    """Mean over all elements, or over one axis."""
    return jnp.mean(x, axis=axis)


def prod(x: ArrayLike, axis: int | None = None) -> Array:
    """Product over all elements, or over one axis."""
    return jnp.prod(x, axis=axis)


def max(x: ArrayLike, axis: int | None = None) -> Array:  # noqa: A001
    """Largest element, overall or along one axis."""
    return jnp.max(x, axis=axis)


def min(x: ArrayLike, axis: int | None = None) -> Array:  # noqa: A001
    """Smallest element, overall or along one axis."""
    return jnp.min(x, axis=axis)


def logsumexp(x: ArrayLike, axis: int | None = None) -> Array:
    """$\\log \\sum e^x$, overflow-safe."""
    return jsp.logsumexp(x, axis=axis)


def norm(x: ArrayLike, axis: int | None = None) -> Array:
    """Euclidean norm (the square root of the sum of squares) overall or along one
    axis. Its gradient at 0 is taken as 0 rather than NaN, so that a potential
    such as ``norm(x)^2`` differentiates everywhere."""
    x = jnp.asarray(x)
    sq = jnp.sum(x * x, axis=axis)
    safe = jnp.where(sq > 0, sq, 1.0)
    return jnp.where(sq > 0, jnp.sqrt(safe), 0.0)


# ---- arrays --------------------------------------------------------------------


def dot(a: ArrayLike, b: ArrayLike) -> Array:
    """Inner product of two vectors."""
    return jnp.dot(a, b)


def outer(a: ArrayLike, b: ArrayLike) -> Array:
    """Outer product of two vectors."""
    return jnp.outer(a, b)


def join(*arrays: ArrayLike, axis: int = 0) -> Array:
    """The pieces laid end to end along ``axis`` (``jnp.concatenate``, with
    the pieces promoted to one dtype).

    The fused solvers evaluate the model with the paths as a trailing axis
    (:mod:`dync.runtime.batching`), where a concatenation stays one: XLA
    fuses it into the step (64-oscillator chain: 0.37 s, against 0.61 s for
    the zero-pad-and-select form it replaced, which suited ``jax.vmap``).
    """
    parts = [jnp.asarray(a) for a in arrays]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)


def roll(x: ArrayLike, shift: int = 1, axis: int = 0) -> Array:
    """``x`` shifted cyclically: ``roll(x, 1)[i] == x[i - 1]`` (NumPy's convention)."""
    return jnp.roll(x, shift, axis=axis)


def _at_least_1d(arrays) -> list[Array]:
    return [jnp.reshape(a, (1,)) if jnp.ndim(a) == 0 else jnp.asarray(a) for a in arrays]


def concat(*arrays: ArrayLike, axis: int = 0) -> Array:
    """Arrays joined along an existing axis (scalars count as length-1 vectors)."""
    return jnp.concatenate(_at_least_1d(arrays), axis=axis)


def stack(*arrays: ArrayLike, axis: int = 0) -> Array:
    """Arrays of one shape stacked along a new axis (as a concatenation:
    ``jnp.stack`` is a primitive the paths-last evaluator leaves to ``vmap``)."""
    return join(*[jnp.expand_dims(jnp.asarray(a), axis) for a in arrays], axis=axis)


def diag(x: ArrayLike) -> Array:
    """A diagonal matrix from a vector, or the diagonal of a matrix."""
    return jnp.diag(x)


def transpose(x: ArrayLike) -> Array:
    """Axes reversed (the matrix transpose for 2-D)."""
    return jnp.transpose(x)


# ---- code generation's own -----------------------------------------------------


def shared(fn):
    """``fn`` evaluated once per distinct arguments, compared by identity.

    Generated code wraps in it each ``let`` function that other functions
    call (``l_B = fl_B(s_x)``), so a let read by two others is traced once
    per argument rather than once per path through the lets: a chain of
    ``n`` diamonds (``b = c * d``, ``c`` and ``d`` both reading the next
    ``b``) would otherwise be traced ``2^n`` times. The function is pure, so
    the same argument objects give the same result; the arguments are held
    with it, so an id is never reused while the wrapper lives (only during
    one call of the generated method). A new tracer (``jax.grad`` of the
    function) is a new argument, so gradients are unchanged.
    """
    calls: list[tuple[tuple, object]] = []

    def call(*args):
        for key, value in calls:
            if all(a is b for a, b in zip(key, args)):
                return value
        value = fn(*args)
        calls.append((args, value))
        return value

    return call


#: every public name, for the checker-library consistency test
NAMES = tuple(
    n
    for n, v in list(globals().items())
    if callable(v) and not n.startswith("_") and v.__module__ == __name__ and n not in ("join", "shared")  # codegen's own
)
