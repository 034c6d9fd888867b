"""`dync test` on the command line: exit codes, the report, JUnit XML and
located errors."""

from xml.etree import ElementTree as ET

from tests.interrupt import main_exit_code

SMALL = ["--paths", "300", "--examples", "2", "--t1", "1", "--dt", "0.02", "--no-progress"]
SPEC = """model ou
param theta = 1.0 : positive
param sigma = 0.5 : positive
state x = 1.0
dx = -theta * x dt + sigma dW
expect mean(x) = exp(-theta * t)
"""


def test_passing_spec_exits_0_and_prints_the_report(tmp_path, capsys):
    spec = tmp_path / "ou.dync"
    spec.write_text(SPEC)
    assert main_exit_code("test", str(spec), *SMALL, "--skip", "forms") == 0
    out = capsys.readouterr().out
    assert "passed  mean(x) = exp(-theta * t)" in out and "skipped forms" in out
    assert "false alarms: alpha = 0.001 for the whole run" in out
    # what a pass rules out: z / sqrt(paths) standard deviations of a mean
    assert "resolution: with 300 paths a mean off by more than about 0.2" in out


def test_failing_spec_exits_1_with_junit(tmp_path, capsys):
    spec = tmp_path / "bad.dync"
    spec.write_text(SPEC.replace("exp(-theta * t)", "exp(-2 * theta * t)"))
    junit = tmp_path / "report.xml"
    code = main_exit_code("test", str(spec), *SMALL, "--skip", "forms,gradients,reproducible", "--junit", str(junit))
    assert code == 1
    out = capsys.readouterr().out
    assert f"FAILED {spec}:6:1: mean(x) = exp(-2 * theta * t)" in out and "reproduce: dync test" in out
    assert ET.parse(junit).getroot().get("failures") == "1"


def test_usage_and_spec_errors(tmp_path, capsys):
    spec = tmp_path / "ou.dync"
    spec.write_text(SPEC)
    assert main_exit_code("test", str(spec), "--alpha", "3") == 2
    assert "false-alarm rate" in capsys.readouterr().err
    assert main_exit_code("test", str(spec), "--range", "thetta=1:2", *SMALL) == 2
    assert "did you mean `theta`" in capsys.readouterr().err
    broken = tmp_path / "broken.dync"
    broken.write_text(SPEC + "expect mean(y) = 0\n")
    assert main_exit_code("test", str(broken)) == 1
    err = capsys.readouterr().err
    assert f"{broken}:7:" in err and "^" in err and "Traceback" not in err


def test_junit_report_that_cannot_be_written_is_refused_before_the_checks(tmp_path, capsys):
    """A missing directory or the spec itself as --junit is a usage error up
    front (like -o of the other commands), not a crash after the checks."""
    spec = tmp_path / "ou.dync"
    spec.write_text(SPEC)
    assert main_exit_code("test", str(spec), *SMALL, "--junit", str(tmp_path / "no" / "such" / "r.xml")) == 2
    err = capsys.readouterr().err
    assert "no" in err and "Traceback" not in err
    assert not (tmp_path / "no").exists()
    assert main_exit_code("test", str(spec), *SMALL, "--junit", str(spec)) == 2
    assert "--junit" in capsys.readouterr().err and spec.read_text() == SPEC


DRIVEN = """model driven
param k = 1.0 : positive
param s = 0.3 : positive
input u
state x = 0
dx = (u - k * x) dt + s dW
expect mean(x) = t / k - 1 / k^2 + exp(-k * t) / k^2
"""


def test_a_model_with_inputs_is_tested_with_inputs_from_a_file(tmp_path, capsys):
    """`--inputs FILE` gives every run of the test the input series: with
    u(t) = t (exact under linear interpolation) the mean of
    dx = (u - k x) dt + s dW from 0 is t/k - 1/k^2 + exp(-k t)/k^2; a wrong
    right side fails, and its reproducing command carries --inputs."""
    spec = tmp_path / "driven.dync"
    spec.write_text(DRIVEN)
    inputs = tmp_path / "u.csv"
    inputs.write_text("time,u\n0,0\n2,2\n")
    assert main_exit_code("test", str(spec), *SMALL, "--skip", "forms,gradients") == 2
    err = capsys.readouterr().err
    assert "reads the input(s) `u`" in err and "--inputs FILE" in err
    assert main_exit_code("test", str(spec), *SMALL, "--skip", "forms,gradients", "--inputs", str(inputs)) == 0
    assert "passed  mean(x) = t / k" in capsys.readouterr().out
    wrong = tmp_path / "wrong.dync"
    wrong.write_text(DRIVEN.replace("t / k - 1 / k^2 + exp(-k * t) / k^2", "0"))
    assert main_exit_code("test", str(wrong), *SMALL, "--skip", "forms,gradients,reproducible", "--inputs", str(inputs)) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and f"--inputs {inputs}" in out


def test_a_parameter_read_when_the_spec_compiles_is_held_and_its_range_refused(tmp_path, capsys):
    spec = tmp_path / "k.dync"
    spec.write_text("model m\nparam k = 1\nparam a = 1 : positive\nstate x[3] = 1\ndx = -a * x dt + 0.1 * x[k] dW\n")
    assert main_exit_code("test", str(spec), "--range", "k=0:2", *SMALL) == 2
    err = capsys.readouterr().err
    assert "`--range k=...`: parameter `k` is read as an index or a size (line 5)" in err and "Traceback" not in err
    small = ["--paths", "20", "--examples", "1", "--t1", "0.1", "--dt", "0.05", "--no-progress"]
    assert main_exit_code("test", str(spec), *small, "--skip", "forms,gradients,reproducible") == 0
    assert "note: k = 1.0 is held at its spec value, not drawn" in capsys.readouterr().out
