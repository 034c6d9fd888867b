"""How the paths of a simulation are cut into blocks, chunks and groups, and
spread over devices.

* A **block** is ``block_size`` consecutive paths integrated with one noise
  key (``fold_in(noise, b)`` for block ``b``; see
  :mod:`dync.runtime.simulate`). The block is the unit of reproducibility.
* A **chunk** is ``blocks_per_chunk`` blocks run as one computation and
  copied to the host together; it bounds memory. It is a multiple of the
  device count, and each device runs whole blocks of it.
* A **group** is the blocks of one device that run side by side (``vmap``)
  inside a chunk; the groups of a device run one after the other.

The block-size rule
-------------------
:func:`block_size` cuts the paths into as few blocks of at most
``BLOCK_PATHS`` (8192) paths as fit (fewer when one path's saved output is so
large that a block would exceed ``BLOCK_BYTES``, 64 MiB), and into at least
two from ``SPLIT_PATHS`` (512) paths on, so that 10,000 paths run as two
blocks of 5,000 rather than 16,384 padded paths; from 16 paths on a block is
a multiple of 8 (the vector width). It depends only on the number of paths,
the model and the save times, never on ``chunk_size`` or on the devices:
chunks are whole numbers of blocks, and devices each run whole blocks. So the
same seed and the same number of paths give the same numbers whatever the
chunking and on any number of devices. (A run with a different number of
paths has other blocks, hence other numbers.)

The device rule
---------------
Groups and chunks depend on the hardware, blocks never do (they fix the
numbers). :func:`layout_limits` reads a :class:`DeviceDescription` (platform,
device kind, memory of one device, cores, device count; built from JAX's
devices by :func:`dync.runtime.devices.describe_devices`, or written by hand
in tests) and returns the :class:`LayoutLimits`:

* **CPU**: chunks of at most ``CHUNK_PATHS`` (2**18) paths and
  ``CHUNK_BYTES`` (256 MiB) of saved output, groups of at most
  ``GROUP_PATHS`` (16,384) paths (the state of a group stays in cache), and
  every chunk is copied to the host as soon as it is done.
* **Accelerators** (GPU, TPU): a chunk may use ``ACCEL_MEMORY_SHARE`` (a
  quarter) of one device's memory (``ACCEL_DEFAULT_MEMORY``, 16 GiB, when the
  device does not say), counting its saved output and the kernel's working
  set (``WORK_STATE_COPIES`` copies of the state per path); it holds at least
  ``cores * ACCEL_PATHS_PER_CORE`` paths when that fits, so every core has
  work. All blocks of a device's share of a chunk run side by side (one
  group: one kernel as wide as the chunk). When the whole saved output of the
  run fits the same share, the chunks stay on the device and are copied to the
  host once, at the end (``Layout.resident``).

Chunks hold at most the limits' paths and bytes unless the caller gives a
``chunk_size``; groups hold at most ``group_paths`` paths
(:func:`blocks_per_group`).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax

__all__ = [
    "ACCEL_DEFAULT_MEMORY",
    "ACCEL_MEMORY_SHARE",
    "ACCEL_PATHS_PER_CORE",
    "BLOCK_BYTES",
    "BLOCK_PATHS",
    "CHUNK_BYTES",
    "CHUNK_PATHS",
    "GROUP_PATHS",
    "SPLIT_PATHS",
    "WORK_STATE_COPIES",
    "CPU",
    "DeviceDescription",
    "Layout",
    "LayoutLimits",
    "block_size",
    "blocks_per_group",
    "layout_limits",
    "plan_layout",
    "replicate",
]

#: paths per block when memory allows (see the module docstring)
BLOCK_PATHS = 8192
#: from this many paths on, a run is cut into at least two blocks
SPLIT_PATHS = 512
#: largest saved output of one block, bytes
BLOCK_BYTES = 64 * 2**20
#: most paths of one device that run side by side (whole blocks)
GROUP_PATHS = 16384
#: default largest saved output of one chunk, bytes
CHUNK_BYTES = 256 * 2**20
#: default largest number of paths in one chunk
CHUNK_PATHS = 2**18
#: share of one accelerator's memory that a chunk may use
ACCEL_MEMORY_SHARE = 0.25
#: memory assumed for an accelerator that does not report it, bytes
ACCEL_DEFAULT_MEMORY = 16 * 2**30
#: paths per core an accelerator chunk holds at least (when memory allows)
ACCEL_PATHS_PER_CORE = 2048
#: copies of one path's state in the working set of a kernel (carry, stages,
#: increments, temporaries), for the memory estimate of a chunk
WORK_STATE_COPIES = 16


@dataclasses.dataclass(frozen=True)
class DeviceDescription:
    """What the layout rule needs to know about the devices of a run.

    Attributes:
        platform: JAX's platform name: ``"cpu"``, ``"gpu"`` (also for
            ``"cuda"``/``"rocm"``) or ``"tpu"``.
        kind: the device kind as JAX reports it (``"cpu"``, ``"NVIDIA H200"``).
        memory_bytes: memory one device gives to JAX, bytes (``None``: unknown).
        cores: cores of one device (streaming multiprocessors of a GPU, CPU
            cores per host device).
        count: devices the paths are sharded over.
    """

    platform: str = "cpu"
    kind: str = "cpu"
    memory_bytes: int | None = None
    cores: int = 1
    count: int = 1

    @property
    def accelerator(self) -> bool:
        """Whether the devices are accelerators (anything but the CPU)."""
        return self.platform != "cpu"


#: the description :func:`plan_layout` assumes when given none: one CPU device
CPU = DeviceDescription()


@dataclasses.dataclass(frozen=True)
class LayoutLimits:
    """The device-dependent limits of a layout (see the module docstring).

    Attributes:
        chunk_paths: most paths in one chunk.
        chunk_bytes: most bytes of one chunk (saved output, plus the working
            set on accelerators).
        work_bytes_per_path: working set counted per path besides its saved
            output (0 on CPU: the chunk limit there is about output).
        group_paths: most paths of one device that run side by side (0: all
            of the device's blocks in a chunk).
        min_chunk_paths: paths a default chunk holds at least when memory
            allows (fill every core).
        resident_bytes: saved output up to which the chunks stay on the
            device until the end of the run (0: copied after each chunk).
    """

    chunk_paths: int
    chunk_bytes: int
    work_bytes_per_path: int
    group_paths: int
    min_chunk_paths: int
    resident_bytes: int


def layout_limits(device: DeviceDescription, state_bytes: int = 0) -> LayoutLimits:
    """The layout limits for ``device`` (the rule of the module docstring).

    Args:
        device: the devices of the run.
        state_bytes: bytes of one path's state (``state_size * itemsize``),
            for the working set of a kernel on accelerators.

    Returns:
        The :class:`LayoutLimits`. On CPU they are the module's constants
        whatever ``device`` says besides its platform.

    Example:
        >>> h200 = DeviceDescription("gpu", "NVIDIA H200", 141 * 2**30, 132, 1)
        >>> layout_limits(h200, 4).group_paths
        0
    """
    if not device.accelerator:
        return LayoutLimits(CHUNK_PATHS, CHUNK_BYTES, 0, GROUP_PATHS, 1, 0)
    memory = device.memory_bytes if device.memory_bytes else ACCEL_DEFAULT_MEMORY
    share = int(memory * ACCEL_MEMORY_SHARE)
    work = WORK_STATE_COPIES * max(int(state_bytes), 1)
    return LayoutLimits(
        chunk_paths=2**62,
        chunk_bytes=share,
        work_bytes_per_path=work,
        group_paths=0,
        min_chunk_paths=max(1, device.cores) * ACCEL_PATHS_PER_CORE,
        resident_bytes=share,
    )


@dataclasses.dataclass(frozen=True)
class Layout:
    """How paths are cut: ``n_blocks`` blocks of ``block_size`` paths, run
    ``blocks_per_chunk`` at a time (a multiple of the device count), in
    groups of at most ``group_paths`` paths per device (0: all of a device's
    blocks side by side); ``resident``: the chunks stay on the device until
    the run ends (copied to the host once) instead of after each chunk."""

    paths: int
    block_size: int
    n_blocks: int
    blocks_per_chunk: int
    n_devices: int
    group_paths: int = GROUP_PATHS
    resident: bool = False

    @property
    def n_chunks(self) -> int:
        return -(-self.n_blocks // self.blocks_per_chunk)

    def chunk_blocks(self, c: int) -> tuple[int, int]:
        """(first block, number of real blocks) of chunk ``c``."""
        first = c * self.blocks_per_chunk
        return first, min(self.blocks_per_chunk, self.n_blocks - first)

    def padded_blocks(self, real: int) -> int:
        """Blocks actually run for a chunk with ``real`` blocks: the full chunk
        (one compilation) unless the chunk is less than half full."""
        if 2 * real >= self.blocks_per_chunk:
            return self.blocks_per_chunk
        return -(-real // self.n_devices) * self.n_devices


def block_size(paths: int, bytes_per_path: int, block_paths: int | None = None) -> int:
    """Paths per block: the paths cut into as few blocks as fit ``BLOCK_PATHS``
    and ``BLOCK_BYTES`` (so almost no padded paths are simulated), and into at
    least two from ``SPLIT_PATHS`` paths on, so that two devices share even a
    small run; a multiple of 8 (the vector width) from 16 paths on. Depends on
    ``paths`` and the output size only, never on the devices or chunks.

    ``block_paths`` replaces ``BLOCK_PATHS`` (tests use small blocks to get
    several blocks out of few paths)."""
    cap = BLOCK_PATHS if block_paths is None else block_paths
    while cap > 1 and cap * bytes_per_path > BLOCK_BYTES:
        cap //= 2
    n_blocks = -(-paths // cap)
    if paths >= SPLIT_PATHS:
        n_blocks = max(n_blocks, 2)
    block = -(-paths // n_blocks)
    if block >= 16:
        block = min(-(-block // 8) * 8, max(cap // 8 * 8, 8))
    return max(block, 1)


def plan_layout(
    paths: int,
    bytes_per_path: int,
    chunk_size: int | None,
    n_devices: int | None = None,
    *,
    block_paths: int | None = None,
    device: DeviceDescription | None = None,
    state_bytes: int = 0,
) -> Layout:
    """The :class:`Layout` of ``paths`` paths on the devices ``device``.

    Args:
        paths: number of paths.
        bytes_per_path: saved output of one path (states and observations at
            every saved time), bytes.
        chunk_size: paths per chunk (rounded to whole blocks), or ``None``
            for the limits of :func:`layout_limits`.
        n_devices: devices that share each chunk (default ``device.count``).
        block_paths: replaces ``BLOCK_PATHS`` (see :func:`block_size`).
        device: the devices (default :data:`CPU`, one CPU device); only the
            chunks, groups and ``resident`` depend on it, never the blocks.
        state_bytes: bytes of one path's state, for the working set of a
            kernel on accelerators.

    Example:
        >>> h200 = DeviceDescription("gpu", "NVIDIA H200", 141 * 2**30, 132, 1)
        >>> plan_layout(10**8, 4, None, device=h200).n_chunks
        1
    """
    device = CPU if device is None else device
    n_devices = device.count if n_devices is None else n_devices
    limits = layout_limits(device, state_bytes)
    block = block_size(paths, bytes_per_path, block_paths)
    n_blocks = -(-paths // block)
    least = 1
    if chunk_size is None:
        per_path = max(bytes_per_path + limits.work_bytes_per_path, 1)
        chunk_size = max(1, min(limits.chunk_paths, limits.chunk_bytes // per_path))
        if device.accelerator:
            chunk_size *= n_devices  # the share is per device
            least = -(-min(limits.min_chunk_paths * n_devices, paths) // block)
    per_chunk = max(least, chunk_size // block)
    per_chunk = -(-per_chunk // n_devices) * n_devices
    per_chunk = min(per_chunk, -(-n_blocks // n_devices) * n_devices)
    resident = limits.resident_bytes > 0 and paths * bytes_per_path <= limits.resident_bytes * n_devices
    return Layout(paths, block, n_blocks, per_chunk, n_devices, limits.group_paths, resident)


def blocks_per_group(n_blocks: int, block_size: int, group_paths: int = GROUP_PATHS) -> int:
    """How many of a device's ``n_blocks`` blocks run side by side: the most
    that divide ``n_blocks`` and hold at most ``group_paths`` paths (at least
    one; ``group_paths=0``: all of them). Side by side, a step of all of them
    is one wider kernel (BAOAB on the 64-oscillator chain, 1,000 paths in two
    blocks: 0.50 s -> 0.40 s); on CPU, beyond ``GROUP_PATHS`` the state of a
    group would no longer stay in cache, while an accelerator wants the widest
    kernel its memory holds. Each block keeps its own key, so the numbers do
    not change."""
    if group_paths <= 0:
        return max(n_blocks, 1)
    most = max(1, group_paths // max(block_size, 1))
    return max(d for d in range(1, min(n_blocks, most) + 1) if n_blocks % d == 0)


def replicate(tree, sharding):
    """``tree`` with every array put on ``sharding`` (a sharding or a device)."""
    from .distributed import put

    return jax.tree.map(lambda x: put(x, sharding) if eqx.is_array(x) else x, tree)
