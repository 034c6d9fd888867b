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


def test_what_the_run_would_refuse_is_located_in_the_section():
    """An unknown solver, a step that does not divide the span, save times
    out of order or outside [t0, t1]: each a located E261 at the section's
    value (the runtime's own messages had no file:line)."""
    cases = [
        ("{t1: 1, dt: 0.01, solver: rk45}", "simulate.solver rk45: unknown solver", "did you mean `rk4`?"),
        ("{t1: 1, dt: 0.3}", "simulate.dt 0.3: t1 - t0 = 1 is not a whole number of steps", "use dt = 0.25 (4 steps)"),
        ("{t1: 1, dt: 0.1, save: [0.7, 0.3]}", "simulate.save 0.7,0.3: save times must be finite and strictly increasing", None),
        ("{t1: 1, dt: 0.1, save: [0.5, 2.0]}", "simulate.save 0.5,2: 2 lies outside [t0, t1] = [0, 1]", "save times lie"),
    ]
    for section, message, hint in cases:
        (error,) = section_errors(load_yaml_spec(HEAD + f"simulate: {section}\n", "m.yaml"))
        assert error.code == "E261" and error.span.line == 8 and error.message.startswith(message), error.message
        assert hint is None or error.hint.startswith(hint), error.hint
    assert section_errors(load_yaml_spec(HEAD + "simulate: {t1: 1, dt: 0.3, adaptive: true, solver: shark}\n", "m.yaml")) == []
