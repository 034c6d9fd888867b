"""Save times and the step grid (dync.runtime.schedule)."""

from __future__ import annotations

import numpy as np
import pytest

from dync.errors import UsageError
from dync.runtime.schedule import on_grid, save_schedule, suggest_dt


def test_final_every_and_times():
    s = save_schedule("final", 0.0, 1.0, 0.01, "fused", False)
    assert s.num_steps == 100 and s.times.tolist() == [1.0] and s.description == "final"
    with pytest.warns(UserWarning, match="the last save is step 90"):
        s = save_schedule(30, 0.0, 1.0, 0.01, "fused", False)
    np.testing.assert_allclose(s.times, [0.0, 0.3, 0.6, 0.9])  # steps after the last save are not run
    assert s.description == "every 30 steps" and s.plan.stride == 30
    s = save_schedule([0.1, 0.25, 1.0], 0.0, 1.0, 0.01, "fused", False)
    assert s.plan.steps == (10, 25, 100) and s.description == "times"
    s = save_schedule([0.123], 0.0, 1.0, 0.01, "diffrax", False)  # diffrax saves anywhere
    assert s.plan is None and s.times.tolist() == [0.123]


def test_grid_errors_suggest_a_step_that_fits():
    with pytest.raises(UsageError, match="not a whole number of steps") as e:
        save_schedule("final", 0.0, 1.0, 0.03, "fused", False)
    assert "0.02941176471 (34 steps)" in e.value.hint
    with pytest.raises(UsageError, match="not on the step grid") as e:
        save_schedule([0.15], 0.0, 1.0, 0.1, "fused", False)
    assert "dt = 0.05" in e.value.hint
    with pytest.raises(UsageError, match="outside the simulated interval"):
        save_schedule([0.5, 2.0], 0.0, 1.0, 0.1, "fused", False)
    with pytest.raises(UsageError, match="strictly increasing"):
        save_schedule([0.5, 0.2], 0.0, 1.0, 0.1, "fused", False)
    with pytest.raises(UsageError, match="positive number of steps"):
        save_schedule(0, 0.0, 1.0, 0.1, "fused", False)


def test_on_grid_and_suggest_dt():
    assert on_grid(0.3, 0.0, 0.1, 1.0) == 3  # 0.1 * 3 != 0.3 in floats: within the tolerance
    assert on_grid(0.35, 0.0, 0.1, 1.0) is None
    assert suggest_dt(1.0, 0.1, np.array([0.15, 1.0])) == pytest.approx(0.05)
    # adaptive runs need no whole number of steps
    assert save_schedule("final", 0.0, 1.0, 0.3, "diffrax", True).num_steps == 4


@pytest.mark.parametrize("dt", [1e-12, 1e-300, 5e-324])
@pytest.mark.parametrize("adaptive", [False, True])
def test_more_steps_than_a_run_can_count_is_a_usage_error(dt, adaptive):
    """Was an OverflowError traceback (a 32-bit step counter, or round(inf))."""
    with pytest.raises(UsageError, match=r"a run takes at most 2,147,483,647") as info:
        save_schedule("final", 0.0, 1.0, dt, "fused", adaptive)
    assert "raise --dt to at least 4.66e-10" in info.value.hint


def test_a_save_stride_longer_than_the_run_is_an_error_and_one_that_does_not_divide_it_warns():
    """`--save-every 1000` on 100 steps saved only the initial state, with exit 0."""
    with pytest.raises(UsageError, match="the run has only 100 steps"):
        save_schedule(1000, 0.0, 1.0, 0.01, "fused", False)
    with pytest.warns(UserWarning, match=r"the last save is step 90 \(t = 0.9\)"):
        s = save_schedule(30, 0.0, 1.0, 0.01, "fused", False)
    np.testing.assert_allclose(s.times, [0.0, 0.3, 0.6, 0.9])


@pytest.mark.parametrize("save", [True, 0.5, [[0.5, 1.0]]])
def test_save_must_be_final_a_stride_or_a_1d_array_of_times(save):
    """`save=True` became the time 1, `save=0.5` the time 0.5, a 2-D array was flattened."""
    with pytest.raises(UsageError, match="1-D array of times"):
        save_schedule(save, 0.0, 1.0, 0.01, "fused", False)
