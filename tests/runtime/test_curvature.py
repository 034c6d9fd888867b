"""The response-surface curvature of a noisy log-likelihood
(`dync.runtime.curvature`): on a quadratic log-likelihood buried in a
piecewise-constant noise (what a fixed-key particle filter looks like) it
recovers the Laplace standard errors that the noise-free quadratic has, and a
flat direction leaves only its own parameter without a standard error."""

from __future__ import annotations

import numpy as np
import pytest

from dync.runtime.curvature import partial_covariance, standard_errors, surface_design, surface_hessian

#: the true covariance: standard errors 0.1 and 0.3, correlation 0.5
COVARIANCE = np.array([[0.01, 0.015], [0.015, 0.09]])
CENTER = np.array([0.2, -1.0])


def piecewise_noisy(precision: np.ndarray, noise: float, cell: float = 0.02):
    """``evaluate`` for a log-likelihood $-\\frac12 u^T P u$ plus, per key, a
    normal noise of sd ``noise`` that is constant on cells of width ``cell``
    and jumps between them (a fixed-key particle filter's estimate: the same
    key at every point, piecewise in the parameters)."""

    def evaluate(point, first, count):
        u = np.asarray(point) - CENTER
        cells = [int(c) + 10**6 for c in np.floor(np.asarray(point) / cell)]
        jumps = [np.random.default_rng([k, *cells]).normal() for k in range(first, first + count)]
        return -0.5 * u @ precision @ u + noise * np.asarray(jumps)

    return evaluate


def test_the_design_identifies_a_full_quadratic():
    z = surface_design(3)
    assert z.shape == (19, 3)  # 1 + 2 d^2
    assert len({tuple(r) for r in z}) == 19


def test_the_fitted_curvature_recovers_the_laplace_standard_errors_under_jumpy_noise():
    precision = np.linalg.inv(COVARIANCE)
    # a first guess nine times too sharp, as the fixed-key autodiff Hessian was
    surface = surface_hessian(piecewise_noisy(precision, noise=1.0), CENTER, -9 * precision)
    se = standard_errors(surface.hessian)
    # noise sd 1 nat against a 2-nat fall at the axial points: the jackknife
    # puts the Monte Carlo error near 5 %; 15 % is three of those
    np.testing.assert_allclose(se, np.sqrt(np.diag(COVARIANCE)), rtol=0.15)
    assert surface.points == 9 and surface.keys >= 8
    # the steps settle near two standard errors (a 2-nat fall)
    np.testing.assert_allclose(surface.steps, 2 * np.sqrt(np.diag(COVARIANCE)), rtol=0.5)
    # same keys, same numbers
    again = surface_hessian(piecewise_noisy(precision, noise=1.0), CENTER, -9 * precision)
    np.testing.assert_array_equal(again.hessian, surface.hessian)


def test_a_flat_parameter_has_no_standard_error_and_the_others_keep_theirs():
    # the log-likelihood does not depend on the second coordinate at all
    precision = np.array([[100.0, 0.0], [0.0, 0.0]])
    surface = surface_hessian(piecewise_noisy(precision, noise=0.5), CENTER, None)
    covariance, affected = partial_covariance(surface.hessian, surface.per_key)
    # its fitted curvature is within two Monte Carlo errors of 0: no standard error
    assert affected.tolist() == [False, True]
    assert np.isnan(covariance[1, 1]) and np.isnan(covariance[0, 1])
    assert np.sqrt(covariance[0, 0]) == pytest.approx(0.1, rel=0.15)
    # without the per-key spread the same noisy curvature passes for a (huge) finite one
    assert not partial_covariance(surface.hessian)[1][1]


def test_partial_covariance_names_the_coordinates_along_a_non_negative_curvature():
    hessian = -np.diag([4.0, 1.0, 0.0])
    hessian[2, 2] = 0.5  # curving up: no maximum along the third coordinate
    covariance, affected = partial_covariance(hessian)
    assert affected.tolist() == [False, False, True]
    np.testing.assert_allclose(np.diag(covariance)[:2], [0.25, 1.0])
    assert np.all(np.isnan(covariance[2])) and np.all(np.isnan(covariance[:, 2]))
    full, none = partial_covariance(-np.diag([4.0, 1.0]))
    assert not none.any()
    np.testing.assert_allclose(full, np.diag([0.25, 1.0]))


def test_the_progress_total_grows_with_the_rounds_and_ends_full():
    """The bar's total is revised as pilot rounds and blocks of keys are added,
    so that it ends at exactly the points evaluated (not at a fraction of an
    upper bound)."""
    calls = []

    def advance(n=1, status=None, total=None):
        calls.append((n, total))

    precision = np.linalg.inv(COVARIANCE)
    surface = surface_hessian(piecewise_noisy(precision, noise=1.0), CENTER, -9 * precision, advance=advance)
    done = sum(n for n, _ in calls)
    last_total = [t for _, t in calls if t is not None][-1]
    assert done == last_total == surface.evaluations // 8
