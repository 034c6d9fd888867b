"""``dync fit`` as Python functions the CLI and users share.

``dync fit SPEC DATA -o fit.nc`` is :func:`fit_file` plus writing the result
(:func:`write_fit`) and printing :func:`dync.runtime.fit.fit_summary`. The
settings are merged by :func:`dync.settings.fit_settings` (flags over the
spec's ``fit:`` section over the defaults), the spec is compiled with the
``--set`` dims, and the model starts from its declared values overridden by
the ``--set`` parameter values.

Checkpoints: the CLI always checkpoints to ``OUTPUT.ckpt`` (and
``OUTPUT.ckpt.warmup`` for NUTS's adapted state); ``--resume`` continues
from them, bit-identically, and a fit that completes removes them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..compiler.driver import build_model, compile_ast, read_spec
from ..compiler.overrides import check_law_arguments
from ..dsl import ast
from ..settings import FitSettings, fit_settings
from .precision import float64_if

__all__ = ["checkpoint_files", "fit", "fit_file", "fit_spec", "write_fit"]


def checkpoint_files(output: str | os.PathLike) -> tuple[Path, Path]:
    """The checkpoint of a fit written to ``output``, and its warm-up file."""
    ckpt = Path(f"{os.fspath(output)}.ckpt")
    return ckpt, Path(f"{ckpt}.warmup")


def fit_spec(
    spec: ast.Spec,
    data: Any,
    settings: FitSettings,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
):
    """Compile a parsed spec with the settings' dims and fit it to ``data``.

    Args:
        spec: the parsed spec (read once, by the caller).
        data: a NetCDF or CSV path, or an xarray Dataset.
        settings: from :func:`dync.settings.fit_settings`.
        checkpoint: a checkpoint file (resumed if present).
        progress: show progress bars.

    Returns:
        The fit as an ``arviz.InferenceData`` (see ``docs/fitting.md``).

    Raises:
        SpecErrors: the spec has errors.
        UsageError: a setting or a fixed parameter does not fit the model.
        DataError: the data cannot be read for this model.
    """
    import jax

    from ..runtime.fit import fit_model
    from ..runtime.params import with_params

    with float64_if(settings.x64):
        compiled = compile_ast(spec, settings.dims)
        # starting and held values replace the spec's after its laws were checked
        check_law_arguments(spec, settings.dims, settings.params, "--set")
        check_law_arguments(spec, settings.dims, {**settings.params, **settings.fix}, "--fix")
        model = build_model(compiled, jax.random.key(settings.seed))
        if settings.params:
            model = with_params(model, settings.params)
        for name, value in settings.fix.items():  # a value the compiled code would ignore, named as the flag
            p = next((q for q in model.info.params if q.name == name), None)
            if p is not None and p.compile_time:
                _check_held_value(spec, model, p, value, flagged=name in settings.fix_flagged)
        return fit_model(
            model, os.fspath(data) if isinstance(data, os.PathLike) else data, checkpoint=None if checkpoint is None
            else os.fspath(checkpoint), progress=progress, **settings.run_kwargs(),
        )  # fmt: skip


def _check_held_value(spec: ast.Spec, model: Any, p: Any, value: float, *, flagged: bool) -> None:
    """Refuse to hold ``p``, read when the spec compiles, at another value than
    the compiled one (a spec value computed as `2 * j`, which the settings
    could not compare): named as the flag, or located at the YAML spec's
    ``fit: fix:`` entry when the value came from there.

    Raises:
        UsageError: the value came from ``--fix``.
        SpecErrors: it came from ``fit: fix:`` (E261 at the entry).
    """
    import numpy as np

    from ..errors import BadValue, SpecErrors, UsageError
    from ..runtime.params import check_compile_time_value

    span = None if flagged else spec.setting_span("fit", f"fix.{p.name}") or spec.setting_span("fit", "fix")
    try:
        check_compile_time_value(model, p, value, "fit.fix" if span is not None else f"`--fix {p.name}={value:g}`")
    except UsageError as err:
        if span is None:
            raise
        compiled = np.asarray(model.constrained_params()[p.name], dtype=float)
        shown = f"{compiled.item():g}" if compiled.ndim == 0 else str(compiled.tolist())
        raise SpecErrors([BadValue(err.message, span, hint=f"hold it at {shown}, or change its value in the spec")]) from None


def fit_file(
    path: str | os.PathLike,
    data: Any,
    *,
    text: str | None = None,
    sets: Any = None,
    fix: Any = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
    **settings: Any,
):
    """Read, compile and fit a spec to data, as ``dync fit`` does.

    Args:
        path: a ``.dync`` or ``.yaml`` spec; a YAML spec's ``fit:`` section
            gives defaults.
        data: a NetCDF or CSV path, or an xarray Dataset (LANGUAGE.md §11).
        text: the spec's text, when it is not to be read from ``path``.
        sets: dims and starting parameter values, ``{"K": 4, "theta": 0.5}``
            or ``["K=4", "theta=0.5"]``.
        fix: parameters held fixed, ``{"sigma": 0.5}`` or ``["sigma=0.5"]``.
        checkpoint: a checkpoint file (resumed if present).
        progress: show progress bars.
        **settings: ``method`` (``"mle"``, ``"map"``, ``"nuts"``),
            ``likelihood``, ``seed``, ``chains``, ``warmup``, ``draws``,
            ``target_accept``, ``steps``, ``learning_rate``, ``tolerance``,
            ``particles``, ``dt``, ``x64``, ``pointwise``,
            ``checkpoint_every``: over the spec's section, over the defaults.

    Returns:
        An ``arviz.InferenceData``.

    Example:
        >>> idata = dync.fit("specs/ou.dync", "ou.nc", method="nuts", chains=4)  # doctest: +SKIP
        >>> print(dync.runtime.fit.fit_summary(idata))  # doctest: +SKIP
    """
    spec = read_spec(path, text)
    return fit_spec(spec, data, fit_settings(spec, sets=sets, fix=fix, **settings), checkpoint=checkpoint,
                    progress=progress)  # fmt: skip


def write_fit(idata, output: str | os.PathLike) -> None:
    """Write a fit to NetCDF atomically (a temporary file renamed over
    ``output`` when complete)."""
    from ..runtime.posterior import write_inference_data

    write_inference_data(idata, output)


def fit(model_or_spec: Any, data: Any, **options: Any):
    """Fit a model to data: :func:`dync.runtime.fit.fit_model` for a compiled
    model, :func:`fit_file` for a spec path.

    Args:
        model_or_spec: a compiled model (``dync.load(...)``) or a spec path.
        data: a NetCDF or CSV path, or an xarray Dataset.
        **options: for a model, the keywords of
            :func:`~dync.runtime.fit.fit_model`; for a spec path, those of
            :func:`fit_file` (which also reads the spec's ``fit:`` section).

    Returns:
        An ``arviz.InferenceData``.

    Example:
        >>> idata = dync.fit("specs/ou.dync", "ou.nc", method="mle")  # doctest: +SKIP
    """
    if isinstance(model_or_spec, (str, os.PathLike)):
        return fit_file(model_or_spec, data, **options)
    from ..runtime.fit import fit_model

    return fit_model(model_or_spec, data, **options)
