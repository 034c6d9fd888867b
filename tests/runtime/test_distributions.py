"""Tests for dync.runtime.distributions against scipy.stats."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from dync.runtime import distributions as D


@pytest.fixture
def x64():
    """Enable float64 for one test and restore the previous setting."""
    with jax.enable_x64(True):
        yield


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    make: Callable[..., D.AbstractDistribution]  # params -> our distribution
    params: tuple[float, ...]
    scipy: Callable[..., object]  # params -> frozen scipy distribution
    points: tuple[float, ...]  # inside the support
    outside: tuple[float, ...] = ()  # outside the support
    grad_params: tuple[int, ...] = ()  # indices of continuous parameters


CASES = [
    Case("Normal", D.Normal, (0.3, 1.7), lambda m, s: stats.norm(m, s), (-2.0, 0.0, 0.3, 4.0), (), (0, 1)),
    Case("HalfNormal", D.HalfNormal, (1.5,), lambda s: stats.halfnorm(scale=s), (0.0, 0.2, 1.0, 5.0), (-0.5,), (0,)),
    Case(
        "LogNormal",
        D.LogNormal,
        (0.2, 0.7),
        lambda m, s: stats.lognorm(s=s, scale=math.exp(m)),
        (0.1, 1.0, 3.0),
        (0.0, -1.0),
        (0, 1),
    ),
    Case("Uniform", D.Uniform, (-1.0, 2.0), lambda a, b: stats.uniform(a, b - a), (-0.7, 0.5, 1.9), (-1.5, 2.5), (0, 1)),
    Case("Exponential", D.Exponential, (2.5,), lambda r: stats.expon(scale=1 / r), (0.0, 0.3, 4.0), (-0.1,), (0,)),
    Case("Gamma", D.Gamma, (2.5, 1.5), lambda a, r: stats.gamma(a, scale=1 / r), (0.1, 1.0, 5.0), (-1.0,), (0, 1)),
    Case("Beta", D.Beta, (2.0, 3.5), lambda a, b: stats.beta(a, b), (0.01, 0.3, 0.99), (-0.1, 1.1), (0, 1)),
    Case(
        "StudentT",
        D.StudentT,
        (3.5, 0.5, 2.0),
        lambda df, m, s: stats.t(df, m, s),
        (-10.0, 0.5, 3.0),
        (),
        (0, 1, 2),
    ),
    Case("Cauchy", D.Cauchy, (0.5, 2.0), lambda m, s: stats.cauchy(m, s), (-30.0, 0.5, 3.0), (), (0, 1)),
    Case("Laplace", D.Laplace, (0.5, 2.0), lambda m, s: stats.laplace(m, s), (-3.0, 0.4, 3.0), (), (0, 1)),
    Case("Poisson", D.Poisson, (3.5,), lambda r: stats.poisson(r), (0.0, 1.0, 3.0, 10.0), (-1.0, 1.5), (0,)),
    Case("Bernoulli-p", lambda p: D.Bernoulli(p=p), (0.3,), lambda p: stats.bernoulli(p), (0.0, 1.0), (0.5, 2.0), (0,)),
    Case(
        "Bernoulli-logits",
        lambda z: D.Bernoulli(logits=z),
        (-0.8,),
        lambda z: stats.bernoulli(special.expit(z)),
        (0.0, 1.0),
        (-1.0,),
        (0,),
    ),
    Case("Binomial", D.Binomial, (12.0, 0.3), lambda n, p: stats.binom(n, p), (0.0, 3.0, 12.0), (14.0, 2.5, -1.0), (1,)),
    Case(
        "NegativeBinomial",
        D.NegativeBinomial,
        (4.0, 2.5),
        lambda m, c: stats.nbinom(n=c, p=c / (c + m)),
        (0.0, 2.0, 4.0, 20.0),
        (-2.0, 0.5),
        (0, 1),
    ),
]
IDS = [c.id for c in CASES]


def _scipy_log_prob(case: Case, params, x):
    dist = case.scipy(*params)
    return dist.logpmf(x) if hasattr(dist, "logpmf") else dist.logpdf(x)


def _broadcast_first(case: Case):
    """Parameters with the first one varying along a leading axis of size 2."""
    first = jnp.array([[case.params[0]], [case.params[0] + (1.0 if case.id == "Binomial" else 0.25)]])
    return (first,) + tuple(jnp.float64(p) for p in case.params[1:])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_log_prob_matches_scipy(x64, case):
    # One jitted call per case: parameters (2, 1) against values (m,), inside
    # and outside the support; elementwise, unsummed, -inf outside.
    params = _broadcast_first(case)
    x = jnp.asarray(case.points + case.outside)
    m = len(case.points)

    @jax.jit
    def evaluate(params, x):
        dist = case.make(*params)
        return dist.log_prob(x), dist.support_contains(x)

    log_prob, inside = evaluate(params, x)
    assert log_prob.shape == inside.shape == (2, x.shape[0])
    for row in range(2):
        row_params = (float(params[0][row, 0]),) + case.params[1:]
        expected = _scipy_log_prob(case, row_params, np.asarray(case.points))
        np.testing.assert_allclose(log_prob[row, :m], expected, rtol=1e-5, atol=1e-12)
    assert bool(jnp.all(jnp.isneginf(log_prob[:, m:])))
    assert bool(jnp.all(inside[:, :m])) and not bool(jnp.any(inside[:, m:]))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_log_prob_gradient_matches_scipy_finite_differences(x64, case):
    x = jnp.asarray(case.points)

    def total(*params):
        return jnp.sum(case.make(*params).log_prob(x))

    grads = jax.jit(jax.grad(total, argnums=case.grad_params))(*(jnp.float64(p) for p in case.params))
    eps = 1e-6
    for i, grad in zip(case.grad_params, grads):
        hi, lo = list(case.params), list(case.params)
        hi[i] += eps
        lo[i] -= eps
        fd = (np.sum(_scipy_log_prob(case, hi, x)) - np.sum(_scipy_log_prob(case, lo, x))) / (2 * eps)
        assert float(grad) == pytest.approx(fd, rel=1e-5, abs=1e-7), (case.id, i)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_samples_match_scipy(case):
    # One draw per case (samplers are slow to compile): exact shape and dtype,
    # inside the support, the right mean (5 standard errors), and for
    # continuous distributions a Kolmogorov-Smirnov test.
    dist = case.make(*case.params)
    n = 2000
    draws = jax.jit(lambda key: dist.sample(key, (n,)))(jax.random.key(1))
    assert draws.shape == (n,)
    assert draws.dtype == jnp.float32
    assert bool(jnp.all(dist.support_contains(draws)))
    ref = case.scipy(*case.params)
    values = np.asarray(draws, np.float64)
    if dist.discrete:
        assert np.all(values == np.round(values))
    else:
        assert stats.kstest(values, ref.cdf).pvalue > 1e-3
    if case.id == "Cauchy":
        # no mean: compare the median, whose standard error is pi * scale / (2 sqrt(n))
        se = math.pi * case.params[1] / (2 * math.sqrt(n))
        assert abs(np.median(values) - ref.median()) < 5 * se
        assert bool(jnp.isnan(dist.mean()))
        return
    np.testing.assert_allclose(dist.mean(), ref.mean(), rtol=1e-6)
    assert abs(values.mean() - ref.mean()) < 5 * math.sqrt(ref.var() / n)
    if case.id == "NegativeBinomial":
        # overdispersion: variance = mean + mean^2 / concentration
        mean, concentration = case.params
        assert abs(values.var() / (mean + mean**2 / concentration) - 1) < 0.15


def test_sample_shape_broadcasting():
    dist = D.Normal(jnp.zeros(3), 1.0)
    key = jax.random.key(0)
    assert dist.batch_shape == (3,)
    assert dist.sample(key).shape == (3,)
    assert dist.sample(key, (5, 3)).shape == (5, 3)
    assert D.Poisson(2.0).sample(key, (2, 2)).shape == (2, 2)
    assert D.Bernoulli(logits=jnp.zeros((4, 1))).sample(key, (4, 6)).shape == (4, 6)
    with pytest.raises(ValueError):
        dist.sample(key, (4,))


def test_float32_is_never_promoted(x64):
    f32 = jnp.float32
    cases = [
        D.Normal(f32(0), f32(1)),
        D.Gamma(f32(2), f32(1)),
        D.Poisson(f32(2)),
        D.Binomial(jnp.int32(5), f32(0.4)),
        D.NegativeBinomial(f32(3), f32(2)),
        D.Bernoulli(logits=f32(0.1)),
        D.StudentT(f32(3), f32(0), f32(1)),
    ]
    for dist in cases:
        assert dist.log_prob(jnp.ones(3, f32)).dtype == f32, dist
        assert dist.mean().dtype == f32, dist
    key = jax.random.key(0)
    for dist in (D.Normal(f32(0), f32(1)), D.Bernoulli(logits=f32(0.1))):
        assert dist.sample(key, (3,)).dtype == f32, dist
    # Python numbers adapt to float32 data
    assert D.Normal(0.0, 1.0).log_prob(jnp.ones(2, f32)).dtype == f32
    # integer observations of a discrete distribution
    assert D.Poisson(f32(2)).log_prob(jnp.array([0, 1, 2])).dtype == f32


def test_works_under_strict_promotion_and_rank_rules():
    x = jnp.ones((4, 3), jnp.float32)
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        for dist in (D.Normal(jnp.zeros(3), 1.0), D.NegativeBinomial(jnp.ones(3), 2.0), D.Uniform(0.0, jnp.full(3, 2.0))):
            assert dist.log_prob(x).shape == (4, 3)
        assert D.Normal(jnp.zeros(3), 1.0).sample(jax.random.key(0), (4, 3)).shape == (4, 3)


def test_jit_vmap_and_reparameterised_sampling():
    key = jax.random.key(0)

    @jax.jit
    def loss(loc, scale):
        return jnp.sum(D.Normal(loc, scale).log_prob(jnp.array([0.0, 1.0])))

    g = jax.grad(loss, argnums=(0, 1))(0.5, 2.0)
    assert all(bool(jnp.isfinite(v)) for v in g)
    # d/dloc E[x] = 1 for a reparameterised sampler
    dmean = jax.grad(lambda m: jnp.mean(D.Normal(m, 1.0).sample(key, (64,))))(0.3)
    assert float(dmean) == pytest.approx(1.0)
    batched = jax.vmap(lambda r: D.Poisson(r).log_prob(2.0))(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(batched, stats.poisson([1.0, 2.0]).logpmf(2), rtol=1e-5)


def test_gradients_are_zero_not_nan_outside_support():
    def masked_sum(scale):
        lp = D.HalfNormal(scale).log_prob(jnp.array([-1.0, 1.0]))
        return jnp.sum(jnp.where(jnp.isfinite(lp), lp, 0.0))

    assert bool(jnp.isfinite(jax.grad(masked_sum)(1.5)))
    g = jax.grad(lambda r: D.Poisson(r).log_prob(jnp.array([0.0, 2.0])).sum())(1.5)
    assert bool(jnp.isfinite(g))


def test_bernoulli_needs_exactly_one_parameter():
    with pytest.raises(ValueError):
        D.Bernoulli()
    with pytest.raises(ValueError):
        D.Bernoulli(p=0.5, logits=0.0)
    assert float(D.Bernoulli(0.25).mean()) == 0.25  # positional p


def test_registry_and_class_attributes():
    names = {
        "Normal",
        "HalfNormal",
        "LogNormal",
        "Uniform",
        "Exponential",
        "Gamma",
        "Beta",
        "StudentT",
        "Cauchy",
        "Laplace",
        "Poisson",
        "Bernoulli",
        "Binomial",
        "NegativeBinomial",
    }
    assert set(D.REGISTRY) == names
    discrete = {"Poisson", "Bernoulli", "Binomial", "NegativeBinomial"}
    for name, cls in D.REGISTRY.items():
        assert cls.__name__ == name
        assert cls.discrete is (name in discrete)
        assert isinstance(cls.support, tuple) and cls.support
    assert D.Gamma.support == ("nonnegative",)  # x >= 0
    assert D.LogNormal.support == ("positive",)  # x > 0
    assert D.Beta.support == ("unit",)
    assert D.Poisson.support == ("nonnegative_integer",)


def test_keyword_construction_uses_spec_names():
    assert float(D.Normal(loc=1.0, scale=2.0).mean()) == 1.0
    assert float(D.Gamma(shape=3.0, rate=1.5).mean()) == 2.0
    assert float(D.StudentT(df=5.0, loc=1.0, scale=2.0).mean()) == 1.0
    assert float(D.Binomial(n=4, p=0.5).mean()) == 2.0
    assert float(D.Uniform(low=1.0, high=3.0).mean()) == 2.0
    assert float(D.Beta(a=1.0, b=3.0).mean()) == 0.25


def test_missing_values_contribute_nothing_with_finite_gradients():
    """`observed_log_prob` is `log_prob` where observed and 0 at NaN, and the
    gradient with respect to the parameters stays finite (the missing entry
    is evaluated at a point of the support and its term dropped)."""
    for case in CASES:
        x = jnp.asarray([case.points[0], jnp.nan])

        def total(p0, case=case):
            return jnp.sum(case.make(p0, *case.params[1:]).observed_log_prob(x))

        dist = case.make(*case.params)
        assert bool(dist.support_contains(jnp.asarray(dist.support_point()))), case.id
        np.testing.assert_allclose(total(case.params[0]), dist.log_prob(x[0]), rtol=1e-6, err_msg=case.id)
        if case.grad_params[:1] == (0,):
            assert bool(jnp.isfinite(jax.grad(total)(float(case.params[0])))), case.id
