"""``dync train``."""

from pathlib import Path
from typing import Annotated, Optional

from .common import _checkpointed_run


def run_train(spec: Path, data: Path, output: Path, *, sets, resume: bool, progress: bool, **flags) -> None:
    """``dync train``: :func:`dync.commands.training.train_spec`, the weights
    written to OUTPUT and the loss curve beside it (``OUTPUT``'s stem +
    ``.loss.csv``), a summary on stdout. Checkpoints go to ``OUTPUT.ckpt``."""
    read: dict = {}

    def prepare():
        from ..compiler.driver import read_spec
        from ..settings.train import train_settings

        read["spec"] = read_spec(spec)
        read["settings"] = train_settings(read["spec"], sets=sets, **flags)

    def run(ckpt):
        from ..commands.training import train_spec

        return train_spec(read["spec"], data, read["settings"], checkpoint=ckpt, progress=progress)

    def write(result, path):
        from ..commands.training import write_trained

        _, curve = write_trained(result, path)
        return f"{path} and {curve}"

    def summarise(result):
        from ..commands.training import train_summary

        return train_summary(result)

    _checkpointed_run(output, resume, prepare, run, summarise, write, spec=spec, inputs=(data,),
                      overrides=f"set={sorted(sets or [])}")


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
