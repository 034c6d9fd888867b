"""Parameter constraints: one class per kind, each with its bijection and its
printed forms.

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

This module is the one place that knows the constraint kinds: the checker
(which bounds a kind takes, whether a value lies inside), ``dync check``
(the printed form), the generated code and the runtime (the bijections), the
hypothesis strategies (values inside) all read it. It imports no JAX at module
level, so the front end stays fast; the bijections import ``jax.numpy`` when
first called (they only ever run in code that has imported JAX already).

Every class is a frozen dataclass holding only Python floats, so generated
code can build one inline (``C.Positive().forward(self.sigma)``) inside jit at
no cost, and two equal constraints compare equal.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "CONSTRAINTS",
    "AbstractConstraint",
    "Interval",
    "Lower",
    "Negative",
    "Positive",
    "Real",
    "Unit",
    "Upper",
    "from_tuple",
    "make_constraint",
]


def _jnp() -> Any:
    import jax.numpy as jnp

    return jnp


def _nn() -> Any:
    import jax.nn

    return jax.nn


class AbstractConstraint(abc.ABC):
    """A bijection $f: \\mathbb{R} \\to S$ applied elementwise, and how it prints.

    Subclasses set :attr:`kind` (the word a spec writes) and implement the
    bijection, :meth:`bounds` and :meth:`explain`.
    """

    #: the word a spec writes (``positive``, ``interval``, ...)
    kind: ClassVar[str]
    #: how many bounds the spec gives in parentheses
    num_bounds: ClassVar[int] = 0

    @abc.abstractmethod
    def forward(self, u):
        """Map an unconstrained value into the constrained set (JAX)."""

    @abc.abstractmethod
    def inverse(self, x):
        """Map a constrained value back to the unconstrained space (JAX)."""

    @abc.abstractmethod
    def log_det_jacobian(self, u):
        """$\\log |f'(u)|$, elementwise (JAX)."""

    @abc.abstractmethod
    def bounds(self) -> tuple[float, float]:
        """The open interval $(lo, hi)$ of the constrained set."""

    @abc.abstractmethod
    def explain(self) -> str:
        """The set in words, for error messages (``positive (> 0)``)."""

    def bound_values(self) -> tuple[float, ...]:
        """The bounds a spec writes in parentheses (none for ``positive``)."""
        return ()

    def contains(self, x) -> np.ndarray:
        """Whether each element of a concrete value lies strictly inside the set
        (and is finite, for ``real``)."""
        v = np.asarray(x, dtype=float)
        lo, hi = self.bounds()
        with np.errstate(invalid="ignore"):
            return (v > lo) & (v < hi)

    def default_value(self) -> float:
        """A point inside the set: the value of a parameter declared with
        neither a value nor ``~ init``."""
        lo, hi = self.bounds()
        if math.isinf(lo) and math.isinf(hi):
            return 0.0
        if math.isinf(hi):
            return lo + 1.0
        if math.isinf(lo):
            return hi - 1.0
        return 0.5 * (lo + hi)

    def describe(self) -> str:
        """The constraint as a user writes it (``interval(0, 1)``)."""
        bounds = self.bound_values()
        return f"{self.kind}({', '.join(f'{b:g}' for b in bounds)})" if bounds else self.kind

    def as_tuple(self) -> tuple:
        """``(kind, *bounds)``: the JSON form of ``dync check --format json``."""
        return (self.kind, *self.bound_values())


@dataclasses.dataclass(frozen=True)
class Real(AbstractConstraint):
    """No constraint: the identity."""

    kind: ClassVar[str] = "real"

    def forward(self, u):
        return _jnp().asarray(u)

    def inverse(self, x):
        return _jnp().asarray(x)

    def log_det_jacobian(self, u):
        jnp = _jnp()
        return jnp.zeros_like(jnp.asarray(u))

    def bounds(self):
        return (-math.inf, math.inf)

    def contains(self, x):
        return np.isfinite(np.asarray(x, dtype=float))

    def explain(self):
        return "real"


@dataclasses.dataclass(frozen=True)
class Lower(AbstractConstraint):
    """$x > lo$: $x = lo + e^u$."""

    kind: ClassVar[str] = "lower"
    num_bounds: ClassVar[int] = 1
    lo: float = 0.0

    def forward(self, u):
        return self.lo + _jnp().exp(u)

    def inverse(self, x):
        jnp = _jnp()
        return jnp.log(jnp.asarray(x) - self.lo)

    def log_det_jacobian(self, u):
        return _jnp().asarray(u)

    def bounds(self):
        return (float(self.lo), math.inf)

    def bound_values(self):
        return (float(self.lo),)

    def explain(self):
        return f"greater than {self.lo:g}"


@dataclasses.dataclass(frozen=True)
class Upper(AbstractConstraint):
    """$x < hi$: $x = hi - e^u$."""

    kind: ClassVar[str] = "upper"
    num_bounds: ClassVar[int] = 1
    hi: float = 0.0

    def forward(self, u):
        return self.hi - _jnp().exp(u)

    def inverse(self, x):
        jnp = _jnp()
        return jnp.log(self.hi - jnp.asarray(x))

    def log_det_jacobian(self, u):
        return _jnp().asarray(u)

    def bounds(self):
        return (-math.inf, float(self.hi))

    def bound_values(self):
        return (float(self.hi),)

    def explain(self):
        return f"less than {self.hi:g}"


@dataclasses.dataclass(frozen=True)
class Positive(AbstractConstraint):
    """$x > 0$: $x = e^u$."""

    kind: ClassVar[str] = "positive"

    def forward(self, u):
        return _jnp().exp(u)

    def inverse(self, x):
        return _jnp().log(x)

    def log_det_jacobian(self, u):
        return _jnp().asarray(u)

    def bounds(self):
        return (0.0, math.inf)

    def explain(self):
        return "positive (> 0)"


@dataclasses.dataclass(frozen=True)
class Negative(AbstractConstraint):
    """$x < 0$: $x = -e^u$."""

    kind: ClassVar[str] = "negative"

    def forward(self, u):
        return -_jnp().exp(u)

    def inverse(self, x):
        jnp = _jnp()
        return jnp.log(-jnp.asarray(x))

    def log_det_jacobian(self, u):
        return _jnp().asarray(u)

    def bounds(self):
        return (-math.inf, 0.0)

    def explain(self):
        return "negative (< 0)"


@dataclasses.dataclass(frozen=True)
class Interval(AbstractConstraint):
    """$lo < x < hi$: $x = lo + (hi - lo)\\,\\sigma(u)$."""

    kind: ClassVar[str] = "interval"
    num_bounds: ClassVar[int] = 2
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self):
        if not self.hi > self.lo:
            raise ValueError(f"interval({self.lo:g}, {self.hi:g}) needs lo < hi")

    def forward(self, u):
        return self.lo + (self.hi - self.lo) * _nn().sigmoid(u)

    def inverse(self, x):
        jnp = _jnp()
        x = jnp.asarray(x)
        return jnp.log(x - self.lo) - jnp.log(self.hi - x)

    def log_det_jacobian(self, u):
        nn = _nn()
        return math.log(self.hi - self.lo) + nn.log_sigmoid(u) + nn.log_sigmoid(-_jnp().asarray(u))

    def bounds(self):
        return (float(self.lo), float(self.hi))

    def bound_values(self):
        return (float(self.lo), float(self.hi))

    def explain(self):
        return f"strictly inside ({self.lo:g}, {self.hi:g})"


@dataclasses.dataclass(frozen=True)
class Unit(AbstractConstraint):
    """$0 < x < 1$: the logistic function."""

    kind: ClassVar[str] = "unit"

    def forward(self, u):
        return _nn().sigmoid(u)

    def inverse(self, x):
        jnp = _jnp()
        x = jnp.asarray(x)
        return jnp.log(x - 0.0) - jnp.log(1.0 - x)

    def log_det_jacobian(self, u):
        nn = _nn()
        return math.log(1.0) + nn.log_sigmoid(u) + nn.log_sigmoid(-_jnp().asarray(u))

    def bounds(self):
        return (0.0, 1.0)

    def explain(self):
        return "strictly inside (0, 1)"


#: every constraint kind by the word a spec writes, in the order the docs list them
CONSTRAINTS: dict[str, type[AbstractConstraint]] = {
    cls.kind: cls for cls in (Real, Positive, Negative, Unit, Interval, Lower, Upper)
}


def make_constraint(kind: str, *bounds: float) -> AbstractConstraint:
    """The constraint a spec writes as ``kind`` or ``kind(bounds...)``.

    Raises:
        ValueError: an unknown kind, the wrong number of bounds, or an empty
            interval (the checker reports these with their location first).
    """
    cls = CONSTRAINTS.get(kind)
    if cls is None:
        raise ValueError(f"unknown constraint {kind!r}; known: {', '.join(CONSTRAINTS)}")
    if len(bounds) != cls.num_bounds:
        raise ValueError(f"constraint {kind!r} takes {cls.num_bounds} bound(s), got {len(bounds)}")
    return cls(*(float(b) for b in bounds))


def from_tuple(constraint: tuple | AbstractConstraint) -> AbstractConstraint:
    """The constraint for its ``(kind, *bounds)`` form (or the constraint itself).

    Example:
        >>> from_tuple(("interval", -1.0, 1.0)).describe()
        'interval(-1, 1)'
    """
    if isinstance(constraint, AbstractConstraint):
        return constraint
    kind, *bounds = tuple(constraint) or ("real",)
    return make_constraint(kind, *bounds)
