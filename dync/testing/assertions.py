"""An assertion for users' own tests: ensemble moments against exact
values, within a stated Monte Carlo tolerance."""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import ArrayLike

from . import statistics as st

__all__ = ["assert_moments"]


def assert_moments(
    samples: ArrayLike,
    *,
    mean: ArrayLike | None = None,
    var: ArrayLike | None = None,
    alpha: float = 1e-3,
    bias: ArrayLike | float = 0.0,
) -> dict[str, Any]:
    r"""Assert that the mean and/or variance over axis 0 of ``samples``
    (independent draws, ``(N, ...)``) equal ``mean`` / ``var``.

    Each component is a z-test, $|\hat m - m| / \sqrt{SE^2 + b^2}$ against
    the two-sided threshold for ``alpha`` split over all components and
    moments (Bonferroni), so a correct model fails with probability at most
    ``alpha``. ``bias`` is a known bound on the estimator's systematic error
    (a solver's time-step bias), added in quadrature.

    Returns:
        ``{"z": {kind: z array}, "threshold": z_crit}`` for reporting.

    Raises:
        AssertionError: a moment is off, naming the component, the
            estimate, its standard error, the exact value and z.

    Example:
        >>> ds = dync.simulate(ou, seed=0, paths=4000, t1=1.0, dt=1e-3)  # doctest: +SKIP
        >>> assert_moments(ds["x"].values[:, -1], mean=0.5 + 1.5 * np.exp(-1.0))  # doctest: +SKIP
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim == 0 or x.shape[0] < 2:
        raise ValueError("assert_moments needs at least 2 samples along axis 0")
    flat = x.reshape(x.shape[0], 1, -1)
    wanted = {k: v for k, v in (("mean", mean), ("var", var)) if v is not None}
    if not wanted:
        raise ValueError("give mean=, var= or both")
    k = flat.shape[2]
    z_crit = st.critical_z(alpha, k * len(wanted))
    out: dict[str, Any] = {"z": {}, "threshold": z_crit}
    for kind, exact in wanted.items():
        target = np.broadcast_to(np.asarray(exact, dtype=float), x.shape[1:]).reshape(1, k)
        cmp = st.compare_moment(kind, flat, target, rounding=0.0)
        scale = np.sqrt(cmp.standard_error**2 + np.broadcast_to(np.asarray(bias, dtype=float), x.shape[1:]).reshape(1, k) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(scale > 0, np.abs(cmp.estimate - target) / scale, np.where(cmp.estimate == target, 0.0, np.inf))
        out["z"][kind] = z.reshape(x.shape[1:])
        j = int(np.argmax(z[0]))
        if not z[0, j] <= z_crit:
            where = "[" + ", ".join(str(int(i)) for i in np.unravel_index(j, x.shape[1:])) + "]" if x.ndim > 1 else ""
            raise AssertionError(
                f"{kind}{where}: {cmp.estimate[0, j]:.6g} ± {cmp.standard_error[0, j]:.2g} (Monte Carlo, {x.shape[0]} samples), "
                f"expected {target[0, j]:.6g}: z = {z[0, j]:.2f} > {z_crit:.2f} (alpha = {alpha:g} over {k * len(wanted)} tests)"
            )
    return out
