"""Keeping a long-lived process under Linux's limit on memory mappings.

Every program XLA compiles for the CPU maps a few memory regions (its code,
constants and data; ~7 for a tiny program, tens for a sampler), and JAX's
caches keep every compiled program alive. A process that compiles many
programs — a test session over many specs, a notebook fitting model after
model — therefore piles up mappings. Near the kernel's limit
(``vm.max_map_count``, 65,530 by default) the next compilation's ``mmap``
fails and LLVM crashes the process with SIGSEGV, no Python error at all
(measured: one pytest-xdist worker running dync's suite passed 55,000
mappings, and the CI run lost a worker that way).

:func:`relieve_mappings` clears JAX's caches once the process holds more than
a third of the limit, between units of work: the next call of a cleared
function compiles it again, which is cheap next to a crash. Every run
(``simulate`` and :func:`~dync.runtime.kernels.run_kernel`, which every fit
and sampler runs through) calls it first: a simulation study that fits
hundreds of data sets in one process adds 150-300 mappings a fit (measured:
``dync.fit_point`` on ``specs/fit/ou.dync``), and reached the limit near
300 fits. The suite's conftest and the pytest plugin call it between tests.
"""

from __future__ import annotations

__all__ = ["mapping_count", "mapping_limit", "relieve_mappings"]

#: Linux's default ``vm.max_map_count``, assumed when it cannot be read
DEFAULT_LIMIT = 65_530


def mapping_count() -> int:
    """The memory mappings this process holds (0 where ``/proc`` is absent)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return maps.read().count(b"\n")
    except OSError:
        return 0


def mapping_limit() -> int:
    """The kernel's limit on one process's memory mappings."""
    try:
        with open("/proc/sys/vm/max_map_count") as limit:
            return int(limit.read().strip())
    except (OSError, ValueError):
        return DEFAULT_LIMIT


def relieve_mappings(ceiling: int | None = None) -> bool:
    """Clear JAX's compilation caches if the process holds more than
    ``ceiling`` mappings (default: a third of :func:`mapping_limit`).

    Call it between units of work, never inside a traced function. Objects
    that still hold a compiled program keep it; everything else is
    recompiled on its next call.

    Returns:
        Whether the caches were cleared.
    """
    ceiling = mapping_limit() // 3 if ceiling is None else ceiling
    if mapping_count() <= ceiling:
        return False
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
    return True
