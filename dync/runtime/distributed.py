"""Several processes, one simulation: JAX's own multi-process runtime.

A run that outgrows one machine is started as ``N`` copies of the same
program, one per host (or per GPU), which find each other through a
coordinator (:func:`jax.distributed.initialize`). Every process then sees the
devices of all of them in ``jax.devices()`` (its own in
``jax.local_devices()``), and a computation sharded over a mesh of all
devices runs each shard on the process that owns it. dync needs nothing more:

* :func:`initialize` connects the processes (the coordinator's address, the
  number of processes and this one's index, or none of them on a cluster that
  JAX detects, such as SLURM); on CPU it selects the gloo collectives first,
  so that the test of this module runs with two local processes.
* :func:`dync.simulate` with ``distributed=True`` shards the blocks of paths
  over the mesh of every process's devices, and copies each result to the
  host with :func:`to_host`, which gathers the shards of the other processes.
  So every process ends with the whole output, and
  ``dync simulate --distributed`` writes it from process 0 only.

Numbers do not depend on the process count: block ``b`` of the paths is
integrated with the key ``fold_in(noise, b)`` whatever device runs it (the
reproducibility rule of :mod:`dync.runtime.simulate`), so 1 process and 2
give the same output bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DyncRuntimeError, UsageError

__all__ = ["initialize", "is_initialized", "is_main_process", "put", "to_host"]

_STATE: dict[str, Any] = {"initialized": False}


def is_initialized() -> bool:
    """Whether this process has joined a multi-process run (by
    :func:`initialize` or by the user's own ``jax.distributed.initialize``)."""
    import jax

    return _STATE["initialized"] or jax.process_count() > 1


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout: int = 300,
) -> None:
    """Join a multi-process run (call it before any JAX computation).

    Args:
        coordinator: ``HOST:PORT`` of process 0, which every process can reach.
        num_processes: how many processes take part.
        process_id: this process's index, ``0 .. num_processes - 1``.
        timeout: seconds to wait for the others.

    With none of the three, JAX reads them from the cluster (SLURM, Open MPI,
    Kubernetes, Cloud TPU); give all three on any other machine.

    Raises:
        UsageError: only some of the three are given, or they are out of range.
        DyncRuntimeError: the processes could not connect.
    """
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise UsageError(
            "a distributed run needs all of --coordinator, --num-processes and --process-id, or none of them",
            hint="e.g. --coordinator 10.0.0.1:12355 --num-processes 2 --process-id 0 (and 1 on the other host); "
            "on a SLURM cluster give none",
        )
    if num_processes is not None and (num_processes < 1 or not 0 <= process_id < num_processes):
        raise UsageError(
            f"--process-id {process_id} is not in 0..{num_processes - 1} (--num-processes {num_processes})"
        )
    if coordinator is not None:
        host, sep, port = str(coordinator).rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"--coordinator {coordinator}: expected HOST:PORT",
                hint="the address of process 0 and a free port, e.g. --coordinator 10.0.0.1:12355 (127.0.0.1:12355 on one machine)",
            )
    if _STATE["initialized"]:
        return
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes need it; others ignore it
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=timeout,
        )
    except Exception as e:  # JAX raises RuntimeError / ValueError with its own words
        where = f" with the coordinator {coordinator}" if coordinator else ""
        raise DyncRuntimeError(
            f"could not start the distributed run{where}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            hint="start every process with the same --coordinator and --num-processes and its own --process-id; "
            "the coordinator's port must be free on process 0's host and reachable from the others",
        ) from None
    _STATE["initialized"] = True


def is_main_process() -> bool:
    """Whether this is process 0 (the one that writes files and prints)."""
    import jax

    return jax.process_index() == 0


def to_host(x) -> np.ndarray:
    """A device array as a NumPy array on this host: copied directly when this
    process holds all of it, else gathered from every process (each then has
    the whole array)."""
    import jax

    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def put(x, sharding):
    """``jax.device_put(x, sharding)``, also when ``sharding`` spans devices of
    other processes (a multi-process mesh): every process then holds the same
    ``x`` and keeps its own shards of it. PRNG keys go as their key data."""
    import jax

    if getattr(sharding, "is_fully_addressable", True):
        return jax.device_put(x, sharding)
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        data = put(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
