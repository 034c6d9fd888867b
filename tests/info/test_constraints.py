"""The constraint bijections: each is a bijection between the real line and
its set (both round trips are the identity), lands strictly inside the set,
has the log-Jacobian of its forward map, and `from_tuple` knows exactly the
constraints the checker accepts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dync.info import ParamInfo
from dync.info.constraints import (
    CONSTRAINTS,
    AbstractConstraint,
    Interval,
    Lower,
    Negative,
    Positive,
    Real,
    Unit,
    Upper,
    from_tuple,
)
from dync.testing.strategies import param_values

# the x64 fixture is function-scoped, but it sets the same global for every example
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BOUND = st.floats(-5, 5, allow_nan=False).map(lambda b: round(b, 3))
WIDTH = st.sampled_from([1e-2, 0.25, 1.0, 2.0, 10.0])


@st.composite
def constraint_tuples(draw) -> tuple:
    """Every kind of constraint, with random bounds."""
    kind = draw(st.sampled_from(sorted(CONSTRAINTS)))
    if kind == "interval":
        lo = draw(BOUND)
        return ("interval", lo, lo + draw(WIDTH))
    if kind in ("lower", "upper"):
        return (kind, draw(BOUND))
    return (kind,)


def inside(margin: float = 1e-3, scale: float = 50.0):
    """``(constraint, values strictly inside it)``, drawn with the public
    `param_values` strategy."""
    return constraint_tuples().flatmap(
        lambda c: st.tuples(
            st.just(c),
            param_values([ParamInfo("x", (6,), from_tuple(c))], margin=margin, scale=scale).map(lambda v: v["x"]),
        )
    )


#: unconstrained values where the maps are well conditioned in float64
UNCONSTRAINED = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=6).map(np.array)


def contains_strictly(c: tuple, x: np.ndarray) -> np.ndarray:
    """Membership written out from the constraint's definition (LANGUAGE.md §6)."""
    kind = c[0]
    if kind == "real":
        return np.isfinite(x)
    if kind == "positive":
        return x > 0
    if kind == "negative":
        return x < 0
    if kind == "unit":
        return (x > 0) & (x < 1)
    if kind == "interval":
        return (x > c[1]) & (x < c[2])
    if kind == "lower":
        return x > c[1]
    return x < c[1]


# ------------------------------------------------------------ bijection laws


@PROPERTY
@given(inside())
def test_forward_of_inverse_is_the_identity_inside_the_set(x64, case):
    c, x = case
    b = from_tuple(c)
    u = b.inverse(jnp.asarray(x))
    assert u.dtype == jnp.float64
    assert np.all(np.isfinite(u)), (c, x, u)
    # cancellation in x - lo and hi - x costs a few ulps of the bounds' size
    scale = 1.0 + max(abs(float(v)) for v in (0.0, *c[1:]))
    np.testing.assert_allclose(b.forward(u), x, rtol=1e-12, atol=1e-13 * scale)


@PROPERTY
@given(constraint_tuples(), UNCONSTRAINED)
def test_inverse_of_forward_is_the_identity_on_unconstrained_values(x64, c, u):
    b = from_tuple(c)
    x = b.forward(jnp.asarray(u))
    # |u| <= 10: the logistic's tail is 4.5e-5 wide, so u comes back to ~1e-11 in float64
    np.testing.assert_allclose(b.inverse(x), u, rtol=1e-9, atol=1e-9)


@PROPERTY
@given(constraint_tuples(), UNCONSTRAINED)
def test_forward_lands_strictly_inside_the_set(x64, c, u):
    b = from_tuple(c)
    x = np.asarray(b.forward(jnp.asarray(u)))
    assert x.shape == u.shape
    assert np.all(contains_strictly(c, x)), (c, u, x)
    assert np.all(b.contains(x)), (c, u, x)


@settings(max_examples=25, deadline=None)
@given(constraint_tuples(), st.lists(st.floats(-8, 8, allow_nan=False), min_size=1, max_size=6).map(np.array))
def test_forward_lands_strictly_inside_the_set_in_float32(c, u):
    b = from_tuple(c)
    x = b.forward(jnp.asarray(u, dtype=jnp.float32))
    assert x.dtype == jnp.float32
    assert np.all(contains_strictly(c, np.asarray(x, dtype=np.float64))), (c, u, x)


@PROPERTY
@given(constraint_tuples(), UNCONSTRAINED)
def test_log_det_jacobian_is_the_log_derivative_of_forward(x64, c, u):
    b = from_tuple(c)
    derivative = jax.vmap(jax.grad(lambda v: b.forward(v)))(jnp.asarray(u))
    ldj = b.log_det_jacobian(jnp.asarray(u))
    assert ldj.shape == u.shape
    # both are exact formulas evaluated in float64
    np.testing.assert_allclose(ldj, np.log(np.abs(derivative)), rtol=1e-10, atol=1e-10)


@PROPERTY
@given(inside(margin=0.0, scale=5.0))
def test_values_outside_the_set_are_not_contained(x64, case):
    c, x = case
    b = from_tuple(c)
    # the bounds themselves and points beyond them are outside (strict inequality)
    for bound in c[1:]:
        assert not b.contains(bound)
    if c[0] == "interval":
        outside = np.concatenate([c[1] - np.abs(x) - 1e-3, c[2] + np.abs(x) + 1e-3])
    elif c[0] in ("positive", "lower", "unit"):
        lo = c[1] if c[0] == "lower" else 0.0
        outside = lo - np.abs(x) - 1e-3
    elif c[0] in ("negative", "upper"):
        hi = c[1] if c[0] == "upper" else 0.0
        outside = hi + np.abs(x) + 1e-3
    else:
        outside = np.array([np.nan, np.inf, -np.inf])
    assert not np.any(b.contains(outside)), (c, outside)


# ------------------------------------------------------------ from_tuple


@given(constraint_tuples())
@settings(max_examples=60, deadline=None)
def test_from_tuple_and_as_tuple_are_inverse(c):
    b = from_tuple(c)
    assert isinstance(b, AbstractConstraint)
    assert b.as_tuple() == tuple(c[:1]) + tuple(float(v) for v in c[1:])
    assert from_tuple(b.as_tuple()) == b


def test_from_tuple_builds_the_documented_classes():
    assert from_tuple(("real",)) == Real() == from_tuple(())
    assert from_tuple(("positive",)) == Positive()
    assert from_tuple(("negative",)) == Negative()
    assert from_tuple(("unit",)) == Unit()
    assert from_tuple(("interval", -1, 1)) == Interval(-1.0, 1.0)
    assert from_tuple(("lower", 2)) == Lower(2.0)
    assert from_tuple(("upper", -0.5)) == Upper(-0.5)
    assert from_tuple(("interval", -1, 1)).describe() == "interval(-1, 1)"


def test_the_runtime_knows_every_constraint_the_checker_accepts():
    for name, cls in CONSTRAINTS.items():
        bounds = tuple(float(i) for i in range(cls.num_bounds))
        assert from_tuple((name, *bounds)).as_tuple()[0] == name


@pytest.mark.parametrize(
    "bad",
    [
        ("bogus",),
        ("Positive",),
        ("interval",),
        ("interval", 0.0),
        ("interval", 0.0, 1.0, 2.0),
        ("lower",),
        ("lower", 0.0, 1.0),
        ("upper",),
        ("positive", 1.0),
        ("unit", 0.0, 1.0),
        ("real", 0.0),
        ("interval", 1.0, 1.0),
        ("interval", 2.0, -1.0),
    ],
    ids=repr,
)
def test_from_tuple_rejects_unknown_names_and_wrong_bounds(bad):
    with pytest.raises(ValueError):
        from_tuple(bad)
