"""The bounds of dync.dsl.limits are located errors, checked before the work
they bound (issue 8: specs are data from anywhere)."""

from __future__ import annotations

import pytest

from dync.compiler.consteval import TooLarge, exact_int
from dync.compiler.driver import check_ast, read_spec
from dync.dsl.limits import MAX_RANK, MAX_TOKENS
from dync.dsl.loading import load_spec
from dync.dsl.parser import parse_spec
from dync.errors import SpecErrors


def _codes(text: str, name: str = "m.dync") -> list[str]:
    with pytest.raises(SpecErrors) as err:
        check_ast(read_spec(name, text))
    return [e.code for e in err.value.errors]


def test_a_spec_past_the_token_bound_is_refused_at_the_first_token_past_it():
    body = ",\n".join(["1"] * (MAX_TOKENS // 2 + 1))
    text = f"model m\nlet s = sum([\n{body}\n])\nstate x = 0\ndx = -x dt\n"
    with pytest.raises(SpecErrors) as err:
        load_spec("m.dync", text)
    e = err.value.errors[0]
    assert e.code == "E290" and "tokens" in e.message
    assert e.span.line > MAX_TOKENS // 2 - 10  # near the end, not at the top


def test_comments_do_not_count_as_tokens():
    comments = "# a comment of many words and numbers 1 2 3\n" * (MAX_TOKENS // 4)
    load_spec("m.dync", "model m\n" + comments + "state x = 0\ndx = -x dt\n")


@pytest.mark.parametrize("depth", [MAX_RANK + 1, 65, 1000])
def test_arrays_nested_past_the_rank_bound_are_located(depth):
    text = "model m\nstate x = " + "[" * depth + "0" + "]" * depth + "\ndx = -x dt\n"
    with pytest.raises(SpecErrors) as err:
        parse_spec(text, "m.dync")
    e = err.value.errors[0]
    assert e.code == "E290" and e.span.line == 2 and e.span.column == len("state x = ") + MAX_RANK + 1


def test_arrays_nested_to_the_rank_bound_are_fine():
    text = "model m\nstate x = " + "[" * MAX_RANK + "0" + "]" * MAX_RANK + "\ndx = -x dt\n"
    check_ast(read_spec("m.dync", text))


def test_exact_int_reads_sizes_without_rounding():
    spec = parse_spec("model m\ndim N = 2^64 + 1\nstate x = 0\ndx = -x dt\n")
    assert exact_int(spec.statements[1].value, {}) == 2**64 + 1
    big = parse_spec("model m\ndim N = 2^100000\nstate x = 0\ndx = -x dt\n")
    with pytest.raises(TooLarge):
        exact_int(big.statements[1].value, {})


@pytest.mark.parametrize("line, code", [
    ("dim N = 2^100000", "E250"),
    ("dim N = 9223372036854775807", "E250"),
    ("dim N = [1, 2]", "E250"),
    ("state y[2^20, 2^20, 2] = 0", "E230"),
    ("net f = mlp(in = 1, out = 1, width = 1e300)", "E221"),
    ("param p = sum(ones(3), axis = 5)", "E290"),
    ("param p = roll([1, 2], shift = 0.5)", "E290"),
    ("param p = [1, 2][0:2:0]", "E290"),
    ("param p = [1, 2][5]", "E290"),
    ("param p = eye(1e400)", "E290"),
    ("param p = outer(ones(2^12), ones(2^12))", "E290"),
    ("param p = sum(" + " @ ".join(["eye(512)"] * 12) + ")", "E290"),
])
def test_hostile_constants_are_located_errors(line, code):
    assert code in _codes(f"model m\n{line}\nstate x = 0\ndx = -x dt\n")


def test_a_report_lists_the_first_errors_and_counts_the_rest():
    from dync.errors import MAX_REPORTED_ERRORS

    n = MAX_REPORTED_ERRORS + 10
    term = "(" + " + ".join(["x"] * 40) + ")"  # a line of some 10,000 characters
    text = "model m\nstate x = 0\ndx = -x dt + " + " + ".join([term] * n) + "\n"
    with pytest.raises(SpecErrors) as err:
        check_ast(read_spec("m.dync", text))
    errors = err.value.errors
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert errors[-1].message == "... and 10 more errors after these"
    rendered = err.value.render()
    # each diagnostic shows a window of the long line, not all of it
    assert max(len(line) for line in rendered.splitlines()) < 1100
