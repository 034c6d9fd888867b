"""The layering of dync holds: `lint-imports` keeps every contract of
``[tool.importlinter]`` in pyproject.toml (the front end and the compiler
import no JAX, the runtime imports neither, no stage imports a later one, no
import cycles)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    r = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
