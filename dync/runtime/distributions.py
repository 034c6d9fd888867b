r"""Probability distributions for priors, initial states and observations.

Generated model code calls these as ``D.Normal(loc, scale).log_prob(x)`` and
``D.Poisson(rate).sample(key, shape)``. Each distribution is a small
:class:`equinox.Module` whose fields are its parameters (JAX arrays or Python
numbers that broadcast against each other), so a distribution built from
learnable parameters is differentiable like any other computation.

Conventions shared by every distribution:

* ``log_prob(x)`` is the *elementwise* log density (continuous) or log mass
  (discrete), with the broadcast shape of ``x`` and the parameters; it is
  never summed. Outside the support it is $-\infty$ (and its gradient with
  respect to the parameters is zero there, not NaN).
* ``sample(key, shape)`` returns an array of exactly ``shape`` (the
  parameters broadcast to it; ``None`` means the parameters' broadcast
  shape). Discrete distributions return a *float* array holding integer
  values, so that samples can be stored in float state and observation arrays.
* Dtypes follow the parameters: float32 parameters give float32 results, and
  Python numbers take the default float dtype; integer parameters (such as a
  ``Binomial`` count) do not set the dtype. Nothing is promoted implicitly,
  so the module works with ``jax_numpy_dtype_promotion="strict"`` and
  ``jax_numpy_rank_promotion="raise"``.
* Parameters are assumed valid (positive scales and so on): the compiler
  enforces the constraints of the parameters it passes in.
* ``discrete`` and ``support`` are class attributes; ``support`` is a
  tuple naming a kind of :data:`_SUPPORTS` (``("real",)``, ``("positive",)``
  for $x > 0$, ``("nonnegative",)`` for $x \ge 0$, ``("unit",)``), or for discrete distributions
  ``("nonnegative_integer",)`` or ``("integer_interval", lo, hi)``. A string
  bound names the instance field that holds it: ``Uniform`` has support
  ``("interval", "low", "high")``. ``support_contains(x)`` evaluates the
  support for the instance's actual parameters.

:data:`REGISTRY` maps the spec-language name of each distribution to its class.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import betaln, gammaln, xlog1py, xlogy
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

__all__ = [
    "REGISTRY",
    "AbstractDistribution",
    "Bernoulli",
    "Beta",
    "Binomial",
    "Cauchy",
    "Exponential",
    "Gamma",
    "HalfNormal",
    "Laplace",
    "LogNormal",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "StudentT",
    "Uniform",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_LOG_2 = math.log(2.0)
_NEG_INF = -math.inf

Shape = tuple[int, ...]


# ---------------------------------------------------------------------------
# Helpers


def _float_dtype(*xs: ArrayLike | None) -> jnp.dtype:
    """The widest floating dtype among the strongly typed inputs, else the default float.

    Python numbers and weakly typed arrays adapt to the others, as in JAX's own
    promotion; integer arrays never decide a float dtype.
    """
    best = None
    for x in xs:
        if x is None or isinstance(x, (bool, int, float)) or getattr(x, "weak_type", False):
            continue
        dt = jnp.asarray(x).dtype
        if jnp.issubdtype(dt, jnp.floating) and (best is None or dt.itemsize > best.itemsize):
            best = dt
    return best if best is not None else jnp.asarray(0.0).dtype


def _prep(*xs: ArrayLike) -> list[Array]:
    """Cast to one float dtype and broadcast explicitly (no implicit rank promotion)."""
    dtype = _float_dtype(*xs)
    return list(jnp.broadcast_arrays(*(jnp.asarray(x, dtype) for x in xs)))


def _to_shape(shape: Shape | None, *params: ArrayLike) -> tuple[jnp.dtype, Shape, list[Array]]:
    """Resolve a sample shape and broadcast the parameters to it."""
    dtype = _float_dtype(*params)
    arrays = [jnp.asarray(p, dtype) for p in params]
    batch = jnp.broadcast_shapes(*(a.shape for a in arrays))
    shape = batch if shape is None else tuple(shape)
    try:
        out = [jnp.broadcast_to(a, shape) for a in arrays]
    except ValueError as e:
        raise ValueError(
            f"cannot draw samples of shape {shape} from parameters of shape {batch}"
        ) from e
    return dtype, shape, out


def _masked(inside: Bool[Array, "..."], value: Float[Array, "..."]) -> Float[Array, "..."]:
    """``value`` where ``inside``, $-\\infty$ elsewhere."""
    return jnp.where(inside, value, _NEG_INF)


def _is_integer(x: Float[Array, "..."]) -> Bool[Array, "..."]:
    return x == jnp.floor(x)


def _finite(x):
    return abs(x) < math.inf  # NaN compares False: not finite


def _whole(x):
    return x == x // 1  # works on NumPy and JAX arrays alike


#: kind -> (test(x, lo, hi), the support in words). One statement of each
#: support, read by :meth:`AbstractDistribution.support_contains` (JAX, the
#: instance's parameters as bounds) and by :func:`support_test` (NumPy, for
#: checking data files before a fit).
_SUPPORTS = {
    "real": (lambda x, lo, hi: _finite(x), "real numbers"),
    "positive": (lambda x, lo, hi: (x > 0) & _finite(x), "values > 0"),
    "nonnegative": (lambda x, lo, hi: (x >= 0) & _finite(x), "values >= 0"),
    "unit": (lambda x, lo, hi: (x >= 0) & (x <= 1), "values in [0, 1]"),
    "interval": (lambda x, lo, hi: (x >= lo) & (x <= hi), "values in [{lo}, {hi}]"),
    "nonnegative_integer": (lambda x, lo, hi: (x >= 0) & _whole(x), "counts 0, 1, 2, ..."),
    "integer_interval": (lambda x, lo, hi: (x >= lo) & (x <= hi) & _whole(x), "integers from {lo} to {hi}"),
}


def support_test(distribution: str):
    """``(test, words)`` for the support of the law named ``distribution``
    whatever its parameters: ``test`` takes a NumPy array of values and says
    which lie in the support, ``words`` says what the support is. A bound
    held by a parameter (``Binomial``'s ``n``, ``Uniform``'s ends) is left
    open here; the likelihood checks it. ``None`` for an unknown law."""
    cls = REGISTRY.get(distribution)
    if cls is None:
        return None
    kind, *bounds = cls.support
    test, words = _SUPPORTS[kind]
    if not bounds:
        return (lambda x: test(x, None, None)), words
    lo = -math.inf if isinstance(bounds[0], str) else bounds[0]
    hi = math.inf if isinstance(bounds[1], str) else bounds[1]
    if (kind, lo, hi) == ("integer_interval", 0, 1):
        words = "0 or 1"
    elif math.isinf(hi) and math.isinf(lo):
        words = "values its parameters allow"
    elif math.isinf(hi):
        words = f"integers >= {lo}" if kind == "integer_interval" else f"values >= {lo}"
    else:
        words = words.format(lo=lo, hi=hi)
    return (lambda x: test(x, lo, hi)), words


# ---------------------------------------------------------------------------
# Interface


class AbstractDistribution(eqx.Module):
    """A probability distribution over arrays, elementwise independent.

    Concrete subclasses define the parameter fields, the class attributes
    ``discrete`` and ``support``, and the methods below.
    """

    discrete: eqx.AbstractClassVar[bool]
    support: eqx.AbstractClassVar[tuple]

    @abc.abstractmethod
    def _params(self) -> tuple[ArrayLike, ...]:
        """The parameters, in constructor order."""

    @abc.abstractmethod
    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        """Elementwise log density or log mass of ``x``.

        Args:
            x: a value or array of values; discrete values may be given as
                floats or integers.

        Returns:
            An array with the broadcast shape of ``x`` and the parameters,
            $-\\infty$ outside the support. Not summed.
        """

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        """Draw independent samples.

        Args:
            key: a JAX PRNG key.
            shape: the output shape; the parameters must broadcast to it.
                ``None`` draws one sample per parameter element.

        Returns:
            An array of exactly ``shape``, in the parameters' float dtype
            (integer values for discrete distributions).

        Raises:
            ValueError: if the parameters do not broadcast to ``shape``.
        """

    @abc.abstractmethod
    def mean(self) -> Float[Array, "..."]:
        """The mean, with the parameters' broadcast shape (NaN where undefined)."""


    def support_contains(self, x: ArrayLike) -> Bool[Array, "..."]:
        """Whether each element of ``x`` lies in the support (broadcast shape),
        for the instance's parameters (read from the class's ``support``)."""
        (x, *_) = _prep(x, *self._params())
        kind, *bounds = self.support
        lo, hi = (jnp.asarray(getattr(self, b)) if isinstance(b, str) else b for b in bounds) if bounds else (None, None)
        return _SUPPORTS[kind][0](x, lo, hi)

    @property
    def batch_shape(self) -> Shape:
        """The broadcast shape of the parameters."""
        return jnp.broadcast_shapes(*(jnp.shape(p) for p in self._params()))

    def support_point(self) -> Float[Array, "..."] | float:
        """A value inside the support (for the instance's parameters): where a
        missing observation is evaluated before its term is dropped."""
        kind, *bounds = self.support
        if kind in ("interval", "integer_interval"):
            lo, hi = (getattr(self, b) if isinstance(b, str) else b for b in bounds)
            return lo if kind == "integer_interval" else 0.5 * (jnp.asarray(lo) + jnp.asarray(hi))
        return {"real": 0.0, "positive": 1.0, "nonnegative": 1.0, "unit": 0.5}.get(kind, 0.0)

    def observed_log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        """:meth:`log_prob` where ``x`` is observed and 0 where it is NaN
        (missing), with gradients that stay finite: the missing entries are
        evaluated at :meth:`support_point` and their terms dropped.

        This is how generated ``observation_log_prob`` reads data, so a
        missing component or time point contributes nothing to a likelihood.
        """
        x = jnp.asarray(x)
        missing = jnp.isnan(x)
        safe = jnp.where(missing, jnp.asarray(self.support_point(), x.dtype), x)
        return jnp.where(missing, jnp.zeros((), x.dtype), self.log_prob(safe))


# ---------------------------------------------------------------------------
# Continuous distributions


class _LocationScale(AbstractDistribution):
    """A law of $\\mu + \\sigma Z$ on the real line, for a standard variate
    $Z$: subclasses give ``_standard_log_prob(z)`` (the log density of $Z$),
    ``_standard_sample(key, shape, dtype)`` and ``has_mean``."""

    loc: eqx.AbstractVar[ArrayLike]
    scale: eqx.AbstractVar[ArrayLike]

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("real",)
    has_mean: eqx.AbstractClassVar[bool]

    @staticmethod
    @abc.abstractmethod
    def _standard_log_prob(z: Float[Array, "..."]) -> Float[Array, "..."]:
        """The log density of the standard variate $Z$ at ``z``."""

    @staticmethod
    @abc.abstractmethod
    def _standard_sample(key: PRNGKeyArray, shape: Shape, dtype) -> Float[Array, "..."]:
        """Draws of the standard variate $Z$."""

    def _params(self):
        return (self.loc, self.scale)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, loc, scale = _prep(x, self.loc, self.scale)
        return self._standard_log_prob((x - loc) / scale) - jnp.log(scale)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (loc, scale) = _to_shape(shape, self.loc, self.scale)
        return loc + scale * self._standard_sample(key, shape, dtype)

    def mean(self) -> Float[Array, "..."]:
        loc, _ = _prep(self.loc, self.scale)
        return loc if self.has_mean else jnp.full_like(loc, jnp.nan)


class Normal(_LocationScale):
    """The normal distribution $\\mathcal N(\\mu, \\sigma^2)$.

    Args:
        loc: the mean $\\mu$.
        scale: the standard deviation $\\sigma > 0$.

    Example:
        >>> float(Normal(0.0, 1.0).log_prob(0.0))  # -log(2 pi) / 2
        -0.918938...
    """

    loc: ArrayLike
    scale: ArrayLike

    has_mean: ClassVar[bool] = True

    @staticmethod
    def _standard_log_prob(z):
        return -0.5 * z * z - _HALF_LOG_2PI

    @staticmethod
    def _standard_sample(key, shape, dtype):
        return jax.random.normal(key, shape, dtype)


class HalfNormal(AbstractDistribution):
    """The half-normal distribution: $|X|$ for $X \\sim \\mathcal N(0, \\sigma^2)$.

    Args:
        scale: the scale $\\sigma > 0$ of the underlying normal.

    Example:
        >>> HalfNormal(2.0).sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    scale: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("nonnegative",)

    def _params(self):
        return (self.scale,)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, scale = _prep(x, self.scale)
        z = x / scale
        return _masked(x >= 0, _LOG_2 - _HALF_LOG_2PI - jnp.log(scale) - 0.5 * z * z)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (scale,) = _to_shape(shape, self.scale)
        return scale * jnp.abs(jax.random.normal(key, shape, dtype))

    def mean(self) -> Float[Array, "..."]:
        (scale,) = _prep(self.scale)
        return scale * math.sqrt(2.0 / math.pi)


class LogNormal(AbstractDistribution):
    """The log-normal distribution: $e^X$ for $X \\sim \\mathcal N(\\mu, \\sigma^2)$.

    Args:
        loc: the mean $\\mu$ of $\\log X$.
        scale: the standard deviation $\\sigma > 0$ of $\\log X$.

    Example:
        >>> float(LogNormal(0.0, 1.0).log_prob(1.0))
        -0.918938...
    """

    loc: ArrayLike
    scale: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("positive",)

    def _params(self):
        return (self.loc, self.scale)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, loc, scale = _prep(x, self.loc, self.scale)
        inside = x > 0
        log_x = jnp.log(jnp.where(inside, x, 1.0))
        z = (log_x - loc) / scale
        return _masked(inside, -0.5 * z * z - jnp.log(scale) - _HALF_LOG_2PI - log_x)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (loc, scale) = _to_shape(shape, self.loc, self.scale)
        return jnp.exp(loc + scale * jax.random.normal(key, shape, dtype))

    def mean(self) -> Float[Array, "..."]:
        loc, scale = _prep(self.loc, self.scale)
        return jnp.exp(loc + 0.5 * scale * scale)


class Uniform(AbstractDistribution):
    """The continuous uniform distribution on $[\\text{low}, \\text{high}]$.

    Its support depends on the instance: ``support`` is
    ``("interval", "low", "high")``, naming the fields that hold the bounds.

    Args:
        low: the lower bound.
        high: the upper bound, ``> low``.

    Example:
        >>> float(Uniform(0.0, 4.0).log_prob(1.0))  # -log 4
        -1.386294...
    """

    low: ArrayLike
    high: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("interval", "low", "high")

    def _params(self):
        return (self.low, self.high)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, low, high = _prep(x, self.low, self.high)
        return _masked((x >= low) & (x <= high), -jnp.log(high - low))

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (low, high) = _to_shape(shape, self.low, self.high)
        return low + (high - low) * jax.random.uniform(key, shape, dtype)

    def mean(self) -> Float[Array, "..."]:
        low, high = _prep(self.low, self.high)
        return 0.5 * (low + high)


class Exponential(AbstractDistribution):
    """The exponential distribution with density $\\lambda e^{-\\lambda x}$, $x \\ge 0$.

    Args:
        rate: the rate $\\lambda > 0$ (the mean is $1/\\lambda$).

    Example:
        >>> float(Exponential(2.0).mean())
        0.5
    """

    rate: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("nonnegative",)

    def _params(self):
        return (self.rate,)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, rate = _prep(x, self.rate)
        return _masked(x >= 0, jnp.log(rate) - rate * x)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (rate,) = _to_shape(shape, self.rate)
        return jax.random.exponential(key, shape, dtype) / rate

    def mean(self) -> Float[Array, "..."]:
        (rate,) = _prep(self.rate)
        return 1.0 / rate


class Gamma(AbstractDistribution):
    """The gamma distribution with shape $\\alpha$ and rate $\\beta$.

    Density $\\beta^\\alpha x^{\\alpha - 1} e^{-\\beta x} / \\Gamma(\\alpha)$;
    samples are reparameterised (differentiable in the parameters).

    Args:
        shape: the shape $\\alpha > 0$.
        rate: the rate $\\beta > 0$ (scale $1/\\beta$).

    Example:
        >>> float(Gamma(3.0, 2.0).mean())
        1.5
    """

    shape: ArrayLike
    rate: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("nonnegative",)

    def _params(self):
        return (self.shape, self.rate)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, alpha, rate = _prep(x, self.shape, self.rate)
        inside = x >= 0
        xs = jnp.where(inside, x, 1.0)
        lp = alpha * jnp.log(rate) + xlogy(alpha - 1.0, xs) - rate * xs - gammaln(alpha)
        return _masked(inside, lp)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (alpha, rate) = _to_shape(shape, self.shape, self.rate)
        return jax.random.gamma(key, alpha, shape, dtype) / rate

    def mean(self) -> Float[Array, "..."]:
        alpha, rate = _prep(self.shape, self.rate)
        return alpha / rate


class Beta(AbstractDistribution):
    """The beta distribution on $[0, 1]$, density $\\propto x^{a-1}(1-x)^{b-1}$.

    Args:
        a: the first concentration $a > 0$.
        b: the second concentration $b > 0$.

    Example:
        >>> float(Beta(2.0, 6.0).mean())
        0.25
    """

    a: ArrayLike
    b: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("unit",)

    def _params(self):
        return (self.a, self.b)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, a, b = _prep(x, self.a, self.b)
        inside = (x >= 0) & (x <= 1)
        xs = jnp.where(inside, x, 0.5)
        lp = xlogy(a - 1.0, xs) + xlog1py(b - 1.0, -xs) - betaln(a, b)
        return _masked(inside, lp)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (a, b) = _to_shape(shape, self.a, self.b)
        return jax.random.beta(key, a, b, shape, dtype)

    def mean(self) -> Float[Array, "..."]:
        a, b = _prep(self.a, self.b)
        return a / (a + b)


class StudentT(AbstractDistribution):
    """Student's t distribution, location-scale form.

    Args:
        df: the degrees of freedom $\\nu > 0$.
        loc: the location $\\mu$ (the mean when $\\nu > 1$).
        scale: the scale $\\sigma > 0$.

    Example:
        >>> bool(jnp.isnan(StudentT(1.0, 0.0, 1.0).mean()))  # no mean for nu <= 1
        True
    """

    df: ArrayLike
    loc: ArrayLike
    scale: ArrayLike

    discrete: ClassVar[bool] = False
    support: ClassVar[tuple] = ("real",)

    def _params(self):
        return (self.df, self.loc, self.scale)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, df, loc, scale = _prep(x, self.df, self.loc, self.scale)
        z = (x - loc) / scale
        half = 0.5 * (df + 1.0)
        return (
            gammaln(half)
            - gammaln(0.5 * df)
            - 0.5 * (jnp.log(df) + _LOG_PI)
            - jnp.log(scale)
            - half * jnp.log1p(z * z / df)
        )

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (df, loc, scale) = _to_shape(shape, self.df, self.loc, self.scale)
        return loc + scale * jax.random.t(key, df, shape, dtype)

    def mean(self) -> Float[Array, "..."]:
        df, loc, _ = _prep(self.df, self.loc, self.scale)
        return jnp.where(df > 1, loc, jnp.nan)


class Cauchy(_LocationScale):
    """The Cauchy distribution, density $1 / (\\pi\\sigma(1 + ((x-\\mu)/\\sigma)^2))$.

    It has no mean: :meth:`mean` returns NaN.

    Args:
        loc: the location (median) $\\mu$.
        scale: the scale $\\sigma > 0$.

    Example:
        >>> float(Cauchy(0.0, 1.0).log_prob(0.0))  # -log(pi)
        -1.144729...
    """

    loc: ArrayLike
    scale: ArrayLike

    has_mean: ClassVar[bool] = False

    @staticmethod
    def _standard_log_prob(z):
        return -_LOG_PI - jnp.log1p(z * z)

    @staticmethod
    def _standard_sample(key, shape, dtype):
        return jax.random.cauchy(key, shape, dtype)


class Laplace(_LocationScale):
    """The Laplace (double exponential) distribution, density $e^{-|x-\\mu|/b} / (2b)$.

    Args:
        loc: the location (mean) $\\mu$.
        scale: the scale $b > 0$.

    Example:
        >>> float(Laplace(0.0, 0.5).log_prob(0.0))  # -log(2 b) = 0
        0.0
    """

    loc: ArrayLike
    scale: ArrayLike

    has_mean: ClassVar[bool] = True

    @staticmethod
    def _standard_log_prob(z):
        return -_LOG_2 - jnp.abs(z)

    @staticmethod
    def _standard_sample(key, shape, dtype):
        return jax.random.laplace(key, shape, dtype)


# ---------------------------------------------------------------------------
# Discrete distributions


class Poisson(AbstractDistribution):
    """The Poisson distribution, mass $\\lambda^k e^{-\\lambda} / k!$.

    Args:
        rate: the rate (mean) $\\lambda \\ge 0$.

    Example:
        >>> Poisson(3.0).sample(jax.random.key(0), (2,)).dtype  # float, integer values
        dtype('float32')
    """

    rate: ArrayLike

    discrete: ClassVar[bool] = True
    support: ClassVar[tuple] = ("nonnegative_integer",)

    def _params(self):
        return (self.rate,)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, rate = _prep(x, self.rate)
        inside = (x >= 0) & _is_integer(x)
        k = jnp.where(inside, x, 0.0)
        return _masked(inside, xlogy(k, rate) - rate - gammaln(k + 1.0))

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (rate,) = _to_shape(shape, self.rate)
        return jax.random.poisson(key, rate, shape).astype(dtype)

    def mean(self) -> Float[Array, "..."]:
        (rate,) = _prep(self.rate)
        return rate


class Bernoulli(AbstractDistribution):
    """The Bernoulli distribution on $\\{0, 1\\}$, by probability or by logits.

    Give exactly one of ``p`` and ``logits``; the logits form is the stable
    one for a linear predictor ($p = \\sigma(\\text{logits})$).

    Args:
        p: the probability of 1, in $[0, 1]$.
        logits: the log-odds $\\log(p / (1 - p))$.

    Raises:
        ValueError: unless exactly one of ``p`` and ``logits`` is given.

    Example:
        >>> float(Bernoulli(logits=0.0).log_prob(1.0))  # log(1/2)
        -0.693147...
    """

    p: ArrayLike | None
    logits: ArrayLike | None

    discrete: ClassVar[bool] = True
    support: ClassVar[tuple] = ("integer_interval", 0, 1)

    def __init__(self, p: ArrayLike | None = None, logits: ArrayLike | None = None):
        if (p is None) == (logits is None):
            raise ValueError("Bernoulli takes exactly one of `p` and `logits`")
        self.p = p
        self.logits = logits

    def _params(self):
        return (self.p,) if self.logits is None else (self.logits,)

    def _probability(self) -> Float[Array, "..."]:
        if self.logits is None:
            (p,) = _prep(self.p)
            return p
        (logits,) = _prep(self.logits)
        return jax.nn.sigmoid(logits)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        if self.logits is None:
            x, p = _prep(x, self.p)
            log_one, log_zero = jnp.log(p), jnp.log1p(-p)
        else:
            x, logits = _prep(x, self.logits)
            log_one, log_zero = -jax.nn.softplus(-logits), -jax.nn.softplus(logits)
        lp = jnp.where(x == 1, log_one, log_zero)
        return _masked((x == 0) | (x == 1), lp)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (p,) = _to_shape(shape, self._probability())
        return jax.random.bernoulli(key, p, shape).astype(dtype)

    def mean(self) -> Float[Array, "..."]:
        return self._probability()


class Binomial(AbstractDistribution):
    """The binomial distribution: successes in $n$ trials of probability $p$.

    ``support`` is ``("integer_interval", 0, "n")``: the upper bound is the
    field ``n``.

    Args:
        n: the number of trials, a nonnegative integer (int or float array).
        p: the success probability, in $[0, 1]$.

    Example:
        >>> float(Binomial(10, 0.3).mean())
        3.0
    """

    n: ArrayLike
    p: ArrayLike

    discrete: ClassVar[bool] = True
    support: ClassVar[tuple] = ("integer_interval", 0, "n")

    def _params(self):
        return (self.n, self.p)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, n, p = _prep(x, self.n, self.p)
        inside = (x >= 0) & (x <= n) & _is_integer(x)
        k = jnp.where(inside, x, 0.0)
        lp = (
            gammaln(n + 1.0)
            - gammaln(k + 1.0)
            - gammaln(n - k + 1.0)
            + xlogy(k, p)
            + xlog1py(n - k, -p)
        )
        return _masked(inside, lp)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (n, p) = _to_shape(shape, self.n, self.p)
        return jax.random.binomial(key, n, p, shape, dtype)

    def mean(self) -> Float[Array, "..."]:
        n, p = _prep(self.n, self.p)
        return n * p


class NegativeBinomial(AbstractDistribution):
    """The negative binomial distribution in mean/concentration form.

    With mean $\\mu$ and concentration $\\phi$ the variance is
    $\\mu + \\mu^2/\\phi$ (overdispersed counts; $\\phi \\to \\infty$ is Poisson).
    The mass is

    $$\\frac{\\Gamma(k + \\phi)}{k!\\,\\Gamma(\\phi)}
      \\Big(\\frac{\\phi}{\\mu + \\phi}\\Big)^\\phi \\Big(\\frac{\\mu}{\\mu + \\phi}\\Big)^k,$$

    and samples are drawn as a gamma-Poisson mixture:
    $\\lambda \\sim \\text{Gamma}(\\phi, \\text{rate} = \\phi/\\mu)$,
    $k \\sim \\text{Poisson}(\\lambda)$.

    The parameter is stored in the field ``mu`` (``mean`` is the method).

    Args:
        mean: the mean $\\mu \\ge 0$.
        concentration: the concentration (inverse dispersion) $\\phi > 0$.

    Example:
        >>> float(NegativeBinomial(mean=4.0, concentration=2.0).mean())
        4.0
    """

    mu: ArrayLike
    concentration: ArrayLike

    discrete: ClassVar[bool] = True
    support: ClassVar[tuple] = ("nonnegative_integer",)

    def __init__(self, mean: ArrayLike, concentration: ArrayLike):
        self.mu = mean
        self.concentration = concentration

    def _params(self):
        return (self.mu, self.concentration)

    def log_prob(self, x: ArrayLike) -> Float[Array, "..."]:
        x, mu, phi = _prep(x, self.mu, self.concentration)
        inside = (x >= 0) & _is_integer(x)
        k = jnp.where(inside, x, 0.0)
        lp = (
            gammaln(k + phi)
            - gammaln(phi)
            - gammaln(k + 1.0)
            - phi * jnp.log1p(mu / phi)
            + xlogy(k, mu)
            - k * jnp.log(mu + phi)
        )
        return _masked(inside, lp)

    def sample(self, key: PRNGKeyArray, shape: Shape | None = None) -> Float[Array, "..."]:
        dtype, shape, (mu, phi) = _to_shape(shape, self.mu, self.concentration)
        key_rate, key_count = jax.random.split(key)
        rate = jax.random.gamma(key_rate, phi, shape, dtype) * (mu / phi)
        return jax.random.poisson(key_count, rate, shape).astype(dtype)

    def mean(self) -> Float[Array, "..."]:
        mu, _ = _prep(self.mu, self.concentration)
        return mu


#: Spec-language name -> distribution class.
REGISTRY: dict[str, type[AbstractDistribution]] = {
    cls.__name__: cls
    for cls in (
        Normal,
        HalfNormal,
        LogNormal,
        Uniform,
        Exponential,
        Gamma,
        Beta,
        StudentT,
        Cauchy,
        Laplace,
        Poisson,
        Bernoulli,
        Binomial,
        NegativeBinomial,
    )
}
