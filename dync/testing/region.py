"""Where ``dync test`` draws parameter values: one box per parameter.

A parameter's values are drawn inside its constraint, narrowed to a region
around the value the spec gives it (the model is written for values near
it; the far reaches of ``(0, inf)`` test nothing a user meant):

* bounded below only (``positive``, ``lower(a)``): ``a + [d/2, 2d]``, where
  ``d`` is the spec value's distance from the bound;
* bounded above only: the mirror image;
* an ``interval(a, b)``: the spec value ± (b - a)/4, inside the interval;
* unbounded: the spec value ± max(|value|, 1)/2.

A ``ranges`` entry replaces the region (it must lie inside the
constraint). Prior support is enforced by the caller, which rejects draws
where the model's log prior is -inf. Arrays of up to
:data:`ELEMENTWISE_LIMIT` elements are drawn element by element; a larger
array is drawn as its spec value moved by one scalar (scaled for a
one-sided constraint, shifted otherwise), so that a 100 x 100 coupling
matrix is tested as a family rather than as 10,000 unrelated numbers.
``const`` and ``~ init`` parameters, and those held by ``--set``, are not
drawn.

This module imports neither JAX nor the compiler.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from ..errors import UsageError, did_you_mean
from ..info import ModelInfo
from ..info.constraints import AbstractConstraint

__all__ = ["ELEMENTWISE_LIMIT", "ParamRegion", "param_regions"]

#: arrays with more elements are drawn as one scalar move of the spec value
ELEMENTWISE_LIMIT = 16


@dataclasses.dataclass(frozen=True)
class ParamRegion:
    """The box one parameter is drawn from.

    Attributes:
        name: the parameter.
        shape: its declared shape.
        low, high: per element bounds (arrays of ``shape``), for an
            elementwise draw; for a scalar move (``mode`` ``scale`` or
            ``shift``) the bounds of the one scalar (shape ``()``).
        mode: ``elementwise``, ``scale`` (value = spec value x s) or
            ``shift`` (value = spec value + s).
        base: the spec value (of ``shape``).
        constraint: the parameter's constraint (to clip a moved array into).
    """

    name: str
    shape: tuple[int, ...]
    low: np.ndarray
    high: np.ndarray
    mode: str
    base: np.ndarray
    constraint: AbstractConstraint

    def value(self, drawn: np.ndarray | float) -> np.ndarray:
        """The parameter value for a draw (an array of ``shape`` for
        ``elementwise``, one number otherwise)."""
        if self.mode == "elementwise":
            return np.asarray(drawn, dtype=float).reshape(self.shape)
        s = float(drawn)
        out = self.base * s if self.mode == "scale" else self.base + s
        lo, hi = self.constraint.bounds()
        span = hi - lo if math.isfinite(hi - lo) else 1.0
        return np.clip(out, lo + 1e-6 * span, hi - 1e-6 * span)


def _element_box(value: float, c: AbstractConstraint) -> tuple[float, float]:
    lo, hi = c.bounds()
    if math.isfinite(lo) and math.isfinite(hi):
        quarter = (hi - lo) / 4
        margin = 1e-6 * (hi - lo)
        return max(lo + margin, value - quarter), min(hi - margin, value + quarter)
    if math.isfinite(lo):
        d = max(value - lo, 1e-12)
        return lo + d / 2, lo + 2 * d
    if math.isfinite(hi):
        d = max(hi - value, 1e-12)
        return hi - 2 * d, hi - d / 2
    half = max(abs(value), 1.0) / 2
    return value - half, value + half


def _bounds_in_words(lo: float, hi: float) -> str:
    """What a constraint's open bounds allow, without repeating its name:
    ``> 0`` for ``positive``, ``strictly between -1 and 1`` for ``interval(-1, 1)``."""
    if math.isfinite(lo) and math.isfinite(hi):
        return f"strictly between {lo:g} and {hi:g}"
    if math.isfinite(lo):
        return f"> {lo:g}"
    if math.isfinite(hi):
        return f"< {hi:g}"
    return "any finite number"


def _within(name: str, box: tuple[float, float], c: AbstractConstraint) -> tuple[float, float]:
    lo, hi = box
    clo, chi = c.bounds()
    if lo < clo or hi > chi:
        raise UsageError(
            f"range of `{name}` is [{lo:g}, {hi:g}], outside its constraint `{c.describe()}` ({_bounds_in_words(clo, chi)})",
            hint=f"give a range inside ({clo:g}, {chi:g})",
        )
    span = hi - lo
    # an open constraint excludes its bound: keep the draws strictly inside
    return (lo + 1e-9 * span if lo == clo else lo), (hi - 1e-9 * span if hi == chi else hi)


def param_regions(
    info: ModelInfo,
    values: Mapping[str, np.ndarray],
    ranges: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, object] | None = None,
) -> list[ParamRegion]:
    """The regions of the parameters ``dync test`` draws.

    Args:
        info: the model's description.
        values: each parameter's constrained value in the spec (the model's
            ``constrained_params()``, as numpy arrays).
        ranges: name → ``(lo, hi)``: the region of that parameter.
        fixed: names held at a given value (``--set``): not drawn (a range
            of one is ignored).

    Raises:
        UsageError: a range names no drawable parameter, or leaves its
            constraint.
    """
    fixed = dict(fixed or {})
    # a value held by --set wins over a range (the reproducing command of a
    # failure holds every drawn value, whatever the spec's test: ranges say)
    ranges = {k: v for k, v in (ranges or {}).items() if k not in fixed}
    # a parameter the compiler reads (an index, a shape, roll(x, k)) keeps its
    # spec value in the compiled code: a drawn value would never reach it
    drawable = {p.name: p for p in info.params if not p.fixed and not p.init and not p.compile_time and p.name not in fixed}
    for name in ranges:
        if name not in drawable:
            known = [p.name for p in info.params]
            read = info.param(name).compile_time if name in known else ""
            if read:
                raise UsageError(
                    f"range of `{name}`: the parameter is read as {read} when the spec compiles, so a drawn value "
                    "would never reach the compiled model; it is held at its spec value",
                    hint=f"drop its range; to test other values, change it in the spec, or declare it `dim {name} = ...` "
                    "and give the dim a range",
                )
            if name in known:
                raise UsageError(f"range of `{name}`: the parameter is not drawn: it is a const or drawn at construction (~ init)")
            hint = did_you_mean(name, known) or ("the parameters are " + ", ".join(known) if known else "the model has no parameters")
            raise UsageError(f"range of `{name}`: the model has no parameter `{name}`", hint=hint)
    out = []
    for name, p in drawable.items():
        base = np.asarray(values[name], dtype=float).reshape(p.shape)
        c = p.constraint
        size = int(np.prod(p.shape, dtype=np.int64)) if p.shape else 1
        if size <= ELEMENTWISE_LIMIT:
            if name in ranges:
                lo, hi = _within(name, ranges[name], c)
                low, high = np.full(p.shape, lo), np.full(p.shape, hi)
            else:
                boxes = [_element_box(float(v), c) for v in base.ravel()]
                low = np.asarray([b[0] for b in boxes]).reshape(p.shape)
                high = np.asarray([b[1] for b in boxes]).reshape(p.shape)
            out.append(ParamRegion(name, p.shape, low, high, "elementwise", base, c))
            continue
        clo, chi = c.bounds()
        one_sided = math.isfinite(clo) != math.isfinite(chi)
        if name in ranges:
            _within(name, ranges[name], c)
            lo, hi = ranges[name]
            # an array's range bounds its elements: move the spec value inside it
            mode, s_lo, s_hi = "shift", float(lo - base.min()), float(hi - base.max())
            if s_lo > s_hi:
                s_lo = s_hi = 0.0
        elif one_sided and np.all(base != 0):
            mode, s_lo, s_hi = "scale", 0.5, 2.0
        else:
            half = max(float(np.abs(base).max()), 1.0) / 2
            mode, s_lo, s_hi = "shift", -half, half
        out.append(ParamRegion(name, p.shape, np.asarray(s_lo), np.asarray(s_hi), mode, base, c))
    return out
