"""dync.runtime.inference_data.draws_dataset: the layout arviz.from_dict gives."""

from __future__ import annotations

import arviz as az
import numpy as np

from dync.runtime.inference_data import draws_dataset


def test_draws_are_laid_out_as_arviz_from_dict_lays_them_out():
    rng = np.random.default_rng(0)
    posterior = {"q": rng.normal(size=(4, 20, 3)).astype(np.float32), "r": rng.normal(size=(4, 20))}
    stats = {
        "lp": rng.normal(size=(4, 20)),
        "diverging": np.zeros((4, 20), bool),
        "n_steps": np.ones((4, 20), np.int32),
        "vector_stat": rng.normal(size=(4, 20, 2)),  # no dims given: NAME_dim_0
    }
    dims = {"q": ["q_dim0"], "r": []}
    expected = az.from_dict(posterior=posterior, sample_stats=stats, dims=dims)
    got = az.InferenceData(posterior=draws_dataset(posterior, dims), sample_stats=draws_dataset(stats))
    for group in ("posterior", "sample_stats"):
        a, b = expected[group].copy(), got[group].copy()
        assert set(a.attrs) == set(b.attrs)
        a.attrs.pop("created_at")
        b.attrs.pop("created_at")
        assert a.identical(b), group


def test_data_groups_store_the_inputs_as_constant_data():
    """A model with inputs: each series' input series in `constant_data`,
    a shorter one padded with its last time and value; none without inputs."""
    from dync.runtime.data import ObservationData, Series
    from dync.runtime.inference_data import data_groups

    long = Series(np.array([0.0, 1.0, 2.0]), {"y": np.array([0.1, 0.2, 0.3])},
                  inputs={"u": (np.array([0.0, 1.0, 2.0]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))}, name="a")
    short = Series(np.array([0.0, 1.0]), {"y": np.array([0.4, 0.5])},
                   inputs={"u": (np.array([0.0, 1.0]), np.array([[7.0, 8.0], [9.0, 10.0]]))}, name="b")
    groups = data_groups(ObservationData((long, short)), {"y": ()})
    stored = groups["constant_data"]
    assert stored["u"].dims == ("series", "u_step", "u_dim0") and list(stored["series"].values) == ["a", "b"]
    np.testing.assert_array_equal(stored["u_time"].values, [[0, 1, 2], [0, 1, 1]])
    np.testing.assert_array_equal(stored["u"].values[1], [[7, 8], [9, 10], [9, 10]])
    assert "observed_data" in groups
    plain = data_groups(ObservationData((Series(np.array([0.0, 1.0]), {"y": np.array([0.1, 0.2])}),)), {"y": ()})
    assert set(plain) == {"observed_data"}
