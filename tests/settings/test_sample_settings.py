"""`dync sample` settings (dync.settings.sample): a flag the run would
ignore is refused, as `dync fit` refuses one."""

from __future__ import annotations

import pytest

from dync.dsl.parser import parse_spec
from dync.errors import UsageError
from dync.settings import sample_settings

SPEC = parse_spec("model g\nstate x = 0\ntarget -x^2 / 2\n")


@pytest.mark.parametrize(
    "flags, message",
    [
        (dict(method="nuts", friction=2.0), "--friction is a setting of --method baoab; --method nuts does not use it"),
        (dict(method="ula", step=0.1, target_accept=0.9), "--target-accept is a setting of --method nuts / hmc / mala"),
        (dict(method="nuts", integration_steps=8), "--integration-steps is a setting of --method hmc"),
        (dict(reverse="sde", weights="w.eqx", method="mala"), "--method is an MCMC setting"),
        (dict(reverse="sde", weights="w.eqx", chains=3), "--chains is an MCMC setting"),
        (dict(method="nuts", steps=30), "--steps is a setting of --reverse"),
    ],
)
def test_a_flag_the_run_would_ignore_is_refused(flags, message):
    with pytest.raises(UsageError, match=message.replace("-", r"\-").replace("/", r"\/")):
        sample_settings(SPEC, **flags)


def test_the_flags_a_method_reads_are_accepted():
    s = sample_settings(SPEC, method="baoab", step=0.1, friction=2.0, mass=0.5)
    assert (s.friction, s.mass) == (2.0, 0.5)
    assert sample_settings(SPEC, method="hmc", integration_steps=8, target_accept=0.9).integration_steps == 8
    assert sample_settings(SPEC, reverse="sde", weights="w.eqx", steps=30, samples=10).steps == 30


def test_weights_without_reverse_name_the_missing_reverse_first():
    """`dync sample SPEC --weights w.eqx --steps 30` (no --reverse) said
    "--steps is a setting of --reverse", not that --reverse is missing."""
    with pytest.raises(UsageError) as err:
        sample_settings(SPEC, weights="w.eqx", steps=30)
    assert err.value.message == "--weights is for generating from a trained score" and "add --reverse" in err.value.hint
    with pytest.raises(UsageError) as err:
        sample_settings(SPEC, method="nuts", steps=30)
    assert err.value.hint == "drop --steps, or add --reverse sde|heun|ode|pc"
