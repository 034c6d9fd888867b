"""`dync check` reads the run sections as their commands do
(dync.settings.check): a bad value is a located E261 at check time."""

from __future__ import annotations

from dync.dsl.yaml_loader import load_yaml_spec
from dync.settings.check import section_errors

HEAD = "model: m\nparams:\n  k: 1.0\nstates:\n  x: 1.0\nequations:\n  - dx = -k * x dt + dW\n"


def test_each_run_section_is_read_and_its_first_error_located():
    spec = load_yaml_spec(
        HEAD + "simulate: {paths: -5, t1: 1, dt: 0.1}\ntest:\n  ranges: {kk: [0, 1]}\nsample: {method: gibbs}\n",
        "m.yaml",
    )
    errors = section_errors(spec)
    assert [e.message.split(":")[0] for e in errors] == ["simulate.paths -5", "test.ranges", "sample.method gibbs"]
    assert [e.span.line for e in errors] == [8, 10, 11]
    assert "the spec has no parameter or dim `kk`" in errors[1].message and errors[1].hint == "did you mean `k`?"


def test_a_section_that_a_flag_completes_is_not_an_error():
    """`simulate: {paths: 10}` without t1: `--t1` may still come on the
    command line, so check says nothing."""
    spec = load_yaml_spec(HEAD + "simulate: {paths: 10}\ntest: {ranges: {k: [0.5, 2]}}\n", "m.yaml")
    assert section_errors(spec) == []


def test_what_a_flag_can_still_give_is_no_error_of_the_section():
    """`sample: {reverse: sde}` without weights: `--weights FILE` comes on
    the command line, so `dync check` says nothing."""
    spec = load_yaml_spec(
        "model: m\nstates:\n  x: {init: data}\nequations:\n  - dx = -x dt + dW\nscore:\n  x: -x\nsample: {reverse: sde}\n",
        "m.yaml",
    )
    assert section_errors(spec) == []
