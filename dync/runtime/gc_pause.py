"""Python's cyclic garbage collector paused while JAX traces and compiles.

Tracing a sampler or a fit allocates hundreds of thousands of small Python
objects (tracers, equations, MLIR operations). Each few thousand of them
trigger a collection, and every so often a full one, which walks every object
the process holds: JAX's, NumPy's, xarray's and ArviZ's modules, the parsed
spec. In a process that has imported all of that, full collections cost
about 0.1 s of a MALA program's 0.2 s of tracing (measured: the first
``dync.sample`` of ``specs/targets/gaussian100.dync`` on one core traces in
0.21 s with the collector on and 0.09 s with it off). Reference counting
still frees everything that is not in a cycle while the collector is paused;
the cycles made meanwhile are collected once it runs again.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off for the ``with`` block, restored after it.

    Nests: an inner block leaves the collector as the outer one set it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
