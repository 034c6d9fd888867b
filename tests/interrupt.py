"""A user pressing Ctrl-C in the middle of a long run, for tests of
checkpoints and resume: the progress bar of
:func:`dync.runtime.kernels.run_kernel` is replaced by one that raises
``KeyboardInterrupt`` at a given advance (between chunks)."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def ctrl_c_after(chunks: int):
    """Raise ``KeyboardInterrupt`` at the ``chunks``-th progress advance."""
    import dync.runtime.kernels as kernels

    calls = {"n": 0}

    @contextlib.contextmanager
    def bar(total, description, enabled, unit="chunks"):
        def advance(n=1, status=None):
            calls["n"] += 1
            if calls["n"] == chunks:
                raise KeyboardInterrupt

        yield advance

    original = kernels.progress_bar
    kernels.progress_bar = bar
    try:
        yield
    finally:
        kernels.progress_bar = original


def main_exit_code(*args: str) -> int:
    """Run the command line in this process (``dync ARGS...``) and return its
    exit code, so that :func:`ctrl_c_after` can reach into the run."""
    from dync.cli import main

    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0
