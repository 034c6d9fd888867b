"""dync.runtime.arviz_import: ArviZ's daily-stamp race is retried, other errors are not."""

from __future__ import annotations

import sys

import pytest

from dync.runtime import arviz_import


def _flaky_import(failures: int, message: str):
    calls = []

    def fake_import(name):
        calls.append(name)
        if len(calls) <= failures:
            raise FileNotFoundError(message)
        return "the arviz module"

    return fake_import, calls


def test_lost_stamp_race_is_retried(monkeypatch):
    monkeypatch.delitem(sys.modules, "arviz", raising=False)
    fake, calls = _flaky_import(1, "[Errno 2] No such file: 'daily_warning.tmp' -> 'daily_warning'")
    monkeypatch.setattr(arviz_import.importlib, "import_module", fake)
    assert arviz_import.import_arviz() == "the arviz module"
    assert calls == ["arviz", "arviz"]


def test_other_missing_files_are_not_retried(monkeypatch):
    monkeypatch.delitem(sys.modules, "arviz", raising=False)
    fake, calls = _flaky_import(1, "[Errno 2] No such file: 'libsomething.so'")
    monkeypatch.setattr(arviz_import.importlib, "import_module", fake)
    with pytest.raises(FileNotFoundError, match="libsomething"):
        arviz_import.import_arviz()
    assert calls == ["arviz"]


def test_a_race_lost_every_time_is_reported(monkeypatch):
    monkeypatch.delitem(sys.modules, "arviz", raising=False)
    fake, calls = _flaky_import(10, "daily_warning.tmp")
    monkeypatch.setattr(arviz_import.importlib, "import_module", fake)
    with pytest.raises(FileNotFoundError):
        arviz_import.import_arviz()
    assert len(calls) == arviz_import._ATTEMPTS


def test_imported_once_and_quietly(recwarn):
    import arviz

    assert arviz_import.import_arviz() is arviz
    assert not [w for w in recwarn if "ArviZ is undergoing" in str(w.message)]


def test_a_one_chain_summary_logs_no_shape_warning(capfd):
    # ArviZ logs through arviz._log, a Logger("arviz") built outside
    # logging.getLogger: `dync fit --chains 1` printed
    # "arviz - WARNING - Shape validation failed" above its own table
    import numpy as np

    from dync.runtime.arviz_import import import_arviz

    az = import_arviz()
    import logging

    assert not az._log.isEnabledFor(logging.WARNING)
    az.summary(az.from_dict(posterior={"a": np.random.default_rng(0).normal(size=(1, 50))}))
    captured = capfd.readouterr()
    assert "Shape validation" not in captured.err + captured.out
