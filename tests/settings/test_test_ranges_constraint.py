"""A `test:` section's range that leaves its parameter's constraint is a
located spec error (was: an unlocated E400 at run time, "outside its
constraint positive (positive (> 0))")."""

import pytest

from dync.dsl.loading import load_spec
from dync.errors import SpecErrors
from dync.settings.test import test_settings as settings_of

_SPEC = (
    "model: m\nparams:\n  theta: {value: 1, constraint: positive}\n  rho: {value: 0.5, constraint: 'interval(-1, 1)'}\n"
    "  c: {value: 2, constraint: lower(a)}\n  a: 1\nstates: {x: 0}\nequations: [dx = -theta * x dt + rho * c dW]\n"
)


def _spec(tmp_path, ranges: str):
    path = tmp_path / "m.yaml"
    path.write_text(_SPEC + f"test: {{ranges: {ranges}}}\n")
    return load_spec(path)


@pytest.mark.parametrize(
    "ranges, message",
    [
        ("{theta: [-1, 1]}", "test.ranges: the range of `theta` is [-1, 1], outside its constraint `positive`"),
        ("{rho: [-2, 0.5]}", "test.ranges: the range of `rho` is [-2, 0.5], outside its constraint `interval(-1, 1)`"),
    ],
)
def test_a_range_outside_a_written_constraint_is_located(tmp_path, ranges, message):
    with pytest.raises(SpecErrors) as info:
        settings_of(_spec(tmp_path, ranges))
    (error,) = info.value.errors
    assert (error.code, error.message, error.span.line) == ("E261", message, 9)


def test_ranges_inside_the_constraints_and_bounds_from_expressions_pass(tmp_path):
    settings = settings_of(_spec(tmp_path, "{theta: [0.5, 2], rho: [-0.9, 0.9], c: [0, 5]}"))
    assert settings.ranges["rho"] == (-0.9, 0.9)
