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


@pytest.fixture(autouse=True)
def _bounded_memory_mappings():
    """After each test, clear JAX's caches once the worker holds too many
    memory mappings (a worker running the whole suite passed 55,000, near
    the kernel's limit, where the next compilation crashes it: see
    :mod:`dync.runtime.memory_maps`). The shared models stay; the next use
    recompiles."""
    yield
    from dync.runtime.memory_maps import relieve_mappings

    relieve_mappings()


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
