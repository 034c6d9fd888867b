r"""The statistical tests behind ``expect mean / var / stationary``.

Moments (``mean``, ``var``)
---------------------------
At each checked time and for each component, the ensemble estimate
$\hat m$ of $N$ independent paths is compared with the exact value $m$:

.. math:: z = \frac{|\hat m - m|}{\sqrt{\mathrm{SE}^2 + b^2}}

* $\mathrm{SE}$ is the Monte Carlo standard error: $s/\sqrt N$ for a mean,
  $\sqrt{(\hat\mu_4 - s^4)/N}$ for a variance ($\hat\mu_4$ the fourth
  central moment).
* $b$ bounds the solver's time-step bias. The ensemble is run twice, at
  ``dt`` and at ``2 dt``; a solver of weak order $p$ has bias
  $C\,dt^p$, so the difference of the two estimates is $C\,dt^p(2^p-1)$ and
  $b = (|\hat m_{dt} - \hat m_{2dt}| + \mathrm{SE}_\Delta) / (2^p - 1)$
  bounds the bias at ``dt``; $\mathrm{SE}_\Delta$, the standard error of
  the difference (from the per-path differences: path $i$ of both runs is
  driven by the same noise stream), keeps a difference that comes out near
  0 by chance from hiding a real bias. Under a correct model $b$ only widens the denominator, so the
  test stays conservative; a wrong model moves $\hat m$ by much more than
  either term. When ``t1/dt`` is odd no coarse run is made and $b = 0$.

Stationary laws
---------------
The states of the $N$ independent paths at ``t1`` are compared with a
reference sample of the stated law (:data:`REFERENCE_FACTOR` times larger,
drawn by the law's own sampler) by the two-sample Kolmogorov–Smirnov test,
component by component. Paths are independent, so no thinning is needed.
A time-step bias of the stationary law of order ``dt`` is below what KS can
resolve at $N$ paths unless ``dt`` is coarse (documented in
docs/testing.md).

False alarms
------------
Every comparison is one test; the run's false-alarm rate ``alpha`` is
split evenly over all of them (Bonferroni: valid under any dependence
between the tests), so a run of correct expectations fails with probability
at most ``alpha``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Bool, Float
from scipy import stats

__all__ = [
    "REFERENCE_FACTOR",
    "MomentComparison",
    "bias_bound",
    "compare_moment",
    "critical_z",
    "ks_pvalues",
]

#: the reference sample of a stationary law is this many times the ensemble
REFERENCE_FACTOR = 20


def critical_z(alpha: float, tests: int) -> float:
    """The two-sided z threshold of one of ``tests`` tests sharing ``alpha``."""
    return float(stats.norm.isf(alpha / max(tests, 1) / 2))


@dataclasses.dataclass(frozen=True)
class MomentComparison:
    """An ensemble moment against its exact value, per checked time and
    component (arrays ``(times, k)``)."""

    estimate: Float[np.ndarray, "T k"]
    exact: Float[np.ndarray, "T k"]
    standard_error: Float[np.ndarray, "T k"]
    bias: Float[np.ndarray, "T k"]
    z: Float[np.ndarray, "T k"]

    def worst(self) -> tuple[int, int]:
        """``(time index, component)`` of the largest z."""
        flat = int(np.nanargmax(np.where(np.isnan(self.z), -np.inf, self.z)))
        return np.unravel_index(flat, self.z.shape)  # type: ignore[return-value]


def _moment(values: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Estimate and standard error of ``kind`` over axis 0 of ``values``."""
    n = values.shape[0]
    mean = values.mean(axis=0)
    dev = values - mean
    var = (dev**2).sum(axis=0) / max(n - 1, 1)
    if kind == "mean":
        return mean, np.sqrt(var / n)
    mu4 = (dev**4).mean(axis=0)
    return var, np.sqrt(np.maximum(mu4 - var**2, 0.0) / n)


def _paired_se(fine: np.ndarray, coarse: np.ndarray, kind: str) -> np.ndarray:
    """The standard error of ``moment(fine) - moment(coarse)`` when path
    ``i`` of both runs is driven by the same noise stream (``dync test``
    seeds both runs alike): the spread of the per-path differences of the
    moment's terms over sqrt(N)."""
    n = fine.shape[0]
    if kind == "mean":
        d = fine - coarse
    else:
        d = (fine - fine.mean(axis=0)) ** 2 - (coarse - coarse.mean(axis=0)) ** 2
    return d.std(axis=0, ddof=1) / np.sqrt(n)


def bias_bound(
    fine: np.ndarray, coarse: np.ndarray | None, order: float, noise: np.ndarray | float | None = 0.0
) -> np.ndarray:
    """The time-step bias bound ``(|fine - coarse| + noise) / (2^p - 1)``
    (zeros without a coarse estimate). ``noise`` is the standard error of
    the difference: the difference of two Monte Carlo estimates can come
    out near 0 by chance while the bias is not, so one standard error is
    added to it."""
    if coarse is None:
        return np.zeros_like(fine)
    return (np.abs(fine - coarse) + (0.0 if noise is None else noise)) / (2.0**order - 1.0)


def compare_moment(
    kind: str,
    values: Float[np.ndarray, "N T k"],
    exact: Float[np.ndarray, "T k"],
    coarse_values: Float[np.ndarray, "N T k"] | None = None,
    order: float = 1.0,
    rounding: float = 1e-5,
) -> MomentComparison:
    """Compare the ensemble ``mean`` or ``var`` of ``values`` with ``exact``.

    ``rounding`` is the relative rounding error a deterministic run may
    carry: ``rounding * (1 + |exact|)`` joins the denominator, so that a
    time without spread (a fixed start, an ODE) is compared up to rounding.
    """
    estimate, se = _moment(values, kind)
    coarse = None if coarse_values is None else _moment(coarse_values, kind)[0]
    bias = bias_bound(estimate, coarse, order, None if coarse_values is None else _paired_se(values, coarse_values, kind))
    scale = np.sqrt(se**2 + bias**2 + (rounding * (1 + np.abs(exact))) ** 2)
    with np.errstate(invalid="ignore", over="ignore"):
        z = np.abs(estimate - exact) / scale
    z = np.where(np.isfinite(estimate) & np.isfinite(exact) & np.isfinite(z), z, np.inf)
    return MomentComparison(estimate, exact, se, bias, z)


def ks_pvalues(samples: Float[np.ndarray, "N k"], reference: Float[np.ndarray, "R k"]) -> Float[np.ndarray, " k"]:
    """Two-sample Kolmogorov–Smirnov p-values, one per component (0 where
    a sample is not finite)."""
    out = np.empty(samples.shape[1])
    for j in range(samples.shape[1]):
        x, r = samples[:, j], reference[:, j]
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(r))):
            out[j] = 0.0
            continue
        out[j] = stats.ks_2samp(x, r, method="asymp").pvalue
    return out


def first_false(ok: Bool[np.ndarray, "N T k"]) -> tuple[int, int, int]:
    """``(path, time index, component)`` of the earliest failure of an
    ``always`` condition (earliest time, then lowest path)."""
    bad = ~ok.reshape(ok.shape[0], ok.shape[1], -1)
    t = int(np.argmax(bad.any(axis=(0, 2))))
    path = int(np.argmax(bad[:, t, :].any(axis=1)))
    comp = int(np.argmax(bad[path, t, :]))
    return path, t, comp
