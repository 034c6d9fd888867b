"""``dync check``, ``dync fmt`` and ``dync compile``: the commands that read a
spec and print what it is, without running it."""

from pathlib import Path
from typing import Annotated, Optional

from ..errors import DyncError, UsageError
from .common import _echo, _fail, refuse_overwriting_inputs
import json


def run_check(spec: Path, sets: list[str] | None, format: str, pedantic: bool = False) -> None:
    """``dync check``: the summary of a spec, as text or JSON; with
    ``pedantic``, also the warnings of :mod:`dync.compiler.pedantic`."""
    from ..compiler.driver import check_ast, read_spec
    from ..compiler.summary import CheckSummary
    from ..settings import dims_only

    if format not in ("text", "json"):
        _fail(UsageError(f"unknown format `{format}`", hint="use --format text or --format json"))
    try:
        parsed = read_spec(spec)
        checked = check_ast(parsed, dims_only(parsed, sets))
        from ..errors import SpecErrors
        from ..settings.check import section_errors

        errors = section_errors(parsed)
        if errors:
            raise SpecErrors(errors)
        from ..settings.common import merge_section

        if pedantic or merge_section(parsed, "check", {"pedantic": None})["pedantic"]:
            from ..compiler.pedantic import with_pedantic_warnings

            checked = with_pedantic_warnings(checked)
        summary = CheckSummary.of(checked, spec)
    except DyncError as err:
        _fail(err, format)
        return
    if format == "json":
        _echo(json.dumps(summary.to_json(), indent=2))
    else:
        _echo(summary.to_text())


def run_fmt(spec: Path, to: str) -> None:
    """``dync fmt``: the canonical form of a spec."""
    from ..compiler.driver import read_spec
    from ..dsl.format import format_text, format_yaml

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
    from ..atomic import write_text_atomic
    from ..compiler.driver import compile_ast, read_spec
    from ..errors import render_warning
    from ..settings import dims_only

    try:
        parsed = read_spec(spec)
        compiled = compile_ast(parsed, dims_only(parsed, sets))
        if output is not None:
            refuse_overwriting_inputs(output, spec)
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


def register(app, run, SpecArg, SetOpt) -> None:
    """Add check, compile and fmt to the typer ``app``; ``run`` calls a command function,
    turning its exit into typer's."""
    import typer

    # check and compile take dims only (parameter values are a run's)
    DimSetOpt = Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a dim: NAME=VALUE (repeatable; parameter values are set when a command runs)",
                     show_default=False),
    ]  # fmt: skip

    @app.command()
    def check(
        spec: SpecArg,
        set_: DimSetOpt = None,
        format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
        pedantic: Annotated[bool, typer.Option("--pedantic", help="Also warn about what is legal but often a mistake")] = False,
    ) -> None:
        """Check a spec and print what it declares: states, parameters, noise structure, calculus."""
        run(run_check, spec, set_, format, pedantic)

    @app.command("compile")
    def compile_(
        spec: SpecArg,
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the module here (default: stdout)")] = None,
        set_: DimSetOpt = None,
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
