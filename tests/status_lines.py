"""What :func:`dync.runtime.kernels.run_kernel` shows while it runs, for
tests of progress: its progress bar is replaced by one that records the
bar's description and every status line it is given (one per chunk)."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def captured_statuses():
    """Yield ``(descriptions, statuses)``: lists filled as runs go."""
    import dync.runtime.kernels as kernels

    descriptions: list[str] = []
    statuses: list[str] = []

    @contextlib.contextmanager
    def bar(total, description, enabled, unit="chunks"):
        descriptions.append(description)
        yield lambda n=1, status=None: statuses.append(status)

    original, kernels.progress_bar = kernels.progress_bar, bar
    try:
        yield descriptions, statuses
    finally:
        kernels.progress_bar = original
