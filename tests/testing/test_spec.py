"""dync.testing.spec: `dync test` refuses a `--set` value that a law of the
spec does not allow before it builds or runs the model (a negative scale
ran and was reported as a `finite` failure of the model)."""

from __future__ import annotations

import pytest

from dync.compiler.driver import read_spec
from dync.errors import UsageError
from dync.settings.test import test_settings as settings_for
from dync.testing.spec import test_spec as run_tests

SPEC = "model m\nparam s = 0.5\nstate x = 0\ndx = -x dt + dW\nobserve y ~ Normal(x, s)\nexpect mean(x) = 0\n"


def test_a_set_value_the_observation_law_does_not_allow_is_a_usage_error():
    spec = read_spec("m.dync", SPEC)
    settings = settings_for(spec, sets=["s=-1"], examples=1, paths=10)
    with pytest.raises(UsageError, match=r"`--set s=-1`: the `scale` of `Normal` must be positive.*m\.dync:5:"):
        run_tests(spec, settings, path="m.dync")
