"""`simulate` refuses, with a usage error that says what to run instead, the
models it cannot simulate: a `target` without equations for every state,
and a state whose initial law is a data set (`~ data`)."""

from __future__ import annotations

import pytest

import dync


@pytest.mark.parametrize(
    "spec, message, hint",
    [
        ("specs/banana.dync", "not every state of model `banana` has an equation", "dync sample"),
        ("specs/vp_sde_score.dync", "is a data set (`~ data`)", "dync train"),
    ],
)
def test_models_simulate_cannot_run_are_refused(spec, message, hint):
    import jax

    model = dync.load(spec, jax.random.key(0))
    with pytest.raises(dync.UsageError) as caught:
        dync.simulate(model, seed=0, paths=2, t1=1.0, dt=0.1)
    assert message in str(caught.value) and hint in caught.value.render()
