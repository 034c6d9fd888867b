"""The `dync` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 a spec or run-time error (rendered with its location
on stderr), 2 a usage error (bad flags or values), 130 interrupted.

``dync check`` and ``dync fmt`` are what editors call on every save, so
:func:`main` runs them without importing typer (nor JAX, nor anything they do
not need): a small dispatcher reads their few flags itself and hands any other
command line (``--help``, an unknown flag) to the typer app.
"""



import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

from .errors import DyncError, SpecErrors, UsageError


class _Exit(Exception):
    """Leave a command with an exit code (typer's ``Exit``, without typer)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def _fail(err: DyncError, fmt: str = "text") -> None:
    code = 2 if isinstance(err, UsageError) else 1
    if fmt == "json":
        payload = err.to_json()
        diagnostics = payload["errors"] if isinstance(err, SpecErrors) else [payload]
        _echo(json.dumps({"ok": False, "diagnostics": diagnostics}, indent=2))
    else:
        _echo(err.render(), err=True)
    raise _Exit(code)


# ----------------------------------------------------------------- commands
# Each reads its spec once and calls the library; typer and the fast path
# below both call these.


def run_check(spec: Path, sets: list[str] | None, format: str) -> None:
    """``dync check``: the summary of a spec, as text or JSON."""
    from .compiler.driver import check_ast, read_spec
    from .compiler.summary import CheckSummary
    from .settings import dims_only

    if format not in ("text", "json"):
        _fail(UsageError(f"unknown format `{format}`", hint="use --format text or --format json"))
    try:
        parsed = read_spec(spec)
        summary = CheckSummary.of(check_ast(parsed, dims_only(parsed, sets)), spec)
    except DyncError as err:
        _fail(err, format)
        return
    if format == "json":
        _echo(json.dumps(summary.to_json(), indent=2))
    else:
        _echo(summary.to_text())


def run_fmt(spec: Path, to: str) -> None:
    """``dync fmt``: the canonical form of a spec."""
    from .compiler.driver import read_spec
    from .dsl.format import format_text, format_yaml

    target = to or ("yaml" if spec.suffix in (".yaml", ".yml") else "dync")
    if target not in ("dync", "yaml", "text"):
        _fail(UsageError(f"unknown form `{to}`", hint="use --to dync or --to yaml"))
    try:
        parsed = read_spec(spec)
    except DyncError as err:
        _fail(err)
        return
    _echo(format_yaml(parsed) if target == "yaml" else format_text(parsed), nl=False)


def run_compile(spec: Path, output: Path | None, sets: list[str] | None) -> None:
    """``dync compile``: the generated module, to stdout or a file."""
    from .atomic import write_text_atomic
    from .compiler.driver import compile_ast, read_spec
    from .errors import render_warning
    from .settings import dims_only

    try:
        parsed = read_spec(spec)
        compiled = compile_ast(parsed, dims_only(parsed, sets))
    except DyncError as err:
        _fail(err)
        return
    for w in compiled.warnings:
        _echo(render_warning(w), err=True)
    if output is None:
        _echo(compiled.source, nl=False)
    else:
        write_text_atomic(output, compiled.source)
        _echo(f"wrote {output}", err=True)


def run_simulate(spec: Path, output: Path, *, sets, sweep, progress: bool, **flags) -> None:
    """``dync simulate``: :func:`dync.simulate_file`, written to NetCDF."""
    from .commands import simulate_spec
    from .compiler.driver import read_spec
    from .settings import simulate_settings

    try:
        parsed = read_spec(spec)
        settings = simulate_settings(parsed, sets=sets, sweep=sweep, **flags)
        from .runtime.devices import configure_host_devices, enable_compilation_cache

        configure_host_devices()  # before JAX starts
        enable_compilation_cache()
        from .runtime.io import write_netcdf

        ds = simulate_spec(parsed, settings, progress=progress)
        write_netcdf(ds, output)
    except DyncError as err:
        _fail(err)
        return
    sizes = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    _echo(f"wrote {output} ({sizes}; solver {ds.attrs.get('solver', settings.solver)})", err=True)


def _warn_plainly():
    """Show Python warnings as ``warning: MESSAGE`` lines on stderr (no file
    and line of dync's source, which mean nothing to a user)."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        _echo(f"warning: {message}", err=True)

    warnings.showwarning = show


def _prepare_checkpoints(output: Path, resume: bool) -> tuple[Path, Path]:
    """The checkpoint files of a run writing ``output`` (``OUTPUT.ckpt`` and
    ``OUTPUT.ckpt.warmup``): kept for ``--resume``, else removed so that the
    run starts afresh.

    Raises:
        UsageError: ``--resume`` with no checkpoint to resume.
    """
    from .commands.fitting import checkpoint_files

    ckpt, warm = checkpoint_files(output)
    if resume:
        if not ckpt.exists() and not warm.exists():
            raise UsageError(f"--resume: no checkpoint {ckpt} to resume", hint="run without --resume to start")
        _echo(f"resuming from {ckpt}", err=True)
    else:
        for f in (ckpt, warm):
            f.unlink(missing_ok=True)
    return ckpt, warm


def _interrupted(ckpt: Path | None, warm: Path | None) -> None:
    """Ctrl-C during a checkpointed run: say where it stands, exit 130."""
    where = ""
    if ckpt is not None and (ckpt.exists() or (warm is not None and warm.exists())):
        where = f"; the checkpoint {ckpt} holds the run so far: rerun with --resume to continue"
    _echo(f"interrupted{where}", err=True)
    raise _Exit(130)


def _checkpointed_run(output: Path, resume: bool, prepare, run, summarise) -> None:
    """The shape of ``dync fit`` and ``dync sample``: ``prepare()`` reads and
    checks the spec and settings; ``run(checkpoint)`` does the work, with
    checkpoints in ``OUTPUT.ckpt``; the result is written atomically, the
    checkpoints removed, and ``summarise(result)`` printed. Errors are
    rendered; Ctrl-C says where the checkpoint is (exit 130)."""
    from .commands.fitting import write_fit

    ckpt = warm = None
    try:
        prepare()
        ckpt, warm = _prepare_checkpoints(output, resume)
        from .runtime.devices import enable_compilation_cache

        enable_compilation_cache()
        _warn_plainly()
        result = run(ckpt)
        write_fit(result, output)
    except DyncError as err:
        _fail(err)
        return
    except KeyboardInterrupt:
        _interrupted(ckpt, warm)
        return
    for f in (ckpt, warm):
        f.unlink(missing_ok=True)
    _echo(summarise(result))
    _echo(f"wrote {output}", err=True)


def run_sample(spec: Path, output: Path, *, sets, resume: bool, progress: bool, **flags) -> None:
    """``dync sample``: :func:`dync.commands.sample_spec`, written to NetCDF,
    with its diagnostics table on stdout. Checkpoints go to ``OUTPUT.ckpt``."""
    from .compiler.driver import read_spec
    from .settings import sample_settings

    read: dict = {}

    def prepare():
        read["spec"] = read_spec(spec)
        read["settings"] = sample_settings(read["spec"], sets=sets, **flags)

    def run(ckpt):
        from .commands.sampling import sample_spec

        return sample_spec(read["spec"], read["settings"], checkpoint=ckpt, progress=progress)

    def summarise(idata):
        from .commands.sampling import sample_summary

        return sample_summary(idata)

    _checkpointed_run(output, resume, prepare, run, summarise)


def run_fit(spec: Path, data: Path, output: Path, *, sets, fix, resume: bool, progress: bool, **flags) -> None:
    """``dync fit``: :func:`dync.commands.fit_spec`, written to NetCDF, with
    its summary table on stdout. Checkpoints go to ``OUTPUT.ckpt``."""
    from .compiler.driver import read_spec
    from .settings import fit_settings

    read: dict = {}

    def prepare():
        read["spec"] = read_spec(spec)
        read["settings"] = fit_settings(read["spec"], sets=sets, fix=fix, **flags)
        if not data.exists():
            raise UsageError(f"no such data file: {data}", hint="give a NetCDF (.nc) or CSV (.csv) file")

    def run(ckpt):
        from .commands.fitting import fit_spec

        return fit_spec(read["spec"], data, read["settings"], checkpoint=ckpt, progress=progress)

    def summarise(idata):
        from .runtime.fit import fit_summary

        return fit_summary(idata)

    _checkpointed_run(output, resume, prepare, run, summarise)


def run_plot(data: Path, output: Path, max_paths: int, predictive_paths: int = 100, seed: int = 0) -> None:
    """``dync plot``: trajectories and histograms of a simulation, or a fit's
    traces, pair plot and paths against its data."""
    import warnings

    try:
        from .commands.plot import plot_file

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plot_file(data, output, max_paths=max_paths, predictive_paths=predictive_paths, seed=seed)
    except DyncError as err:
        _fail(err)
        return
    for w in caught:
        if issubclass(w.category, (UserWarning, RuntimeWarning)):
            _echo(f"warning: {w.message}", err=True)
    _echo(f"wrote {output}", err=True)


# ---------------------------------------------------------------- fast path


def _fast_args(args: list[str], options: tuple[str, ...], repeated: tuple[str, ...]) -> tuple[Path, dict] | None:
    """The spec and options of a simple ``check``/``fmt`` command line, or
    ``None`` when it needs typer (help, an unknown flag, a missing value)."""
    spec: str | None = None
    values: dict[str, object] = {name: [] for name in repeated}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name not in options:
                return None
            if not eq:
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            if name in repeated:
                values[name].append(value)  # type: ignore[union-attr]
            else:
                values[name] = value
        elif spec is None:
            spec = arg
        else:
            return None
        i += 1
    if spec is None:
        return None
    return Path(spec), values


def _skip_lark_extras() -> None:
    """Keep lark from importing its optional ``regex`` and ``interegular``
    (~30 ms of a check): the cached grammar needs neither (no ``\\p{..}``
    classes; terminal collisions are checked by the strict-grammar test). Only
    the fast commands do this, in their own process, which runs nothing else."""
    for name in ("regex", "interegular"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _fast(argv: list[str]):
    """A call running ``dync check``/``dync fmt`` without typer, or ``None``."""
    if argv == ["--version"]:
        from ._version import __version__

        return lambda: _echo(f"dync {__version__}")
    if not argv:
        return None
    command, rest = argv[0], argv[1:]
    if command in ("check", "fmt") and "lark" not in sys.modules:
        _skip_lark_extras()
    if command == "check":
        parsed = _fast_args(rest, ("--set", "--format"), ("--set",))
        if parsed is not None:
            spec, v = parsed
            return lambda: run_check(spec, v["--set"] or None, str(v.get("--format", "text")))
    elif command == "fmt":
        parsed = _fast_args(rest, ("--to",), ())
        if parsed is not None:
            spec, v = parsed
            return lambda: run_fmt(spec, str(v.get("--to", "")))
    return None


# --------------------------------------------------------------- typer app


def build_app():
    """The typer application of every command."""
    import typer

    app = typer.Typer(
        name="dync",
        help="Compile, check, format and simulate stochastic dynamical system specs.",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )

    SpecArg = Annotated[Path, typer.Argument(help="A spec: .dync (text) or .yaml", show_default=False)]
    SetOpt = Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a dim or a parameter: NAME=VALUE (repeatable)", show_default=False),
    ]

    def run(command, *args, **kwargs) -> None:
        try:
            command(*args, **kwargs)
        except _Exit as e:
            raise typer.Exit(e.code) from None

    @app.command()
    def check(
        spec: SpecArg,
        set_: SetOpt = None,
        format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    ) -> None:
        """Check a spec and print what it declares: states, parameters, noise structure, calculus."""
        run(run_check, spec, set_, format)

    @app.command("compile")
    def compile_(
        spec: SpecArg,
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the module here (default: stdout)")] = None,
        set_: SetOpt = None,
    ) -> None:
        """Compile a spec to a Python module defining an equinox Module `Model`."""
        run(run_compile, spec, output, set_)

    @app.command()
    def fmt(
        spec: SpecArg,
        to: Annotated[str, typer.Option("--to", help="dync (text form) or yaml")] = "",
    ) -> None:
        """Print the canonical form of a spec (text or YAML)."""
        run(run_fmt, spec, to)

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
    ) -> None:
        """Simulate a spec and write the paths to a NetCDF file."""
        run(run_simulate, spec, output, sets=set_, sweep=sweep, progress=progress, paths=paths, t1=t1, dt=dt, t0=t0,
            save=save, save_every=save_every, solver=solver, seed=seed, adaptive=adaptive, chunk_size=chunk_size,
            max_steps=max_steps, on_nonfinite=on_nonfinite)  # fmt: skip

    @app.command()
    def fit(
        spec: SpecArg,
        data: Annotated[Path, typer.Argument(help="Observations: NetCDF (.nc) or CSV (.csv)", show_default=False)],
        output: Annotated[Path, typer.Option("-o", "--output", help="NetCDF file to write (ArviZ InferenceData)")] = Path("fit.nc"),
        method: Annotated[Optional[str], typer.Option(help="mle, map or nuts")] = None,
        likelihood: Annotated[Optional[str], typer.Option(help="auto, kalman or particle")] = None,
        fix: Annotated[Optional[list[str]], typer.Option(help="Hold a parameter fixed: NAME=VALUE (repeatable)")] = None,
        set_: SetOpt = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed")] = None,
        chains: Annotated[Optional[int], typer.Option(help="NUTS chains")] = None,
        warmup: Annotated[Optional[int], typer.Option(help="NUTS warm-up steps per chain")] = None,
        draws: Annotated[Optional[int], typer.Option(help="NUTS draws per chain")] = None,
        target_accept: Annotated[Optional[float], typer.Option("--target-accept", help="NUTS target acceptance")] = None,
        steps: Annotated[Optional[int], typer.Option(help="MLE/MAP optimiser steps")] = None,
        learning_rate: Annotated[Optional[float], typer.Option("--learning-rate", help="MLE/MAP Adam step size")] = None,
        tolerance: Annotated[Optional[float], typer.Option(help="MLE/MAP gradient-norm tolerance")] = None,
        particles: Annotated[Optional[int], typer.Option(help="Particle-filter particles per series")] = None,
        dt: Annotated[Optional[float], typer.Option(help="Particle filter: largest solver step")] = None,
        x64: Annotated[Optional[bool], typer.Option("--x64/--x32", help="Compute in float64")] = None,
        pointwise: Annotated[Optional[bool], typer.Option("--pointwise/--no-pointwise", help="Write the log_likelihood group")] = None,
        checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", help="Steps between checkpoints")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted fit from OUTPUT.ckpt")] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Fit a spec to data (MLE, MAP or NUTS) and write an ArviZ InferenceData NetCDF file."""
        run(run_fit, spec, data, output, sets=set_, fix=fix, resume=resume, progress=progress, method=method,
            likelihood=likelihood, seed=seed, chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
            steps=steps, learning_rate=learning_rate, tolerance=tolerance, particles=particles, dt=dt, x64=x64,
            pointwise=pointwise, checkpoint_every=checkpoint_every)  # fmt: skip

    @app.command()
    def sample(
        spec: SpecArg,
        output: Annotated[Path, typer.Option("-o", "--output", help="NetCDF file to write (ArviZ InferenceData)")] = Path("samples.nc"),
        method: Annotated[Optional[str], typer.Option(help="ula, mala, baoab, hmc, nuts or dynamics")] = None,
        chains: Annotated[Optional[int], typer.Option(help="Chains, run side by side")] = None,
        warmup: Annotated[Optional[int], typer.Option(help="Warm-up steps per chain (adaptation or burn-in)")] = None,
        samples: Annotated[Optional[int], typer.Option(help="Draws kept per chain")] = None,
        step: Annotated[Optional[float], typer.Option(help="Step size (required for ula, baoab, dynamics; turns adaptation off)")] = None,
        thin: Annotated[Optional[int], typer.Option(help="Steps per kept draw")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed")] = None,
        friction: Annotated[Optional[float], typer.Option(help="BAOAB friction")] = None,
        mass: Annotated[Optional[float], typer.Option(help="BAOAB mass")] = None,
        set_: SetOpt = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from OUTPUT.ckpt")] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Draw the states from the spec's `target` density with MCMC and write an ArviZ NetCDF file."""
        run(run_sample, spec, output, sets=set_, resume=resume, progress=progress, method=method, chains=chains,
            warmup=warmup, samples=samples, step=step, thin=thin, seed=seed, friction=friction, mass=mass)  # fmt: skip

    @app.command()
    def plot(
        data: Annotated[Path, typer.Argument(help="A NetCDF file written by `dync simulate` or `dync fit`")],
        output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write")] = Path("fig.png"),
        max_paths: Annotated[int, typer.Option(help="Trajectories drawn per state")] = 20,
        predictive_paths: Annotated[
            int, typer.Option("--predictive-paths", help="Fit: paths of the fitted model drawn against the data (0: none)")
        ] = 100,
        seed: Annotated[int, typer.Option(help="Fit: seed of the fitted model's paths")] = 0,
    ) -> None:
        """Plot a simulation (trajectories, mean ± 2 sd, final-value histograms) or a fit
        (traces and pair plot, or estimates ± 1.96 se; the fitted model's paths against the data)."""
        run(run_plot, data, output, max_paths, predictive_paths, seed)

    @app.callback()
    def _root(
        version: Annotated[bool, typer.Option("--version", help="Print the version and exit")] = False,
    ) -> None:
        if version:
            from ._version import __version__

            typer.echo(f"dync {__version__}")
            raise typer.Exit(0)

    return app


def __getattr__(name: str):
    if name == "app":  # the typer app, built on first use
        return build_app()
    raise AttributeError(f"module 'dync.cli' has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        fast = _fast(args)
        if fast is not None:
            fast()
            return
        app = build_app()
        app() if argv is None else app(args=args)
    except _Exit as e:
        sys.exit(e.code)
    except KeyboardInterrupt:
        _echo("interrupted", err=True)
        sys.exit(130)
    except DyncError as err:  # anything that escaped a command
        try:
            _fail(err)
        except _Exit as e:
            sys.exit(e.code)


if __name__ == "__main__":  # pragma: no cover
    main()
