"""Parameter constraints as bijections between an unconstrained space and the
constrained (user) space.

Fitting and sampling move parameters in $\\mathbb{R}^n$; a compiled model stores
each constrained parameter unconstrained and maps it through its bijection
whenever the value is read. The log-Jacobian of each map lets a density over
the constrained value become one over the unconstrained leaf (Stan's
convention: ``exp`` for one-sided bounds, a scaled logistic for intervals).

=================  ==============================  =========================
constraint          forward ``x = f(u)``            ``log |df/du|``
=================  ==============================  =========================
``real``            $u$                             $0$
``positive``        $e^u$                           $u$
``negative``        $-e^u$                          $u$
``lower(lo)``       $lo + e^u$                      $u$
``upper(hi)``       $hi - e^u$                      $u$
``interval(a,b)``   $a + (b - a)\\,\\sigma(u)$        $\\log(b-a) + \\log\\sigma(u) + \\log\\sigma(-u)$
``unit``            ``interval(0, 1)``
=================  ==============================  =========================

Every class is a frozen dataclass holding only Python floats, so generated
code can build one inline (``C.Positive().forward(self.sigma)``) inside jit at
no cost.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "AbstractConstraint",
    "Interval",
    "Lower",
    "Negative",
    "Positive",
    "Real",
    "Unit",
    "Upper",
    "from_tuple",
]


class AbstractConstraint(abc.ABC):
    """A bijection $f: \\mathbb{R} \\to S$ applied elementwise."""

    @abc.abstractmethod
    def forward(self, u: ArrayLike) -> Float[Array, "..."]:
        """Map an unconstrained value into the constrained set."""

    @abc.abstractmethod
    def inverse(self, x: ArrayLike) -> Float[Array, "..."]:
        """Map a constrained value back to the unconstrained space."""

    @abc.abstractmethod
    def log_det_jacobian(self, u: ArrayLike) -> Float[Array, "..."]:
        """$\\log |f'(u)|$, elementwise."""

    @abc.abstractmethod
    def contains(self, x: ArrayLike) -> np.ndarray:
        """Whether each element of a concrete value lies strictly inside the set."""

    @abc.abstractmethod
    def as_tuple(self) -> tuple:
        """The constraint as the tuple stored in ``ParamInfo.constraint``."""

    def describe(self) -> str:
        """The constraint as a user writes it (``interval(0, 1)``)."""
        name, *bounds = self.as_tuple()
        return f"{name}({', '.join(f'{b:g}' for b in bounds)})" if bounds else name


@dataclasses.dataclass(frozen=True)
class Real(AbstractConstraint):
    """No constraint: the identity."""

    def forward(self, u):
        return jnp.asarray(u)

    def inverse(self, x):
        return jnp.asarray(x)

    def log_det_jacobian(self, u):
        return jnp.zeros_like(jnp.asarray(u))

    def contains(self, x):
        return np.isfinite(np.asarray(x, dtype=float))

    def as_tuple(self):
        return ("real",)


@dataclasses.dataclass(frozen=True)
class Lower(AbstractConstraint):
    """$x > lo$: $x = lo + e^u$."""

    lo: float = 0.0

    def forward(self, u):
        return self.lo + jnp.exp(u)

    def inverse(self, x):
        return jnp.log(jnp.asarray(x) - self.lo)

    def log_det_jacobian(self, u):
        return jnp.asarray(u)

    def contains(self, x):
        return np.asarray(x, dtype=float) > self.lo

    def as_tuple(self):
        return ("lower", float(self.lo))


@dataclasses.dataclass(frozen=True)
class Upper(AbstractConstraint):
    """$x < hi$: $x = hi - e^u$."""

    hi: float = 0.0

    def forward(self, u):
        return self.hi - jnp.exp(u)

    def inverse(self, x):
        return jnp.log(self.hi - jnp.asarray(x))

    def log_det_jacobian(self, u):
        return jnp.asarray(u)

    def contains(self, x):
        return np.asarray(x, dtype=float) < self.hi

    def as_tuple(self):
        return ("upper", float(self.hi))


@dataclasses.dataclass(frozen=True)
class Positive(Lower):
    """$x > 0$: $x = e^u$."""

    lo: float = 0.0

    def forward(self, u):
        return jnp.exp(u)

    def inverse(self, x):
        return jnp.log(x)

    def as_tuple(self):
        return ("positive",)


@dataclasses.dataclass(frozen=True)
class Negative(Upper):
    """$x < 0$: $x = -e^u$."""

    hi: float = 0.0

    def forward(self, u):
        return -jnp.exp(u)

    def inverse(self, x):
        return jnp.log(-jnp.asarray(x))

    def as_tuple(self):
        return ("negative",)


@dataclasses.dataclass(frozen=True)
class Interval(AbstractConstraint):
    """$lo < x < hi$: $x = lo + (hi - lo)\\,\\sigma(u)$."""

    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self):
        if not self.hi > self.lo:
            raise ValueError(f"interval({self.lo:g}, {self.hi:g}) needs lo < hi")

    def forward(self, u):
        return self.lo + (self.hi - self.lo) * jax.nn.sigmoid(u)

    def inverse(self, x):
        x = jnp.asarray(x)
        return jnp.log(x - self.lo) - jnp.log(self.hi - x)

    def log_det_jacobian(self, u):
        return math.log(self.hi - self.lo) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-jnp.asarray(u))

    def contains(self, x):
        x = np.asarray(x, dtype=float)
        return (x > self.lo) & (x < self.hi)

    def as_tuple(self):
        return ("interval", float(self.lo), float(self.hi))


@dataclasses.dataclass(frozen=True)
class Unit(Interval):
    """$0 < x < 1$: the logistic function."""

    lo: float = 0.0
    hi: float = 1.0

    def forward(self, u):
        return jax.nn.sigmoid(u)

    def as_tuple(self):
        return ("unit",)


_BY_NAME: dict[str, type[AbstractConstraint]] = {
    "real": Real,
    "positive": Positive,
    "negative": Negative,
    "unit": Unit,
    "interval": Interval,
    "lower": Lower,
    "upper": Upper,
}


def from_tuple(constraint: tuple) -> AbstractConstraint:
    """The bijection for a ``ParamInfo.constraint`` tuple.

    Example:
        >>> from_tuple(("interval", -1.0, 1.0)).forward(0.0)
        Array(0., dtype=float32, weak_type=True)

    Raises:
        ValueError: for an unknown constraint name or the wrong number of bounds.
    """
    name, *bounds = tuple(constraint) or ("real",)
    cls = _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"unknown constraint {name!r}; known: {', '.join(_BY_NAME)}")
    expected = {"interval": 2, "lower": 1, "upper": 1}.get(name, 0)
    if len(bounds) != expected:
        raise ValueError(f"constraint {name!r} takes {expected} bound(s), got {len(bounds)}")
    return cls(*(float(b) for b in bounds))
