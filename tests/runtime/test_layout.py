"""The block, chunk and group rules of dync.runtime.layout (pure arithmetic)."""

from __future__ import annotations

import pytest

from dync.runtime import layout as lay_mod
from dync.runtime.layout import BLOCK_BYTES, CHUNK_BYTES, GROUP_PATHS, block_size, blocks_per_group, plan_layout


def test_block_size_rule():
    assert block_size(10, 4) == 10  # few paths: one block of exactly that many
    assert block_size(10_000, 4) == 5000  # two blocks, no padded paths
    assert block_size(1000, 4) == 504  # from 512 paths on at least two blocks, a multiple of 8
    assert block_size(10**7, 4) == 8192
    assert block_size(10**6, 10**6) * 10**6 <= BLOCK_BYTES  # large output: blocks shrink
    assert block_size(300, 4, block_paths=64) == 64  # the cap tests shrink


@pytest.mark.parametrize("devices", [1, 2, 3, 8])
def test_devices_and_chunks_never_change_the_block_size(devices):
    lay = plan_layout(100_000, 40, 50_000, devices)
    assert lay.block_size == 7696 and lay.n_blocks == 13  # ceil(100000/13) rounded up to x8
    assert lay.blocks_per_chunk % devices == 0
    assert lay.n_chunks == -(-lay.n_blocks // lay.blocks_per_chunk)
    first, real = lay.chunk_blocks(lay.n_chunks - 1)
    assert first + real == lay.n_blocks and lay.padded_blocks(real) % devices == 0


def test_default_chunks_fit_the_byte_and_path_limits():
    lay = plan_layout(10**7, 4, None, 1)
    assert lay.block_size == 8192 and lay.blocks_per_chunk * lay.block_size <= lay_mod.CHUNK_PATHS
    lay = plan_layout(10**6, 10**6, None, 1)
    assert lay.blocks_per_chunk * lay.block_size * 10**6 <= CHUNK_BYTES


def test_groups_divide_the_blocks_and_fit_the_group_limit():
    assert blocks_per_group(4, 5000) == 2  # two blocks of 5,000 fit in 16,384 paths, three do not divide 4
    assert blocks_per_group(7, 1000) == 7
    assert blocks_per_group(3, GROUP_PATHS) == 1
    for n in range(1, 20):
        g = blocks_per_group(n, 3000)
        assert n % g == 0 and g * 3000 <= max(GROUP_PATHS, 3000)
