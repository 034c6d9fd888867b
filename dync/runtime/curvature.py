r"""The curvature of a noisy (particle-filter) log-likelihood at its optimum,
from a quadratic response surface.

A particle filter's log-likelihood estimate with a fixed key is a piecewise
smooth function of the parameters: resampling jumps from one set of surviving
particles to another. Autodiff differentiates the pieces and ignores the
jumps, so its Hessian is a poor curvature: often indefinite (NaN standard
errors) and, on an OU model forced to the particle filter, two to three times
too sharp (standard errors that small). What is smooth is the *expected*
log-likelihood, and its curvature over the scale of a standard error is what
the Laplace approximation needs.

:func:`surface_hessian` measures it the way response-surface methodology
measures the curvature of a noisy response (Box & Wilson 1951, "On the
experimental attainment of optimum conditions", J. R. Stat. Soc. B 13, 1;
Box & Draper 2007, *Response Surfaces, Mixtures, and Ridge Analyses*), and
as Ionides et al. (2017, "Monte Carlo profile confidence intervals for
dynamic systems", J. R. Soc. Interface 14, 20170126) smooth a Monte Carlo
profile log-likelihood with a quadratic: it evaluates the estimate at a design
of points around the optimum $\hat u$, in the unconstrained space, and fits a
full quadratic by least squares; the fitted quadratic's Hessian is the
curvature.

* **Design** (a face-centred central-composite design taken two factors at a
  time): the centre, the axial points $\hat u \pm h_i e_i$, and for each
  pair $i < j$ the four corners $\hat u \pm h_i e_i \pm h_j e_j$:
  $1 + 2d^2$ points for $d$ parameters: the $1 + d + d(d+1)/2$
  coefficients of the quadratic with $3d(d-1)/2$ points to spare.
* **Step sizes** $h_i$: about two standard errors, where a quadratic
  log-likelihood falls by ``drop`` = 2 nats (the edge of a 95 % profile
  interval, 1.92 nats): far enough that the fall stands out of the
  particle filter's noise, near enough that the log-likelihood is still close
  to quadratic. A first guess comes from the autodiff Hessian's diagonal (or
  0.1 where it is not negative); axial pilot rounds then rescale each $h_i$
  from the curvature they measure (at most four rounds, each step kept within
  a factor of 4 of the last).
* **Noise**: every point is evaluated with the same ``K`` independent keys
  (common random numbers across the design, so the differences between points
  are far less noisy than the values), and the quadratic is fitted per key;
  the Hessian is their mean. Its Monte Carlo error comes from the spread over
  keys: the jackknife over keys gives the relative Monte Carlo error of each
  standard error, and while it exceeds ``target_error`` the keys are doubled
  (up to ``max_keys``).

Cost: $(1 + 2d^2)\,K$ particle-filter runs for the design, plus $2dK$ per
pilot round; with $d = 3$ and $K = 8$, 152 + 48 a round.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import numpy as np

__all__ = [
    "SurfaceCurvature",
    "jackknife_relative_error",
    "partial_covariance",
    "standard_errors",
    "surface_design",
    "surface_hessian",
]


@dataclasses.dataclass(frozen=True)
class SurfaceCurvature:
    """The result of :func:`surface_hessian`.

    Attributes:
        hessian: the fitted quadratic's Hessian, ``(d, d)``: the mean of the
            per-key fits.
        per_key: each key's fitted Hessian, ``(K, d, d)`` (for a jackknife).
        steps: the half-widths $h_i$ of the design, ``(d,)``.
        points: design points (the pilot's not counted).
        keys: independent keys per point.
        evaluations: particle-filter runs in all, pilot included.
        noise_sd: the standard deviation of one estimate over keys at the
            centre (how noisy the particle filter is there).
    """

    hessian: np.ndarray
    per_key: np.ndarray
    steps: np.ndarray
    points: int
    keys: int
    evaluations: int
    noise_sd: float


def surface_design(d: int) -> np.ndarray:
    """The design in units of the steps, ``(1 + 2 d^2, d)``: the centre, the
    axial points $\\pm e_i$, and the four corners $\\pm e_i \\pm e_j$ of
    each pair."""
    rows = [np.zeros(d)]
    for i in range(d):
        for s in (1.0, -1.0):
            z = np.zeros(d)
            z[i] = s
            rows.append(z)
    for i, j in itertools.combinations(range(d), 2):
        for si, sj in itertools.product((1.0, -1.0), repeat=2):
            z = np.zeros(d)
            z[i], z[j] = si, sj
            rows.append(z)
    return np.asarray(rows)


def _quadratic_features(z: np.ndarray) -> np.ndarray:
    """Columns 1, z_i, z_i z_j (i <= j) of a full quadratic."""
    d = z.shape[1]
    cols = [np.ones(len(z))] + [z[:, i] for i in range(d)]
    cols += [z[:, i] * z[:, j] for i, j in itertools.combinations_with_replacement(range(d), 2)]
    return np.stack(cols, axis=1)


def _fit_hessians(z: np.ndarray, values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Each key's least-squares quadratic through ``values`` ``(n, K)`` at
    the design ``z`` (in step units), its Hessian in the parameters ``(K, d, d)``."""
    d = z.shape[1]
    coef, *_ = np.linalg.lstsq(_quadratic_features(z), values, rcond=None)  # (p, K)
    hess = np.zeros((values.shape[1], d, d))
    for c, (i, j) in enumerate(itertools.combinations_with_replacement(range(d), 2)):
        b = coef[1 + d + c]
        if i == j:
            hess[:, i, i] = 2 * b / steps[i] ** 2
        else:
            hess[:, i, j] = hess[:, j, i] = b / (steps[i] * steps[j])
    return hess


def surface_hessian(
    evaluate: Callable[[np.ndarray, int, int], np.ndarray],
    center: np.ndarray,
    first_guess: np.ndarray | None = None,
    *,
    keys: int = 8,
    max_keys: int = 32,
    drop: float = 2.0,
    target_error: float = 0.1,
    pilot_rounds: int = 4,
    max_step: float = 3.0,
    extra_hessian: np.ndarray | None = None,
    advance: Callable[..., None] | None = None,
) -> SurfaceCurvature:
    """The Hessian of a noisy log-likelihood at ``center``, from quadratics
    fitted to its values at a design around it (module docstring).

    Args:
        evaluate: ``evaluate(point, first, count)`` → the estimates at
            ``point`` ``(d,)`` with the keys numbered ``first`` to
            ``first + count - 1``, ``(count,)``; key ``k`` must be the same
            at every point (common random numbers).
        center: the optimum, ``(d,)``, in the unconstrained space.
        first_guess: a Hessian whose negative diagonal sets the first step
            sizes (the autodiff one); ignored where not negative and finite.
        keys: keys per point to start with.
        max_keys: the most keys per point (added ``keys`` at a time, so
            ``evaluate`` always sees ``count == keys``).
        drop: the fall of the log-likelihood, in nats, at the axial points.
        target_error: the relative Monte Carlo error of the standard errors
            (jackknife over keys) below which no keys are added.
        pilot_rounds: axial rounds that rescale the steps.
        max_step: the largest step in the unconstrained space.
        extra_hessian: a smooth part added to the fitted Hessian before the
            standard errors are judged (the log prior's, for MAP).
        advance: a progress callback ``advance(n=1, status=None,
            total=None)`` (:func:`~dync.runtime.progress.progress_bar`'s),
            called once per evaluated point, and with ``n=0`` and the new
            total of points whenever a pilot round or a block of keys is
            added to the plan.

    Returns:
        A :class:`SurfaceCurvature`.
    """
    center = np.asarray(center, np.float64)
    d = center.size
    tick = advance or (lambda n=1, status=None, total=None: None)
    n_design = 1 + 2 * d * d
    planned = 1 + 2 * d + n_design  # one pilot round, one block of keys: grows as rounds are added
    extra = np.zeros((d, d)) if extra_hessian is None else np.asarray(extra_hessian, np.float64)
    evaluations = 0

    def values_at(z_rows: np.ndarray, steps: np.ndarray, first: int, count: int) -> np.ndarray:
        nonlocal evaluations
        out = []
        for z in z_rows:
            out.append(np.asarray(evaluate(center + z * steps, first, count), np.float64))
            evaluations += count
            tick()
        return np.stack(out)  # (n, count)

    steps = np.full(d, 0.1)
    if first_guess is not None:
        diag = -np.diag(np.asarray(first_guess, np.float64))
        good = np.isfinite(diag) & (diag > 0)
        steps[good] = np.sqrt(2 * drop / diag[good])
    steps = np.clip(steps, 1e-3, max_step)
    tick(0, status="pilot", total=planned)
    base = values_at(np.zeros((1, d)), steps, 0, keys)  # (1, K)
    for round_ in range(pilot_rounds):
        if round_:
            planned += 2 * d
            tick(0, total=planned)
        axial = np.concatenate([np.eye(d), -np.eye(d)])
        vals = values_at(axial, steps, 0, keys)
        # the mean fall at ±h_i; its curvature is 2 fall / h_i^2
        fall = base[0][None, :] - 0.5 * (vals[:d] + vals[d:])
        mean_fall = fall.mean(axis=1)
        new = steps.copy()
        for i in range(d):
            if np.isfinite(mean_fall[i]) and mean_fall[i] > 0:
                new[i] = steps[i] * np.sqrt(drop / mean_fall[i])
            else:  # flat or noise: look further out
                new[i] = steps[i] * 4
        new = np.clip(new, steps / 4, steps * 4)
        new = np.clip(new, 1e-3, max_step)
        done = np.all(np.abs(np.log(new / steps)) < np.log(1.5))
        steps = new
        if done:
            break
    z = surface_design(d)
    tick(0, status=f"design, {keys} keys")
    values = values_at(z, steps, 0, keys)
    per_key = _fit_hessians(z, values, steps)
    while per_key.shape[0] + keys <= max_keys and _relative_error(per_key, extra) > target_error:
        # one more block of ``keys`` keys at every point (one compiled shape)
        planned += n_design
        tick(0, status=f"design, {per_key.shape[0] + keys} keys", total=planned)
        new_values = values_at(z, steps, per_key.shape[0], keys)
        values = np.concatenate([values, new_values], axis=1)
        per_key = _fit_hessians(z, values, steps)
    noise = float(np.std(values[0], ddof=1)) if values.shape[1] > 1 else float("nan")
    return SurfaceCurvature(per_key.mean(axis=0), per_key, steps, len(z), per_key.shape[0], evaluations, noise)


def standard_errors(hessian: np.ndarray) -> np.ndarray:
    """$\\sqrt{\\operatorname{diag}((-H)^{-1})}$ where $-H$ is positive
    definite, else all NaN."""
    precision = -0.5 * (hessian + hessian.T)
    try:
        np.linalg.cholesky(precision)
    except np.linalg.LinAlgError:
        return np.full(len(hessian), np.nan)
    return np.sqrt(np.diag(np.linalg.inv(precision)))


def _relative_error(per_key: np.ndarray, extra: np.ndarray) -> float:
    """The largest jackknife relative Monte Carlo error, over parameters, of
    the standard errors from the mean of ``per_key`` plus ``extra``; infinite
    when any leave-one-out Hessian is not negative definite."""
    return float(np.max(jackknife_relative_error(per_key, extra)))


def jackknife_relative_error(per_key: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """The jackknife estimate, over keys, of each standard error's relative
    Monte Carlo error, ``(d,)``: $\\sqrt{(K-1)/K \\sum_k (s_{(k)} - \\bar
    s)^2} / s$ with $s_{(k)}$ the standard errors with key $k$ left out
    (Efron & Stein 1981); infinite where they are not all finite."""
    k, d = per_key.shape[0], per_key.shape[1]
    extra = np.zeros((d, d)) if extra is None else extra
    if k < 2:
        return np.full(d, np.inf)
    total = per_key.sum(axis=0)
    full = standard_errors(total / k + extra)
    loo = np.stack([standard_errors((total - per_key[i]) / (k - 1) + extra) for i in range(k)])
    if not (np.all(np.isfinite(loo)) and np.all(np.isfinite(full))):
        return np.full(d, np.inf)
    spread = np.sqrt((k - 1) / k * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    return spread / full


def partial_covariance(
    hessian: np.ndarray, per_key: np.ndarray | None = None, *, z: float = 2.0, tolerance: float = 1e-2
) -> tuple[np.ndarray, np.ndarray]:
    r"""$(-H)^{-1}$ over the directions where $-H$ is positive definite, and
    which coordinates have none.

    Where $-H$ has an eigenvalue $\le 0$ (no maximum along its eigenvector:
    flat, or curving up), or, given the per-key Hessians whose mean is the
    noisy part of $H$, an eigenvalue within ``z`` Monte Carlo standard errors
    of 0 (a fall lost in the noise: its inverse would be an arbitrary, often
    huge, variance), the coordinates that load on such eigenvectors (squared
    loading above ``tolerance``) have no Laplace variance: their rows and
    columns are NaN. The others keep the inverse over the good
    eigen-directions, exact when the bad directions are orthogonal to them
    and a close approximation when they barely load on them.

    Args:
        hessian: the Hessian $H$, ``(d, d)``.
        per_key: the per-key Hessians ``(K, d, d)`` behind its noisy part.
        z: how many Monte Carlo standard errors a curvature must clear.
        tolerance: the squared loading that makes a coordinate affected.

    Returns:
        The covariance ``(d, d)`` and the affected coordinates, a boolean ``(d,)``.
    """
    precision = -0.5 * (hessian + hessian.T)
    d = len(precision)
    if not np.all(np.isfinite(precision)):
        return np.full((d, d), np.nan), np.ones(d, bool)
    eigenvalues, vectors = np.linalg.eigh(precision)
    good = eigenvalues > 1e-10 * max(1.0, float(np.max(np.abs(eigenvalues))))
    if per_key is not None and len(per_key) > 1:
        # each key's curvature along each eigenvector, and its Monte Carlo error
        along = -np.einsum("id,kij,jd->kd", vectors, per_key, vectors)
        good &= eigenvalues > z * along.std(axis=0, ddof=1) / np.sqrt(len(per_key))
    affected = np.sum(vectors[:, ~good] ** 2, axis=1) > tolerance
    covariance = (vectors[:, good] / eigenvalues[good]) @ vectors[:, good].T
    covariance[affected, :] = np.nan
    covariance[:, affected] = np.nan
    return covariance, affected
