"""dync.commands.simulate: what `dync simulate` runs from a spec and its flags."""

from __future__ import annotations

import numpy as np
import pytest

import dync


def test_a_command_line_sweep_of_n_values_on_a_vector_parameter_gives_n_runs(tmp_path):
    """`--sweep a=1:2:2` on `param a[2]`: two runs, a = [1, 1] and [2, 2]
    (a 1-d array of the parameter's own shape read as one value gave one
    run with a = [1, 2])."""
    spec = tmp_path / "v.dync"
    spec.write_text("model v\nparam a[2] = 1\nstate x[2] = 0\ndx = -a * x dt + dW\n")
    ds = dync.simulate_file(spec, paths=2, t1=0.1, dt=0.01, sweep=["a=1:2:2"])
    assert ds.sizes["sweep"] == 2
    np.testing.assert_array_equal(ds["a"].values, [[1.0, 1.0], [2.0, 2.0]])


def test_x64_computes_in_float64_for_the_run_only(tmp_path):
    """`x64=True` (the `--x64` flag) holds float64 for the run; the process
    is back in float32 afterwards, so a model built next is not silently
    float64."""
    import jax

    spec = tmp_path / "o.dync"
    spec.write_text("model o\nparam a = 1 : positive\nstate x = 1\ndx = -a * x dt + 0.1 dW\n")
    assert not jax.config.jax_enable_x64
    ds = dync.simulate_file(spec, paths=2, t1=0.1, dt=0.01, x64=True)
    assert ds["x"].dtype == np.float64
    assert not jax.config.jax_enable_x64
    assert dync.simulate_file(spec, paths=2, t1=0.1, dt=0.01)["x"].dtype == np.float32


def test_a_set_or_swept_value_a_law_does_not_allow_is_refused_before_the_run(tmp_path):
    from dync.errors import UsageError

    from tests.compiler.test_overrides import SPEC

    path = tmp_path / "m.dync"
    path.write_text(SPEC)
    with pytest.raises(UsageError, match="--set ntrial=5.5"):
        dync.simulate_file(path, paths=2, t1=0.1, dt=0.1, sets={"ntrial": 5.5})
    with pytest.raises(UsageError, match="--sweep ntrial=5.5"):
        dync.simulate_file(path, paths=2, t1=0.1, dt=0.1, sweep=["ntrial=1:10:3"])
