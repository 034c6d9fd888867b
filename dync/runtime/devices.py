"""Where simulations run: host devices, the path mesh, the compilation cache.

Two process-level settings make dync fast on an ordinary CPU machine, and both
must be made before JAX compiles anything:

* :func:`configure_host_devices` splits the host CPU into one XLA device per
  core. XLA runs each device's program on its own thread, and dync shards the
  paths of a simulation across devices; on CPU that beats XLA's intra-op
  threading by about the number of cores. The flag is read once, when JAX
  starts its backends, so Python users call it *before* importing anything that
  uses JAX::

      import dync.runtime.devices as devices
      devices.configure_host_devices()   # before the first jax computation
      import jax, dync.runtime

  The ``dync`` command-line tool calls it on start-up.
* :func:`enable_compilation_cache` turns on JAX's persistent compilation cache
  (``~/.cache/dync/jax``), so a second run of the same model in a new process
  loads the compiled kernel instead of compiling it again.

The helpers :func:`resolve_devices` and :func:`path_mesh` build the 1-D device
mesh (axis ``"path"``) that :func:`dync.runtime.simulate.simulate` shards over;
:func:`describe_devices` reads what the layout rule of
:mod:`dync.runtime.layout` needs to know about them (platform, kind, memory,
cores).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "PATH_AXIS",
    "configure_host_devices",
    "describe_devices",
    "enable_compilation_cache",
    "jax_backends_initialized",
    "path_mesh",
    "resolve_devices",
]

#: name of the mesh axis that paths are sharded over
PATH_AXIS = "path"

_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
_DEVICE_COUNT_RE = re.compile(re.escape(_DEVICE_COUNT_FLAG) + r"(=\S*)?")


def jax_backends_initialized() -> bool:
    """Whether JAX has started its backends (after which ``XLA_FLAGS`` is fixed).

    Importing ``jax`` does not start them; the first computation, or a call to
    ``jax.devices()``, does.
    """
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - layout of a future jax
        return True
    probe = getattr(xla_bridge, "backends_are_initialized", None)
    if callable(probe):
        return bool(probe())
    backends = getattr(xla_bridge, "_backends", None)  # pragma: no cover - older jax
    return bool(backends) if backends is not None else True  # pragma: no cover


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def configure_host_devices(n: int | None = None) -> int | None:
    """Ask XLA for ``n`` host (CPU) devices, one per core by default.

    Appends ``--xla_force_host_platform_device_count=n`` to ``XLA_FLAGS``. The
    request is honoured only if JAX has not started its backends yet; nothing
    is changed when

    * JAX's backends are already running (the flag would be ignored),
    * ``XLA_FLAGS`` already sets the device count (the user's choice wins),
    * ``n`` (or ``DYNC_HOST_DEVICES``) is ``0`` or ``1``.

    The environment variable ``DYNC_HOST_DEVICES`` overrides ``n``. The setting
    only affects the CPU platform; on a GPU machine the accelerators stay the
    default devices.

    Args:
        n: number of host devices; ``None`` means the number of usable cores.

    Returns:
        The device count now requested in ``XLA_FLAGS`` (the user's own value
        if they set one), or ``None`` when no count is requested.

    Example:
        >>> from dync.runtime.devices import configure_host_devices
        >>> configure_host_devices()  # doctest: +SKIP
        2
    """
    flags = os.environ.get("XLA_FLAGS", "")
    existing = _DEVICE_COUNT_RE.search(flags)
    if existing is not None:
        value = (existing.group(1) or "=").lstrip("=")
        return int(value) if value.isdigit() else None
    env = os.environ.get("DYNC_HOST_DEVICES", "").strip()
    if env:
        if not env.isdigit():
            raise ValueError(f"DYNC_HOST_DEVICES must be a whole number, got {env!r}")
        n = int(env)
    if n is None:
        n = _usable_cores()
    if n <= 1 or jax_backends_initialized():
        return None
    os.environ["XLA_FLAGS"] = (flags + " " if flags else "") + f"{_DEVICE_COUNT_FLAG}={n}"
    return n


def default_cache_dir() -> Path:
    """``$DYNC_CACHE_DIR`` if set, else ``~/.cache/dync/jax``."""
    env = os.environ.get("DYNC_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "dync" / "jax"


#: ``DYNC_CACHE_DIR`` values that turn the persistent cache off
CACHE_OFF = frozenset({"off", "none", "0"})


def cache_disabled() -> bool:
    """Whether ``$DYNC_CACHE_DIR`` turns the persistent cache off (``off``,
    ``none`` or ``0``): for a machine whose cache should stay empty, and the
    test suite, whose parallel workers must not share one (a program loaded
    from disk by one worker while another writes it)."""
    return os.environ.get("DYNC_CACHE_DIR", "").strip().lower() in CACHE_OFF


def enable_compilation_cache(path: str | os.PathLike | None = None, *, min_compile_time_secs: float = 0.0) -> Path | None:
    """Turn on JAX's persistent compilation cache.

    Every compiled XLA program that took at least ``min_compile_time_secs`` to
    compile is stored on disk, keyed by the program and the devices; a later
    process running the same model with the same static settings (solver,
    number of steps, chunk shape, device count) loads it instead of compiling.
    Call it before the first compilation of the process: JAX reads the setting
    when it first compiles.

    Args:
        path: cache directory; default :func:`default_cache_dir`
            (``$DYNC_CACHE_DIR`` or ``~/.cache/dync/jax``).
        min_compile_time_secs: only programs that took longer than this to
            compile are stored (JAX's own default is one second, which skips
            most dync kernels).

    Returns:
        The cache directory, or ``None`` when ``path`` is not given and
        ``$DYNC_CACHE_DIR`` is ``off`` (:func:`cache_disabled`).
    """
    if path is None and cache_disabled():
        return None
    import jax

    directory = Path(path).expanduser() if path is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


def resolve_devices(devices: int | Sequence | None = None) -> tuple:
    """The devices a simulation shards its paths over.

    Args:
        devices: ``None`` for every device of JAX's default backend, an ``int``
            for the first that many, or a sequence of ``jax.Device``.

    Returns:
        A non-empty tuple of devices.

    Raises:
        dync.errors.UsageError: for a count outside ``1 .. len(jax.devices())``
            or an empty sequence.
    """
    import jax

    from ..errors import UsageError

    available = jax.devices()
    if devices is None:
        return tuple(available)
    if isinstance(devices, bool):
        raise UsageError("`devices` must be a number of devices or a list of jax devices, not a bool")
    if isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise UsageError(
                f"`devices={devices}` but this process has {len(available)} device(s)",
                hint="on CPU, call dync.runtime.devices.configure_host_devices() before importing jax, "
                "or set XLA_FLAGS=--xla_force_host_platform_device_count=N",
            )
        return tuple(available[:devices])
    chosen = tuple(devices)
    if not chosen:
        raise UsageError("`devices` is an empty list")
    return chosen


def path_mesh(devices: Sequence):
    """A 1-D :class:`jax.sharding.Mesh` over ``devices`` with axis ``"path"``."""
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.asarray(list(devices), dtype=object), (PATH_AXIS,))


def _device_memory(device) -> int | None:
    """Bytes JAX may allocate on ``device`` (its allocator's limit), or ``None``."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - not implemented on some platforms
        return None
    if not stats:
        return None
    limit = stats.get("bytes_limit") or stats.get("bytes_reservable_limit")
    return int(limit) if limit else None


def describe_devices(devices: Sequence):
    """The :class:`~dync.runtime.layout.DeviceDescription` of ``devices``.

    Reads the platform (``"cuda"`` and ``"rocm"`` are reported as ``"gpu"``),
    the device kind, the memory JAX may allocate on one device
    (``memory_stats()["bytes_limit"]``; ``None`` on CPU), the cores of one
    device (``core_count``: streaming multiprocessors of a GPU; on CPU the
    usable cores shared among the host devices) and the device count.

    Args:
        devices: a non-empty sequence of ``jax.Device`` of one platform.

    Returns:
        The description the layout rule reads.
    """
    from .layout import DeviceDescription

    devices = list(devices)
    first = devices[0]
    platform = str(first.platform).lower()
    if platform in ("cuda", "rocm"):
        platform = "gpu"
    if platform == "cpu":
        cores = max(1, _usable_cores() // len(devices))
        memory = None
    else:
        cores = int(getattr(first, "core_count", 0) or 1)
        memory = _device_memory(first)
    return DeviceDescription(
        platform=platform,
        kind=str(getattr(first, "device_kind", platform)),
        memory_bytes=memory,
        cores=cores,
        count=len(devices),
    )
