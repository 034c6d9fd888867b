"""Golden code-generation tests: every spec in specs/ compiles to the
checked-in module in tests/golden/codegen, byte for byte (regenerate with
`pytest --update-golden` and review the diff)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dync.compiler.driver import compile_file

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.dync")) + sorted((ROOT / "specs").glob("*.yaml"))


def test_every_spec_has_a_doc_and_a_source():
    for path in SPECS:
        head = path.read_text().lower()[:600]
        assert "source" in head, f"{path.name} names no source"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_compiles_to_its_golden_module(path: Path, update_golden: bool):
    source = compile_file(path).source
    assert compile_file(path).source == source, "code generation is not deterministic"
    compile(source, path.name, "exec")
    golden = ROOT / "tests" / "golden" / "codegen" / (path.name.replace(".", "_") + ".py")
    if update_golden or not golden.exists():
        golden.write_text(source)
    assert source == golden.read_text()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_generated_code_holds_no_user_text(path: Path):
    """Docs and comments from the spec never reach generated code."""
    source = compile_file(path).source
    text = path.read_text()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") and len(line) > 12:
            assert line[1:].strip() not in source
