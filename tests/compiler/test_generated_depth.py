"""Generated code of a spec with thousands of terms compiles as Python: the
sum is one expression as deep as it is long, past CPython's compiler
recursion limit, so dync compiles it with recursion headroom (issue 8: the
fuzzer's RecursionError "maximum recursion depth exceeded during
compilation")."""

from __future__ import annotations

import types

from dync.compiler.driver import compile_file, compile_source


def test_a_noise_sum_of_thousands_of_terms_compiles():
    terms = " + ".join(["dW"] * 4000)
    text = f"model m\nstate x = 0\ndx = -x dt + {terms}\n"
    source = compile_file("m.dync", text=text).source
    try:
        compile(source, "<plain>", "exec")
        plain_fails = False
    except RecursionError:
        plain_fails = True
    assert isinstance(compile_source(source, "<generated>"), types.CodeType)
    assert plain_fails, "the case no longer needs the headroom: make it deeper"
