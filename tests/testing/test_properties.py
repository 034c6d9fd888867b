"""The once-per-run built-in checks of dync test, on shipped specs."""

import jax
import pytest

import dync
from dync.dsl.loading import load_spec
from dync.settings.test import TestSettings
from dync.testing import properties as props
from dync.testing.statistics import critical_z

from ..conftest import SPECS

SETTINGS = TestSettings(paths=2000, t1=1.0, dt=0.01)


def test_gradients_are_finite_through_fractional_noise():
    model = dync.load(SPECS / "fractional_ou.dync", jax.random.key(0))
    outcome, failure = props.check_gradients(model, SETTINGS)
    assert failure is None and outcome.detail == "finite in 2 parameters"


def test_forms_and_reproducibility_hold_for_a_shipped_spec():
    model = dync.load(SPECS / "ou_tested.dync", jax.random.key(0))
    spec = load_spec(SPECS / "ou_tested.dync")
    for outcome, failure in (props.check_forms(model, spec, SETTINGS), props.check_reproducible(model, SETTINGS)):
        assert failure is None, outcome


def test_ito_conversion_matches_the_stratonovich_solver():
    # a z-test at the two-sided 1e-3 level over 2 comparisons (mean, variance)
    model = dync.load(SPECS / "gbm_stratonovich.dync", jax.random.key(0))
    outcome, failure = props.check_stratonovich(model, SETTINGS, critical_z(1e-3, 2))
    assert failure is None, outcome


def test_forms_catch_a_spec_whose_yaml_form_differs(monkeypatch):
    # a formatter that drops a drift term must be caught
    from dync.dsl import format as fmt

    model = dync.load(SPECS / "ou.dync", jax.random.key(0))
    spec = load_spec(SPECS / "ou.dync")
    real = fmt.format_yaml
    monkeypatch.setattr(fmt, "format_yaml", lambda s: real(s).replace("theta * (mu - x) dt", "theta * (mu - 0.9 * x) dt"))
    outcome, failure = props.check_forms(model, spec, SETTINGS)
    assert failure is not None and "YAML form" in failure.message and "drift values" in failure.message


@pytest.mark.slow
def test_euler_weak_order_on_ou():
    model = dync.load(SPECS / "ou_tested.dync", jax.random.key(0))
    outcome, failure = props.check_convergence(model, TestSettings(paths=4000, t1=1.0, dt=0.05))
    assert failure is None, outcome
