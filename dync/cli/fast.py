"""The fast path of ``dync check`` and ``dync fmt``: what editors call on
every save runs without importing typer (nor JAX, nor anything it does not
need). A small dispatcher reads their few flags itself and hands any other
command line (``--help``, an unknown flag) to the typer app."""

import sys
from pathlib import Path

from .common import _echo
from .spec_commands import run_check, run_fmt


def _fast_args(args: list[str], options: tuple[str, ...], repeated: tuple[str, ...], flags: tuple[str, ...] = ()) -> tuple[Path, dict] | None:
    """The spec and options of a simple ``check``/``fmt`` command line, or
    ``None`` when it needs typer (help, an unknown flag, a missing value).
    A name in ``flags`` takes no value (``True`` when given)."""
    spec: str | None = None
    values: dict[str, object] = {name: [] for name in repeated}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if arg in flags:
                values[arg] = True
                i += 1
                continue
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
        from .._version import __version__

        return lambda: _echo(f"dync {__version__}")
    if not argv:
        return None
    command, rest = argv[0], argv[1:]
    if command in ("check", "fmt") and "lark" not in sys.modules:
        _skip_lark_extras()
    if command == "check":
        parsed = _fast_args(rest, ("--set", "--format"), ("--set",), ("--pedantic",))
        if parsed is not None:
            spec, v = parsed
            return lambda: run_check(spec, v["--set"] or None, str(v.get("--format", "text")), bool(v.get("--pedantic", False)))
    elif command == "fmt":
        parsed = _fast_args(rest, ("--to",), ())
        if parsed is not None:
            spec, v = parsed
            return lambda: run_fmt(spec, str(v.get("--to", "")))
    return None
