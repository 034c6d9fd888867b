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
