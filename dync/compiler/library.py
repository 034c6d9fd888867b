"""What the spec language knows by name: functions and distributions (the
constraint kinds are :data:`dync.info.constraints.CONSTRAINTS`).

This table is the single source for the checker (arity, keywords) and for code
generation (each function becomes ``F.<name>`` in ``dync.runtime.functions``,
each distribution ``D.<Name>`` in ``dync.runtime.distributions``). Shape rules
live in :mod:`dync.compiler.shapes`.
"""

from __future__ import annotations

import dataclasses

from ..dsl.vocabulary import COMPILE_TIME_ARGUMENTS
from ..info.constraints import AbstractConstraint, Interval, Lower, Positive, Real, Unit


@dataclasses.dataclass(frozen=True)
class FunctionSig:
    """``params`` in order; ``variadic`` takes any number of positional arrays;
    ``static`` names the arguments that must be compile-time integers (from
    :data:`dync.dsl.vocabulary.COMPILE_TIME_ARGUMENTS`; the sizes of
    ``zeros``/``ones``, all positional, are its ``*``)."""

    name: str
    params: tuple[str, ...]
    required: int
    kind: str  # elementwise | broadcast | reduction | special
    variadic: bool = False
    static: tuple[str, ...] = ()


def _sigs() -> dict[str, FunctionSig]:
    out: dict[str, FunctionSig] = {}
    for n in (
        "exp log log1p expm1 sqrt abs sign sin cos tan tanh sinh cosh arctan "
        "sigmoid softplus relu erf"
    ).split():
        out[n] = FunctionSig(n, ("x",), 1, "elementwise")
    out["minimum"] = FunctionSig("minimum", ("a", "b"), 2, "broadcast")
    out["maximum"] = FunctionSig("maximum", ("a", "b"), 2, "broadcast")
    out["clip"] = FunctionSig("clip", ("x", "lo", "hi"), 1, "broadcast")
    out["where"] = FunctionSig("where", ("cond", "a", "b"), 3, "broadcast")
    for n in ("sum", "mean", "prod", "max", "min", "logsumexp", "norm"):
        out[n] = FunctionSig(n, ("x", "axis"), 1, "reduction")
    out["dot"] = FunctionSig("dot", ("a", "b"), 2, "special")
    out["outer"] = FunctionSig("outer", ("a", "b"), 2, "special")
    out["roll"] = FunctionSig("roll", ("x", "shift", "axis"), 1, "special")
    out["concat"] = FunctionSig("concat", ("axis",), 0, "special", variadic=True)
    out["stack"] = FunctionSig("stack", ("axis",), 0, "special", variadic=True)
    out["diag"] = FunctionSig("diag", ("x",), 1, "special")
    out["eye"] = FunctionSig("eye", ("n",), 1, "special")
    out["zeros"] = FunctionSig("zeros", (), 0, "special", variadic=True)
    out["ones"] = FunctionSig("ones", (), 0, "special", variadic=True)
    out["transpose"] = FunctionSig("transpose", ("x",), 1, "special")
    out["grad"] = FunctionSig("grad", ("f", "x"), 2, "special")
    return {
        n: dataclasses.replace(sig, static=tuple(a for a in COMPILE_TIME_ARGUMENTS.get(n, {}) if a != "*"))
        for n, sig in out.items()
    }


FUNCTIONS: dict[str, FunctionSig] = _sigs()


@dataclasses.dataclass(frozen=True)
class DistributionSig:
    """A distribution's parameters, whether it is discrete, and its support
    (as a constraint, for checking fixed initial values and priors)."""

    name: str
    params: tuple[str, ...]
    discrete: bool
    support: AbstractConstraint
    alternatives: tuple[tuple[str, ...], ...] = ()  # e.g. Bernoulli(p) or (logits)


#: parameter names of other libraries' parametrisations (scipy, NumPy,
#: Stan, PyMC), and how to write them with dync's: for the hint of an
#: unknown distribution keyword
FOREIGN_LAW_PARAMETERS: dict[tuple[str, str], str] = {
    ("Gamma", "scale"): "dync's Gamma takes `shape` and `rate`: write `rate = 1 / SCALE`",
    ("Gamma", "alpha"): "dync's Gamma takes `shape` (alpha) and `rate` (beta)",
    ("Gamma", "beta"): "dync's Gamma takes `shape` (alpha) and `rate` (beta)",
    ("Exponential", "scale"): "dync's Exponential takes a `rate`: write `rate = 1 / SCALE`",
    ("Exponential", "lam"): "dync's Exponential takes a `rate`",
    ("Poisson", "lam"): "dync's Poisson takes a `rate`",
    ("Poisson", "mu"): "dync's Poisson takes a `rate`",
    **{(law, word): f"dync's {law} takes `loc` and `scale` (a standard deviation)"
       for law in ("Normal", "LogNormal", "StudentT", "Cauchy", "Laplace")
       for word in ("mu", "mean", "sigma", "sd", "std")},
    **{("HalfNormal", word): "dync's HalfNormal takes a `scale` (a standard deviation)" for word in ("sigma", "sd", "std")},
    ("Uniform", "lower"): "dync's Uniform takes `low` and `high`",
    ("Uniform", "upper"): "dync's Uniform takes `low` and `high`",
    ("Beta", "alpha"): "dync's Beta takes `a` and `b`",
    ("Beta", "beta"): "dync's Beta takes `a` and `b`",
}

DISTRIBUTIONS: dict[str, DistributionSig] = {
    d.name: d
    for d in (
        DistributionSig("Normal", ("loc", "scale"), False, Real()),
        DistributionSig("HalfNormal", ("scale",), False, Positive()),
        DistributionSig("LogNormal", ("loc", "scale"), False, Positive()),
        DistributionSig("Uniform", ("low", "high"), False, Real()),
        DistributionSig("Exponential", ("rate",), False, Positive()),
        DistributionSig("Gamma", ("shape", "rate"), False, Positive()),
        DistributionSig("Beta", ("a", "b"), False, Unit()),
        DistributionSig("StudentT", ("df", "loc", "scale"), False, Real()),
        DistributionSig("Cauchy", ("loc", "scale"), False, Real()),
        DistributionSig("Laplace", ("loc", "scale"), False, Real()),
        DistributionSig("Poisson", ("rate",), True, Lower(0.0)),
        DistributionSig("Bernoulli", ("p",), True, Interval(0.0, 1.0), alternatives=(("p",), ("logits",))),
        DistributionSig("Binomial", ("n", "p"), True, Lower(0.0)),
        DistributionSig("NegativeBinomial", ("mean", "concentration"), True, Lower(0.0)),
    )
}

NOISE_KINDS = ("brownian", "fractional")
ACTIVATIONS = ("tanh", "relu", "softplus", "sigmoid", "gelu", "silu", "swish", "elu", "identity", "sin")
NET_KEYWORDS = ("in", "out", "width", "depth", "activation")
CALCULI = ("ito", "stratonovich")

#: names that can never be declared
RESERVED = frozenset({"t", "dt", "pi"})
