"""Shared fixtures: a PRNG key, compiled spec models shared across tests (JAX
compile time dominates small tests), and the `--update-golden` flag."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hypothesis import settings

# Same examples on every run, so CI is reproducible (a failure found once is
# found again); `HYPOTHESIS_PROFILE=explore pytest` searches afresh.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# ArviZ's first import of a day writes a stamp file through a fixed temporary
# name, and pytest-xdist workers importing it at once race on that file; import
# it here, once per worker, through dync's race-tolerant import.
from dync.runtime.arviz_import import import_arviz  # noqa: E402

import_arviz()

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (error diagnostics, generated code) instead of comparing",
    )


@pytest.fixture(scope="session")
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden")) or os.environ.get("DYNC_UPDATE_GOLDEN") == "1"


#: a worker's count of memory mappings above which the jit caches are cleared
#: after a test: every compiled XLA CPU program maps a few regions and the
#: caches keep them all, so a worker running the whole suite passed 55,000
#: mappings, near Linux's default limit (vm.max_map_count = 65,530), where the
#: next compilation's mmap fails and LLVM crashes the worker (SIGSEGV)
MAP_COUNT_CEILING = 20_000


def _map_count() -> int:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return maps.read().count(b"\n")
    except OSError:  # not Linux
        return 0


@pytest.fixture(autouse=True)
def _bounded_memory_mappings():
    """Clear JAX's caches after a test once the worker holds too many
    mappings (the next use recompiles; the shared models stay)."""
    yield
    if _map_count() > MAP_COUNT_CEILING:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()


@pytest.fixture
def key():
    import jax

    return jax.random.key(0)


@functools.lru_cache(maxsize=None)
def compiled_model(relpath: str, **dims):
    """A model built from a spec under the repo root, cached for the session
    (with ``key(0)`` for the specs that draw parameters or network weights)."""
    import jax

    import dync

    return dync.load(ROOT / relpath, jax.random.key(0), **dims)


@pytest.fixture(scope="session")
def spec_model():
    """`spec_model("specs/ou.dync")` → the compiled model (shared)."""
    return compiled_model


@pytest.fixture
def x64():
    """Enable float64 for one test and restore the previous setting."""
    import jax

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)
