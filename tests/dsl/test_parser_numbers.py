"""Malformed numbers are reported as numbers, at the number: an exponent
without digits (`1e`, which was read as `1` times a name `e`), a digit
separator (`1_000`) or a base prefix (`0x10`), in both forms. A number
directly followed by a differential (`2dW`) stays a term."""

import pytest

from dync.compiler.driver import compile_file
from dync.errors import SpecErrors


@pytest.mark.parametrize(
    "path, text, where, shown",
    [
        ("m.dync", "model m\nstate x = 1\ndx = -x dt + 1e\n", "3:14", "1e"),
        ("m.dync", "model m\nparam a = 2.5E-\nstate x = 1\ndx = -a * x dt\n", "2:11", "2.5E-"),
        ("m.dync", "model m\nparam a = 1_000\nstate x = 1\ndx = -a * x dt\n", "2:11", "1_000"),
        ("m.dync", "model m\nparam a = 0x10\nstate x = 1\ndx = -a * x dt\n", "2:11", "0x10"),
        ("m.yaml", "model: m\nparams: {a: 1e}\nstates: {x: 1}\nequations: [dx = -a * x dt]\n", "2:13", "1e"),
    ],
)
def test_a_malformed_number_is_reported_at_the_number(path, text, where, shown):
    with pytest.raises(SpecErrors) as info:
        compile_file(path, text=text)
    (error,) = info.value.errors
    assert (f"{error.span.line}:{error.span.column}", error.code, error.message) == (where, "E100", f"malformed number `{shown}`")


def test_a_number_directly_before_a_differential_is_a_term():
    compiled = compile_file("m.dync", text="model m\nstate x = 1\ndx = -x dt + 2dW + 0dt\n")
    assert compiled.model.noise_size == 1
