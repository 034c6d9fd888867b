"""The `dync` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 a spec or run-time error (rendered with its location
on stderr), 2 a usage error (bad flags or values), 130 interrupted.

Each command lives in its own module of this package, with a ``run_*``
function that does the work and a ``register(app, ...)`` that adds its typer
command; :data:`COMMAND_MODULES` lists them in help order. ``dync check`` and
``dync fmt`` run without typer (:mod:`dync.cli.fast`).
"""

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

from ..errors import DyncError
from .common import _Exit, _echo, _fail, _warn_plainly
from .fast import _fast

COMMAND_MODULES = ("spec_commands", "simulate", "fit", "sample", "train", "test", "evaluate", "plot")


def build_app():
    """The typer application of every command."""
    import typer

    app = typer.Typer(
        name="dync",
        help="Check, compile, format, simulate, fit and sample stochastic dynamical system specs.",
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

    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(app, run, SpecArg, SetOpt)

    @app.callback()
    def _root(
        version: Annotated[bool, typer.Option("--version", help="Print the version and exit")] = False,
    ) -> None:
        if version:
            from .._version import __version__

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
    _warn_plainly()  # `warning: MESSAGE`, not dync's file and line
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
    finally:
        if argv is None:
            # the work is done and written: a Ctrl-C during the second the
            # interpreter takes to tear JAX down would only print a traceback
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)


