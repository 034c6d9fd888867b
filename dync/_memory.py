"""How much memory this process may use, and how much a model's weights take.

JAX-free and dependency-free, so that both the compiler (building a model,
:func:`dync.compiler.driver.build_model`) and the runtime (the simulate
preflight, :mod:`dync.runtime.preflight`) refuse what cannot fit before they
allocate it: XLA aborts the process on an allocation it cannot make
(``std::bad_alloc``), with no Python error to report.
"""

from __future__ import annotations

import os

__all__ = ["MEMORY_SHARE", "format_bytes", "host_memory_bytes", "mlp_weights"]

#: the share of the available memory a run or a model may be estimated to use
MEMORY_SHARE = 0.9


def mlp_weights(net) -> int:
    """The number of weights and biases of an MLP (anything with ``in_size``,
    ``out_size``, ``width`` and ``depth``: equinox's ``depth`` hidden layers
    of ``width``)."""
    if net.depth <= 0:
        return net.in_size * net.out_size + net.out_size
    return (
        net.in_size * net.width
        + net.width
        + (net.depth - 1) * (net.width * net.width + net.width)
        + net.width * net.out_size
        + net.out_size
    )


def host_memory_bytes() -> int | None:
    """The memory this process may use on the host: the physical memory,
    lowered to the process's address-space limit (``ulimit -v``, less what is
    already mapped) and the container's limit (cgroup ``memory.max``) when
    they are set; ``None`` when none can be read."""
    limits: list[int] = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(max(0, soft - _mapped_bytes()))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            limits.append(int(text))
        break
    return min(limits) if limits else None


def _mapped_bytes() -> int:
    """The address space this process has mapped (``VmSize``), 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def format_bytes(n: float) -> str:
    """``n`` bytes for a message: ``7.5 GiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"
