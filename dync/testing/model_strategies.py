"""Hypothesis strategies over a compiled model: its parameter values and
initial states.

:func:`params` draws parameter values where ``dync test`` draws them (see
:mod:`dync.testing.region`): inside each parameter's constraint and prior
support, near its spec value or inside a given range. :func:`initial_states`
draws states from the model's initial law. Both shrink the way hypothesis
shrinks floats: towards simple values at the low end of each box, so a
failure is reported at the smallest values that still fail.

Example:
    >>> from hypothesis import given
    >>> model = dync.load("ou.dync")
    >>> @given(params(model, ranges={"theta": (0.5, 2.0)}))
    ... def test_positive_drift_at_zero(values):
    ...     m = dync.with_params(model, values)
    ...     assert float(m.drift(0.0, jnp.zeros(1))[0]) > 0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .region import ParamRegion, param_regions

__all__ = ["initial_states", "params", "spec_values"]


def spec_values(model: Any) -> dict[str, np.ndarray]:
    """The model's constrained parameter values, as numpy arrays."""
    return {k: np.asarray(v, dtype=float) for k, v in model.constrained_params().items()}


def _region_strategy(region: ParamRegion) -> st.SearchStrategy[np.ndarray]:
    floats = lambda lo, hi: st.floats(float(lo), float(hi), allow_nan=False, allow_infinity=False)  # noqa: E731
    if region.mode != "elementwise":
        return floats(region.low, region.high).map(region.value)
    if not region.shape:
        return floats(region.low, region.high).map(region.value)
    parts = [floats(lo, hi) for lo, hi in zip(region.low.ravel(), region.high.ravel())]
    return st.tuples(*parts).map(region.value)


def regions_strategy(regions: list[ParamRegion]) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Values for each region's parameter, drawn together."""
    return st.fixed_dictionaries({r.name: _region_strategy(r) for r in regions})


def params(
    model: Any,
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, object] | None = None,
) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Parameter values of ``model``: a dict name → value for every drawn
    parameter (``const``, ``~ init`` and ``fixed`` ones are left out, and so
    are those the compiler reads when the spec compiles, ``x[k]``, whose
    spec value the compiled model keeps).

    Values outside the prior's support (where the model's log prior is
    -inf) are filtered out.

    Args:
        model: a compiled model.
        ranges: name → ``(lo, hi)``, the box of that parameter.
        fixed: names not to draw.

    Raises:
        UsageError: a range names no drawable parameter or leaves its
            constraint.
    """
    regions = param_regions(model.info, spec_values(model), ranges, fixed)
    return regions_strategy(regions).filter(lambda values: in_prior_support(model, values))


def in_prior_support(model: Any, values: Mapping[str, np.ndarray]) -> bool:
    """Whether the model's log prior is finite at ``values``."""
    if not any(p.prior for p in model.info.params):
        return True
    from ..runtime.params import with_params

    return bool(np.isfinite(float(with_params(model, dict(values)).log_prior())))


def initial_states(model: Any, args: Any = None) -> st.SearchStrategy[np.ndarray]:
    """Flat initial states ``(n,)`` drawn from the model's initial law (a
    hypothesis-drawn seed feeds the model's own sampler)."""
    import jax

    def draw(seed: int) -> np.ndarray:
        return np.asarray(model.initial_state(jax.random.key(seed), args))

    return st.integers(0, 2**32 - 1).map(draw)
