"""dync.runtime.plot_samples: generated samples against data, as a PNG, for
1, 2 and more components; data of another width are refused."""

from __future__ import annotations

import numpy as np
import pytest

from dync.errors import UsageError
from dync.runtime.plot_samples import MAX_PAIR_COMPONENTS, plot_samples


def _png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("dim", [1, 2, 4, MAX_PAIR_COMPONENTS + 2])
def test_samples_and_data_are_drawn(tmp_path, dim):
    rng = np.random.default_rng(0)
    out = plot_samples(rng.standard_normal((400, dim)), tmp_path / "s.png", data=rng.standard_normal((300, dim)) + 1)
    assert _png(out)


def test_samples_alone_and_non_finite_rows(tmp_path):
    x = np.random.default_rng(1).standard_normal((100, 2))
    x[3] = np.nan
    assert _png(plot_samples(x, tmp_path / "alone.png"))
    with pytest.raises(UsageError, match="no finite generated sample"):
        plot_samples(np.full((5, 2), np.nan), tmp_path / "none.png")
    with pytest.raises(UsageError, match="the data have 3 components, but the generated samples 2"):
        plot_samples(x, tmp_path / "bad.png", data=np.zeros((4, 3)))
