"""``dync sample`` as Python functions the CLI and users share.

``dync sample SPEC -o samples.nc`` is :func:`sample_file` plus writing the
result and printing its diagnostics table (:func:`sample_summary`). Settings
come from :func:`dync.settings.sample_settings` (flags over the spec's
``sample:`` section over the defaults). The CLI checkpoints to
``OUTPUT.ckpt`` (and ``OUTPUT.ckpt.warmup``) and ``--resume`` continues from
them bit-identically.
"""

from __future__ import annotations

import os
from typing import Any

from ..compiler.driver import build_model, compile_ast, read_spec
from ..compiler.overrides import check_law_arguments
from ..dsl import ast
from ..settings import SampleSettings, sample_settings
from .precision import float64_if

__all__ = ["sample", "sample_file", "sample_spec", "sample_summary"]


def sample_spec(
    spec: ast.Spec,
    settings: SampleSettings,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
):
    """Compile a parsed spec with the settings' dims and sample it.

    Returns:
        An ``arviz.InferenceData`` (see :func:`dync.runtime.sampling.sample_model`);
        with ``settings.reverse``, the generated samples of a trained score
        (:func:`dync.commands.generating.generate_spec`, an ``xarray.Dataset``).
    """
    with float64_if(settings.x64):
        if settings.reverse is not None:
            from .generating import generate_spec

            return generate_spec(spec, settings, checkpoint=checkpoint, progress=progress)
        return _sample_target(spec, settings, checkpoint, progress)


def _sample_target(spec: ast.Spec, settings: SampleSettings, checkpoint, progress):
    """:func:`sample_spec` for a ``target`` (or ``dynamics``) run."""
    import jax

    from ..runtime.params import with_params
    from ..runtime.sampling import sample_model

    compiled = compile_ast(spec, settings.dims)
    check_law_arguments(spec, settings.dims, settings.params, "--set")
    if compiled.model.data_dim and settings.data is not None and settings.method != "dynamics":
        compiled = _compile_for_data(spec, settings, compiled)
    model = build_model(compiled, jax.random.key(settings.seed))
    if settings.params:
        model = with_params(model, settings.params)
    return sample_model(model, checkpoint=checkpoint, progress=progress, **settings.run_kwargs())


def _compile_for_data(spec: ast.Spec, settings: SampleSettings, compiled):
    """A target model compiled with its data-point dim set to the number of
    points in ``settings.data`` (as ``--set N=...`` would); a ``--set`` of
    that dim which disagrees with the data is an error."""
    from ..compiler.describe import describe_model
    from ..errors import UsageError
    from ..runtime.sample_data import read_data_arrays

    info = describe_model(compiled.model)
    dim = info.data_dim
    arrays = read_data_arrays(settings.data, info)
    points = int(next(iter(arrays.values())).shape[0]) if arrays else None
    if points is None or dict(info.dims).get(dim) == points:
        return compiled
    if dim in settings.dims:
        raise UsageError(
            f"--set {dim}={settings.dims[dim]}, but the data file holds {points} points along `{dim}`",
            hint=f"drop --set {dim}: the data set the number of points",
        )
    return compile_ast(spec, {**settings.dims, dim: points})


def sample_file(
    path: str | os.PathLike,
    *,
    text: str | None = None,
    sets: Any = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
    **settings: Any,
):
    """Read, compile and sample a spec's ``target``, as ``dync sample`` does.

    Args:
        path: a ``.dync`` or ``.yaml`` spec with a ``target`` (or equations,
            for ``method="dynamics"``).
        text: the spec's text, when it is not to be read from ``path``.
        sets: dims and parameter values (``{"T": 0.5}`` or ``["T=0.5"]``).
        checkpoint: a checkpoint file (resumed if present).
        progress: show progress.
        **settings: ``method``, ``chains``, ``warmup``, ``samples``,
            ``step``, ``thin``, ``seed``, ``friction``, ``mass``,
            ``target_accept``, ``integration_steps``, ``checkpoint_every``;
            for a target that sums over data, ``data`` (a file; its number of
            points sets the data dim), ``batch``, ``step_decay``,
            ``decay_steps`` (``method="sgld"``).

    Example:
        >>> idata = dync.sample("specs/banana.dync", method="mala", chains=8)  # doctest: +SKIP
    """
    spec = read_spec(path, text)
    return sample_spec(spec, sample_settings(spec, sets=sets, **settings), checkpoint=checkpoint, progress=progress)


def sample(model_or_spec: Any, **options: Any):
    """Sample a model's target: :func:`dync.runtime.sampling.sample_model`
    for a compiled model, :func:`sample_file` for a spec path."""
    if isinstance(model_or_spec, (str, os.PathLike)):
        return sample_file(model_or_spec, **options)
    from ..runtime.sampling import sample_model

    return sample_model(model_or_spec, **options)


def sample_summary(idata) -> str:
    """The diagnostics table of a ``dync sample`` result (the summary of
    generated samples for ``--reverse``)."""
    if str(getattr(idata, "attrs", {}).get("method", "")).startswith("reverse"):
        from .generating import generate_summary

        return generate_summary(idata)
    from ..runtime.diagnostics import posterior_table

    post = idata.posterior
    a = post.attrs
    lines = [
        f"model {a.get('model', '?')}: {a.get('method', '?')}, {post.sizes['chain']} chains x "
        f"{post.sizes['draw']} draws (after {a.get('warmup', '?')} warm-up steps, thin {a.get('thin', 1)})"
    ]
    stats = idata.sample_stats if "sample_stats" in idata.groups() else None
    lines += posterior_table(post, stats, seconds=a.get("sampling_seconds"))
    if a.get("not_finite_near"):
        lines.append(
            f"warning: the target is not finite close to the draws (at {a['not_finite_near']}): a support bound "
            "(`log(q)` needs q > 0) makes trajectories that cross it diverge, and the draws near it are biased; "
            "sample an unbounded variable instead, e.g. `q = exp(u)` with the log-Jacobian `+ u` added to the target"
        )
    return "\n".join(lines)
