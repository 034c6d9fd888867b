"""``dync test``."""

from pathlib import Path
from typing import Annotated, Optional

from .common import _echo, _Exit


def run_test(
    spec: Path, *, sets, ranges, skip, junit: Optional[Path], progress: bool, inputs: Optional[Path] = None, **flags
) -> None:
    """``dync test``: :func:`dync.commands.testing.test_spec`; the report on
    stdout, JUnit XML on request; exit 1 when a check fails."""
    from ..compiler.driver import read_spec
    from ..settings.test import test_settings

    parsed = read_spec(spec)
    settings = test_settings(parsed, sets=sets, ranges=ranges, skip=skip, **flags)
    if junit is not None:  # refuse a report that cannot be written before minutes of checks
        from ..atomic import check_writable
        from .common import refuse_overwriting_inputs

        refuse_overwriting_inputs(junit, spec, flag="--junit")
        check_writable(junit)
    from ..commands.testing import test_spec

    report = test_spec(parsed, settings, path=str(spec), progress=progress, inputs=inputs)
    _echo(report.to_text())
    if junit is not None:
        report.write_junit(junit)
        _echo(f"wrote {junit}", err=True)
    if not report.ok:
        raise _Exit(1)


def register(app, run, SpecArg, SetOpt) -> None:
    """Add test to the typer ``app``; ``run`` calls a command function,
    turning its exit into typer's."""
    import typer

    @app.command()
    def test(
        spec: SpecArg,
        examples: Annotated[Optional[int], typer.Option(help="Parameter draws (hypothesis examples)")] = None,
        paths: Annotated[Optional[int], typer.Option(help="Paths per simulated ensemble")] = None,
        t1: Annotated[Optional[float], typer.Option(help="End time of each run (from t = 0)")] = None,
        dt: Annotated[Optional[float], typer.Option(help="Time step")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Seed of the draws and of every ensemble's noise")] = None,
        alpha: Annotated[Optional[float], typer.Option(help="False-alarm rate of the whole run (Bonferroni-split)")] = None,
        solver: Annotated[Optional[str], typer.Option(help="Solver (default: the model's choice)")] = None,
        range_: Annotated[
            Optional[list[str]], typer.Option("--range", help="Draw a parameter in [LO, HI]: NAME=LO:HI (repeatable)", show_default=False)
        ] = None,
        skip: Annotated[
            Optional[str], typer.Option(help="Built-in checks to switch off: finite, shapes, reproducible, forms, stratonovich, gradients")
        ] = None,
        convergence: Annotated[Optional[bool], typer.Option("--convergence/--no-convergence", help="Also check the solver's weak order")] = None,
        sbc: Annotated[Optional[int], typer.Option(help="Simulation-based calibration of the fit: N replications (needs priors and observe)")] = None,
        junit: Annotated[Optional[Path], typer.Option(help="Also write the results as JUnit XML")] = None,
        inputs: Annotated[
            Optional[Path],
            typer.Option("--inputs", help="CSV or NetCDF file with the model's `input` covariates over time (column `time`)"),
        ] = None,
        set_: SetOpt = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Check the spec's `expect` lines and the built-in properties over drawn parameter values."""
        run(run_test, spec, sets=set_, ranges=range_, skip=skip, junit=junit, progress=progress, inputs=inputs, examples=examples,
            paths=paths, t1=t1, dt=dt, seed=seed, alpha=alpha, solver=solver, convergence=convergence, sbc=sbc)  # fmt: skip
