"""``dync evaluate`` as Python functions: score a ``dync fit --method vi``
fit on evaluation trials (bits per spike, co-smoothing, rate R²,
forward prediction; ``docs/latent.md``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["evaluate", "evaluation_table", "load_vi_fit"]

#: the metrics, in table order, with their column titles
COLUMNS = (("trials", "trials"), ("bps", "bps (held-in)"), ("co_bps", "co-bps"), ("r2", "rate R²"),
           ("r2_heldout", "R² held-out"), ("fp_bps", "fp-bps"))  # fmt: skip


def load_vi_fit(path: str | os.PathLike):
    """The trained pieces of a VI fit file: its model is rebuilt from the
    spec text and dims it records, then its weights are read.

    Raises:
        UsageError: not a readable VI fit.
    """
    import json

    import jax

    from ..compiler.driver import build_model, compile_ast, read_spec
    from ..errors import UsageError
    from ..runtime.latent.fit import load_vi
    from .plot import netcdf_groups, read_fit

    hint = "FIT is the file `dync fit SPEC DATA --method vi -o fit.nc` writes"
    try:
        groups = netcdf_groups(Path(path))
    except UsageError as err:
        raise UsageError(err.message, hint=hint) from None
    if "vi_weights" not in groups or "point_estimate" not in groups:
        raise UsageError(f"{path} is not a `dync fit --method vi` fit (no `vi_weights` group)",
                         hint="fit with `dync fit SPEC DATA --method vi -o fit.nc`")  # fmt: skip
    idata = read_fit(Path(path), groups)
    attrs = dict(idata.point_estimate.attrs)
    if not isinstance(attrs.get("spec_text"), str):
        raise UsageError(f"{path} does not record its spec (no `spec_text` attribute of `point_estimate`)", hint=hint)
    try:
        dims = {str(k): int(v) for k, v in json.loads(attrs.get("dims_json", "{}") or "{}").items()}
        seed = int(attrs.get("seed", 0))
    except (TypeError, ValueError, AttributeError) as err:
        raise UsageError(f"{path} records unreadable dims or seed ({err})", hint=hint) from None
    spec = read_spec(str(attrs.get("spec_path") or "fit.dync"), attrs["spec_text"])
    model = build_model(compile_ast(spec, dims), jax.random.key(seed))
    try:
        return load_vi(idata, model)
    except (KeyError, TypeError, ValueError) as err:  # a damaged fit: a missing or unreadable attribute
        what = f"no {err}" if isinstance(err, KeyError) else str(err)
        raise UsageError(f"cannot read the VI weights of {path}: {what}", hint=hint) from None


def evaluate(fit_path: str | os.PathLike, data: Any, truth: Any, **options: Any) -> dict[str, dict[str, float]]:
    """Score the VI fit in ``fit_path`` on ``data`` (evaluation trials)
    against ``truth`` (a NetCDF path or Dataset with every trial's counts
    ``name``, ``spikes`` by default, ``rates`` and ``split``).

    ``options``: ``name``, ``forward_bins``, ``seed``, ``samples`` of
    :func:`dync.runtime.latent.evaluate.evaluate_fit`.

    Raises:
        UsageError: a missing file, a fit that is not a readable VI fit, or
            bad options.
        DataError: data or truth not in the format of ``docs/latent.md``.

    Example:
        >>> dync.evaluate("fit.nc", "lorenz_eval.nc", "lorenz_truth.nc")["test"]["co_bps"]  # doctest: +SKIP
    """
    from ..errors import UsageError
    from ..runtime.latent.evaluate import evaluate_fit

    for p in (fit_path, data, truth):
        if isinstance(p, (str, os.PathLike)) and not Path(p).exists():
            raise UsageError(f"no such file: {p}")
    if int(options.get("samples", 1)) < 1:
        raise UsageError(f"--samples {options['samples']}: the posterior needs at least one path per trial")
    fit = load_vi_fit(fit_path)
    return evaluate_fit(fit, data, truth, **options)


def evaluation_table(metrics: dict[str, dict[str, float]]) -> str:
    """The metrics as a text table, one row per split."""
    from ..runtime.diagnostics import table

    rows = []
    for split, m in metrics.items():
        rows.append([split] + [f"{int(m[k])}" if k == "trials" else f"{m[k]:.3f}" for k, _ in COLUMNS])
    return table(["split"] + [title for _, title in COLUMNS], rows)
