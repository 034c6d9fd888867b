"""Where dync test draws parameters: boxes around the spec values."""

import numpy as np
import pytest

from dync.errors import UsageError
from dync.info.constraints import Interval, Positive, Real
from dync.info.model import ModelInfo, ParamInfo
from dync.testing.region import ELEMENTWISE_LIMIT, param_regions


def _info(*params):
    return ModelInfo(name="m", calculus="ito", noise_structure="diagonal", states=(), state_size=0, noises=(), noise_size=0, params=params)


def test_boxes_follow_the_constraint():
    info = _info(
        ParamInfo("theta", (), Positive()), ParamInfo("mu", (), Real()), ParamInfo("rho", (), Interval(-1.0, 1.0)),
        ParamInfo("c", (), Real(), fixed=True),
    )  # fmt: skip
    values = {"theta": np.asarray(2.0), "mu": np.asarray(-4.0), "rho": np.asarray(0.9), "c": np.asarray(1.0)}
    regions = {r.name: r for r in param_regions(info, values)}
    assert set(regions) == {"theta", "mu", "rho"}  # a const is not drawn
    assert (float(regions["theta"].low), float(regions["theta"].high)) == (1.0, 4.0)
    assert (float(regions["mu"].low), float(regions["mu"].high)) == (-6.0, -2.0)
    lo, hi = float(regions["rho"].low), float(regions["rho"].high)
    assert lo == pytest.approx(0.4) and 0.999 < hi < 1.0  # inside the open interval


def test_ranges_replace_the_box_and_must_fit_the_constraint():
    info = _info(ParamInfo("theta", (), Positive()))
    values = {"theta": np.asarray(1.0)}
    (r,) = param_regions(info, values, {"theta": (0.5, 3.0)})
    assert (float(r.low), float(r.high)) == (0.5, 3.0)
    with pytest.raises(UsageError, match=r"outside its constraint `positive` \(> 0\)\n"):
        param_regions(info, values, {"theta": (-1.0, 1.0)})
    with pytest.raises(UsageError, match="did you mean `theta`"):
        param_regions(info, values, {"thetta": (0.5, 1.0)})
    # a value held by --set wins over a range (a failure's reproducing command)
    assert param_regions(info, values, {"theta": (0.5, 1.0)}, fixed={"theta": 1.0}) == []


def test_a_large_array_moves_as_one_scalar():
    n = ELEMENTWISE_LIMIT + 1
    info = _info(ParamInfo("w", (n,), Positive()), ParamInfo("v", (2,), Real()))
    values = {"w": np.linspace(1.0, 2.0, n), "v": np.asarray([0.0, 3.0])}
    regions = {r.name: r for r in param_regions(info, values)}
    w = regions["w"]
    assert w.mode == "scale" and (float(w.low), float(w.high)) == (0.5, 2.0)
    np.testing.assert_allclose(w.value(2.0), 2 * values["w"])
    v = regions["v"]
    assert v.mode == "elementwise"
    np.testing.assert_allclose(v.low, [-0.5, 1.5])
    np.testing.assert_allclose(v.high, [0.5, 4.5])


def test_a_parameter_read_when_the_spec_compiles_is_held_not_drawn():
    """`x[k]`: the compiled code keeps k's spec value, so drawing k claimed
    coverage the run did not have; it is held, and a range of it refused."""
    info = _info(ParamInfo("k", (), Real(), compile_time="an index or a size (line 5)"), ParamInfo("a", (), Positive()))
    values = {"k": np.asarray(1.0), "a": np.asarray(1.0)}
    assert [r.name for r in param_regions(info, values)] == ["a"]
    with pytest.raises(UsageError, match=r"range of `k`: the parameter is read as an index or a size \(line 5\)") as err:
        param_regions(info, values, {"k": (0.0, 2.0)})
    assert "held at its spec value" in err.value.message and "dim k" in err.value.hint


def test_a_range_outside_its_constraint_names_the_constraint_once():
    # the message once said "outside its constraint positive (positive (> 0))"
    for constraint, bounds_in_words in ((Positive(), "> 0"), (Interval(-1.0, 1.0), "strictly between -1 and 1")):
        info = _info(ParamInfo("theta", (), constraint))
        with pytest.raises(UsageError) as err:
            param_regions(info, {"theta": np.asarray(0.5)}, {"theta": (-2.0, 0.9)})
        written = constraint.describe()
        assert err.value.message == (
            f"range of `theta` is [-2, 0.9], outside its constraint `{written}` ({bounds_in_words})"
        )
        assert err.value.message.count(written.split("(")[0]) == 1
