"""The ``--x64`` flag of the run commands, scoped to the run.

``jax.config.update("jax_enable_x64", True)`` would switch the whole process
to float64 for good: a Python user's next model, built without asking,
would compute in float64 too. The commands instead hold float64 for the
duration of their run, with JAX's own context manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def float64_if(enabled: bool) -> Iterator[None]:
    """float64 for the ``with`` block when ``enabled``; otherwise the
    process's setting, untouched."""
    if not enabled:
        yield
        return
    import jax

    with jax.enable_x64(True):
        yield
