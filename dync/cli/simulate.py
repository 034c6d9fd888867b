"""``dync simulate``."""

from pathlib import Path
from typing import Annotated, Optional

from ..atomic import check_writable
from ..errors import DyncError, UsageError
from .common import _echo, _fail, refuse_overwriting_inputs, warn_if_not_netcdf_name


def run_simulate(
    spec: Path, output: Path, *, sets, sweep, progress: bool, distributed: bool = False, cluster=None,
    inputs: Optional[Path] = None, **flags,
) -> None:  # fmt: skip
    """``dync simulate``: :func:`dync.simulate_file`, written to NetCDF.
    ``distributed``: join the processes named by ``cluster`` (coordinator,
    process count, process id; all ``None`` on a cluster JAX detects), shard
    the paths over all of them, and write from process 0 only."""
    from ..commands import simulate_spec
    from ..compiler.driver import read_spec
    from ..settings import simulate_settings

    try:
        if not distributed and any(v is not None for v in (cluster or ())):
            raise UsageError("--coordinator, --num-processes and --process-id belong to a distributed run", hint="add --distributed")
        parsed = read_spec(spec)
        settings = simulate_settings(parsed, sets=sets, sweep=sweep, **flags)
        refuse_overwriting_inputs(output, spec, inputs)
        check_writable(output)
        warn_if_not_netcdf_name(output)
        from ..runtime.devices import configure_host_devices, enable_compilation_cache

        configure_host_devices()  # before JAX starts
        main = True
        if distributed:
            from ..runtime.distributed import initialize, is_main_process

            initialize(*(cluster or (None, None, None)))
            main = is_main_process()
        enable_compilation_cache()
        from ..runtime.io import write_netcdf

        ds = simulate_spec(parsed, settings, progress=progress and main, distributed=distributed, inputs=inputs)
        if main:
            write_netcdf(ds, output)
    except DyncError as err:
        _fail(err)
        return
    if not main:
        return
    sizes = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    _echo(f"wrote {output} ({sizes}; solver {ds.attrs.get('solver', settings.solver)})", err=True)


def register(app, run, SpecArg, SetOpt) -> None:
    """Add simulate to the typer ``app``; ``run`` calls a command function,
    turning its exit into typer's."""
    import typer

    @app.command()
    def simulate(
        spec: SpecArg,
        output: Annotated[Path, typer.Option("-o", "--output", help="NetCDF file to write")] = Path("out.nc"),
        paths: Annotated[Optional[int], typer.Option(help="Number of independent paths")] = None,
        t1: Annotated[Optional[float], typer.Option(help="End time")] = None,
        dt: Annotated[Optional[float], typer.Option(help="Step size")] = None,
        t0: Annotated[Optional[float], typer.Option(help="Start time")] = None,
        save: Annotated[Optional[str], typer.Option(help="`final`, or comma-separated times such as 0.5,1,2")] = None,
        save_every: Annotated[Optional[int], typer.Option("--save-every", help="Save every K steps")] = None,
        solver: Annotated[Optional[str], typer.Option(help="Solver name or `auto`")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed")] = None,
        set_: SetOpt = None,
        sweep: Annotated[Optional[list[str]], typer.Option(help="Sweep a parameter: NAME=LO:HI:N")] = None,
        adaptive: Annotated[Optional[bool], typer.Option("--adaptive/--fixed", help="Adaptive steps (diffrax)")] = None,
        chunk_size: Annotated[Optional[int], typer.Option(help="Paths per chunk")] = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
        max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Step budget of a diffrax solve")] = None,
        on_nonfinite: Annotated[
            Optional[str], typer.Option("--on-nonfinite", help="raise (default), warn or keep when a path turns NaN/inf")
        ] = None,
        inputs: Annotated[
            Optional[Path],
            typer.Option("--inputs", help="CSV or NetCDF file with the model's `input` covariates over time (column `time`)"),
        ] = None,
        x64: Annotated[Optional[bool], typer.Option("--x64/--x32", help="Compute in float64 (other numbers than float32 for the same seed)")] = None,
        distributed: Annotated[
            bool, typer.Option("--distributed", help="Shard paths over every process of a multi-process run (docs/scaling.md)")
        ] = False,
        coordinator: Annotated[
            Optional[str], typer.Option("--coordinator", help="--distributed: HOST:PORT of process 0")
        ] = None,
        num_processes: Annotated[Optional[int], typer.Option("--num-processes", help="--distributed: processes in all")] = None,
        process_id: Annotated[Optional[int], typer.Option("--process-id", help="--distributed: this process's index")] = None,
    ) -> None:
        """Simulate a spec and write the paths to a NetCDF file."""
        run(run_simulate, spec, output, sets=set_, sweep=sweep, progress=progress, paths=paths, t1=t1, dt=dt, t0=t0,
            save=save, save_every=save_every, solver=solver, seed=seed, adaptive=adaptive, chunk_size=chunk_size,
            max_steps=max_steps, on_nonfinite=on_nonfinite, distributed=distributed, inputs=inputs, x64=x64,
            cluster=(coordinator, num_processes, process_id))  # fmt: skip
