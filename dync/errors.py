"""The one error hierarchy of dync, and the one function that renders it.

Every error a user can cause is a :class:`DyncError`. Spec errors carry a
:class:`Span` into the file the user wrote (text or YAML), a stable code and a
hint; :func:`render_diagnostic` turns one into::

    specs/ou.dync:6:13: error[E201]: undefined name `sigm`
      6 | dx = theta * (mu - x) dt + sigm dW
        |                            ^^^^
      = hint: did you mean `sigma`?
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive.

    ``end_line``/``end_column`` default to the start (a one-character caret).
    """

    path: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0
    #: full source text of the file, used to show the offending line
    source: str = dataclasses.field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.end_line == 0:
            object.__setattr__(self, "end_line", self.line)
            object.__setattr__(self, "end_column", self.column + 1)

    def sort_key(self) -> tuple[str, int, int]:
        return (self.path, self.line, self.column)


#: a span for errors that have no place in a file (command-line input)
NO_SPAN = Span("<command line>", 0, 0, 0, 0)


class DyncError(Exception):
    """Base of every error a user can cause."""

    code: str = "E000"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        if code is not None:
            self.code = code

    def render(self) -> str:
        return render_diagnostic(self)

    def to_json(self) -> dict:
        s = self.span
        return {
            "code": self.code,
            "severity": "error",
            "message": self.message,
            "hint": self.hint,
            "file": s.path if s else None,
            "line": s.line if s else None,
            "column": s.column if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_column if s else None,
        }

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()


class DyncSyntaxError(DyncError):
    """The text could not be parsed."""

    code = "E100"


class SpecError(DyncError):
    """The spec parses but is not a valid model."""

    code = "E200"


class UndefinedName(SpecError):
    code = "E201"


class DuplicateDeclaration(SpecError):
    code = "E202"


class ReservedName(SpecError):
    code = "E203"


class MissingEquation(SpecError):
    code = "E210"


class EquationForUndeclaredState(SpecError):
    code = "E211"


class DuplicateEquation(SpecError):
    code = "E212"


class MissingDifferential(SpecError):
    code = "E213"


class BadDifferential(SpecError):
    code = "E214"


class UnknownFunction(SpecError):
    code = "E220"


class BadArguments(SpecError):
    code = "E221"


class UnknownDistribution(SpecError):
    code = "E222"


class ShapeMismatch(SpecError):
    code = "E230"


class BadGrad(SpecError):
    code = "E231"


class ConstraintViolation(SpecError):
    code = "E240"


class BadConstraint(SpecError):
    code = "E241"


class BadDim(SpecError):
    code = "E250"


class UnknownKey(SpecError):
    code = "E260"


class BadValue(SpecError):
    code = "E261"


class InvalidSpec(SpecError):
    """Anything structural that has no more specific class."""

    code = "E290"


class DyncRuntimeError(DyncError):
    """A failure while running a model (NaN in a path, solver failure, bad data)."""

    code = "E300"


class UsageError(DyncError):
    """Bad command-line or API usage (not a spec fault): exit code 2."""

    code = "E400"


#: the most errors one report lists: a spec broken on thousands of lines gets
#: the first ones and a count of the rest (issue 8: 20,000 errors rendered as
#: 3 GB of text)
MAX_REPORTED_ERRORS = 50
#: the widest source line a diagnostic shows; a longer one is cut around the
#: caret
MAX_SHOWN_LINE = 1000


class SpecErrors(DyncError):
    """Several independent spec errors, reported together, sorted by position
    (at most :data:`MAX_REPORTED_ERRORS`, then a count of the others)."""

    code = "E200"

    def __init__(self, errors: Iterable[DyncError], partial: object | None = None):
        errs = sorted(errors, key=lambda e: e.span.sort_key() if e.span else ("", 0, 0))
        if len(errs) > MAX_REPORTED_ERRORS:
            rest = len(errs) - MAX_REPORTED_ERRORS
            errs = errs[:MAX_REPORTED_ERRORS]
            path = errs[-1].span.path if errs[-1].span else "dync"
            errs.append(InvalidSpec(f"... and {rest:,} more error{'s' if rest != 1 else ''} after these",
                                    Span(path, 0, 0), hint="fix the errors above first"))
        self.errors: list[DyncError] = errs
        #: the AST read around the errors, when they only dropped parts of it
        #: (an unknown YAML key): the checker may still look for more errors
        self.partial = partial
        super().__init__(f"{len(errs)} error(s)", errs[0].span if errs else None)

    def render(self) -> str:
        return "\n".join(render_diagnostic(e) for e in self.errors)

    def to_json(self) -> dict:
        return {"errors": [e.to_json() for e in self.errors]}


@dataclasses.dataclass(frozen=True)
class SpecWarning:
    """Something legal but probably unintended in a spec: a value, returned by
    the compiler (never printed by it) and rendered by :func:`render_warning`.

    Attributes:
        code: a stable code (``W100``).
        message: what was found, built from the spec's names.
        span: where.
        hint: what to do about it; a warning with a hint renders like an
            error (``file:line:col``, the line, a caret, the hint).
    """

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None

    def render(self) -> str:
        return render_warning(self)

    def to_json(self) -> dict:
        """The fields of :meth:`DyncError.to_json`, with ``severity`` ``warning``."""
        return dict(DyncError.to_json(self), severity="warning")  # type: ignore[arg-type]


class RenderedWarning(UserWarning):
    """A spec warning raised as a Python warning at run time; its message is
    the rendered diagnostic (``file:line:col: warning[CODE]: ...``, the line,
    a caret, the hint), which the CLI prints as it is."""


#: a Brownian motion that drives no equation
UNUSED_NOISE = "W100"
#: a parameter value that float32 (JAX's default float type) rounds to 0 or infinity
FLOAT32_RANGE = "W106"
#: an implicit Brownian motion named like a misspelt `dt` (`dtt`, `dT`)
TIME_LIKE_NOISE = "W107"
#: a parameter with no value whose default lies outside its prior's support
DEFAULT_OUTSIDE_PRIOR = "W109"


def render_warning(warning: SpecWarning) -> str:
    """``file:line: warning: message``; with a hint, ``file:line:col:
    warning[CODE]: message``, the line, a caret and the hint."""
    if warning.hint is not None:
        return render_diagnostic(warning, "warning")  # type: ignore[arg-type]
    span = warning.span
    where = f"{span.path}:{span.line}" if span is not None else "dync"
    return f"{where}: warning: {warning.message}"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or ``None``."""
    candidates = sorted(set(candidates))
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    lower = {c.lower(): c for c in candidates}
    folded = [lower[m] for m in difflib.get_close_matches(name.lower(), sorted(lower), n=1, cutoff=0.6 if close else 0.8)]
    if folded and (not close or _likeness(name, folded[0]) > _likeness(name, close[0])):
        # a slip of case: `U` for `u`, `di` for `dI` (difflib sees no likeness
        # in one letter), `norm` for `Normal` (closer than `Uniform` but for case)
        close = folded
    return f"did you mean `{close[0]}`?" if close else None


def _likeness(a: str, b: str) -> float:
    """difflib's similarity of two names, ignoring case."""
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` with control characters (a NUL byte in a data file's header)
    escaped as ``\\xNN``, so that a message never writes them to a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_diagnostic(err: DyncError, severity: str = "error") -> str:
    """``file:line:col: error[CODE]: message``, the line, a caret, the hint
    (``severity`` is ``error`` or ``warning``)."""
    span = err.span
    out: list[str] = []
    if span is None or span.line <= 0:
        where = span.path if span is not None else "dync"
        out.append(f"{where}: {severity}[{err.code}]: {_printable(err.message)}")
    else:
        out.append(f"{span.path}:{span.line}:{span.column}: {severity}[{err.code}]: {_printable(err.message)}")
        lines = span.source.splitlines() if span.source else []
        if 0 < span.line <= len(lines):
            text = _CONTROL.sub("\ufffd", lines[span.line - 1].expandtabs(4).rstrip())  # one column each, as before
            gutter = str(span.line)
            pad = " " * len(gutter)
            start = max(span.column, 1)
            if len(text) > MAX_SHOWN_LINE:  # a window around the caret
                left = max(0, min(start - 1 - MAX_SHOWN_LINE // 3, len(text) - MAX_SHOWN_LINE))
                shown = text[left : left + MAX_SHOWN_LINE]
                prefix = "..." if left > 0 else ""
                suffix = "..." if left + MAX_SHOWN_LINE < len(text) else ""
                text = prefix + shown + suffix
                start = start - left + len(prefix)
                if span.end_line == span.line:
                    span = dataclasses.replace(span, column=start, end_column=start + (span.end_column - span.column))
            out.append(f"{pad} |")
            out.append(f"{gutter} | {text}")
            if span.end_line == span.line:
                width = max(span.end_column - span.column, 1)
            else:
                width = max(len(text) - start + 1, 1)
            width = min(width, max(len(text) - start + 1, 1))
            out.append(f"{pad} | {' ' * (start - 1)}{'^' * width}")
    if err.hint:
        pad = " " * (len(str(span.line)) if span and span.line > 0 else 0)
        out.append(f"{pad} = hint: {_printable(err.hint)}")
    return "\n".join(out)
