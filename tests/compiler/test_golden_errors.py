"""Golden error tests: each broken spec in tests/golden/errors is compiled and
its rendered diagnostics are compared whole with the `.expected` file beside
it (regenerate with `pytest --update-golden`, then review the diff). Each
broken spec's first line says which error codes it must produce, so a golden
file can never silently accept the wrong diagnosis. A case that expects
warning codes (`# expect: W101`) is a valid spec: its `dync check --pedantic`
warnings are compared instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dync.compiler.driver import check_ast, compile_file, read_spec
from dync.compiler.pedantic import with_pedantic_warnings
from dync.errors import DyncError, SpecErrors

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "golden" / "errors").glob("*.dync")) + sorted(
    (ROOT / "tests" / "golden" / "errors").glob("*.yaml")
)


def _diagnose(path: Path) -> tuple[str, list[str]]:
    rel = path.relative_to(ROOT).as_posix()
    try:
        compile_file(rel)
    except SpecErrors as err:
        return err.render() + "\n", [e.code for e in err.errors]
    except DyncError as err:
        return err.render() + "\n", [err.code]
    warnings = with_pedantic_warnings(check_ast(read_spec(rel))).warnings
    if warnings:
        return "\n".join(w.render() for w in warnings) + "\n", [w.code for w in warnings]
    return "", []


def _expected_codes(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    m = re.match(r"#\s*expect:\s*((?:[EW]\d{3}\s*)+)", first)
    assert m, f"{path.name}: first line must be `# expect: CODE ...`"
    return m.group(1).split()


def test_there_are_enough_golden_error_cases():
    assert len(CASES) >= 30
    assert sum(p.suffix == ".yaml" for p in CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_broken_spec_gives_its_golden_diagnostic(path: Path, update_golden: bool, monkeypatch):
    monkeypatch.chdir(ROOT)
    rendered, codes = _diagnose(path)
    assert rendered, f"{path.name} compiled without error"
    assert codes == _expected_codes(path), rendered
    assert "Traceback" not in rendered
    golden = path.with_suffix(path.suffix + ".expected")
    if update_golden or not golden.exists():
        golden.write_text(rendered)
    assert rendered == golden.read_text()
