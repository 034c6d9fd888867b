"""``dync plot``."""

from pathlib import Path
from typing import Annotated, Optional

from ..errors import DyncError
from .common import _echo, _fail, refuse_overwriting_inputs


def run_plot(data: Path, output: Path, max_paths: int, predictive_paths: int = 100, seed: int = 0, compare_with=None) -> None:
    """``dync plot``: trajectories and histograms of a simulation, a fit's
    traces, pair plot and paths against its data, or generated samples
    against their data."""
    import warnings

    try:
        from ..commands.plot import plot_file

        refuse_overwriting_inputs(output, data, compare_with)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plot_file(data, output, max_paths=max_paths, predictive_paths=predictive_paths, seed=seed, compare_with=compare_with)
    except DyncError as err:
        _fail(err)
        return
    for w in caught:
        if issubclass(w.category, (UserWarning, RuntimeWarning)):
            _echo(f"warning: {w.message}", err=True)
    _echo(f"wrote {output}", err=True)


def register(app, run, SpecArg, SetOpt) -> None:
    """Add plot to the typer ``app``; ``run`` calls a command function,
    turning its exit into typer's."""
    import typer

    @app.command()
    def plot(
        data: Annotated[Path, typer.Argument(help="A NetCDF file written by `dync simulate`, `dync fit` or `dync sample --reverse`")],
        output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write")] = Path("fig.png"),
        max_paths: Annotated[int, typer.Option(help="Trajectories drawn per state")] = 20,
        predictive_paths: Annotated[
            int, typer.Option("--predictive-paths", help="Fit: paths of the fitted model drawn against the data (0: none)")
        ] = 100,
        seed: Annotated[int, typer.Option(help="Fit: seed of the fitted model's paths")] = 0,
        compare: Annotated[
            Optional[Path], typer.Option("--data", help="Generated samples: data to draw them against (default: the training data)")
        ] = None,
    ) -> None:
        """Plot a simulation (trajectories, mean ± 2 sd, final-value histograms), a fit
        (traces and pair plot, or estimates ± 1.96 se; the fitted model's paths against the data),
        or generated samples against their training data (histograms in 1-D, a scatter in 2-D, pairs above)."""
        run(run_plot, data, output, max_paths, predictive_paths, seed, compare)
