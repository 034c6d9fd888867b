"""Progress display for long runs: a rich progress bar on standard error.

The runtime reports progress through a plain callable (``advance(n=1)``), so
the numerical code never depends on how (or whether) progress is shown.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["busy", "progress_bar", "show_progress"]


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
def progress_bar(
    total: int, description: str, enabled: bool, unit: str = "chunks"
) -> Iterator[Callable[..., None]]:
    """A context manager yielding ``advance(n=1, status=None)``; draws a bar
    if ``enabled``.

    Args:
        total: number of units of work.
        description: label shown left of the bar.
        enabled: draw the bar; when false ``advance`` does nothing.
        unit: what a unit is called ("chunks", "steps").

    ``advance(n, status)`` moves the bar by ``n`` and, when ``status`` is
    given, shows that text right of the bar (a sampler's log-density, step
    size and divergences so far); ``advance(0, total=m)`` changes the total,
    for work whose size is settled as it runs (adaptive rounds).

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
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int = 1, status: str | None = None, total: int | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            if status is None:
                bar.advance(task, n)
            else:
                bar.update(task, advance=n, status=status)

        yield advance


def _no_progress(n: int = 1, status: str | None = None, total: int | None = None) -> None:
    del n, status, total


@contextlib.contextmanager
def busy(description: str, enabled: bool) -> Iterator[None]:
    """A spinner with the elapsed time while one long, indivisible computation
    runs (a sampler's warm-up compiled as one loop), if ``enabled``."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("[progress.description]{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        bar.add_task(description, total=None)
        yield
