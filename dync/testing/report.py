"""What ``dync test`` found: each check's outcome, the failures with the
values that break them, and their text and JUnit XML forms."""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from ..atomic import write_text_atomic

__all__ = ["CheckOutcome", "Failure", "TestReport", "format_values"]


def format_values(values: Mapping[str, np.ndarray]) -> str:
    """``theta = 0.5, mu = [1, 2]`` (full precision, so a value can be set back)."""
    parts = []
    for name, v in values.items():
        a = np.asarray(v)
        if a.ndim == 0 and a.dtype.kind in "iu":
            parts.append(f"{name} = {int(a)}")
            continue
        a = a.astype(float)
        if a.ndim == 0:
            text = repr(float(a))
        elif a.size <= 64:  # on one line, as `--set` takes it back
            text = json.dumps(a.tolist())
        else:
            text = " ".join(np.array2string(a, precision=17, separator=", ", threshold=20).split())
        parts.append(f"{name} = {text}")
    return ", ".join(parts) if parts else "(the spec's values)"


@dataclasses.dataclass(frozen=True)
class Failure:
    """One broken check.

    Attributes:
        check: what failed: an expectation's text (``mean(x) = ...``) or a
            built-in check's name.
        location: ``file:line:column`` of the expectation ("" for a built-in).
        message: what was seen against what was expected.
        statistic: the test statistic against its threshold
            (``z = 7.31 > 4.89``), "" for an exact check.
        values: the parameter values it fails at (shrunk by hypothesis).
        reproduce: a command line that reproduces it.
    """

    __test__ = False

    check: str
    location: str
    message: str
    statistic: str = ""
    values: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    reproduce: str = ""

    def to_text(self) -> str:
        head = f"{self.location}: " if self.location else ""
        lines = [f"FAILED {head}{self.check}", f"  {self.message}"]
        if self.statistic:
            lines.append(f"  {self.statistic}")
        lines.append(f"  at {format_values(self.values)}")
        if self.check.startswith("stationary"):
            lines.append(
                "  hint: the law is checked at t1; where these values make the model relax slowly it may not have "
                "reached its stationary law yet: raise --t1 (or narrow the `test:` ranges) if the law itself is right"
            )
        if self.reproduce:
            lines.append(f"  reproduce: {self.reproduce}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    """One check of the run (an expectation or a built-in): ``passed``,
    ``failed`` or ``skipped`` (with why)."""

    __test__ = False

    name: str
    status: str
    detail: str = ""
    location: str = ""


@dataclasses.dataclass
class TestReport:
    """The outcome of a ``dync test`` run.

    Attributes:
        spec: the spec's path.
        checks: every check, in order.
        failures: the failed checks, with their shrunk values.
        examples: parameter draws run (not counting shrinking).
        tests: statistical comparisons the false-alarm rate is split over.
        alpha: the run's false-alarm rate.
        z_threshold: the z a moment check must exceed to fail.
        p_threshold: the p-value a law check must fall below to fail.
        seconds: wall time of the run.
        settings: the settings line (paths, t1, dt, seed, ...).
        paths: paths in each ensemble.
        notes: what the run did not vary and why (a parameter the compiler
            reads, held at its spec value), one line each.
    """

    __test__ = False

    spec: str
    checks: list[CheckOutcome]
    failures: list[Failure]
    examples: int
    tests: int
    alpha: float
    z_threshold: float
    p_threshold: float
    seconds: float
    settings: str
    paths: int = 0
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_text(self) -> str:
        lines = [f"dync test {self.spec}: {self.settings}"]
        lines += [f"note: {n}" for n in self.notes]
        width = max((len(c.name) for c in self.checks), default=0)
        for c in self.checks:
            where = f"  ({c.location})" if c.location else ""
            detail = f"  {c.detail}" if c.detail else ""
            lines.append(f"  {c.status:7s} {c.name:{width}s}{detail}{where}")
        if self.tests == 0:
            lines.append("false alarms: none possible: no check of this run is statistical (each holds or fails exactly)")
        else:
            lines.append(
                f"false alarms: alpha = {self.alpha:g} for the whole run, split over {self.tests} statistical "
                f"comparison{'s' if self.tests != 1 else ''} (Bonferroni): a moment fails past "
                f"|z| = {self.z_threshold:.2f}, a law below p = {self.p_threshold:.2g}"
            )
        if self.paths > 1 and self.tests:  # what a pass rules out: the smallest error these paths resolve
            z, n = self.z_threshold, self.paths
            lines.append(
                f"resolution: with {n} paths a mean off by more than about {z / math.sqrt(n):.2g} standard deviations "
                f"of its quantity, or a variance off by more than about {100 * z * math.sqrt(2 / n):.0f} %, fails; "
                "smaller errors may pass (more --paths resolve finer)"
            )
        for f in self.failures:
            lines.append(f.to_text())
        passed = sum(c.status == "passed" for c in self.checks)
        skipped = sum(c.status == "skipped" for c in self.checks)
        verdict = "FAILED" if self.failures else "passed"
        lines.append(
            f"{verdict}: {len(self.failures)} failed, {passed} passed, {skipped} skipped; "
            f"{self.examples} parameter draw{'s' if self.examples != 1 else ''} in {self.seconds:.1f} s"
        )
        return "\n".join(lines)

    def write_junit(self, path: str | Path) -> Path:
        """Write the checks as a JUnit XML test suite (atomically)."""
        suite = ET.Element(
            "testsuite",
            name=f"dync test {self.spec}",
            tests=str(len(self.checks)),
            failures=str(len(self.failures)),
            skipped=str(sum(c.status == "skipped" for c in self.checks)),
            time=f"{self.seconds:.3f}",
        )
        by_check = {f.check: f for f in self.failures}
        for c in self.checks:
            case = ET.SubElement(suite, "testcase", classname=Path(self.spec).name, name=c.name)
            if c.status == "failed":
                f = by_check.get(c.name)
                message = f.message if f else c.detail
                node = ET.SubElement(case, "failure", message=message)
                node.text = f.to_text() if f else c.detail
            elif c.status == "skipped":
                ET.SubElement(case, "skipped", message=c.detail)
        text = ET.tostring(suite, encoding="unicode")
        return write_text_atomic(Path(path), '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n")


def reproduce_command(spec: str, settings_flags: Sequence[str], values: Mapping[str, np.ndarray]) -> str:
    """``dync test SPEC FLAGS --set a=... --examples 1``: the failing values
    held fixed (arrays of up to 64 numbers as nested lists, which `--set`
    reads; a larger one is printed in the report only)."""
    parts = ["dync", "test", spec, *settings_flags]
    for name, v in values.items():
        a = np.asarray(v)
        if a.ndim == 0:
            parts += ["--set", f"{name}={int(a) if a.dtype.kind in 'iu' else float(a)!r}"]
        elif a.size <= 64:  # `--set J=[[1.0, 0.5], [0.5, 1.0]]` (a larger array is printed in the report only)
            parts += ["--set", f"{name}={json.dumps(a.astype(float).tolist())}"]
    parts += ["--examples", "1"]
    return " ".join(shlex.quote(p) for p in parts)
