"""The mapping guard: it counts this process's mappings, reads the kernel's
limit, and clears JAX's caches only above its ceiling."""

import sys

import jax
import jax.numpy as jnp
import pytest

from dync.runtime import memory_maps

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux
def test_compiling_adds_mappings_and_a_low_ceiling_clears_the_caches():
    before = memory_maps.mapping_count()
    kept = [jax.jit(lambda x, i=i: jnp.sin(x) * i) for i in range(20)]
    for f in kept:
        f(jnp.ones(3)).block_until_ready()
    grown = memory_maps.mapping_count()
    assert grown > before + 20  # each compiled program maps several regions
    assert memory_maps.mapping_limit() >= 1024
    assert not memory_maps.relieve_mappings(ceiling=10**9)
    assert memory_maps.relieve_mappings(ceiling=0)
    assert memory_maps.mapping_count() < grown
    assert float(kept[3](jnp.ones(3))[0]) == pytest.approx(3 * float(jnp.sin(1.0)))  # recompiles after the clear


def test_without_proc_the_guard_does_nothing(monkeypatch):
    def missing(*args, **kwargs):
        raise OSError("no /proc")

    monkeypatch.setattr("builtins.open", missing)
    assert memory_maps.mapping_count() == 0
    assert memory_maps.mapping_limit() == memory_maps.DEFAULT_LIMIT
    assert not memory_maps.relieve_mappings()


def test_every_run_first_relieves_the_mappings(monkeypatch):
    """`simulate` and `run_kernel` (every fit and sampler) call the guard
    before compiling: a session fitting hundreds of data sets stays clear of
    the limit."""
    import dync.runtime.kernels as kernels
    import dync.runtime.simulate as simulate_module
    from tests.runtime.test_simulate import OU

    calls = []
    monkeypatch.setattr(kernels, "relieve_mappings", lambda: calls.append("kernel"))
    monkeypatch.setattr(simulate_module, "relieve_mappings", lambda: calls.append("simulate"))
    simulate_module.simulate(OU.make(theta=1.0, mu=0.0, sigma=0.5), seed=0, paths=4, t1=0.05, dt=0.01)
    kernel = kernels.Kernel(lambda: jnp.zeros(()), lambda key, s: (s + 1, s))
    kernels.run_kernel(kernel, kernel.init(), jax.random.key(0), 3, progress=False)
    assert calls == ["simulate", "kernel"]
