"""``dync check --pedantic`` warnings (issue 8, item 7): each fires on the
trap it names and stays silent on the legitimate look-alikes; the golden
cases 120-127 in tests/golden/errors pin their rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from dync.compiler.driver import check_ast, read_spec
from dync.compiler.pedantic import pedantic_warnings, with_pedantic_warnings

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").rglob("*.dync")) + sorted((ROOT / "specs").rglob("*.yaml"))


def codes(text: str, path: str = "m.dync") -> list[str]:
    checked = check_ast(read_spec(path, text))
    return [w.code for w in pedantic_warnings(checked.spec, checked.model)]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.relative_to(ROOT / "specs").as_posix())
def test_the_shipped_specs_set_off_no_trap(path: Path):
    """Only W102 (no prior) may fire on the example specs: none counts with
    `dN`, leaves a state noiseless by mistake, keeps an unused let or
    observes a state-free law."""
    assert set(codes(path.read_text(), str(path))) <= {"W102"}


def test_counting_names_warn_and_other_noise_names_do_not():
    for name in ("N", "N1", "N_birth", "J2", "jumps", "Births", "poisson"):
        text = f"model m\nstate x = 1\ndx = -x dt + 0.1 d{name}\n"
        assert codes(text) == ["W101"], name
    for name in ("W", "W1", "B", "n", "Noise", "eta", "j1"):
        text = f"model m\nstate x = 1\ndx = -x dt + 0.1 d{name}\n"
        assert codes(text) == [], name
    # declared, the name is a deliberate Brownian motion
    assert codes("model m\nbrownian N1\nstate x = 1\ndx = -x dt + 0.1 dN1\n") == []
    # a bare differential (coefficient 1) too
    assert codes("model m\nstate x = 1\ndx = -x dt + dN\n") == ["W101"]


def test_a_prior_is_asked_for_only_when_the_spec_is_fitted():
    fitted = "model m\nparam a = 1\nparam s = 1 : positive ~ HalfNormal(1)\nconst c = 2\nstate x = 0\ndx = -a * x dt + s * c dW\nobserve y ~ Normal(x, 0.1)\n"
    assert codes(fitted) == ["W102"]
    assert codes(fitted.replace("observe y ~ Normal(x, 0.1)\n", "")) == []


def test_noise_reaching_a_state_through_the_drift_counts():
    chain = "model m\nstate a = 0\nstate b = 0\nstate c = 0\nda = -a dt + dW\ndb = (a - b) dt\ndc = (b - c) dt\n"
    assert codes(chain) == []  # a -> b -> c: every state is random
    assert codes(chain.replace("dc = (b - c) dt", "dc = -c dt")) == ["W103"]
    # an ODE (no noise anywhere) is deterministic on purpose
    assert codes("model m\nstate x = 1\nstate y = 0\ndx = -y dt\ndy = x dt\n") == []
    # through a let and a gradient
    text = "model m\nstate x = 0\nstate v = 0\nlet U = x^2\ndx = v dt\ndv = -grad(U, x) dt + dW\n"
    assert codes(text) == []


def test_lets_are_used_through_lets_expectations_and_targets():
    text = "model m\nstate x = 0\nlet a = x\nlet b = 2 * a\nlet c = x^2\ndx = -b dt + dW\nexpect always c >= 0\n"
    assert codes(text) == []
    assert codes(text.replace("expect always c >= 0\n", "")) == ["W104"]
    target = "model m\nstate q = 0\nlet U = q^2 / 2\ntarget -U\n"
    assert codes(target) == []


def test_a_state_free_observation_is_warned_about_and_a_let_of_a_state_is_not():
    text = "model m\nconst mu = 1\nstate x = 0\nlet m2 = 2 * x\ndx = (mu - x) dt + dW\nobserve y ~ Normal(m2, 0.1)\n"
    assert codes(text) == []
    assert codes(text.replace("Normal(m2, 0.1)", "Normal(mu * t, 0.1)")) == ["W104", "W105"]


def test_yaml_specs_get_the_same_warnings_as_text():
    text = "model m\nparam b = 1\nstate x = 0\nlet u = 2\ndx = -x dt + dN\nobserve y ~ Normal(b, 1)\n"
    yaml = "dync: 1\nmodel: m\nparams:\n  b: 1\nstates:\n  x: {init: 0}\nlet:\n  u: '2'\nequations:\n  - dx = -x dt + dN\nobserve:\n  y: Normal(b, 1)\n"
    assert sorted(codes(text)) == sorted(codes(yaml, "m.yaml")) == ["W101", "W102", "W104", "W105"]


def test_warnings_are_added_after_the_compilers_own():
    text = "model m\nbrownian B\nstate x = 0\nlet u = 2\ndx = -x dt + dW\n"
    checked = with_pedantic_warnings(check_ast(read_spec("m.dync", text)))
    assert [w.code for w in checked.warnings] == ["W100", "W104"]
    rendered = checked.warnings[1].render()
    assert rendered.startswith("m.dync:4:5: warning[W104]: `let u` is never used") and "= hint:" in rendered


def test_the_python_api_takes_pedantic_too():
    import dync

    text = "model m\nstate x = 0\nlet u = 1\ndx = -x dt + dN\n"
    assert [w.code for w in dync.check_file("m.dync", text=text, pedantic=True).warnings] == ["W104", "W101"]
    assert dync.check_file("m.dync", text=text).warnings == ()
