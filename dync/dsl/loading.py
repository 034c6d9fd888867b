"""Read a spec file of either form: ``.dync`` text or YAML.

The form is chosen by the file's suffix (``.dync``; ``.yaml`` / ``.yml``);
for any other suffix the content decides: a first line (after blank and
comment lines) that starts with ``dync:``, ``model:`` or ``---`` means YAML,
anything else the text form.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from .._deep import busiest_line, run_deep
from ..errors import InvalidSpec, Span, SpecErrors, UsageError
from . import ast
from .parser import parse_spec
from .limits import MAX_SPEC_BYTES, MAX_TOKENS

#: a token of either form for the size bound: a comment (not counted), a
#: word or number, or any other visible character
_TOKEN = re.compile(r"#[^\n]*|[A-Za-z_0-9.]+|\S")

TEXT_SUFFIXES = (".dync",)
YAML_SUFFIXES = (".yaml", ".yml")
_YAML_STARTS = ("dync:", "model:", "---", "%YAML")


def looks_like_yaml(text: str) -> bool:
    """Whether a spec of unknown suffix is in the YAML form."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return stripped.startswith(_YAML_STARTS)
    return False


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecErrors(
                [
                    InvalidSpec(
                        f"the spec is {size} bytes long; the limit is {MAX_SPEC_BYTES} bytes (1 MiB)",
                        Span(str(path), 1, 1),
                    )
                ]
            )
        with open(path, encoding="utf-8-sig") as f:
            return f.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"cannot read the spec `{path}`: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read the spec `{path}`: it is a directory") from None
    except PermissionError:
        raise UsageError(f"cannot read the spec `{path}`: permission denied") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read the spec `{path}`: it is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read the spec `{path}`: {exc.strerror or exc}") from None


def load_spec(path: str | os.PathLike[str], text: str | None = None) -> ast.Spec:
    """Read a spec in either form into its AST.

    Args:
        path: the spec file; its suffix picks the form.
        text: the file's content, if already in memory (then ``path`` is only
            used to pick the form and in diagnostics).

    Returns:
        The spec, its spans pointing into the file.

    Raises:
        UsageError: the file cannot be read (missing, a directory, not UTF-8).
        SpecErrors: the spec is larger than 1 MiB, or has syntax or structure
            errors (all of them, sorted by position).

    Example:
        >>> spec = load_spec("m.dync", "model m\\nstate x = 0\\ndx = -x dt\\n")
        >>> spec.name
        'm'
    """
    p = Path(path)
    name = str(path)
    if p.suffix.lower() in _DATA_SUFFIXES:
        raise UsageError(
            f"{name} is a data file (`{p.suffix}`), not a spec",
            hint="the spec (`.dync` or `.yaml`) comes first: `dync fit SPEC DATA`, `dync train SPEC DATA`",
        )
    if text is None:
        text = _read(p)
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_SPEC_BYTES:
        raise SpecErrors(
            [InvalidSpec(f"the spec is {size} bytes long; the limit is {MAX_SPEC_BYTES} bytes (1 MiB)", Span(name, 1, 1))]
        )
    suffix = p.suffix.lower()
    yaml_form = suffix in YAML_SUFFIXES or (suffix not in TEXT_SUFFIXES and looks_like_yaml(text))
    # remembered: a script that samples or simulates the same spec again does
    # not parse it again (a 100-element array literal takes 20 ms). Safe to
    # share: the AST is immutable (frozen dataclasses and tuples); a spec with
    # errors raises and is not kept, nor is a huge spec's AST
    read = _parse if len(text) <= _REMEMBERED_TEXT_CHARS else _parse.__wrapped__
    return read(text, name, yaml_form)


#: suffixes of data files (CSV, NetCDF), which are never a spec
_DATA_SUFFIXES = (".csv", ".nc", ".nc4", ".netcdf", ".cdf", ".h5", ".tsv")

#: specs up to this long (in characters) have their AST remembered
_REMEMBERED_TEXT_CHARS = 64 * 1024


@functools.lru_cache(maxsize=16)
def _parse(text: str, name: str, yaml_form: bool) -> ast.Spec:
    """The AST of ``text`` in the given form (``lru_cache``'s
    ``__wrapped__`` is the same without remembering)."""
    _check_tokens(text, name)
    if yaml_form:
        from .yaml_loader import load_yaml_spec  # PyYAML only for the YAML form

        reader = load_yaml_spec
    else:
        reader = parse_spec
    return run_deep(lambda: busiest_line(text, name), reader, text, name)


def _check_tokens(text: str, name: str) -> None:
    """Refuse a spec of more than :data:`~dync.dsl.limits.MAX_TOKENS` tokens,
    pointing at the first token past the bound.

    Raises:
        SpecErrors: E290 with a hint.
    """
    count = 0
    for m in _TOKEN.finditer(text):
        if m.group().startswith("#"):
            continue
        count += 1
        if count > MAX_TOKENS:
            line = text.count("\n", 0, m.start()) + 1
            column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
            raise SpecErrors([InvalidSpec(
                f"the spec has more than {MAX_TOKENS:,} tokens (names, numbers and symbols); this is the {MAX_TOKENS + 1:,}th",
                Span(name, line, column, line, column + len(m.group()), source=text),
                hint="write long sums over arrays with `sum(...)`, and keep large data in files (`dync fit SPEC DATA`)",
            )])
