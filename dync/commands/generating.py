"""``dync sample --reverse`` as Python functions: generating from a trained
``score`` (docs/diffusion.md).

:func:`generate_spec` compiles the spec, loads the weights of
``dync train``, builds the forward SDE's Gaussian transition and terminal law
(:mod:`dync.runtime.forward_sde`, :mod:`dync.runtime.reverse`), runs the
chosen reverse sampler and, with ``loglik``, computes exact log-likelihoods
through the probability-flow ODE. The result is an :class:`xarray.Dataset`
in the samples format of LANGUAGE.md §11 (a variable named after the state,
dims ``(sample, ...)``), so a generated file is valid training or likelihood
data itself.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..compiler.driver import compile_ast
from ..dsl import ast
from ..errors import UsageError
from ..settings import SampleSettings
from .loading import build_trained

__all__ = ["generate_spec", "generate_summary"]


def generate_spec(
    spec: ast.Spec,
    settings: SampleSettings,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
):
    """Generate ``settings.samples`` points from the spec's trained score.

    Returns:
        An ``xarray.Dataset``: the samples (``x``, dims ``(sample,
        x_dim0, ...)``, as dync simulate names them), and with ``loglik`` a variable ``loglik`` (nats)
        over the generated samples or over ``settings.data``'s points
        (dim ``point``); attributes say the method, steps, score
        evaluations per sample and the mean log-likelihood in nats and
        bits per dimension.
    """
    import numpy as np
    import xarray as xr

    from ..compiler.prior import check_prior
    from ..dsl.format import format_expr
    from ..runtime.reverse import distribution_prior, log_likelihood, prior_from_meta, reverse_sample
    from ..runtime.sample_data import read_samples
    from ..runtime.score_training import score_state

    if settings.params:
        names = ", ".join(settings.params)
        raise UsageError(
            f"--set {names}: the forward SDE of a trained score is the one it was trained with",
            hint="train again with --set to change a parameter; dims may be set (to the trained values)",
        )
    compiled = compile_ast(spec, settings.dims)
    model, meta = build_trained(compiled, settings.weights)
    state = score_state(model)
    t_min, t1 = float(meta["t_min"]), float(meta["t1"])
    if settings.prior is not None:
        law = check_prior(settings.prior, compiled.model, state, format_expr(settings.prior))
        prior = distribution_prior(law.name, law.args, law.shape)
    else:
        prior = prior_from_meta(model, meta)
    if settings.loglik and settings.prior is None and meta.get("forward_class", "linear") not in ("linear", "log-linear"):
        raise UsageError(
            "--loglik needs the forward SDE's law at t1 as a density, and this forward SDE is not linear",
            hint='exact log-likelihoods are for linear forward SDEs (VP, VE, sub-VP), or from a --prior "..." you give',
        )
    if (settings.anneal is not None or settings.product is not None) and meta.get("forward_class", "linear") != "linear":
        raise UsageError("Feynman–Kac correctors here need a linear forward SDE (state-independent noise)")
    fk = None
    if settings.anneal is not None or settings.product is not None:
        fk = _feynman_kac(model, meta, prior, settings, checkpoint=checkpoint, progress=progress)
        result = fk
    else:
        result = reverse_sample(
            model, prior, method=settings.reverse, samples=settings.samples, steps=settings.steps, seed=settings.seed,
            t_min=t_min, t1=t1, snr=settings.snr, corrector_steps=settings.corrector_steps, checkpoint=checkpoint,
            checkpoint_every=settings.checkpoint_every, progress=progress,
        )  # fmt: skip
    shape = model.info.state(state).shape
    dims = ("sample",) + tuple(f"{state}_dim{k}" for k in range(len(shape)))
    x = result.x.reshape((result.x.shape[0],) + tuple(shape))
    nfe = result.nfe if fk is None else float(2 * fk.n_models * settings.steps)
    attrs = {
        "model": model.info.name, "method": f"reverse {settings.reverse}", "steps": settings.steps,
        "score_evaluations": nfe, "t_min": t_min, "t1": t1, "seed": settings.seed, "weights": str(settings.weights),
    }  # fmt: skip
    if fk is not None:
        attrs.update(
            method=f"reverse sde, Feynman-Kac {fk.target}", fk_target=fk.target, fk_log_normalizer=fk.log_normalizer,
            fk_min_ess=float(fk.ess.min()), fk_resamples=fk.resamples,
        )
    if settings.reverse == "pc":
        attrs.update(snr=settings.snr, corrector_steps=settings.corrector_steps)
    if settings.prior is not None:
        attrs["prior"] = law.text
    if meta.get("data_file"):
        attrs["training_data"] = str(meta["data_file"])  # what `dync plot` compares the samples with
    ds = xr.Dataset({state: (dims, x)}, attrs=attrs)
    if settings.loglik:
        if settings.data is not None:
            points = read_samples(settings.data, model.info, state).reshape(-1, model.info.state_size)
            where = ("point",)
        else:
            points, where = result.x, ("sample",)
        logp, nfe = log_likelihood(model, prior, points, t_min=t_min, t1=t1, seed=settings.seed)
        n = model.info.state_size
        mean = float(np.mean(logp))
        ds["loglik"] = (where, logp)
        ds["loglik"].attrs["units"] = "nats"
        ds.attrs.update(
            loglik_of=settings.data if settings.data is not None else "generated samples",
            loglik_mean_nats=mean,
            loglik_bits_per_dim=-mean / (n * math.log(2)),
            loglik_ode_evaluations=nfe,
        )
    return ds


class _FKRun:
    """A Feynman–Kac run as :func:`generate_spec` reports it."""

    def __init__(self, result, target: str, n_models: int):
        self.x, self.log_normalizer, self.ess, self.resamples = result.x, result.log_normalizer, result.ess, result.resamples
        self.target, self.n_models = target, n_models


def _feynman_kac(model, meta, prior, settings: SampleSettings, *, checkpoint, progress) -> _FKRun:
    """``--anneal`` or ``--product`` (with ``--guidance``): weighted particles."""
    from ..runtime.fk import fk_sample
    from ..runtime.forward_sde import gaussian_transition
    from ..runtime.reverse import terminal_prior
    from ..runtime.score_training import load_weights

    if settings.anneal is not None:
        models, betas, priors = [model], [settings.anneal], [prior]
        target = f"p^{settings.anneal:g}"
    else:
        other, meta2 = load_weights(model, settings.product)
        if (meta2["t_min"], meta2["t1"]) != (meta["t_min"], meta["t1"]):
            raise UsageError(
                f"--product {settings.product}: trained on t in [{meta2['t_min']:g}, {meta2['t1']:g}], "
                f"but --weights on [{meta['t_min']:g}, {meta['t1']:g}]",
                hint="train both scores with the same --t-min and --t1",
            )
        w = 1.0 if settings.guidance is None else settings.guidance
        betas = [w, 1.0] if settings.guidance is None else [w, 1.0 - w]
        models = [model, other]
        priors = [prior, terminal_prior(gaussian_transition(other, meta2["t1"]), meta2["data_mean"], meta2["data_cov"])]
        target = "p1 p2" if settings.guidance is None else f"p1^{w:g} p2^{1 - w:g}"
    result = fk_sample(
        models, betas, priors, samples=settings.samples, steps=settings.steps, seed=settings.seed, t_min=meta["t_min"],
        t1=meta["t1"], checkpoint=checkpoint, checkpoint_every=settings.checkpoint_every, progress=progress,
    )  # fmt: skip
    return _FKRun(result, target, len(models))


def generate_summary(ds: Any) -> str:
    """What ``dync sample --reverse`` prints: the run, the samples' moments
    and the log-likelihood."""
    import numpy as np

    a = ds.attrs
    names = [v for v in ds.data_vars if v != "loglik"]
    x = np.asarray(ds[names[0]].values).reshape(ds.sizes["sample"], -1)
    lines = [
        f"model {a['model']}: {a['method']}, {x.shape[0]} samples, t from {a['t1']:g} to {a['t_min']:g}, "
        f"{a['score_evaluations']:.0f} score evaluations per sample" + (f", started from {a['prior']}" if "prior" in a else ""),
        "mean: " + " ".join(f"{v:.4g}" for v in x.mean(axis=0)),
        "std:  " + " ".join(f"{v:.4g}" for v in x.std(axis=0)),
    ]
    if "fk_target" in a:
        lines.append(
            f"Feynman-Kac {a['fk_target']}: log normaliser {a['fk_log_normalizer']:.4f}, "
            f"min ESS {a['fk_min_ess']:.0f} of {x.shape[0]}, {a['fk_resamples']} resamplings"
        )
    if "loglik" in ds:
        lines.append(
            f"log-likelihood of {a['loglik_of']}: mean {a['loglik_mean_nats']:.4f} nats, "
            f"{a['loglik_bits_per_dim']:.4f} bits/dim ({a['loglik_ode_evaluations']:.0f} ODE evaluations per point)"
        )
    return "\n".join(lines)
