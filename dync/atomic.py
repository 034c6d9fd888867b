"""Atomic file writes: write a temporary file beside the target, flush and
fsync it, then rename it over the target, so a reader never sees half a file
and an interrupted write leaves the old file intact.

The one home of this rule: NetCDF output, generated modules and kernel
checkpoints all write through :func:`atomic_path`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError

__all__ = ["atomic_path", "check_writable", "write_bytes_atomic", "write_text_atomic"]


def _umask() -> int:
    """The process umask, read without changing it (Linux), else 0o022."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return 0o022


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or filesystem allows it
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, make_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it over ``target``.

    The caller writes the whole file to the yielded path. On leaving the block
    the file is flushed to disk (``fsync``), given the mode a plain ``open``
    would give it, and renamed over ``target`` with ``os.replace`` (atomic on
    POSIX and Windows); on an exception the temporary file is removed and
    ``target`` is left untouched.

    Args:
        target: the file to write.
        make_parents: create missing parent directories (else a missing
            directory is an error).

    Raises:
        UsageError: the target is a directory, its directory does not
            exist (and ``make_parents`` is false), or the operating system
            refuses the write (permissions, a read-only file system).
    """
    target = Path(target)
    directory = target.parent
    _refuse_directory_problems(target, make_parents)
    try:
        if make_parents:
            directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=directory)
    except OSError as err:
        raise _cannot_write(target, err) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp makes the file private (0600); give it the mode a plain open() would
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        except OSError as err:
            raise _cannot_write(target, err) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def check_writable(target: str | os.PathLike, *, make_parents: bool = False) -> None:
    """Fail early, before minutes of work, if :func:`atomic_path` could not
    write ``target``: it is a directory, its directory is missing (and
    ``make_parents`` is false) or the system refuses a file there. The test
    is a real temporary file, created and removed, so it holds for root, for
    read-only file systems and for ``/proc`` alike.

    Raises:
        UsageError: the target cannot be written.
    """
    target = Path(target)
    _refuse_directory_problems(target, make_parents)
    directory = target.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent  # the directories atomic_path would create start here
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=directory)
    except OSError as err:
        raise _cannot_write(target, err) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _refuse_directory_problems(target: Path, make_parents: bool) -> None:
    """The checks :func:`atomic_path` and :func:`check_writable` share: the
    target is not a directory, and its directory exists unless it is to be
    made.

    Raises:
        UsageError: either check fails.
    """
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a directory", hint="give a file name, e.g. " + str(target / "out"))
    if not make_parents and not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: directory {target.parent} does not exist")


def _cannot_write(target: Path, err: OSError) -> UsageError:
    """The user-facing error for a target the operating system refuses
    (read-only file system, no permission, a directory in the way)."""
    reason = err.strerror or type(err).__name__
    return UsageError(f"cannot write {target}: {reason.lower()}", hint="choose a writable location with -o/--output")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent
    directories; returns the path."""
    target = Path(path)
    with atomic_path(target, make_parents=True) as tmp:
        tmp.write_bytes(data)
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))
