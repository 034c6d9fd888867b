"""``dync test`` as Python functions the CLI, the pytest plugin and users
share.

:func:`test_file` reads a spec once, merges its ``test:`` section with the
flags (:func:`dync.settings.test.test_settings`), compiles it and runs
:func:`dync.testing.runner.run_model_tests` with the built-in checks of
:mod:`dync.testing.properties`. The result is a
:class:`~dync.testing.report.TestReport`: ``report.ok``, ``report.to_text()``,
``report.write_junit(path)``.
"""

from __future__ import annotations

import os
from typing import Any

from ..compiler.driver import read_spec
from ..settings.test import test_settings
from ..testing.spec import test_spec

__all__ = ["test_file", "test_spec"]


def test_file(
    path: str | os.PathLike,
    *,
    text: str | None = None,
    sets: Any = None,
    ranges: Any = None,
    skip: Any = None,
    progress: bool | None = None,
    inputs: Any = None,
    **settings: Any,
):
    """Read, compile and test a spec, as ``dync test`` does.

    Args:
        path: a ``.dync`` or ``.yaml`` spec.
        text: the spec's text, when it is not to be read from ``path``.
        sets: dims and parameter values held fixed (``{"theta": 0.5}`` or
            ``["theta=0.5"]``).
        ranges: parameter name → ``(lo, hi)`` (or ``["theta=0.5:2"]``).
        skip: built-in checks to switch off (``"reproducible,gradients"``).
        progress: show progress.
        inputs: the model's ``input`` series (a CSV or NetCDF file, as
            ``dync test --inputs`` takes it, or name → ``(times, values)``).
        **settings: ``paths``, ``t1``, ``dt``, ``examples``, ``seed``,
            ``alpha``, ``solver``, ``convergence``.

    Example:
        >>> report = dync.test("specs/ou_tested.dync", examples=5)  # doctest: +SKIP
        >>> report.ok
        True
    """
    spec = read_spec(path, text)
    chosen = test_settings(spec, sets=sets, ranges=ranges, skip=skip, **settings)
    return test_spec(spec, chosen, path=str(path), progress=progress, inputs=inputs)


test_file.__test__ = False  # type: ignore[attr-defined]
