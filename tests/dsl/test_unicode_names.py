"""A non-ASCII letter in a name is refused in both forms, with a hint that
names the ASCII spelling (was, for a YAML key: "has only letters, digits and
`_`", which `σ` is)."""

import pytest

from dync.compiler.driver import compile_file
from dync.errors import SpecErrors


@pytest.mark.parametrize(
    "path, text, code",
    [
        ("m.dync", "model m\nparam σ = 1\nstate x = 1\ndx = -x dt\n", "E100"),
        ("m.yaml", "model: m\nparams: {σ: 1}\nstates: {x: 1}\nequations: [dx = -x dt]\n", "E261"),
    ],
)
def test_a_greek_name_is_refused_with_its_ascii_spelling(path, text, code):
    with pytest.raises(SpecErrors) as info:
        compile_file(path, text=text)
    (error,) = info.value.errors
    assert (error.code, error.span.line) == (code, 2)
    assert "write `sigma` for `σ`" in error.hint


def test_unicode_in_comments_and_the_doc_is_fine():
    text = "model m\n# σ-model — ünïcode\nparam sigma = 1 : positive  # σ\nstate x = 1\ndx = -x dt + sigma dW  # θ\n"
    assert compile_file("m.dync", text=text).model.doc == "σ-model — ünïcode"
