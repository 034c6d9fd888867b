"""The pytest plugin: a user's specs with expect lines are test items that
pass, fail with the dync test report, and run again by node id."""

import subprocess
import sys
import textwrap

import pytest

GOOD = """model decay
param k = 1.0 : positive
state x = 1.0
dx = -k * x dt + 0.2 dW
expect mean(x) = exp(-k * t)
"""
BAD_YAML = textwrap.dedent(
    """\
    model: growth
    params:
      k: {value: 1.0, constraint: positive}
    states:
      x: 1.0
    equations:
      - dx = k * x dt + 0.2 dW
    expect:
      - mean(x) = exp(-k * t)
    test:
      paths: 300
      t1: 1
      dt: 0.02
    """
)


def _pytest(cwd, *args):
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--dync-examples", "2", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_specs_with_expect_lines_are_collected_and_run(tmp_path):
    (tmp_path / "decay.dync").write_text(GOOD)
    (tmp_path / "growth.yaml").write_text(BAD_YAML)
    (tmp_path / "plain.dync").write_text("model plain\nstate x = 0\ndx = -x dt\n")  # no expect: not a test
    (tmp_path / "config.yaml").write_text("expect: 3\n")  # not a spec: not a test
    listed = _pytest(tmp_path, "--collect-only", "-q")
    assert "decay.dync::decay" in listed.stdout and "growth.yaml::growth" in listed.stdout
    assert "plain" not in listed.stdout and "config" not in listed.stdout
    run = _pytest(tmp_path, "-q", "--dync-paths", "300")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "FAILED growth.yaml:9:5: mean(x) = exp(-k * t)" in run.stdout
    again = _pytest(tmp_path, "-q", "--dync-paths", "300", "decay.dync::decay")
    assert again.returncode == 0 and "1 passed" in again.stdout
