"""dync test's runner: correct expectations pass, wrong ones fail with a
located, shrunk and reproducible report.

Sizes are small (400 paths, 3 draws); every statistical check uses the
runner's own Bonferroni threshold for alpha = 1e-3, so a correct model
fails with probability at most 1e-3 (and the seeds are fixed)."""

from xml.etree import ElementTree as ET

import numpy as np
import pytest

from dync.commands.testing import test_file as run_dync_test

OU = """model ou
param theta = 1.0 : positive
param mu = 0.5
param sigma = 0.5 : positive
const x0 = 2.0
state x = x0
dx = theta * (mu - x) dt + sigma dW
"""
RIGHT = OU + (
    "expect mean(x) = mu + (x0 - mu) * exp(-theta * t)\n"
    "expect var(x) = sigma^2 / (2 * theta) * (1 - exp(-2 * theta * t))\n"
    "expect always x > -10\n"
)
# the variance is off by a factor 2: a missing 1/2
WRONG = OU + "expect var(x) = sigma^2 / theta * (1 - exp(-2 * theta * t))\nexpect always x > 0.2\n"
SMALL = dict(paths=400, examples=3, t1=2.0, dt=0.01, progress=False)


@pytest.fixture(scope="module")
def wrong_report():
    return run_dync_test("wrong.dync", text=WRONG, skip="forms,gradients,reproducible", **SMALL)


def test_correct_expectations_pass():
    report = run_dync_test("ou.dync", text=RIGHT, **SMALL)
    assert report.ok, report.to_text()
    names = [c.name for c in report.checks]
    assert names[:3] == ["reproducible", "forms", "gradients"]
    assert "mean(x) = mu + (x0 - mu) * exp(-theta * t)" in names and "always x > -10" in names
    assert all(c.status == "passed" for c in report.checks)
    assert report.examples == 3 and report.tests == 3 * 2 * 20
    assert "split over 120 statistical comparisons (Bonferroni)" in report.to_text()


def test_a_wrong_variance_and_a_broken_always_are_reported(wrong_report):
    assert not wrong_report.ok
    by_check = {f.check: f for f in wrong_report.failures}
    var = by_check["var(x) = sigma^2 / theta * (1 - exp(-2 * theta * t))"]
    assert var.location == "wrong.dync:8:1"
    assert var.statistic.startswith("z = ") and f"> {wrong_report.z_threshold:.2f}" in var.statistic
    always = by_check["always x > 0.2"]
    assert always.location == "wrong.dync:9:1" and "is false at t = " in always.message
    # hypothesis shrinks towards simple values: every drawn value is reported
    assert set(var.values) == {"theta", "mu", "sigma"}
    assert var.reproduce.startswith("dync test wrong.dync --paths 400 --t1 2.0 --dt 0.01 --seed 0 --set theta=")
    assert var.reproduce.endswith("--examples 1")


def test_the_reproducing_values_fail_the_same_way(wrong_report):
    f = next(f for f in wrong_report.failures if f.check.startswith("var"))
    sets = {k: float(v) for k, v in f.values.items()}
    again = run_dync_test("wrong.dync", text=WRONG, sets=sets, skip="forms,gradients,reproducible", **{**SMALL, "examples": 1})
    g = next(g for g in again.failures if g.check == f.check)
    assert g.message == f.message  # same noise, same values: the same numbers


def test_junit_xml(wrong_report, tmp_path):
    path = wrong_report.write_junit(tmp_path / "out.xml")
    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == str(len(wrong_report.failures))
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert "always x > 0.2" in failed
    skipped = [c.get("name") for c in suite if c.find("skipped") is not None]
    assert sorted(skipped) == ["forms", "gradients", "reproducible"]


def test_a_nan_state_fails_the_finite_check():
    text = "model blowup\nparam a = 1 : positive\nstate x = 1\ndx = a * x^3 dt + 0.1 dW\nexpect always x > 0\n"
    report = run_dync_test("blowup.dync", text=text, skip="forms,gradients,reproducible", **SMALL)
    (f,) = report.failures
    assert f.check == "finite" and "became NaN or infinite" in f.message
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["always x > 0"] == "skipped"


def test_parameters_held_by_set_are_not_drawn():
    report = run_dync_test("ou.dync", text=RIGHT, sets={"theta": 1.5, "mu": 0.0, "sigma": 0.3}, skip="forms,gradients", **SMALL)
    assert report.ok and report.examples == 1  # nothing left to draw


def test_same_seed_same_report(wrong_report):
    again = run_dync_test("wrong.dync", text=WRONG, skip="forms,gradients,reproducible", **SMALL)
    assert [f.message for f in again.failures] == [f.message for f in wrong_report.failures]
    assert [{k: np.asarray(v).tolist() for k, v in f.values.items()} for f in again.failures] == [
        {k: np.asarray(v).tolist() for k, v in f.values.items()} for f in wrong_report.failures
    ]


RING = """model: ring
dims: {K: 3}
params:
  k: {value: 1.0, constraint: positive}
states:
  x: {shape: [K], init: 1.0}
equations:
  - dx = -k * x dt + 0.3 dW
expect:
  - mean(sum(x)) = 3 * exp(-k * t)
test:
  ranges: {K: [2, 4]}
"""


def test_dims_are_drawn_and_shrunk():
    # the expectation hard-codes K = 3: every other size breaks it, and
    # hypothesis shrinks the size to the smallest, 2
    report = run_dync_test("ring.yaml", text=RING, skip="forms,gradients,reproducible", **SMALL)
    (f,) = report.failures
    assert int(f.values["K"]) == 2 and "--set K=2 " in f.reproduce
    fixed = run_dync_test("ring.yaml", text=RING, sets={"K": 3}, skip="forms,gradients,reproducible", **SMALL)
    assert fixed.ok, fixed.to_text()


def test_an_observation_law_outside_its_support_fails_finite():
    text = "model obs\nstate x = 0.5\ndx = -x dt + 0.5 dW\nobserve z ~ Normal(x, x)\nobserve n ~ Poisson(exp(x))\n"
    report = run_dync_test("obs.dync", text=text, skip="forms,gradients,reproducible", **SMALL)
    (f,) = report.failures
    assert f.check == "finite" and "non-finite log-likelihood" in f.message
    good = run_dync_test("obs.dync", text=text.replace("Normal(x, x)", "Normal(x, 0.2)"), skip="forms,gradients,reproducible", **SMALL)
    assert good.ok, good.to_text()


def test_a_parameter_read_when_the_spec_compiles_is_held_and_the_report_says_so():
    """`x[k]` keeps k's spec value in the compiled code: dync test drew k
    (from its box) and reported "passed" over draws the model never saw. Now
    k is held, and the report names it and why."""
    text = "model m\nparam k = 1\nparam a = 1 : positive\nstate x[3] = 1\ndx = -a * x dt + 0.1 * x[k] dW\nexpect always x[0] > -10\n"
    report = run_dync_test("m.dync", text=text, skip="forms,gradients,reproducible", paths=20, examples=2, t1=0.2, dt=0.05, progress=False)
    assert report.ok, report.to_text()
    assert report.notes == (
        "k = 1.0 is held at its spec value, not drawn: it is read as an index or a size (line 5) when the spec compiles",
    )
    assert "\nnote: k = 1.0 is held at its spec value" in report.to_text()
