"""``dync fit --method vi``: amortised variational inference of latent
paths, and the fit file it writes.

:func:`fit_vi` trains a bidirectional-GRU encoder (:mod:`.encoder`) and a
posterior control (:mod:`.posterior`) together with the spec's parameters
and nets by maximising the ELBO (:mod:`.elbo`, :mod:`.training`), then
writes the inferred paths and rates of every series. :func:`load_vi` rebuilds
the trained pieces from a fit file and :func:`infer` runs them on new series
(held-out trials), which is what ``dync evaluate`` does.

Held-out components. A data set's attribute ``heldout`` (JSON, name → flat
component indices, as the Lorenz generator writes) names components the
encoder must not read: they still enter the likelihood (so the readout learns
them on the training series), but the latent paths are inferred from the
others only: the co-smoothing protocol (``docs/latent.md``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..._version import __version__
from ...errors import DyncRuntimeError, UsageError
from ..data import ObservationData, PaddedData
from ..diagnostics import coordinates, fmt, table
from ..inference_data import combine_groups, data_groups
from ..kernels import run_kernel
from ..likelihood import data_digest, read_data
from ..model import AbstractModel
from ..posterior import model_digest
from ..params import HeldFixed, check_compile_time_held, hold_fixed, learnable_filter, lookup_param, param_infos, unconstrained_params, with_params
from .encoder import Encoder, FeatureMap, encoder_features, feature_map
from .outputs import posterior_summary, summary_groups, weights_bytes, weights_from_bytes
from .posterior import Controller, driven_noise
from .training import Batch, vi_kernel

__all__ = ["VIFit", "fit_vi", "heldout_of", "infer", "load_vi", "vi_summary"]

#: the controller MLP's width
CONTROL_WIDTH = 64
#: posterior paths per series in the written summaries
SUMMARY_SAMPLES = 32


class VIFit(NamedTuple):
    """The trained pieces of a variational fit.

    Attributes:
        model: the spec's model at the learned parameters.
        encoder, controller: the variational posterior.
        features: how the encoder reads observations.
        free: the initial components with a normal prior law (q(x0) is over them).
        driven: the noise components the control acts on.
        substeps: Euler–Maruyama steps per observation interval.
    """

    model: AbstractModel
    encoder: Encoder
    controller: Controller
    features: FeatureMap
    free: np.ndarray
    driven: np.ndarray
    substeps: int


def heldout_of(data: Any) -> dict[str, list[int]]:
    """The ``heldout`` attribute of a NetCDF file or Dataset (``{}`` if none
    or for CSV data)."""
    attrs: Mapping[str, Any] = {}
    if isinstance(data, xr.Dataset):
        attrs = data.attrs
    elif isinstance(data, (str, os.PathLike)) and str(data).endswith(".nc") and os.path.exists(data):
        try:
            with xr.open_dataset(data) as ds:
                attrs = dict(ds.attrs)
        except Exception:  # an unreadable file is reported by the data reader
            attrs = {}
    raw = attrs.get("heldout")
    if not raw:
        return {}
    try:
        out = json.loads(raw)
        return {str(k): [int(i) for i in v] for k, v in out.items()}
    except (ValueError, TypeError, AttributeError):
        raise UsageError(f"data attribute `heldout` = {raw!r} is not JSON name -> [indices]",
                         hint='for example {"spikes": [24, 25, 26]}') from None  # fmt: skip


def _check_model(model: AbstractModel) -> np.ndarray:
    info = model.info
    if not info.observations:
        raise UsageError(f"model `{info.name}` has no `observe` line, so there is nothing to fit it to",
                         hint="add `observe NAME ~ LAW(...)` lines for the measured quantities (docs/language.md §2.11)")  # fmt: skip
    if info.inputs:
        raise UsageError("--method vi does not support `input` declarations yet",
                         hint="use --method mle or nuts, or drop the input")  # fmt: skip
    if info.fbm_num_ou:
        raise UsageError("--method vi does not support fractional noise", hint="use --method mle (particle filter)")
    mean, std = (np.asarray(a) for a in model.initial_moments())
    bad = [s.name for s in info.states if np.any(np.isnan(std[s.offset : s.offset + s.size]))]
    if bad:
        raise UsageError(
            f"--method vi needs each initial state fixed or Normal; {', '.join(f'`{b}`' for b in bad)} is not",
            hint="write `state x ~ Normal(m, s)` or `state x = value`",
        )
    return np.flatnonzero(std > 0).astype(np.int32)


def _batch(padded: PaddedData, fmap: FeatureMap, info, dtype) -> Batch:
    values = {o.name: jnp.asarray(padded.values[o.name], dtype) for o in info.observations}
    return Batch(jnp.asarray(encoder_features(padded, fmap), dtype), jnp.asarray(padded.times, dtype), values,
                 jnp.asarray(padded.present, bool))  # fmt: skip


def _substeps(padded: PaddedData, dt: float | None) -> int:
    if dt is None:
        return 1
    gaps = np.diff(np.asarray(padded.times, np.float64), axis=1)
    longest = float(gaps.max()) if gaps.size else 0.0
    return max(1, math.ceil(longest / float(dt) - 1e-9))


def _filter(model: AbstractModel, fixed: Mapping[str, Any], encoder, controller):
    spec = learnable_filter(model)
    for name in fixed:
        field = param_infos(model.info)[name].field
        spec = eqx.tree_at(lambda m, f=field: getattr(m, f), spec, False)
    return (spec, jax.tree_util.tree_map(eqx.is_inexact_array, encoder),
            jax.tree_util.tree_map(eqx.is_inexact_array, controller))  # fmt: skip


def _pieces(model, fixed, features: FeatureMap, free, driven, hidden: int, context: int, key):
    ke, kc = jax.random.split(key)
    encoder = Encoder(features.size, hidden, len(free), context, key=ke)
    controller = Controller(model.info.state_size, context, len(driven), CONTROL_WIDTH, key=kc)
    parts = (model, encoder, controller)
    return parts, _filter(model, fixed, encoder, controller)


def fit_vi(
    model: AbstractModel,
    data: Any,
    *,
    seed: int = 0,
    fix: Mapping[str, Any] | None = None,
    steps: int = 2000,
    learning_rate: float = 0.01,
    dt: float | None = None,
    samples: int = 4,
    batch_size: int = 32,
    kl_anneal: int | None = None,
    hidden: int = 64,
    context: int = 16,
    heldout: Mapping[str, Sequence[int]] | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    progress: bool | None = None,
):
    """Amortised variational inference of a latent-state model (see
    ``docs/latent.md``).

    Args:
        model: a compiled model with ``observe`` lines; its current parameter
            values start the fit.
        data: a NetCDF or CSV path, a Dataset, or data records.
        seed: the networks' initial weights and every draw.
        fix: name → value of parameters held fixed.
        steps: optimiser steps.
        learning_rate: Adam's peak step size.
        dt: the largest Euler–Maruyama step (default: one step per
            observation interval).
        samples: posterior paths per series per step.
        batch_size: series per step.
        kl_anneal: steps over which the KL weight rises from 0 to 1
            (default ``steps // 5``; 0: no annealing).
        hidden, context: the GRU width and the context size.
        heldout: name → flat component indices the encoder must not read
            (default: the data's ``heldout`` attribute).
        checkpoint, checkpoint_every, progress: as for every kernel run.

    Returns:
        An ``arviz.InferenceData`` with groups ``point_estimate`` (learned
        parameters), ``elbo_trace``, ``latent_states``, ``rates``,
        ``observed_data`` and ``vi_weights`` (``docs/latent.md``).
    """
    free = _check_model(model)
    driven = driven_noise(model.info)
    records = read_data(model, data)
    padded = records.padded() if isinstance(records, ObservationData) else records
    heldout = dict(heldout_of(data) if heldout is None else heldout)
    _check_heldout(model, heldout)
    split = _hold(model, fix)
    model = split.model
    dtype = jnp.result_type(float)
    fmap = feature_map(padded, model.info, heldout)
    batch = _batch(padded, fmap, model.info, dtype)
    substeps = _substeps(padded, dt)
    observed = int(sum(np.sum(np.isfinite(np.asarray(padded.values[o.name]))) for o in model.info.observations))
    anneal = int(steps) // 5 if kl_anneal is None else int(kl_anneal)
    key = jax.random.key(int(seed))
    parts, filter_spec = _pieces(model, split.fixed, fmap, free, driven, hidden, context, jax.random.fold_in(key, 1))
    learned, static = eqx.partition(parts, filter_spec)
    identity = (f"vi steps={steps} lr={learning_rate} samples={samples} batch={batch_size} anneal={anneal} hidden={hidden} "
                f"context={context} substeps={substeps} fix={sorted(split.fixed.items())} heldout={sorted(heldout.items())} "
                f"data={data_digest(padded)}")  # fmt: skip
    kernel = _cached_kernel(
        identity + model_digest(static),
        lambda: vi_kernel(static, batch, free=free, driven=driven, samples=samples, substeps=substeps,
                          batch_size=batch_size, kl_anneal=anneal, learning_rate=learning_rate, steps=steps,
                          observed=max(observed, 1))[0],
    )  # fmt: skip

    def check(chunk, done):
        if not np.all(np.isfinite(chunk.elbo)):
            raise DyncRuntimeError(
                f"the ELBO became NaN or infinite by step {done}",
                hint="lower --learning-rate, or give --dt a smaller step (an unstable Euler step)",
            )

    run = run_kernel(
        kernel, kernel.init(learned), jax.random.fold_in(key, 2), steps, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, progress=progress, description=f"vi {model.info.name}",
        identity=identity, status_fn=lambda c, d: f"step {d}  ELBO {float(np.mean(c.elbo)):.6g}", on_chunk=check,
    )  # fmt: skip
    trained = eqx.combine(run.state.learned, static)
    fitted = VIFit(trained[0], trained[1], trained[2], fmap, free, driven, substeps)
    summary = posterior_summary(trained, batch, jax.random.fold_in(key, 3), free=free, driven=driven,
                                substeps=substeps, samples=SUMMARY_SAMPLES)  # fmt: skip
    labels = [s.name or str(i) for i, s in enumerate(records.series)] if isinstance(records, ObservationData) \
        else [str(i) for i in range(padded.num_series)]  # fmt: skip
    groups = summary_groups(fitted.model, summary, np.asarray(padded.times), np.asarray(padded.present), labels)
    point = _estimates(fitted.model, split.fixed)
    point["series_elbo"] = (("series",), summary["elbo"])
    point = xr.Dataset(point, coords={"series": labels})
    elbo = float(np.sum(summary["elbo"]))
    point.attrs.update({"elbo": elbo, "elbo_per_observation": elbo / max(observed, 1)})
    info = run.info
    trace = xr.Dataset({"elbo": (("step",), np.asarray(info.elbo, np.float64)),
                        "loglik": (("step",), np.asarray(info.loglik, np.float64)),
                        "kl_initial": (("step",), np.asarray(info.kl_initial, np.float64)),
                        "kl_path": (("step",), np.asarray(info.kl_path, np.float64)),
                        "beta": (("step",), np.asarray(info.beta, np.float64))})  # fmt: skip
    weights = xr.Dataset({"weights": (("byte",), weights_bytes(run.state.learned))})
    weights.attrs.update({"features_json": fmap.to_json(), "hidden": int(hidden), "context": int(context),
                          "control_width": CONTROL_WIDTH, "substeps": int(substeps), "seed": int(seed)})  # fmt: skip
    shapes = {o.name: tuple(o.shape) for o in model.info.observations}
    idata = combine_groups(None, point_estimate=point, elbo_trace=trace, vi_weights=weights,
                           **data_groups(records, shapes), **groups)  # fmt: skip
    source = getattr(model, "source", None)
    point.attrs.update({
        "method": "vi", "likelihood": "elbo", "model": model.info.name,
        "spec_text": getattr(source, "text", "") or "", "spec_path": getattr(source, "path", "") or "",
        "dims_json": json.dumps(dict(model.info.dims)),
        "fixed_json": json.dumps({n: np.asarray(v).tolist() for n, v in split.fixed.items()}),
        "heldout_json": json.dumps(heldout),
        "data_path": str(data) if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__") else "",
        "seed": int(seed), "steps": int(steps), "learning_rate": float(learning_rate), "samples": int(samples),
        "batch_size": int(batch_size), "kl_anneal": anneal, "hidden": int(hidden), "context": int(context),
        "dt": float(dt) if dt is not None else float("nan"), "dync_version": __version__,
    })  # fmt: skip
    idata.point_estimate.attrs.update(point.attrs)
    return idata


def _hold(model: AbstractModel, fix: Mapping[str, Any] | None):
    """``hold_fixed``, except that every parameter may be fixed, or the
    model may have none (a neural SDE whose drift and readout are nets): the
    encoder and the nets are still learned."""
    fix = dict(fix or {})
    check_compile_time_held(model, fix, "fit")
    if set(fix) >= set(unconstrained_params(model)):
        for name in fix:
            lookup_param(model.info, name, "fix")
        return HeldFixed(with_params(model, fix) if fix else model, fix, {}, {})
    return hold_fixed(model, fix, "fit")


_KERNELS: dict[str, Any] = {}


def _cached_kernel(identity: str, build):
    """The kernel of an identical earlier fit in this process (same settings,
    data, model and networks' structure), so that a resumed or repeated fit
    reuses its compiled steps; one is kept."""
    if identity not in _KERNELS:
        _KERNELS.clear()
        _KERNELS[identity] = build()
    return _KERNELS[identity]


def _check_heldout(model: AbstractModel, heldout: Mapping[str, Sequence[int]]) -> None:
    for name, idx in heldout.items():
        obs = {o.name: o for o in model.info.observations}.get(name)
        if obs is None:
            raise UsageError(f"held-out components of `{name}`, which is no `observe` name of the model")
        size = int(np.prod(obs.shape)) if obs.shape else 1
        if any(not 0 <= int(i) < size for i in idx):
            raise UsageError(f"held-out component indices of `{name}` must lie in 0..{size - 1}")


def _estimates(model: AbstractModel, fixed: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, u in unconstrained_params(model).items():
        if name in fixed:
            continue
        value = np.asarray(model.info.param(name).constraint.forward(u))
        out[name] = (tuple(f"{name}_dim{i}" for i in range(value.ndim)), value)
    return out


def load_vi(idata, model: AbstractModel) -> VIFit:
    """The trained pieces of a ``--method vi`` fit file (an
    ``InferenceData`` read with ``arviz.from_netcdf``).

    Args:
        idata: the fit.
        model: the spec's model, compiled with the fit's dims (the caller
            rebuilds it from the fit's ``spec_text`` and ``dims_json``:
            :func:`dync.commands.evaluating.load_vi_fit`).

    Raises:
        UsageError: not a VI fit, or the model is not the fit's.
    """
    if "vi_weights" not in idata.groups() or "point_estimate" not in idata.groups():
        raise UsageError("not a `dync fit --method vi` file: no `vi_weights` group",
                         hint="fit with `dync fit SPEC DATA --method vi -o fit.nc`")  # fmt: skip
    attrs = idata.point_estimate.attrs
    weights = idata.vi_weights
    if attrs.get("model") != model.info.name:
        raise UsageError(f"the fit is of model `{attrs.get('model')}`, not `{model.info.name}`")
    fixed = json.loads(attrs.get("fixed_json", "{}"))
    split = _hold(model, fixed)
    model = split.model
    free = _check_model(model)
    driven = driven_noise(model.info)
    fmap = FeatureMap.from_json(weights.attrs["features_json"])
    parts, filter_spec = _pieces(model, split.fixed, fmap, free, driven, int(weights.attrs["hidden"]),
                                 int(weights.attrs["context"]), jax.random.key(0))  # fmt: skip
    learned, static = eqx.partition(parts, filter_spec)
    try:
        learned = weights_from_bytes(weights["weights"].values, learned)
    except Exception as e:  # a structure or shape mismatch
        raise UsageError(f"the fit's weights do not match the model ({e})",
                         hint="rebuild the model with the fit's dims (dims_json)") from None  # fmt: skip
    m, e, c = eqx.combine(learned, static)
    return VIFit(m, e, c, fmap, free, driven, int(weights.attrs["substeps"]))


def infer(fit: VIFit, data: Any, *, seed: int = 0, samples: int = SUMMARY_SAMPLES) -> dict[str, Any]:
    """Infer the latent paths and rates of (new) series with a trained fit.

    Returns:
        :func:`.outputs.posterior_summary`'s dict, plus ``times`` and
        ``present`` ``(S, T)``.
    """
    records = read_data(fit.model, data)
    padded = records.padded() if isinstance(records, ObservationData) else records
    batch = _batch(padded, fit.features, fit.model.info, jnp.result_type(float))
    out = posterior_summary((fit.model, fit.encoder, fit.controller), batch, jax.random.key(int(seed)),
                            free=fit.free, driven=fit.driven, substeps=fit.substeps, samples=samples)  # fmt: skip
    out["times"] = np.asarray(padded.times)
    out["present"] = np.asarray(padded.present)
    return out


def vi_summary(idata) -> str:
    """A VI fit as text: the learned parameters, the final ELBO and its trend."""
    main = idata.point_estimate
    lines = [f"model {main.attrs.get('model', '?')}: variational inference (amortised, latent SDE paths)"]
    fixed = json.loads(main.attrs.get("fixed_json", "{}") or "{}")
    if fixed:
        lines.append("held fixed: " + ", ".join(f"{k} = {v}" for k, v in fixed.items()))
    rows = []
    for name in main.data_vars:
        if name == "series_elbo":
            continue
        for label, value in coordinates(main, name, ()):
            rows.append([label, fmt(float(value))])
    if len(rows) > 40:
        rows = rows[:40] + [["...", f"({len(rows) - 40} more)"]]
    lines.append(table(["parameter", "estimate"], rows))
    elbo = idata.elbo_trace.elbo.values
    tail = elbo[-max(1, len(elbo) // 10):]
    lines.append(f"ELBO {main.attrs.get('elbo', float('nan')):.6g} over {main.sizes.get('series', 0)} series "
                 f"({main.attrs.get('elbo_per_observation', float('nan')):.4g} per observed value); "
                 f"training estimate over the last {len(tail)} steps {np.mean(tail):.6g}")  # fmt: skip
    lines.append("estimates are point values (the ELBO is maximised over them); no standard errors")
    return "\n".join(lines)
