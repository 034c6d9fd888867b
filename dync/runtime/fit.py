"""One call for every estimator: :func:`fit_model` runs MLE, MAP, NUTS, PMMH or VI and
returns the whole result as an ArviZ ``InferenceData``; :func:`fit_summary`
prints it as a table.

The layout of the result (the groups, their variables and attributes) is
given in :mod:`dync.runtime.inference_data` and ``docs/fitting.md``. The
attributes of the main group (``posterior`` for NUTS and PMMH, ``point_estimate`` for
MLE/MAP) make a fit file self-contained: ``spec_text`` and ``dims_json``
rebuild the model (``dync plot fit.nc`` draws its paths against the data),
``fixed_json`` says what was held fixed, and ``method``, ``likelihood``,
``seed`` how the fit was made.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import UsageError, did_you_mean
from .estimate import PointEstimate, fit_point
from .diagnostics import coordinates, fmt, posterior_table, table
from .inference_data import combine_groups, data_groups, log_likelihood_group
from .likelihood import log_likelihood_with_method, read_data
from .model import AbstractModel
from .posterior import sample_posterior

__all__ = ["FIT_METHODS", "fit_model", "fit_summary", "main_group"]

#: the estimators
FIT_METHODS = ("mle", "map", "nuts", "pmmh", "vi")

#: the samplers' defaults: warm-up steps, draws per chain, target acceptance
#: (PMMH's ``None``: from the measured noise of the likelihood estimate,
#: :func:`dync.runtime.pmmh.default_target_acceptance`); a random walk needs
#: more steps than NUTS for the same effective sample size
SAMPLER_DEFAULTS = {"nuts": (500, 500, 0.8), "pmmh": (1000, 2000, None)}


def _json_value(v: Any) -> Any:
    a = np.asarray(v)
    return a.item() if a.ndim == 0 else a.tolist()


def _check_fit_numbers(**values: Any) -> None:
    """The numeric settings of :func:`fit_model`, checked as the CLI checks
    its flags (the Python API took `learning_rate=-1` and `target_accept=1.5`).

    Raises:
        UsageError: a count that is not a positive whole number (warm-up may
            be 0), or a rate, tolerance or step that is not positive and finite.
    """
    for name in ("chains", "warmup", "draws", "steps", "particles"):
        v = values[name]
        least = 0 if name == "warmup" else 1
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise UsageError(f"{name}={v!r}: expected a whole number >= {least}")
    for name in ("learning_rate", "tolerance", "dt"):
        v = values[name]
        if v is None and name == "dt":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not 0 < float(v) < math.inf:
            raise UsageError(f"{name}={v!r}: expected a positive, finite number")
    ta = values["target_accept"]
    if ta is None:
        return
    if isinstance(ta, bool) or not isinstance(ta, (int, float, np.integer, np.floating)) or not 0 < float(ta) < 1:
        raise UsageError(f"target_accept={ta!r}: expected a number strictly between 0 and 1")


#: the settings only ``method="vi"`` reads (``fit_vi``'s keywords)
_VI_OPTIONS = ("samples", "batch_size", "kl_anneal", "hidden", "context")


def fit_model(
    model: AbstractModel,
    data: Any,
    *,
    method: str = "mle",
    likelihood: str = "auto",
    seed: int = 0,
    fix: Mapping[str, Any] | None = None,
    chains: int = 4,
    warmup: int | None = None,
    draws: int | None = None,
    target_accept: float | None = None,
    steps: int = 2000,
    learning_rate: float = 0.05,
    tolerance: float = 1e-3,
    particles: int = 1000,
    dt: float | None = None,
    pointwise: bool = True,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
    **vi_options: Any,
):
    """Fit a compiled model to data: maximum likelihood, MAP, NUTS, particle
    marginal Metropolis–Hastings (``pmmh``: exact for a particle-filter
    likelihood) or variational inference of latent paths (``vi``).

    Args:
        model: a compiled model (``dync.load``); its current parameter values
            start the optimiser or the chains.
        data: a NetCDF or CSV path, an xarray Dataset, or data records
            (LANGUAGE.md §11).
        method: ``"mle"``, ``"map"``, ``"nuts"``, ``"pmmh"``
            (:func:`~dync.runtime.pmmh.sample_pmmh`) or ``"vi"`` (amortised
            variational inference, :func:`dync.runtime.latent.fit.fit_vi`,
            which takes ``vi_options``: ``samples``, ``batch_size``,
            ``kl_anneal``, ``hidden``, ``context``).
        likelihood: ``"auto"`` (Kalman when the model is linear-Gaussian,
            else the particle filter), ``"kalman"`` or ``"particle"``.
        seed: the run's seed: NUTS's key, and the particle filter's fixed key
            (common random numbers).
        fix: name → value of parameters held fixed.
        chains, warmup, draws, target_accept: NUTS (see
            :func:`~dync.runtime.posterior.sample_posterior`) and PMMH;
            ``None`` takes the method's default (:data:`SAMPLER_DEFAULTS`).
        steps, learning_rate, tolerance: MLE/MAP (see
            :func:`~dync.runtime.estimate.fit_point`).
        particles, dt: the particle filter.
        pointwise: add the ``log_likelihood`` group (each series'
            log-likelihood per draw).
        checkpoint: a checkpoint file, resumed if present (bit-identically).
        checkpoint_every: steps between checkpoints.
        progress: show progress bars.

    Returns:
        An ``arviz.InferenceData`` (groups in
        :mod:`dync.runtime.inference_data`).

    Raises:
        UsageError: an unknown method, bad settings, data the model cannot
            read; the particle filter needs no extra argument here (the key
            comes from ``seed``).

    Example:
        >>> idata = fit_model(dync.load("specs/ou.dync"), "ou.nc", method="nuts", chains=2)  # doctest: +SKIP
        >>> print(fit_summary(idata))  # doctest: +SKIP
    """
    if method not in FIT_METHODS:
        raise UsageError(f"unknown estimator `{method}`", hint=did_you_mean(method, FIT_METHODS) or "use mle, map, nuts, pmmh or vi")
    if not isinstance(model, AbstractModel):
        raise UsageError(f"fit needs a compiled dync model, got {type(model).__name__}")
    unknown = sorted(k for k in vi_options if k not in _VI_OPTIONS)
    if unknown:
        known = [*_VI_OPTIONS, "likelihood", "seed", "fix", "chains", "warmup", "draws", "target_accept", "steps",
                 "learning_rate", "tolerance", "particles", "dt", "pointwise", "checkpoint", "checkpoint_every", "progress"]  # fmt: skip
        raise UsageError(f"unknown fit setting `{unknown[0]}`", hint=did_you_mean(unknown[0], known) or "see help(dync.fit)")
    default_warmup, default_draws, default_target = SAMPLER_DEFAULTS.get(method, SAMPLER_DEFAULTS["nuts"])
    warmup = default_warmup if warmup is None else warmup
    draws = default_draws if draws is None else draws
    target_accept = default_target if target_accept is None else target_accept
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise UsageError(f"seed={seed!r}: a seed is a whole number from 0 to 2^63 - 1")
    _check_fit_numbers(chains=chains, warmup=warmup, draws=draws, target_accept=target_accept, steps=steps,
                       learning_rate=learning_rate, tolerance=tolerance, particles=particles, dt=dt)  # fmt: skip
    if method == "vi":
        from .latent.fit import fit_vi

        if model.info.linear_gaussian:
            warnings.warn(
                f"model `{model.info.name}` is linear-Gaussian, so its likelihood is exact (a Kalman filter): "
                "--method mle, map or nuts use it, while VI maximises a lower bound, and its parameter estimates "
                "can be biased: compare with the exact fit",
                stacklevel=2,
            )
        return fit_vi(
            model, data, seed=seed, fix=fix, steps=steps, learning_rate=learning_rate, dt=dt,
            checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress, **vi_options,
        )  # fmt: skip
    if vi_options:
        raise UsageError(f"{', '.join(sorted(vi_options))}: settings of --method vi only")
    records = read_data(model, data)
    key = jax.random.key(int(seed))
    if method in ("nuts", "pmmh"):
        from .pmmh import sample_pmmh

        sampler = sample_posterior if method == "nuts" else sample_pmmh
        idata = sampler(
            model, records, key, chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
            fix=fix, likelihood=likelihood, particles=particles, dt=dt, pointwise=pointwise,
            checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
        )  # fmt: skip
        main = idata.posterior
        chosen = main.attrs["likelihood"]
        # PMMH's default target comes from the noise it measured
        target = main.attrs.get("target_accept", target_accept)
        extra: dict[str, Any] = {"chains": int(chains), "warmup": int(warmup), "draws": int(draws),
                                 "target_accept": float(target)}  # fmt: skip
    else:
        key_pf = jax.random.fold_in(key, 1)
        estimate = fit_point(
            model, records, method=method, likelihood=likelihood, steps=steps, learning_rate=learning_rate,
            fix=fix, key=key_pf, particles=particles, dt=dt, tolerance=tolerance, checkpoint=checkpoint,
            checkpoint_every=checkpoint_every, progress=progress,
        )  # fmt: skip
        idata = _point_inference_data(estimate, records, model, pointwise, key_pf, particles, dt)
        main = idata.point_estimate
        chosen = estimate.likelihood
        extra = {"steps": int(steps), "learning_rate": float(learning_rate), "tolerance": float(tolerance)}
    source = getattr(model, "source", None)
    fixed = {n: _json_value(v) for n, v in (fix or {}).items()}
    main.attrs.update(
        {
            "method": method,
            "likelihood": chosen,
            "model": model.info.name,
            "spec_text": getattr(source, "text", "") or "",
            "spec_path": getattr(source, "path", "") or "",
            "dims_json": json.dumps(dict(model.info.dims)),
            "fixed_json": json.dumps(fixed),
            "data_path": str(data) if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__") else "",
            "seed": int(seed),
            "particles": int(particles) if chosen == "particle" else 0,
            "dync_version": __version__,
            **extra,
        }
    )
    return idata


def _point_inference_data(
    estimate: PointEstimate, records, model: AbstractModel, pointwise: bool, key, particles: int, dt
):
    variables: dict[str, Any] = {}
    declared = [p.name for p in model.info.params]  # the spec's order (a pytree's dict is sorted)
    for name in sorted(estimate.estimates, key=lambda n: declared.index(n) if n in declared else len(declared)):
        value = estimate.estimates[name]
        dims = tuple(f"{name}_dim{i}" for i in range(np.ndim(value)))
        variables[name] = (dims, np.asarray(value))
        variables[f"{name}_se"] = (dims, np.asarray(estimate.std_errors[name]))
        if name in estimate.intervals:
            lower, upper = estimate.intervals[name]
            variables[f"{name}_lower"] = (dims, np.asarray(lower))
            variables[f"{name}_upper"] = (dims, np.asarray(upper))
    names = list(estimate.names)
    variables["covariance"] = (("coordinate", "coordinate_"), np.asarray(estimate.covariance))
    point = xr.Dataset(variables, coords={"coordinate": names, "coordinate_": names})
    point.attrs.update(
        {
            "log_likelihood": float(estimate.log_likelihood),
            "objective": float(estimate.objective),
            "grad_norm": float(estimate.grad_norm),
            "converged": int(estimate.converged),
            "covariance_space": "unconstrained",
            **_curvature_attrs(estimate.curvature),
        }
    )
    trace = xr.Dataset({"objective": (("step",), np.asarray(estimate.trace, np.float64))})
    shapes = {o.name: tuple(o.shape) for o in model.info.observations}
    groups = {"point_estimate": point, "optimizer_trace": trace, **data_groups(records, shapes)}
    if pointwise:
        per_series, _ = log_likelihood_with_method(
            estimate.model, records, method=estimate.likelihood, key=key, particles=particles, dt=dt,
            per_series=True,
        )  # fmt: skip
        groups["log_likelihood"] = log_likelihood_group(np.asarray(per_series)[None, None, :], records)
    return combine_groups(None, **groups)


def _curvature_attrs(curvature: dict[str, Any]) -> dict[str, Any]:
    """How the standard errors' curvature was measured, as NetCDF attributes
    of the ``point_estimate`` group (``se_curvature`` = ``autodiff`` or
    ``response-surface``, and for the latter its design and Monte Carlo
    error; ``se_undefined_json`` lists the coordinates with no standard error)."""
    attrs: dict[str, Any] = {"se_curvature": str(curvature.get("curvature", "autodiff"))}
    if attrs["se_curvature"] == "response-surface":
        attrs.update(
            {
                "se_design_points": int(curvature["design_points"]),
                "se_keys": int(curvature["keys"]),
                "se_evaluations": int(curvature["evaluations"]),
                "se_noise_sd": float(curvature["noise_sd"]),
                "se_mc_relative_error": float(curvature["mc_relative_error"]),
                "se_steps_json": json.dumps(curvature["steps"]),
                "se_undefined_json": json.dumps(list(curvature["undefined"])),
            }
        )
    return attrs


def main_group(idata) -> xr.Dataset:
    """The group that holds a fit's parameters: ``posterior`` (NUTS) or
    ``point_estimate`` (MLE/MAP).

    Raises:
        UsageError: neither is there (not a fit file).
    """
    for name in ("posterior", "point_estimate"):
        if name in idata.groups():
            return getattr(idata, name)
    raise UsageError("not a dync fit: no `posterior` or `point_estimate` group")


#: the point-estimate group's per-parameter companions of ``NAME``
_POINT_SUFFIXES = ("_se", "_lower", "_upper")


def _surface_remarks(attrs: Mapping[str, Any], nan_rows: list[str]) -> list[str]:
    """Warnings on standard errors measured by the response surface of a
    particle-filter fit: the parameters left without one (why, and what to
    do), and a Monte Carlo error too large to trust the figures."""
    out = []
    undefined = json.loads(attrs.get("se_undefined_json", "[]") or "[]") or nan_rows
    particles = attrs.get("particles", "?")
    if undefined:
        out.append(
            f"warning: no standard error for {', '.join(f'`{n}`' for n in undefined)}: the curvature of the "
            f"particle-filter log-likelihood, fitted at points about 2 se around the estimate, is not negative "
            f"definite along {'it' if len(undefined) == 1 else 'them'} (the log-likelihood is flat there, or its "
            f"fall is lost in the filter's noise, sd {float(attrs.get('se_noise_sd', float('nan'))):.2g} nats "
            f"with {particles} particles), so the Laplace approximation does not apply; raise --particles to "
            "measure it, or use --method pmmh for posterior draws with the particle filter"
        )
    error = float(attrs.get("se_mc_relative_error", float("nan")))
    if math.isfinite(error) and error > 0.25:
        out.append(
            f"warning: the standard errors carry a Monte Carlo error of about {100 * error:.0f} % (the particle "
            f"filter's noise with {particles} particles): raise --particles for firmer figures"
        )
    return out


def fit_summary(idata) -> str:
    """A fit as a plain-text table.

    NUTS: per parameter coordinate the posterior mean, sd, 5 % and 95 %
    quantiles, bulk and tail ESS and R-hat (ArviZ: rank-normalised split
    R-hat, Vehtari et al. 2021), then the divergences and the warnings a
    careful user wants (R-hat above 1.01, bulk ESS under 100 per chain...).
    MLE/MAP: the estimate, its Laplace standard error and the 95 % interval
    (u ± 1.96 se_u in the unconstrained space, mapped through the
    constraint), the log-likelihood and the convergence.
    """

    main = main_group(idata)
    method = main.attrs.get("method", "")
    if method == "vi":
        from .latent.fit import vi_summary

        return vi_summary(idata)
    lines = [
        f"model {main.attrs.get('model', '?')}: {method.upper()} with the "
        f"{main.attrs.get('likelihood', '?')} likelihood"
    ]
    fixed = json.loads(main.attrs.get("fixed_json", "{}") or "{}")
    if fixed:
        lines.append("held fixed: " + ", ".join(f"{k} = {v}" for k, v in fixed.items()))
    if "posterior" in idata.groups():
        stats = idata.sample_stats if "sample_stats" in idata.groups() else None
        lines.append(
            f"{idata.posterior.sizes['chain']} chains x {idata.posterior.sizes['draw']} draws "
            f"(after {main.attrs.get('warmup', '?')} warm-up steps)"
        )
        advice = {"stuck_advice": "a noisy likelihood estimate holds it: raise --particles"} if method == "pmmh" else {}
        lines += posterior_table(idata.posterior, stats, **advice)
        if method == "pmmh":
            from .pmmh import pmmh_remarks

            lines += pmmh_remarks(main.attrs)
    else:
        rows = []
        at_bound: list[tuple[str, float, float]] = []

        def _end(x: float) -> str:  # an interval mapped to an unbounded end is infinite, not NaN
            return ("inf" if x > 0 else "-inf") if math.isinf(x) else fmt(x)

        for name in main.data_vars:
            if name == "covariance" or any(
                name.endswith(suffix) and name[: -len(suffix)] in main.data_vars for suffix in _POINT_SUFFIXES
            ):
                continue
            ses = dict(coordinates(main, f"{name}_se", ()))
            bounds = f"{name}_lower" in main.data_vars
            lowers = dict(coordinates(main, f"{name}_lower", ())) if bounds else {}
            uppers = dict(coordinates(main, f"{name}_upper", ())) if bounds else {}
            for label, value in coordinates(main, name, ()):
                se = float(ses[label.replace(name, f"{name}_se", 1)])
                v = float(value)
                if bounds:  # mapped from the unconstrained space: inside the constraint
                    lo = float(lowers[label.replace(name, f"{name}_lower", 1)])
                    hi = float(uppers[label.replace(name, f"{name}_upper", 1)])
                else:  # a file written before the intervals were stored
                    lo, hi = v - 1.96 * se, v + 1.96 * se
                # the end of its own 95 % interval within a tenth of a standard error (an interior
                # estimate is about 1.96 se from each end): the optimiser ran to where the constraint's
                # map saturates, which the Laplace approximation cannot describe
                end = lo if abs(v - lo) <= abs(hi - v) else hi
                if bounds and math.isfinite(end) and math.isfinite(se) and se > 0 and abs(v - end) < 0.1 * se:
                    at_bound.append((label, v, end))
                rows.append([label, fmt(v), fmt(se), _end(lo), _end(hi)])
        lines.append(table(["parameter", "estimate", "se", "2.5%", "97.5%"], rows))
        converged = bool(main.attrs.get("converged", 0))
        lines.append(
            f"log-likelihood {main.attrs.get('log_likelihood', float('nan')):.6g}; "
            f"{'converged' if converged else 'NOT converged'} (gradient norm {main.attrs.get('grad_norm', float('nan')):.2g}"
            f" after {main.attrs.get('steps', '?')} steps)"
        )
        if not converged and main.attrs.get("likelihood") == "particle":
            # the particle filter's gradient is a noisy estimate (stop-gradient resampling), and a
            # discontinuous function of the parameters: near the optimum its norm stays above the
            # tolerance however long Adam and Newton run
            lines.append(
                "warning: the optimiser did not converge: with the particle likelihood the gradient is a noisy "
                "estimate, so its norm often stays above --tolerance even at the optimum, and more --steps "
                "rarely help; check the estimates with another --seed or more --particles, or use --method pmmh"
            )
        elif not converged:
            lines.append("warning: the optimiser did not converge: raise --steps or lower --learning-rate")
        surface = main.attrs.get("se_curvature") == "response-surface"
        if surface:
            lines += _surface_remarks(main.attrs, [r[0] for r in rows if r[2] == "nan"])
        elif any(r[2] == "nan" for r in rows):
            lines.append(
                "warning: some standard errors are NaN: the negative Hessian is not positive definite "
                "(not a maximum, a flat direction, or an estimate on the boundary of its constraint, where the "
                "Laplace standard error is undefined)"
            )
        for label, v, end in at_bound:
            density = "posterior density" if method == "map" else "likelihood"
            lines.append(
                f"warning: `{label}` = {fmt(v)} is on the boundary of its constraint (at {fmt(end)}): the {density} "
                "rises towards the bound, so the Laplace standard error and interval are undefined there (the "
                "figures shown are not meaningful); the data favour the bound: hold it there with "
                f"--fix {label.split('[')[0]}=... near the bound, or leave it out of the model"
            )
        if main.attrs.get("likelihood") == "particle" and not surface:  # a file written before the surface
            lines.append(
                "warning: the particle filter's log-likelihood is an estimate with fixed random numbers, and its "
                "Hessian can be far sharper than the true one: these standard errors can be several times too small; "
                "check them with more --particles, or with --method pmmh (exact posterior draws)"
            )
        if surface:
            lines.append(
                "standard errors: Laplace, with the curvature of a quadratic fitted to particle-filter "
                f"log-likelihoods at {main.attrs.get('se_design_points', '?')} points about 2 se around the "
                f"estimate x {main.attrs.get('se_keys', '?')} independent keys "
                f"({main.attrs.get('se_evaluations', '?')} filter runs; Monte Carlo error of the standard errors "
                f"about {100 * float(main.attrs.get('se_mc_relative_error', float('nan'))):.0f} %); delta method; "
                "the 95 % interval is the unconstrained one mapped through each constraint"
            )
        else:
            lines.append(
                "standard errors: Laplace (inverse negative Hessian in the unconstrained space, delta method); "
                "the 95 % interval is the unconstrained one mapped through each constraint"
            )
    return "\n".join(lines)
