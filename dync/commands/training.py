"""``dync train`` as Python functions the CLI and users share.

``dync train SPEC DATA -o trained.eqx`` is :func:`train_spec` (compile the
spec, read the samples of its ``~ data`` state, fit its ``score`` by
denoising score matching, :mod:`dync.runtime.score_training`) followed by
:func:`write_trained` (the weights, and the loss curve beside them as
``trained.loss.csv``). ``dync.load(spec, weights=FILE)``
(:mod:`dync.commands.loading`) restores the trained model. The CLI
checkpoints to ``OUTPUT.ckpt`` and ``--resume`` continues from it
bit-identically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..compiler.driver import build_model, compile_ast, read_spec
from ..dsl import ast
from ..errors import UsageError
from ..settings.train import TrainSettings, train_settings

__all__ = ["loss_curve_path", "train", "train_file", "train_spec", "train_summary", "write_trained"]


def _data_state(model) -> str:
    from ..runtime.score_training import score_state

    state = score_state(model)
    if state not in model.info.data_states:
        raise UsageError(
            f"the score is for `{state}`, whose initial law is not a data set",
            hint=f"declare it `state {state}[...] ~ data` (LANGUAGE.md §10)",
        )
    return state


def train_spec(
    spec: ast.Spec,
    data: Any,
    settings: TrainSettings,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
):
    """Compile a parsed spec with the settings' dims and train its score on
    the samples in ``data`` (a ``.csv``/``.nc`` path or an xarray Dataset).

    Returns:
        A :class:`~dync.runtime.score_training.TrainedScore`.
    """
    import jax

    from ..runtime.params import with_params
    from ..runtime.sample_data import read_samples
    from ..runtime.score_training import train_score

    compiled = compile_ast(spec, settings.dims)
    model = build_model(compiled, jax.random.key(settings.seed))
    if settings.params:
        model = with_params(model, settings.params)
    samples = read_samples(data, model.info, _data_state(model))
    if settings.batch > len(samples):
        import warnings

        warnings.warn(
            f"--batch {settings.batch} is larger than the data ({len(samples)} samples): batches are drawn with "
            f"replacement, so each repeats samples; --batch {len(samples)} or less trains as well at less cost",
            stacklevel=2,
        )
    result = train_score(model, samples, checkpoint=checkpoint, progress=progress, **settings.run_kwargs())
    meta = dict(result.meta, spec=str(model.source.path) if getattr(model.source, "path", None) else "",
                dims={k: int(v) for k, v in settings.dims.items()})  # fmt: skip
    if isinstance(data, (str, os.PathLike)):
        meta["data_file"] = str(Path(data).resolve())  # `dync plot` of generated samples draws it
    return result._replace(meta=meta)


def loss_curve_path(output: str | os.PathLike) -> Path:
    """Where the loss curve of weights written to ``output`` goes:
    ``trained.eqx`` -> ``trained.loss.csv``."""
    out = Path(output)
    return out.with_name(out.stem + ".loss.csv") if out.suffix else out.with_name(out.name + ".loss.csv")


def write_trained(result, output: str | os.PathLike) -> tuple[Path, Path]:
    """Write the trained weights to ``output`` and the loss curve (``step,
    loss, grad_norm``) beside it, both atomically. Returns both paths."""
    from ..runtime.score_training import save_weights

    save_weights(output, result.model, result.meta)
    curve = loss_curve_path(output)
    lines = ["step,loss,grad_norm"] + [f"{i + 1},{l:.7g},{g:.7g}" for i, (l, g) in enumerate(zip(result.loss, result.grad_norm))]
    write_text_atomic(curve, "\n".join(lines) + "\n")
    return Path(output), curve


def train_file(
    path: str | os.PathLike,
    data: Any,
    *,
    text: str | None = None,
    sets: Any = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
    output: str | os.PathLike | None = None,
    **settings: Any,
):
    """Read, compile and train a spec's score, as ``dync train`` does.

    Args:
        path: a ``.dync`` or ``.yaml`` spec with a ``score`` and a ``~ data`` state.
        data: the samples (``.csv`` or ``.nc``, LANGUAGE.md §11).
        text: the spec's text, when it is not to be read from ``path``.
        sets: dims and parameter values.
        checkpoint: a checkpoint file (resumed if present).
        progress: show progress.
        output: also write the weights file `dync train -o` writes (and
            the loss curve beside it), for ``dync.load(spec, weights=...)``
            and ``dync sample --reverse``.
        **settings: ``steps``, ``batch``, ``lr``, ``ema``, ``seed``,
            ``t_min``, ``t1``, ``checkpoint_every``.

    Example:
        >>> result = dync.train("specs/diffusion/gmm2d_vp.dync", "specs/diffusion/gmm2d.csv", steps=3000, output="trained.eqx")  # doctest: +SKIP
    """
    spec = read_spec(path, text)
    if output is not None:
        from ..atomic import check_writable

        check_writable(output, make_parents=True)  # before the training, not after
    result = train_spec(spec, data, train_settings(spec, sets=sets, **settings), checkpoint=checkpoint, progress=progress)
    if output is not None:
        write_trained(result, output)
    return result


def train(model_or_spec: Any, data: Any, **options: Any):
    """Train a score: :func:`train_file` for a spec path, or
    :func:`dync.runtime.score_training.train_score` for a compiled model and
    an array of samples."""
    if isinstance(model_or_spec, (str, os.PathLike)):
        return train_file(model_or_spec, data, **options)
    from ..runtime.score_training import train_score

    return train_score(model_or_spec, data, **options)


_OBJECTIVES = {
    "dsm": "denoising score matching (exact Gaussian transition)",
    "dsm_log": "denoising score matching in log x (exact log-normal transition of the multiplicative forward SDE)",
    "ssm": "sliced score matching (the forward SDE has no Gaussian transition)",
}


def train_summary(result) -> str:
    """What ``dync train`` prints: the run and the loss."""
    import numpy as np

    m = result.meta
    loss = np.asarray(result.loss)
    if loss.size == 0:  # a closed-form score (no net): only the data's moments were recorded
        return (
            f"model {m['model']}: the score of `{m['state']}` has no net, so there is nothing to train; "
            f"recorded the {m['data_samples']} samples' moments and t in [{m['t_min']:g}, {m['t1']:g}], "
            "where `dync sample --reverse` starts"
        )
    head = float(np.mean(loss[: max(1, len(loss) // 20)]))
    warn = []
    if m.get("objective", "dsm") in ("dsm", "dsm_log") and not m["final_loss"] < head:
        warn = [f"warning: the loss did not go down ({head:.4g} -> {m['final_loss']:.4g}); try a lower --lr or more --steps"]
    return "\n".join(warn + [
        f"model {m['model']}: {_OBJECTIVES[m.get('objective', 'dsm')]} of `{m['state']}` on {m['data_samples']} samples, "
        f"{m['steps']} steps of batch {m['batch']} (Adam lr {m['learning_rate']:g}, EMA {m['ema']:g}), "
        f"t in [{m['t_min']:g}, {m['t1']:g}]",
        f"loss: {head:.4g} (first 5%) -> {m['final_loss']:.4g} (last 5%)"
        + (" (sliced score matching: noisy, negative at the optimum)" if m.get("objective") == "ssm" else ""),
        *_data_moments(m),
    ])  # fmt: skip


def _data_moments(meta) -> list[str]:
    """The data's mean and standard deviation per component (what a
    preconditioned score's ``sigma_data`` is set from, docs/diffusion.md)."""
    import numpy as np

    if "data_mean" not in meta:
        return []
    mean = np.ravel(meta["data_mean"])
    sd = np.sqrt(np.clip(np.diag(np.atleast_2d(meta["data_cov"])), 0.0, None))

    def shown(v) -> str:
        if v.size <= 4:
            return ", ".join(f"{x:.3g}" for x in v)
        return f"{v.min():.3g} to {v.max():.3g} over {v.size} components"

    return [f"data: mean {shown(mean)}; std {shown(sd)} (overall {float(np.sqrt(np.mean(sd**2))):.3g})"]
