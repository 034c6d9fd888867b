"""The text of a `dync test` failure (dync/testing/report.py)."""

from __future__ import annotations

import shlex

import numpy as np

from dync.settings.common import _parameter_value
from dync.testing.report import Failure, format_values, reproduce_command


def test_a_failure_names_its_check_values_and_reproduction():
    text = Failure("mean(x) = 1", "s.dync:5:1", "mean 1.3 against 1", "z = 7.31 > 4.89", {"theta": np.asarray(0.5)},
                   "dync test s.dync --set theta=0.5").to_text()  # fmt: skip
    assert text.splitlines()[0] == "FAILED s.dync:5:1: mean(x) = 1"
    assert "z = 7.31 > 4.89" in text and "theta" in text and "reproduce: dync test s.dync" in text
    assert "hint" not in text


def test_a_failed_stationary_law_hints_that_t1_may_be_too_short():
    text = Failure("stationary x ~ Normal(0, 1)", "s.dync:6:1", "KS p = 1e-9", "p = 1e-09 < 1.2e-06").to_text()
    assert "raise --t1" in text


def test_array_values_print_on_one_line_and_reproduce_through_set():
    values = {"A": np.array([[1.0, 0.5], [0.5, 2.0]]), "k": np.float64(0.25), "N": np.int64(3)}
    assert format_values(values) == "A = [[1.0, 0.5], [0.5, 2.0]], k = 0.25, N = 3"
    command = shlex.split(reproduce_command("m.dync", ["--paths", "10"], values))
    sets = dict(command[i + 1].split("=", 1) for i, word in enumerate(command) if word == "--set")
    assert _parameter_value(sets["A"], "--set A") == [[1.0, 0.5], [0.5, 2.0]]
    assert sets["k"] == "0.25" and sets["N"] == "3"
    big = {"W": np.zeros((10, 10))}
    assert "--set" not in reproduce_command("m.dync", [], big) and "\n" not in format_values(big)


def test_a_run_with_no_statistical_comparison_says_no_false_alarm_is_possible():
    """Only exact checks (`expect always`, the built-ins): no split of alpha
    over "1 statistical comparisons", no resolution line."""
    from dync.testing.report import CheckOutcome, TestReport

    def report(tests: int) -> str:
        return TestReport(spec="s.dync", checks=[CheckOutcome("always x > 0", "passed", "3 draws")], failures=[],
                          examples=3, tests=tests, alpha=1e-3, z_threshold=3.29, p_threshold=1e-3, seconds=1.0,
                          settings="300 paths", paths=300).to_text()  # fmt: skip

    exact = report(0)
    assert "false alarms: none possible" in exact and "resolution" not in exact and "Bonferroni" not in exact
    assert "split over 1 statistical comparison (Bonferroni)" in report(1) and "resolution: with 300 paths" in report(1)
