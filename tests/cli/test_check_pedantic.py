"""``dync check --pedantic`` from the command line: warnings, exit code 0,
on the typer-free fast path and through typer alike; the jump syntax is a
located error (exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = "model births\nconst b = 1.0\nconst d = 0.5\nstate x = 10\nlet unused = b\ndx = b * x dN1 - d * x dN2\n"


def dync(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dync.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_pedantic_warns_with_exit_code_zero(tmp_path):
    spec = tmp_path / "births.dync"
    spec.write_text(SPEC)
    r = dync("check", str(spec), "--pedantic")
    assert r.returncode == 0, r.stderr
    assert f"{spec}:6:12: warning[W101]: `dN1` is an implicit Brownian motion" in r.stdout
    assert f"{spec}:5:5: warning[W104]: `let unused` is never used" in r.stdout
    assert "= hint:" in r.stdout and "Traceback" not in r.stderr
    plain = dync("check", str(spec))
    assert plain.returncode == 0 and "W101" not in plain.stdout and "W104" not in plain.stdout
    data = json.loads(dync("check", "--pedantic", str(spec), "--format", "json").stdout)
    assert [w.split(": ")[1] for w in data["warnings"]] == ["warning[W104]", "warning[W101]", "warning[W101]"]
    # structured for editors: the fields of an error's diagnostic, severity `warning`
    first = data["diagnostics"][0]
    assert (first["code"], first["severity"], first["line"], first["column"]) == ("W104", "warning", 5, 5)
    assert first["hint"].startswith("remove it")


def test_pedantic_through_typer(tmp_path):
    """The typer command (what runs with other flags or --help) has the flag too."""
    from typer.testing import CliRunner

    from dync.cli import build_app

    spec = tmp_path / "births.dync"
    spec.write_text(SPEC)
    app = build_app()
    r = CliRunner().invoke(app, ["check", str(spec), "--pedantic"])
    assert r.exit_code == 0, r.output
    assert "warning[W101]" in r.output
    assert "--pedantic" in CliRunner().invoke(app, ["check", "--help"]).output


def test_jump_syntax_is_a_located_error(tmp_path):
    spec = tmp_path / "jump.dync"
    spec.write_text("model m\nstate x = 0\njump x += 1 at rate 2\ndx = -x dt + dW\n")
    r = dync("check", str(spec))
    assert r.returncode == 1
    assert f"{spec}:3:1: error[E100]: jump processes are not supported yet" in r.stderr
    assert "Traceback" not in r.stderr


def test_pedantic_check_stays_on_the_fast_path(tmp_path):
    """No JAX and no typer: `--pedantic` is read by the fast dispatcher."""
    spec = tmp_path / "births.dync"
    spec.write_text(SPEC)
    code = (
        "import sys\n"
        "from dync.cli import main\n"
        f"sys.argv = ['dync', 'check', {str(spec)!r}, '--pedantic']\n"
        "main()\n"
        "print(sorted(m for m in ('jax', 'typer', 'click') if m in sys.modules), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "warning[W101]" in r.stdout
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr


def test_the_yaml_check_section_turns_pedantic_on_and_refuses_unknown_keys(tmp_path):
    """`check: {pedantic: true}` is `--pedantic` (the section mirrors the
    flags); an unknown key in it is a located E260, as in `simulate:`."""
    spec = tmp_path / "m.yaml"
    body = "model: m\nstates:\n  x: 0\nlet:\n  unused: 2\nequations:\n  - dx = -x dt + dW\n"
    spec.write_text(body + "check: {pedantic: true}\n")
    r = dync("check", str(spec))
    assert r.returncode == 0 and "warning[W104]: `let unused` is never used" in r.stdout, r.stdout + r.stderr
    spec.write_text(body + "check: {pedantic: true, strcit: 1}\n")
    r = dync("check", str(spec))
    assert r.returncode == 1 and f"{spec}:8:25: error[E260]: unknown key `strcit` in `check`" in r.stdout + r.stderr
