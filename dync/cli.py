"""The `dync` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 a spec or run-time error (rendered with its location
on stderr), 2 a usage error (bad flags or values), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import DyncError, SpecErrors, UsageError, did_you_mean

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


def _fail(err: DyncError, fmt: str = "text") -> None:
    code = 2 if isinstance(err, UsageError) else 1
    if fmt == "json":
        payload = err.to_json()
        diagnostics = payload["errors"] if isinstance(err, SpecErrors) else [payload]
        typer.echo(json.dumps({"ok": False, "diagnostics": diagnostics}, indent=2))
    else:
        typer.echo(err.render(), err=True)
    raise typer.Exit(code)


def _parse_sets(sets: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in sets or []:
        if "=" not in item:
            raise UsageError(f"`--set {item}`: expected NAME=VALUE", hint="for example `--set K=16` or `--set theta=0.5`")
        name, value = item.split("=", 1)
        name, value = name.strip(), value.strip()
        if not name.isidentifier():
            raise UsageError(f"`--set {item}`: `{name}` is not a name")
        out[name] = value
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what}: `{text}` is not a number") from None


def _split_sets(path: Path, sets: dict[str, str]) -> tuple[dict[str, int], dict[str, float]]:
    """Dims go to the compiler, everything else is a parameter value."""
    from .dsl import ast
    from .compiler.driver import read_spec as load_spec

    spec = load_spec(path)
    dim_names = {d.name for d in spec.of_type(ast.Dim)}
    dims: dict[str, int] = {}
    params: dict[str, float] = {}
    for name, value in sets.items():
        if name in dim_names:
            v = _number(value, f"--set {name}")
            if not float(v).is_integer() or v < 1:
                raise UsageError(f"`--set {name}={value}`: a dim must be a positive integer")
            dims[name] = int(v)
        else:
            params[name] = _number(value, f"--set {name}")
    return dims, params


def _dims_only(path: Path, sets: list[str] | None) -> dict[str, int]:
    from .dsl import ast
    from .compiler.driver import read_spec as load_spec

    dims, params = _split_sets(path, _parse_sets(sets))
    if params:
        name = next(iter(params))
        declared = sorted(d.name for d in load_spec(path).of_type(ast.Dim))
        hint = did_you_mean(name, declared) or (
            f"the spec's dims are {', '.join(declared)}" if declared else "the spec declares no dims"
        )
        raise UsageError(f"`--set {name}=...`: the spec has no dim `{name}` (only dims can be set here)", hint=hint)
    return dims


@app.command()
def check(
    spec: SpecArg,
    set_: SetOpt = None,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Check a spec and print what it declares: states, parameters, noise structure, calculus."""
    from .compiler.summary import check_file

    if format not in ("text", "json"):
        _fail(UsageError(f"unknown format `{format}`", hint="use --format text or --format json"))
    try:
        summary = check_file(spec, _dims_only(spec, set_))
    except DyncError as err:
        _fail(err, format)
        return
    if format == "json":
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo(summary.to_text())


@app.command("compile")
def compile_(
    spec: SpecArg,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the module here (default: stdout)")] = None,
    set_: SetOpt = None,
) -> None:
    """Compile a spec to a Python module defining an equinox Module `Model`."""
    from .compiler.driver import compile_file
    from .atomic import write_text_atomic

    try:
        compiled = compile_file(spec, _dims_only(spec, set_))
    except DyncError as err:
        _fail(err)
        return
    for w in compiled.warnings:
        typer.echo(w, err=True)
    if output is None:
        typer.echo(compiled.source, nl=False)
    else:
        write_text_atomic(output, compiled.source)
        typer.echo(f"wrote {output}", err=True)


@app.command()
def fmt(
    spec: SpecArg,
    to: Annotated[str, typer.Option("--to", help="dync (text form) or yaml")] = "",
) -> None:
    """Print the canonical form of a spec (text or YAML)."""
    from .dsl.format import format_text, format_yaml
    from .compiler.driver import read_spec as load_spec

    target = to or ("yaml" if spec.suffix in (".yaml", ".yml") else "dync")
    if target not in ("dync", "yaml", "text"):
        _fail(UsageError(f"unknown form `{to}`", hint="use --to dync or --to yaml"))
    try:
        parsed = load_spec(spec)
    except DyncError as err:
        _fail(err)
        return
    typer.echo(format_yaml(parsed) if target == "yaml" else format_text(parsed), nl=False)


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
    try:
        _simulate(spec, output, paths, t1, dt, t0, save, save_every, solver, seed, set_, sweep, adaptive, chunk_size,
                  progress, max_steps, on_nonfinite)  # fmt: skip
    except DyncError as err:
        _fail(err)


def _save_value(save_every, save):
    """``dync simulate``'s save plan from ``--save-every``, ``--save`` or the
    spec's ``simulate:`` section (``save: final``, ``save: 10`` = every 10th
    step, ``save: [0.5, 1.0]`` = those times)."""
    if save_every is not None:
        if isinstance(save_every, bool) or int(save_every) != save_every or save_every < 1:
            raise UsageError(f"--save-every {save_every}: expected a positive whole number of steps")
        return int(save_every)
    if isinstance(save, bool):
        raise UsageError(f"save: {save}: use `final`, a number of steps, or a list of times")
    if isinstance(save, int):
        return _save_value(save, None)
    if isinstance(save, (list, tuple)):
        return [_number(str(v), "save") for v in save]
    text = str(save).strip()
    if text == "final":
        return "final"
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(
            f"--save {save}: use `--save final`, `--save 0.5,1,2` (times) or `--save-every K`"
        ) from None


def _simulate(spec, output, paths, t1, dt, t0, save, save_every, solver, seed, set_, sweep, adaptive, chunk_size,
              progress, max_steps=None, on_nonfinite=None):  # fmt: skip
    import numpy as np

    from .compiler.driver import read_spec as load_spec
    from .runtime.devices import configure_host_devices, enable_compilation_cache

    parsed = load_spec(spec)
    defaults = parsed.setting("simulate")

    def pick(value, key, default=None):
        if value is not None:
            return value
        if key in defaults:
            return defaults[key]
        return default

    paths = int(pick(paths, "paths", 1000))
    t1 = pick(t1, "t1")
    dt = pick(dt, "dt")
    t0 = float(pick(t0, "t0", 0.0))
    if t1 is None or dt is None:
        missing = "--t1" if t1 is None else "--dt"
        raise UsageError(f"{missing} is required", hint="give --t1 and --dt, or a `simulate:` section in a YAML spec")
    save_value = _save_value(pick(save_every, "save_every"), pick(save, "save", "final"))
    max_steps = pick(max_steps, "max_steps")
    on_nonfinite = str(pick(on_nonfinite, "on_nonfinite", "raise"))
    seed = int(pick(seed, "seed", 0))
    solver = str(pick(solver, "solver", "auto"))
    adaptive = bool(pick(adaptive, "adaptive", False))
    chunk_size = pick(chunk_size, "chunk_size")
    if paths < 1:
        raise UsageError(f"--paths {paths}: need at least 1 path")
    if not float(dt) > 0:
        raise UsageError(f"--dt {dt}: the step must be positive")
    if not float(t1) > t0:
        raise UsageError(f"--t1 {t1}: the end time must come after --t0 {t0}")

    dims, params = _split_sets(spec, _parse_sets(set_))
    sweeps = {}
    for item in sweep or []:
        name, _, rng = item.partition("=")
        parts = rng.split(":")
        if not name.isidentifier() or len(parts) != 3:
            raise UsageError(f"`--sweep {item}`: expected NAME=LO:HI:N", hint="for example `--sweep sigma=0.1:1.0:10`")
        lo, hi, n = _number(parts[0], "--sweep"), _number(parts[1], "--sweep"), _number(parts[2], "--sweep")
        if not float(n).is_integer() or n < 1:
            raise UsageError(f"`--sweep {item}`: N must be a positive integer")
        sweeps[name] = np.linspace(lo, hi, int(n))

    configure_host_devices()
    enable_compilation_cache()
    import jax

    from .compiler.driver import compile_ast, model_class
    from .runtime.io import write_netcdf
    from .runtime.simulate import simulate as run

    compiled = compile_ast(parsed, dims)
    model = model_class(compiled)(jax.random.key(seed))
    ds = run(
        model,
        paths=paths,
        t1=float(t1),
        dt=float(dt),
        t0=t0,
        save=save_value,
        solver=solver,
        params=params or None,
        sweep=sweeps or None,
        chunk_size=None if chunk_size is None else int(chunk_size),
        adaptive=adaptive,
        progress=progress,
        seed=seed,
        max_steps=None if max_steps is None else int(max_steps),
        on_nonfinite=on_nonfinite,
    )
    write_netcdf(ds, output)
    sizes = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    typer.echo(f"wrote {output} ({sizes}; solver {ds.attrs.get('solver', solver)})", err=True)


@app.command()
def plot(
    data: Annotated[Path, typer.Argument(help="A NetCDF file written by `dync simulate`")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write")] = Path("fig.png"),
    max_paths: Annotated[int, typer.Option(help="Trajectories drawn per state")] = 20,
) -> None:
    """Plot sample trajectories (mean ± 2 sd) and final-value histograms."""
    try:
        from .runtime.io import read_netcdf
        from .runtime.plot import plot_dataset

        if not data.exists():
            raise UsageError(f"no such file: {data}")
        ds = read_netcdf(data)
        plot_dataset(ds, output, max_paths=max_paths)
    except DyncError as err:
        _fail(err)
        return
    typer.echo(f"wrote {output}", err=True)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit")] = False,
) -> None:
    if version:
        from . import __version__

        typer.echo(f"dync {__version__}")
        raise typer.Exit(0)


def main() -> None:
    """Console entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except DyncError as err:  # anything that escaped a command
        _fail(err)


if __name__ == "__main__":  # pragma: no cover
    main()
