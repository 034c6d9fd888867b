"""The statistics under expect mean / var / stationary, checked on draws
with known laws (seeded numpy, so the outcomes are fixed)."""

import numpy as np
import pytest
from scipy import stats

from dync.testing import assert_moments
from dync.testing import statistics as st


def test_critical_z_is_bonferroni():
    assert st.critical_z(0.05, 1) == pytest.approx(1.959964, rel=1e-6)
    assert st.critical_z(1e-3, 100) == pytest.approx(stats.norm.isf(1e-5 / 2))


def test_z_scores_are_standard_normal_under_a_correct_model():
    # 400 independent ensembles of 500 normal draws: the z of the mean and of
    # the variance should be |N(0,1)|: mean of |z| = sqrt(2/pi) = 0.798,
    # checked to 0.06 (about 4 standard errors of that mean)
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(500, 400, 1))
    exact_mean, exact_var = np.full((400, 1), 1.0), np.full((400, 1), 4.0)
    for kind, exact in (("mean", exact_mean), ("var", exact_var)):
        z = st.compare_moment(kind, x, exact, rounding=0.0).z
        assert abs(z.mean() - np.sqrt(2 / np.pi)) < 0.06, kind


def test_the_bias_bound_widens_the_test_and_a_wrong_moment_fails():
    rng = np.random.default_rng(1)
    fine = rng.normal(0.1, 1.0, size=(2000, 1, 1))  # biased by 0.1 = 4.5 standard errors
    coarse = fine + 0.1  # the coarse run is biased twice as much: bias bound 0.1
    exact = np.zeros((1, 1))
    assert st.compare_moment("mean", fine, exact, rounding=0.0).z[0, 0] > 3.5
    bounded = st.compare_moment("mean", fine, exact, coarse, rounding=0.0)
    # |difference| plus its paired standard error (0 here: the paths differ by a constant)
    assert bounded.bias[0, 0] == pytest.approx(0.1, rel=1e-4)
    noisy = coarse + rng.normal(0.0, 0.5, size=coarse.shape)  # a difference with spread 0.5 per path
    expected = abs(fine.mean() - noisy.mean()) + (fine - noisy).std(ddof=1) / np.sqrt(2000)
    assert st.compare_moment("mean", fine, exact, noisy, rounding=0.0).bias[0, 0] == pytest.approx(expected, rel=1e-4)
    assert bounded.z[0, 0] < 1.5


def test_a_deterministic_moment_is_compared_up_to_rounding():
    x = np.full((10, 1, 1), 2.0)
    assert st.compare_moment("mean", x, np.full((1, 1), 2.0 + 1e-7)).z[0, 0] < 1
    assert st.compare_moment("mean", x, np.full((1, 1), 2.1)).z[0, 0] > 100


def test_ks_detects_a_wrong_scale_and_passes_the_right_one():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(20000, 2))
    samples = np.stack([rng.normal(size=1000), rng.normal(scale=1.4, size=1000)], axis=1)
    p = st.ks_pvalues(samples, ref)
    assert p[0] > 1e-3 and p[1] < 1e-6


def test_assert_moments():
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 2.0, size=(4000, 3))
    out = assert_moments(x, mean=1.0, var=4.0)
    assert out["threshold"] == pytest.approx(st.critical_z(1e-3, 6))
    with pytest.raises(AssertionError, match=r"mean\[0\]: .* expected 1.3"):
        assert_moments(x, mean=[1.3, 1.0, 1.0])
