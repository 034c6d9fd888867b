"""The parser never crashes: on any text, on corrupted valid specs and on
corrupted YAML specs, reading a spec either succeeds or raises located
diagnostics (a `SpecErrors` of `DyncSyntaxError` / `SpecError`), each of which
renders as ``file:line:col: error[E...]`` with the offending line and a caret.
No other exception may escape."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dync.dsl.format import format_yaml
from dync.dsl.parser import SpanMapper, parse_fragment, parse_spec
from dync.dsl.yaml_loader import load_yaml_spec
from dync.errors import DyncError, DyncSyntaxError, SpecError, SpecErrors
from dync.testing.strategies import _mutate, mutated_specs, valid_specs

SPECS = Path(__file__).resolve().parents[2] / "specs"
TEXT_SPECS = [p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.dync"))]
YAML_SPECS = [p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.yaml"))]
PATH = "spec.dync"
YAML_PATH = "spec.yaml"

FIRST_LINE = re.compile(r"\A(?P<path>[^\n]+?):(?P<line>\d+):(?P<col>\d+): error\[E\d{3}\]: .+")
CARET_LINE = re.compile(r"\A *\d* \| *\^+\Z")

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------ the law


#: characters `str.splitlines` breaks a line at but the grammar does not
_NOT_LINE_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|\r(?!\n)")


def text_lines(text: str) -> list[str]:
    """The lines of a ``.dync`` text as the grammar counts them: split at
    ``\n`` (or ``\r\n``); any other line-break character is shown as a space."""
    lines = [ln.removesuffix("\r") for ln in _NOT_LINE_BREAKS.sub(" ", text).split("\n")]
    return lines[:-1] if text.endswith("\n") or not text else lines


def yaml_lines(text: str) -> list[str]:
    """The lines of a YAML text: YAML breaks lines where `str.splitlines` does
    (the characters it does not share are not allowed in YAML)."""
    return text.splitlines()


def assert_located(err: DyncError, text: str, path: str, kinds: tuple[type, ...], lines_of=text_lines) -> None:
    """``err`` is one of ``kinds``, has a span inside ``text`` and renders with
    a ``file:line:col: error[E...]`` first line, the offending line and a caret."""
    assert isinstance(err, kinds), (type(err).__name__, err.message, text)
    span = err.span
    assert span is not None, (err.message, text)
    assert span.path == path
    lines = lines_of(text)
    assert 1 <= span.line <= max(len(lines), 1), (span, err.message, text)
    line_text = lines[span.line - 1] if lines else ""
    assert 1 <= span.column <= len(line_text) + 1, (span, err.message, line_text, text)
    assert (span.end_line, span.end_column) > (span.line, span.column), (span, text)
    rendered = err.render()
    out = rendered.split("\n")
    m = FIRST_LINE.match(out[0])
    assert m, rendered
    assert (m["path"], int(m["line"]), int(m["col"])) == (path, span.line, span.column), rendered
    assert err.code in out[0]
    if lines:
        assert any(CARET_LINE.match(ln) for ln in out[1:]), rendered
        shown = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "\ufffd", line_text.expandtabs(4).rstrip())  # control characters shown as one mark each
        assert f"{span.line} | {shown}" in out, rendered


def assert_reads_or_reports(read, text: str, path: str, kinds: tuple[type, ...], lines_of) -> None:
    """The law: ``read(text, path)`` returns, or raises located diagnostics only."""
    try:
        read(text, path)
    except SpecErrors as errs:
        assert errs.errors, text
        for err in errs.errors:
            assert_located(err, text, path, kinds, lines_of)
        rendered = errs.render()
        assert rendered.count(": error[E") >= len(errs.errors), rendered
    except DyncError as err:  # a single diagnostic is acceptable too, if located
        assert_located(err, text, path, kinds, lines_of)
    except Exception as exc:  # noqa: BLE001 - the law: nothing else escapes
        raise AssertionError(f"{type(exc).__name__}: {exc} escaped on input {text!r}") from exc


def assert_parses_or_reports(text: str) -> None:
    assert_reads_or_reports(parse_spec, text, PATH, (DyncSyntaxError,), text_lines)


def assert_yaml_reads_or_reports(text: str) -> None:
    assert_reads_or_reports(load_yaml_spec, text, YAML_PATH, (DyncSyntaxError, SpecError), yaml_lines)


# ------------------------------------------------------------ strategies

_WORDS = (
    "model", "param", "state", "const", "dim", "brownian", "input", "let", "net", "observe",
    "calculus", "init", "not", "and", "or", "dx", "dt", "dW", "t", "pi", "x", "sigma",
    "Normal", "positive", "interval", "fractional", "hurst", "grad", "mlp", "sum", "1", "0.5",
    "1e-3", "1.2.3", "ito", "stratonovich",
)
_CHARS = "abcxyzKNW0123456789_=+-*/^@()[],:~#. <>!\n\t\\'\"{};$\r\x0c"
#: text built from the characters and words of the language
LANGUAGE_TEXT = st.lists(
    st.one_of(st.sampled_from(_CHARS), st.sampled_from(_WORDS), st.just(" "), st.just("\n")),
    max_size=40,
).map("".join)
#: any printable text (plus the whitespace characters the lexer sees)
PRINTABLE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)

VALID_TEXTS = valid_specs(max_states=2).map(lambda s: s[0])


def _yaml_of(text: str) -> str:
    return format_yaml(parse_spec(text))


_YAML_SYMBOLS = "{}[]:-,'\"&*!|>%?#@`\t\n "


@st.composite
def mutated_yaml(draw) -> str:
    """A YAML spec (from `specs/` or a random valid spec) with 1-3 corruptions,
    including YAML's own punctuation."""
    text = draw(st.sampled_from(YAML_SPECS) | VALID_TEXTS.map(_yaml_of))
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 2)) == 0:
            pos = draw(st.integers(0, len(text)))
            text = text[:pos] + draw(st.sampled_from(_YAML_SYMBOLS)) + text[pos:]
        else:
            text = _mutate(draw, text)
    return text


# ------------------------------------------------------------ the text form


@SETTINGS
@given(LANGUAGE_TEXT)
@example("(")
@example("dx = (1 dt\nstate x = 0\n")
@example("param a = 1..2\n")
@example("model m\r\nstate x = 0\r\n")
@example("x\x0cy =\n")
@example("\r(")
@example("model m # ( [\n]")
def test_the_parser_only_raises_located_syntax_errors_on_language_text(text):
    assert_parses_or_reports(text)


@settings(SETTINGS, max_examples=60)
@given(PRINTABLE_TEXT)
def test_the_parser_only_raises_located_syntax_errors_on_any_text(text):
    assert_parses_or_reports(text)


@SETTINGS
@given(mutated_specs(TEXT_SPECS))
def test_the_parser_only_raises_located_syntax_errors_on_mutated_library_specs(text):
    assert_parses_or_reports(text)


@settings(SETTINGS, max_examples=80)
@given(mutated_specs(VALID_TEXTS))
def test_the_parser_only_raises_located_syntax_errors_on_mutated_random_specs(text):
    assert_parses_or_reports(text)


@settings(SETTINGS, max_examples=80)
@given(st.sampled_from(["expr", "equation", "dist", "kind"]), LANGUAGE_TEXT.map(lambda s: re.sub("[\n\r\x0c]", " ", s)))
def test_fragments_only_raise_located_syntax_errors(kind, text):
    # a YAML string reaches the grammar as one line (the loader folds breaks)
    mapper = SpanMapper(PATH, text)
    try:
        parse_fragment(text, kind, mapper)
    except DyncSyntaxError as err:
        assert_located(err, text, PATH, (DyncSyntaxError,))
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{type(exc).__name__}: {exc} escaped on {kind} {text!r}") from exc


# ------------------------------------------------------------ the YAML form


@SETTINGS
@given(mutated_yaml())
@example("model: m\nstates: {x: {init: 0.0}}\nequations: [dx = -x dt + dW\n")
@example("model: [\n")
@example("params:\n  a: {value: '1 +'}\n")
@example("- a\n- b\n")
@example("model: m\n\tstates:\n")
@example("equations:\n  - |\n    dx = (1\n    dt\n")
@example("model: m\n?")  # an empty key at the very end of the file
def test_the_yaml_loader_only_raises_located_errors_on_mutated_yaml(text):
    assert_yaml_reads_or_reports(text)


@settings(SETTINGS, max_examples=60)
@given(LANGUAGE_TEXT | PRINTABLE_TEXT)
def test_the_yaml_loader_only_raises_located_errors_on_any_text(text):
    assert_yaml_reads_or_reports(text)


# ------------------------------------------------------------ rendering


def test_a_rendered_syntax_error_has_the_location_line_and_caret():
    try:
        parse_spec("model m\nstate x = (1 +\n", PATH)
    except SpecErrors as errs:
        out = errs.render().split("\n")
    else:
        raise AssertionError("expected a syntax error")
    assert FIRST_LINE.match(out[0]), out
    assert out[0].startswith(f"{PATH}:2:")
    assert any(CARET_LINE.match(ln) for ln in out), out
