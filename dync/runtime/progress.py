"""Progress display for long runs: a rich progress bar on standard error.

The runtime reports progress through a plain callable (``advance(n=1)``), so
the numerical code never depends on how (or whether) progress is shown.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["progress_bar", "show_progress"]


def show_progress(progress: bool | None, total: int) -> bool:
    """Whether to draw a bar for ``total`` units of work.

    Args:
        progress: ``True`` to show (the CLI passes it), ``False`` to hide,
            ``None`` to show only when standard error is a terminal.
        total: number of units (chunks); a bar for a single unit is noise and
            is never shown.
    """
    if total <= 1 or progress is False:
        return False
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty())
    return True


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool) -> Iterator[Callable[..., None]]:
    """A context manager yielding ``advance(n=1)``; draws a bar if ``enabled``.

    Args:
        total: number of units of work.
        description: label shown left of the bar.
        enabled: draw the bar; when false ``advance`` does nothing.

    Example:
        >>> with progress_bar(3, "simulating", enabled=False) as advance:
        ...     for _ in range(3):
        ...         advance()
    """
    if not enabled:
        yield _no_progress
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


def _no_progress(n: int = 1) -> None:
    del n
