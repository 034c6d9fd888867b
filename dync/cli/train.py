"""``dync train``."""

from pathlib import Path
from typing import Annotated, Optional

from ..errors import DyncError
from .common import _echo, _fail, _interrupted, _prepare_checkpoints, _warn_plainly


def run_train(spec: Path, data: Path, output: Path, *, sets, resume: bool, progress: bool, **flags) -> None:
    """``dync train``: :func:`dync.commands.training.train_spec`, the weights
    written to OUTPUT and the loss curve beside it (``OUTPUT``'s stem +
    ``.loss.csv``), a summary on stdout. Checkpoints go to ``OUTPUT.ckpt``."""
    ckpt = warm = None
    try:
        from ..compiler.driver import read_spec
        from ..settings.train import train_settings

        parsed = read_spec(spec)
        settings = train_settings(parsed, sets=sets, **flags)
        ckpt, warm = _prepare_checkpoints(output, resume)
        from ..runtime.devices import enable_compilation_cache

        enable_compilation_cache()
        _warn_plainly()
        from ..commands.training import train_spec, train_summary, write_trained

        result = train_spec(parsed, data, settings, checkpoint=ckpt, progress=progress)
        _, curve = write_trained(result, output)
    except DyncError as err:
        _fail(err)
        return
    except KeyboardInterrupt:
        _interrupted(ckpt, warm)
        return
    for f in (ckpt, warm):
        f.unlink(missing_ok=True)
    _echo(train_summary(result))
    _echo(f"wrote {output} and {curve}", err=True)


def register(app, run, SpecArg, SetOpt) -> None:
    """Add train to the typer ``app``."""
    import typer

    @app.command()
    def train(
        spec: SpecArg,
        data: Annotated[Path, typer.Argument(help="Samples of the `~ data` state: .csv or .nc", show_default=False)],
        output: Annotated[Path, typer.Option("-o", "--output", help="Weights file to write")] = Path("trained.eqx"),
        steps: Annotated[Optional[int], typer.Option(help="Optimiser steps")] = None,
        batch: Annotated[Optional[int], typer.Option(help="Data points per step")] = None,
        lr: Annotated[Optional[float], typer.Option("--lr", help="Adam learning rate")] = None,
        ema: Annotated[Optional[float], typer.Option(help="Decay of the saved moving average of the weights (0: last weights)")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed (initial weights, batches, noise)")] = None,
        t_min: Annotated[Optional[float], typer.Option("--t-min", help="Smallest diffusion time trained on")] = None,
        t1: Annotated[Optional[float], typer.Option("--t1", help="End of the forward process")] = None,
        weighting: Annotated[
            Optional[str], typer.Option("--weighting", help="sigma2 (uniform t) or likelihood (g^2, importance-sampled t)")
        ] = None,
        checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", help="Steps between checkpoints")] = None,
        set_: SetOpt = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from OUTPUT.ckpt")] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Train the spec's `score` on DATA (a forward SDE with `state x ~ data`): denoising score matching, or sliced score matching when the forward SDE is not linear."""
        run(run_train, spec, data, output, sets=set_, resume=resume, progress=progress, steps=steps, batch=batch, lr=lr,
            ema=ema, seed=seed, t_min=t_min, t1=t1, weighting=weighting, checkpoint_every=checkpoint_every)  # fmt: skip
