"""Atomic writes (dync/atomic.py): a target the operating system refuses is a
clear E400 (exit 2), never a traceback, and the target is left untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dync.atomic import atomic_path, write_text_atomic
from dync.errors import UsageError


def test_a_write_replaces_the_whole_file(tmp_path: Path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_directory_as_target_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="it is a directory") as info:
        write_text_atomic(tmp_path, "x")
    assert info.value.code == "E400"


def test_a_missing_directory_is_a_usage_error_unless_parents_are_made(tmp_path: Path):
    with pytest.raises(UsageError, match="does not exist"), atomic_path(tmp_path / "no" / "a.nc"):
        pass
    assert write_text_atomic(tmp_path / "no" / "a.txt", "x").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root may write anywhere")
def test_a_directory_without_write_permission_is_a_usage_error(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="permission denied"):
            write_text_atomic(locked / "a.txt", "x")
    finally:
        locked.chmod(0o700)


def test_a_path_under_a_file_is_a_usage_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        write_text_atomic(tmp_path / "file" / "a.txt", "x")


def test_check_writable_fails_early_for_what_a_write_would_refuse(tmp_path: Path):
    from dync.atomic import check_writable

    check_writable(tmp_path / "a.nc")
    check_writable(tmp_path / "new" / "deeper" / "a.nc", make_parents=True)
    assert sorted(tmp_path.iterdir()) == []  # the probe file is removed, nothing is created
    with pytest.raises(UsageError, match="it is a directory"):
        check_writable(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        check_writable(tmp_path / "new" / "a.nc")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        check_writable(tmp_path / "file" / "a.nc", make_parents=True)
