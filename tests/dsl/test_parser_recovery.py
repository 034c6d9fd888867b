"""Error recovery over statements that run on several lines: one syntax
error in a continued statement is reported once, not again for each of the
statement's other lines, and the statements after it are still checked."""

import pytest

from dync.dsl.parser import parse_statements
from dync.errors import SpecErrors


def _positions(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(SpecErrors) as info:
        parse_statements(text, "m.dync")
    return [(e.span.line, e.span.column, e.message) for e in info.value.errors]


def test_an_extra_closing_bracket_is_one_error_not_an_unclosed_one_too():
    text = "model m\nparam A[2, 2] = [[1, 0],\n   [0, 1]]]\nstate x[2] = 0\ndx = -A @ x dt + dW\nparam q = @\n"
    found = _positions(text)
    assert [(ln, col) for ln, col, _ in found] == [(3, 11), (6, 11)]
    assert "never closed" not in found[0][2]


def test_an_error_on_a_continuation_line_blames_no_bracket():
    text = "model m\nparam a = 1\nstate x = 0\nlet g = (a +\n    x +)\nparam b = 2 +\ndx = -x dt + g dW\n"
    assert [(ln, col) for ln, col, _ in _positions(text)] == [(5, 8), (6, 14)]


def test_a_bracket_never_closed_still_lets_later_statements_be_checked():
    text = "model m\nparam a = 1\nstate x = 0\nlet g = (a +\n    x\nparam b = 2\ndx = -x dt + g dW\nparam c = $\n"
    found = _positions(text)
    assert [(ln, col) for ln, col, _ in found] == [(4, 9), (8, 11)]
    assert "never closed" in found[0][2]


def test_an_error_after_a_backslash_is_reported_once():
    text = "model m\nparam a = 1\nstate x = 0\nlet g = a + \\\n    x x\ndx = -x dt + g dW\n"
    assert [(ln, col) for ln, col, _ in _positions(text)] == [(5, 7)]
