"""`fit_summary` says why a point estimate's standard error means nothing
when the estimate sits on the boundary of its constraint (it printed a tiny
or NaN se and no remark)."""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import xarray as xr

import dync
from dync.runtime.fit import fit_model, fit_summary


def _point(values: dict[str, tuple[float, float, float, float]], method: str = "mle") -> az.InferenceData:
    """A point-estimate fit with ``name: (estimate, se, lower, upper)``."""
    variables = {}
    for name, (v, se, lo, hi) in values.items():
        variables.update({name: v, f"{name}_se": se, f"{name}_lower": lo, f"{name}_upper": hi})
    names = list(values)
    variables["covariance"] = (("coordinate", "coordinate_"), np.eye(len(names)))
    point = xr.Dataset(variables, coords={"coordinate": names, "coordinate_": names})
    point.attrs.update(method=method, likelihood="kalman", model="m", converged=1, log_likelihood=1.0, grad_norm=1e-6, steps=10)
    return az.InferenceData(point_estimate=point)


def test_an_estimate_at_its_bound_is_named_with_the_reason():
    text = fit_summary(_point({"theta": (0.77, 0.22, 0.44, 1.34), "c": (2.5e-8, 9e-6, 0.0, np.inf)}))
    assert "`c` = 2.5e-08 is on the boundary of its constraint (at 0)" in text
    assert "Laplace standard error and interval are undefined there" in text and "--fix c=" in text
    assert "theta` =" not in text
    (row,) = [line for line in text.splitlines() if line.startswith("c ")]
    assert row.split()[-2:] == ["0", "inf"]  # an interval end mapped to infinity reads inf, not nan


def test_an_upper_bound_of_an_interval_and_map_wording():
    text = fit_summary(_point({"rho": (0.99999994, 3e-5, -1.0, 1.0)}, method="map"))
    assert "`rho` = 1 is on the boundary of its constraint (at 1): the posterior density rises" in text


def test_wide_but_interior_estimates_are_not_called_boundary_ones():
    """An interior estimate sits about 1.96 se from each end of its 95 %
    interval, even a poorly determined one mapped through `exp`."""
    u, s = 0.0, 5.0  # a positive parameter known to a factor e^10 either way
    v, lo, hi = np.exp(u), np.exp(u - 1.96 * s), np.exp(u + 1.96 * s)
    text = fit_summary(_point({"a": (v, v * s, lo, hi), "b": (0.3, 0.1, 0.15, 0.55)}))
    assert "boundary" not in text


def test_nan_standard_errors_name_the_boundary_as_one_cause():
    text = fit_summary(_point({"c": (1e-9, np.nan, np.nan, np.nan)}))
    assert "an estimate on the boundary of its constraint, where the Laplace standard error is undefined" in text


def test_a_real_fit_that_runs_to_a_bound_says_so(tmp_path):
    """Data with observation noise 0.05 and a model whose noise is 0.1 + c,
    c positive: the maximum is at c = 0 (the likelihood rises towards it)."""
    spec = tmp_path / "bound.dync"
    spec.write_text(
        "model bound\nparam theta = 1.0 : positive\nparam c = 0.1 : positive\nstate x = 0\n"
        "dx = -theta * x dt + 0.5 dW\nobserve y ~ Normal(x, 0.1 + c)\n"
    )
    rng = np.random.default_rng(0)
    x, xs = 0.0, []
    for _ in range(150):
        x += -x * 0.1 + 0.5 * np.sqrt(0.1) * rng.standard_normal()
        xs.append(x)
    data = xr.Dataset({"y": (("time",), np.asarray(xs) + 0.05 * rng.standard_normal(150))},
                      coords={"time": 0.1 * np.arange(1, 151)})  # fmt: skip
    model = dync.load(spec, jax.random.key(0))
    text = fit_summary(fit_model(model, data, method="mle", steps=1500, progress=False))
    assert "`c` = " in text and "is on the boundary of its constraint (at 0)" in text, text
    assert "`theta` =" not in text


def test_an_unconverged_particle_filter_mle_does_not_ask_for_more_steps():
    # a logistic-growth Poisson-count MLE (200 particles) ended at gradient
    # norm 22 after 2000 steps and identically after 6000: the particle
    # filter's gradient is a noisy estimate, so "raise --steps" misled
    fit = _point({"r": (0.76, np.nan, np.nan, np.nan)})
    fit.point_estimate.attrs.update(likelihood="particle", converged=0, grad_norm=22.0, steps=2000)
    text = fit_summary(fit)
    assert "raise --steps" not in text and "more --steps rarely help" in text and "--method pmmh" in text
    exact = _point({"r": (0.76, 0.1, 0.6, 0.9)})
    exact.point_estimate.attrs.update(converged=0, grad_norm=0.5)
    assert "raise --steps or lower --learning-rate" in fit_summary(exact)
