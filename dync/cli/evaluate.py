"""``dync evaluate``."""

from pathlib import Path
from typing import Annotated, Optional

from ..errors import DyncError
from .common import _echo, _fail


def run_evaluate(fit: Path, data: Path, *, truth: Path, output: Optional[Path], forward_bins: int, seed: int,
                 samples: int, name: str) -> None:  # fmt: skip
    """``dync evaluate``: :func:`dync.commands.evaluating.evaluate`, printed
    as a table (and written as JSON with ``-o``)."""
    try:
        from ..commands.evaluating import evaluate, evaluation_table

        metrics = evaluate(fit, data, truth, forward_bins=forward_bins, seed=seed, samples=samples, name=name)
    except DyncError as err:
        _fail(err)
        return
    _echo(evaluation_table(metrics))
    if output is not None:
        import json

        from ..atomic import atomic_path

        with atomic_path(output) as tmp:
            Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")
        _echo(f"wrote {output}", err=True)


def register(app, run, SpecArg, SetOpt) -> None:
    """Add evaluate to the typer ``app``."""
    import typer

    @app.command()
    def evaluate(
        fit: Annotated[Path, typer.Argument(help="A `dync fit --method vi` file", show_default=False)],
        data: Annotated[Path, typer.Argument(help="Evaluation trials (NetCDF): held-out neurons missing", show_default=False)],
        truth: Annotated[Path, typer.Option(help="Every trial's counts (--name), true rates and split, by `series` label (NetCDF)", show_default=False)],
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the metrics as JSON")] = None,
        forward_bins: Annotated[int, typer.Option("--forward-bins", help="Last bins predicted forward (fp-bps; 0: skip)")] = 5,
        seed: Annotated[int, typer.Option(help="Random seed of the posterior paths")] = 0,
        samples: Annotated[int, typer.Option(help="Posterior paths per trial")] = 32,
        name: Annotated[str, typer.Option(help="The observation of spike counts: its variable in DATA and TRUTH")] = "spikes",
    ) -> None:
        """Score a VI fit on held-out trials: bits per spike, co-smoothing, rate R², forward prediction."""
        run(run_evaluate, fit, data, truth=truth, output=output, forward_bins=forward_bins, seed=seed,
            samples=samples, name=name)  # fmt: skip
