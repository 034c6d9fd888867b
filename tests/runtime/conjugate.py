"""A model whose parameter posterior is known in closed form, for the
samplers' tests (NUTS, PMMH): Brownian motion with an unknown drift ``b``
observed with Gaussian noise. ``y`` is Gaussian and linear in ``b``, so a
Normal prior on ``b`` is conjugate."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

DRIFT_SPEC = """\
model brownian_drift
# Brownian motion with an unknown drift, observed with noise: y is Gaussian
# and linear in b, so a Normal prior on b is conjugate
param b = 0.0 ~ Normal(0.5, 1.0)
const sigma = 0.7
const tau = 0.3
state x = 0
dx = b dt + sigma dW
observe y ~ Normal(x, tau)
"""


class DriftCase(NamedTuple):
    """One data set and the exact posterior of ``b`` given it."""

    data: xr.Dataset
    mean: float
    sd: float


def drift_case(observations: int = 40, seed: int = 11) -> DriftCase:
    """Data at irregular times and the exact posterior of ``b``.

    A series starts from x = 0 at its first observation time t_1
    (docs/fitting.md), so with s = t - t_1, y = b s + sigma W(s) + tau eps.
    With b ~ Normal(m0, s0^2) the posterior of b is Normal with precision
    1/s0^2 + s' S^-1 s and mean (m0/s0^2 + s' S^-1 y) / precision, where
    S_ij = sigma^2 min(s_i, s_j) + tau^2 [i=j].
    """
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.05, 4.0, observations))
    s = t - t[0]
    S = 0.7**2 * np.minimum.outer(s, s) + 0.3**2 * np.eye(len(s))
    y = rng.multivariate_normal(1.3 * s, S)
    Sinv_s = np.linalg.solve(S, s)
    precision = 1 / 1.0**2 + s @ Sinv_s
    mean, sd = (0.5 / 1.0**2 + Sinv_s @ y) / precision, precision**-0.5
    return DriftCase(xr.Dataset({"y": (("time",), y)}, coords={"time": t}), float(mean), float(sd))
