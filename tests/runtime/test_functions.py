"""The runtime function library: it has exactly the functions the checker
knows, with the parameter names generated code passes, and the behaviours
the library's docstrings promise (exact integer powers, a norm that
differentiates at 0, one-sided clip, NumPy's roll, concat of scalars)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dync.compiler import codegen
from dync.compiler.library import FUNCTIONS
from dync.runtime import functions as F

#: library names the compiler lowers itself instead of calling `F.<name>`
LOWERED = {"grad", "zeros", "ones", "eye"}
#: runtime functions behind an operator rather than a named call (`x ^ p`)
OPERATORS = {"power"}
GOLDEN_CODE = Path(__file__).resolve().parents[1] / "golden" / "codegen"
_CALL = re.compile(r"\bF\.([A-Za-z_]\w*)\(")


def codegen_calls() -> set[str]:
    """The `F.<name>` the code generator writes by itself (operators, joins)."""
    return set(_CALL.findall(inspect.getsource(codegen)))

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: small vectors of moderate values (few distinct shapes: each new one compiles)
VECTORS = st.integers(1, 4).flatmap(
    lambda n: hnp.arrays(np.float32, (n,), elements=st.floats(-10, 10, width=32, allow_nan=False))
)


# ------------------------------------------------------------ the two tables agree


def test_every_checker_function_is_in_the_runtime_and_vice_versa():
    named = set(FUNCTIONS) - LOWERED
    runtime = set(F.NAMES)
    assert named - runtime == set(), "the checker accepts functions the runtime lacks"
    # anything else is what generated code calls by itself, such as `x ^ p`
    assert OPERATORS <= runtime
    extra = runtime - named
    assert extra <= codegen_calls(), f"the runtime has functions nothing calls: {extra - codegen_calls()}"
    for name in F.NAMES:
        assert callable(getattr(F, name)), name


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - LOWERED))
def test_runtime_parameters_are_the_names_generated_code_passes(name):
    sig = FUNCTIONS[name]
    params = inspect.signature(getattr(F, name)).parameters.values()
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    keyword_only = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    if sig.variadic:
        assert any(p.kind is p.VAR_POSITIONAL for p in params), name
        assert keyword_only == list(sig.params), name
        return
    assert positional == list(sig.params), name
    required = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    assert len(required) == sig.required, name


def test_generated_code_calls_only_runtime_functions():
    called = set(codegen_calls())
    for path in GOLDEN_CODE.glob("*.py"):
        called |= set(_CALL.findall(path.read_text(encoding="utf-8")))
    assert called, "no generated code found"
    missing = {n for n in called if not callable(getattr(F, n, None)) or n.startswith("_")}
    assert not missing, missing


# ------------------------------------------------------------ behaviours


@PROPERTY
@given(VECTORS, st.integers(0, 4))
def test_an_integer_power_is_repeated_multiplication(x, p):
    got = np.asarray(F.power(jnp.asarray(x), p))
    want = np.ones_like(x)
    for _ in range(p):
        want = want * x
    # integer_pow multiplies by squaring: a few ulps from left-to-right products;
    # XLA on CPU flushes subnormal results to zero, hence atol = float32's tiny
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=float(np.finfo(np.float32).tiny))


def test_power_two_is_x_times_x_with_a_finite_gradient_at_zero():
    x = jnp.asarray([-1.5, 0.0, 2.0])
    np.testing.assert_array_equal(F.power(x, 2), x * x)
    assert float(jax.grad(lambda v: F.power(v, 2))(0.0)) == 0.0
    assert float(jax.grad(lambda v: F.power(v, 3))(0.0)) == 0.0
    assert float(F.power(-2.0, 3)) == -8.0  # negative bases are fine for integer exponents
    assert float(F.power(2, 2)) == 4.0  # an integer base still gives a float
    np.testing.assert_allclose(F.power(4.0, 0.5), 2.0, rtol=1e-6)


@PROPERTY
@given(VECTORS)
def test_norm_is_the_euclidean_norm(x):
    # float32 sum of squares: a relative error of a few ulps
    np.testing.assert_allclose(F.norm(jnp.asarray(x)), np.linalg.norm(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_norm_gradient_at_zero_is_zero_not_nan():
    g = jax.grad(F.norm)(jnp.zeros(3))
    np.testing.assert_array_equal(g, np.zeros(3))
    g = jax.grad(lambda v: F.norm(v) ** 2)(jnp.zeros(2))
    np.testing.assert_array_equal(g, np.zeros(2))
    np.testing.assert_allclose(jax.grad(F.norm)(jnp.asarray([3.0, 4.0])), [0.6, 0.8], rtol=1e-6)
    m = jnp.asarray([[3.0, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(F.norm(m, axis=0), [5.0, 0.0], rtol=1e-6)


@PROPERTY
@given(VECTORS)
def test_clip_with_one_bound_clips_only_that_side(x):
    x = jnp.asarray(x)
    np.testing.assert_array_equal(F.clip(x, lo=0.0), jnp.maximum(x, 0.0))
    np.testing.assert_array_equal(F.clip(x, hi=1.0), jnp.minimum(x, 1.0))
    np.testing.assert_array_equal(F.clip(x), x)
    np.testing.assert_array_equal(F.clip(x, -1.0, 1.0), jnp.clip(x, -1.0, 1.0))


@PROPERTY
@given(VECTORS, st.integers(-5, 5))
@example(np.array([1e-45, -1e-45], dtype=np.float32), 1)  # subnormals move unchanged (no arithmetic)
def test_roll_shifts_cyclically_like_numpy(x, shift):
    got = np.asarray(F.roll(jnp.asarray(x), shift))
    n = x.shape[0]
    for i in range(n):
        assert got[i] == x[(i - shift) % n]
    rolled_once = np.asarray(F.roll(jnp.asarray(x), 1))
    assert all(rolled_once[i] == x[i - 1] for i in range(n))  # roll(x, 1)[i] == x[i - 1]


def test_roll_along_an_axis():
    m = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(F.roll(m, 1, axis=1), np.roll(np.arange(6.0).reshape(2, 3), 1, axis=1))
    np.testing.assert_array_equal(F.roll(m, shift=1, axis=0), m[::-1])


def test_concat_treats_scalars_as_length_one_vectors():
    np.testing.assert_array_equal(F.concat(1.0, 2.0), [1.0, 2.0])
    np.testing.assert_array_equal(F.concat(jnp.asarray(0.5), jnp.asarray([1.0, 2.0]), 3.0), [0.5, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(F.concat(jnp.ones((1, 2)), jnp.zeros((1, 2)), axis=1), [[1.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(F.stack(1.0, 2.0), [1.0, 2.0])
    np.testing.assert_array_equal(F.stack(jnp.ones(2), jnp.zeros(2), axis=1), [[1.0, 0.0], [1.0, 0.0]])


def test_reductions_take_an_axis():
    m = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(F.sum(m), 10.0)
    np.testing.assert_array_equal(F.sum(m, axis=0), [4.0, 6.0])
    np.testing.assert_array_equal(F.max(m, axis=1), [2.0, 4.0])
    np.testing.assert_allclose(F.logsumexp(jnp.zeros(4)), np.log(4.0), rtol=1e-6)
    np.testing.assert_allclose(F.logsumexp(jnp.asarray([1000.0, 1000.0])), 1000.0 + np.log(2.0), rtol=1e-6)


def test_overflow_safe_forms_stay_finite():
    big = jnp.asarray([-1000.0, 1000.0])
    np.testing.assert_allclose(F.softplus(big), [0.0, 1000.0], atol=1e-6)
    np.testing.assert_allclose(F.sigmoid(big), [0.0, 1.0], atol=1e-6)
