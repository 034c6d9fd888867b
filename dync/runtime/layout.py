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

Chunks hold at most ``CHUNK_PATHS`` paths and ``CHUNK_BYTES`` of saved
output unless the caller gives a ``chunk_size``; groups hold at most
``GROUP_PATHS`` paths (:func:`blocks_per_group`).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax

__all__ = [
    "BLOCK_BYTES",
    "BLOCK_PATHS",
    "CHUNK_BYTES",
    "CHUNK_PATHS",
    "GROUP_PATHS",
    "SPLIT_PATHS",
    "Layout",
    "block_size",
    "blocks_per_group",
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


@dataclasses.dataclass(frozen=True)
class Layout:
    """How paths are cut: ``n_blocks`` blocks of ``block_size`` paths, run
    ``blocks_per_chunk`` at a time (a multiple of the device count)."""

    paths: int
    block_size: int
    n_blocks: int
    blocks_per_chunk: int
    n_devices: int

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
    n_devices: int,
    *,
    block_paths: int | None = None,
) -> Layout:
    """The :class:`Layout` of ``paths`` paths on ``n_devices`` devices.

    Args:
        paths: number of paths.
        bytes_per_path: saved output of one path (states and observations at
            every saved time), bytes.
        chunk_size: paths per chunk (rounded to whole blocks), or ``None``
            for at most ``CHUNK_PATHS`` paths and ``CHUNK_BYTES`` of output.
        n_devices: devices that share each chunk.
        block_paths: replaces ``BLOCK_PATHS`` (see :func:`block_size`).
    """
    block = block_size(paths, bytes_per_path, block_paths)
    n_blocks = -(-paths // block)
    if chunk_size is None:
        chunk_size = max(1, min(CHUNK_PATHS, CHUNK_BYTES // max(bytes_per_path, 1)))
    per_chunk = max(1, chunk_size // block)
    per_chunk = -(-per_chunk // n_devices) * n_devices
    per_chunk = min(per_chunk, -(-n_blocks // n_devices) * n_devices)
    return Layout(paths, block, n_blocks, per_chunk, n_devices)


def blocks_per_group(n_blocks: int, block_size: int) -> int:
    """How many of a device's ``n_blocks`` blocks run side by side: the most
    that divide ``n_blocks`` and hold at most ``GROUP_PATHS`` paths (at least
    one). Side by side, a step of all of them is one wider kernel (BAOAB on
    the 64-oscillator chain, 1,000 paths in two blocks: 0.50 s -> 0.40 s);
    beyond ``GROUP_PATHS`` the state of a group would no longer stay in cache.
    Each block keeps its own key, so the numbers do not change."""
    most = max(1, GROUP_PATHS // max(block_size, 1))
    return max(d for d in range(1, min(n_blocks, most) + 1) if n_blocks % d == 0)


def replicate(tree, sharding):
    """``tree`` with every array put on ``sharding`` (a sharding or a device)."""
    return jax.tree.map(lambda x: jax.device_put(x, sharding) if eqx.is_array(x) else x, tree)
