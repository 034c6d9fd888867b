"""A pytest plugin: specs with ``expect`` lines are test items.

Installed with dync (entry point ``pytest11``), so ``pytest models/``
collects every ``*.dync`` spec with an ``expect`` line, and every
``*.yaml``/``*.yml`` spec with top-level ``model:`` and ``expect:`` keys, as
one test item each, node id ``models/ou.dync::ou``. The item runs
``dync test`` on the spec (its ``test:`` section, then the options below)
and fails with the report of what broke: the expectation's file:line, the
shrunk parameter values and the command that reproduces it.

Options (command line, or ``[tool.pytest.ini_options]``):

* ``--dync-examples N``, ``--dync-paths N``, ``--dync-seed N``: override
  the specs' ``test:`` settings for the whole session;
* ``dync_collect = false`` (ini): collect no specs (a project whose spec
  files are fixtures of its own tests, as dync's are).

A spec that does not compile is a failed item with the located error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

_TEXT_EXPECT = re.compile(r"^\s*expect\s", re.MULTILINE)
_YAML_EXPECT = re.compile(r"^expect\s*:", re.MULTILINE)
_YAML_MODEL = re.compile(r"^model\s*:", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dync", "dync specs as tests")
    group.addoption("--dync-examples", type=int, default=None, help="parameter draws per spec (overrides test: examples)")
    group.addoption("--dync-paths", type=int, default=None, help="paths per ensemble (overrides test: paths)")
    group.addoption("--dync-seed", type=int, default=None, help="seed (overrides test: seed)")
    parser.addini("dync_collect", "collect *.dync / *.yaml specs with expect lines as tests", type="bool", default=True)


def carries_expectations(path: Path) -> bool:
    """Whether ``path`` is a spec with ``expect`` lines."""
    if path.suffix not in (".dync", ".yaml", ".yml"):
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    if path.suffix == ".dync":
        return bool(_TEXT_EXPECT.search(text))
    return bool(_YAML_EXPECT.search(text) and _YAML_MODEL.search(text))


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if not parent.config.getini("dync_collect"):
        return None
    if carries_expectations(file_path):
        return DyncSpecFile.from_parent(parent, path=file_path)
    return None


class DyncSpecFile(pytest.File):
    """A spec file: one item, named after the file's stem."""

    def collect(self):
        yield DyncSpecItem.from_parent(self, name=self.path.stem)


class DyncTestFailure(Exception):
    """A spec's ``dync test`` run failed (carries the report text)."""


class DyncSpecItem(pytest.Item):
    """``dync test`` on one spec."""

    def runtest(self) -> None:
        from ..compiler.driver import read_spec
        from ..errors import DyncError
        from ..settings.test import test_settings
        from .spec import test_spec

        options: dict[str, Any] = {}
        for flag in ("examples", "paths", "seed"):
            value = self.config.getoption(f"dync_{flag}")
            if value is not None:
                options[flag] = value
        shown = self.config.rootpath and _relative(self.path, self.config.rootpath)
        try:
            spec = read_spec(self.path)
            report = test_spec(spec, test_settings(spec, **options), path=shown, progress=False)
        except DyncError as err:
            raise DyncTestFailure(err.render()) from None
        finally:
            from ..runtime.memory_maps import relieve_mappings

            relieve_mappings()  # a session over many specs stays clear of the kernel's mapping limit
        self.user_properties.append(("dync_report", report.to_text()))
        if not report.ok:
            raise DyncTestFailure(report.to_text())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, DyncTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"dync test {self.path.name}"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
