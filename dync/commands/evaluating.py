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
    from .plot import read_fit

    idata = read_fit(Path(path))
    if "vi_weights" not in idata.groups():
        raise UsageError(f"{path} is not a `dync fit --method vi` fit (no `vi_weights` group)",
                         hint="fit with `dync fit SPEC DATA --method vi -o fit.nc`")  # fmt: skip
    attrs = dict(idata.point_estimate.attrs)
    spec = read_spec(str(attrs.get("spec_path") or "fit.dync"), attrs["spec_text"])
    dims = {str(k): int(v) for k, v in json.loads(attrs.get("dims_json", "{}")).items()}
    model = build_model(compile_ast(spec, dims), jax.random.key(int(attrs.get("seed", 0))))
    return load_vi(idata, model)


def evaluate(fit_path: str | os.PathLike, data: Any, truth: Any, **options: Any) -> dict[str, dict[str, float]]:
    """Score the VI fit in ``fit_path`` on ``data`` (evaluation trials)
    against ``truth`` (a NetCDF path or Dataset with every trial's
    ``spikes``, ``rates`` and ``split``).

    ``options``: ``name``, ``forward_bins``, ``seed``, ``samples`` of
    :func:`dync.runtime.latent.evaluate.evaluate_fit`.

    Example:
        >>> dync.evaluate("fit.nc", "lorenz_eval.nc", "lorenz_truth.nc")["test"]["co_bps"]  # doctest: +SKIP
    """
    import xarray as xr

    from ..errors import UsageError
    from ..runtime.latent.evaluate import evaluate_fit

    for p in (fit_path, data, truth):
        if isinstance(p, (str, os.PathLike)) and not Path(p).exists():
            raise UsageError(f"no such file: {p}")
    fit = load_vi_fit(fit_path)
    truth_ds = xr.load_dataset(truth) if isinstance(truth, (str, os.PathLike)) else truth
    data_ds = xr.load_dataset(data) if isinstance(data, (str, os.PathLike)) else data
    return evaluate_fit(fit, data_ds, truth_ds, **options)


def evaluation_table(metrics: dict[str, dict[str, float]]) -> str:
    """The metrics as a text table, one row per split."""
    from ..runtime.diagnostics import table

    rows = []
    for split, m in metrics.items():
        rows.append([split] + [f"{int(m[k])}" if k == "trials" else f"{m[k]:.3f}" for k, _ in COLUMNS])
    return table(["split"] + [title for _, title in COLUMNS], rows)
