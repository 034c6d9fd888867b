"""dync test must flag every planted bug and pass every correct model.

Each pair under tests/testing/planted/ is the same model twice: correct, and
with one bug planted in its dynamics. Runs use the specs' own test:
settings (or the defaults: 1000 paths, t1 = 1, 10 for stationary laws) with
4 parameter draws; the once-per-run built-in checks are skipped here (they
have their own tests). The false-alarm rate of the correct runs is alpha =
1e-3 each (Bonferroni inside the run); benchmarks/false_alarms.py measures it
over 20 seeds.
"""

from pathlib import Path

import pytest

from dync.commands.testing import test_file as run_dync_test

PLANTED = Path(__file__).parent / "planted"
NAMES = sorted(p.stem for p in (PLANTED / "correct").iterdir() if p.suffix in (".dync", ".yaml"))
RUN = dict(examples=4, skip="reproducible,forms,gradients", progress=False)


def _spec(kind: str, name: str) -> Path:
    (path,) = [p for p in (PLANTED / kind).iterdir() if p.stem == name]
    return path


def test_there_are_at_least_12_planted_bugs():
    assert len(NAMES) >= 12
    assert NAMES == sorted(p.stem for p in (PLANTED / "buggy").iterdir() if p.suffix in (".dync", ".yaml"))
    for name in NAMES:
        assert "# PLANTED BUG:" in _spec("buggy", name).read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_planted_bug_is_caught(name):
    report = run_dync_test(_spec("buggy", name), **RUN)
    assert not report.ok, report.to_text()
    assert all(f.reproduce.startswith("dync test ") for f in report.failures if f.values)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_correct_model_passes(name):
    report = run_dync_test(_spec("correct", name), **RUN)
    assert report.ok, report.to_text()
