"""Import ArviZ safely from several processes at once, and quietly.

ArviZ 0.23 writes a once-a-day stamp file in the user's cache on import
(``~/.cache/arviz/daily_warning``) through a temporary file with a fixed
name. Two processes importing it for the first time on a day (two pytest
workers, two ``dync fit`` runs in a job array) race on that temporary file,
and the loser's import fails with ``FileNotFoundError``. The stamp is
written by the winner, so importing again succeeds. The import also prints a
``FutureWarning`` about ArviZ's own refactor, which says nothing about the
user's model, and ArviZ logs shape warnings for a single chain; dync
silences both.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from types import ModuleType

_ATTEMPTS = 3


def import_arviz() -> ModuleType:
    """ArviZ, imported once per process; survives the daily-stamp race.

    Raises:
        FileNotFoundError: the stamp race lost ``_ATTEMPTS`` times in a row
            (the cache directory is being removed under us), or any other
            missing file.
    """
    module = sys.modules.get("arviz")
    if module is not None:
        _quiet(module)
        return module
    for attempt in range(_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
                module = importlib.import_module("arviz")
            _quiet(module)
            return module
        except FileNotFoundError as error:
            if "daily_warning" not in str(error) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _quiet(module: ModuleType) -> None:
    """Silence ArviZ's "Shape validation failed" log for one chain or a few
    draws (dync's own table says what those diagnostics lack). ArviZ 0.23
    logs it through ``arviz._log``, a ``logging.Logger("arviz")`` built
    directly rather than by ``logging.getLogger``, so the registered
    ``arviz`` logger's level does not reach it: both are set."""
    logging.getLogger("arviz").setLevel(logging.ERROR)
    own = getattr(module, "_log", None)
    if isinstance(own, logging.Logger):
        own.setLevel(logging.ERROR)
