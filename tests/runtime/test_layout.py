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


# ---------------------------------------------------------------------------
# The device rule: simulated descriptions, so these run on a CPU
# ---------------------------------------------------------------------------

H200 = lay_mod.DeviceDescription("gpu", "NVIDIA H200", 105 * 2**30, 132, 1)
SMALL_GPU = lay_mod.DeviceDescription("gpu", "small", 2**30, 8, 1)


def test_cpu_limits_are_the_module_constants():
    limits = lay_mod.layout_limits(lay_mod.CPU, 4)
    assert (limits.chunk_paths, limits.chunk_bytes, limits.group_paths) == (lay_mod.CHUNK_PATHS, CHUNK_BYTES, GROUP_PATHS)
    assert limits.resident_bytes == 0
    # a CPU description with many cores and a device count is still the CPU rule
    many = lay_mod.DeviceDescription("cpu", "cpu", None, 64, 2)
    assert plan_layout(10**7, 4, None, 2, device=many) == plan_layout(10**7, 4, None, 2)
    assert not plan_layout(10**7, 4, None, 1).resident


def test_accelerator_chunks_follow_memory_and_groups_are_whole_chunks():
    # 10^8 scalar OU paths saved at the end fit a quarter of an H200: one chunk, kept on the device
    lay = plan_layout(10**8, 4, None, device=H200, state_bytes=4)
    assert lay.n_chunks == 1 and lay.resident and lay.group_paths == 0
    assert blocks_per_group(lay.blocks_per_chunk, lay.block_size, lay.group_paths) == lay.blocks_per_chunk
    # the 64-oscillator chain (128 floats of state) at 10^7 paths: chunks bounded by a quarter of memory
    lay = plan_layout(10**7, 512, None, device=H200, state_bytes=512)
    per_path = 512 + lay_mod.WORK_STATE_COPIES * 512
    assert lay.blocks_per_chunk * lay.block_size * per_path <= H200.memory_bytes * lay_mod.ACCEL_MEMORY_SHARE
    assert lay.n_chunks > 1 and lay.resident  # 5 GB of output fits the share: copied once at the end
    # more memory, bigger chunks; unknown memory: the default is assumed
    small = plan_layout(10**7, 4, None, device=SMALL_GPU, state_bytes=4)
    big = plan_layout(10**7, 4, None, device=H200, state_bytes=4)
    assert small.blocks_per_chunk < big.blocks_per_chunk
    unknown = lay_mod.DeviceDescription("gpu", "?", None, 132, 1)
    assert lay_mod.layout_limits(unknown, 4).chunk_bytes == lay_mod.ACCEL_DEFAULT_MEMORY * lay_mod.ACCEL_MEMORY_SHARE
    # output larger than the share: copied chunk by chunk, as on CPU
    assert not plan_layout(10**6, 2**20, None, device=SMALL_GPU, state_bytes=4).resident


def test_accelerator_chunks_fill_every_core_and_split_over_devices():
    # a chunk holds at least cores x ACCEL_PATHS_PER_CORE paths even when memory is short
    tiny = lay_mod.DeviceDescription("gpu", "tiny", 2**20, 100, 1)
    lay = plan_layout(10**6, 4, None, device=tiny, state_bytes=4)
    assert lay.blocks_per_chunk * lay.block_size >= 100 * lay_mod.ACCEL_PATHS_PER_CORE
    four = lay_mod.DeviceDescription("gpu", "NVIDIA H200", 105 * 2**30, 132, 4)
    lay = plan_layout(10**8, 4, None, device=four, state_bytes=4)
    assert lay.n_devices == 4 and lay.blocks_per_chunk % 4 == 0 and lay.n_chunks == 1


@pytest.mark.parametrize("device", [lay_mod.CPU, H200, SMALL_GPU])
def test_the_device_never_changes_the_blocks(device):
    for paths, out in ((10, 4), (1000, 4), (10**7, 4), (10**6, 10**6), (100_000, 40)):
        assert plan_layout(paths, out, None, device=device, state_bytes=4).block_size == block_size(paths, out)
    assert plan_layout(100_000, 40, 50_000, device=device).block_size == 7696


def test_groups_of_size_zero_take_every_block():
    assert blocks_per_group(7, 3000, 0) == 7
    assert blocks_per_group(1, 3000, 0) == 1
