"""File locks for hwq's caches and build folders (one writer per entry, across processes).

A lock is ``fcntl.flock`` on a lock file: the kernel drops it when the holder exits, however it exits,
so a crashed run never leaves a stale lock behind. A run that has to wait says so on stderr once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["file_lock", "folder_lock"]


@contextlib.contextmanager
def file_lock(path: str | Path, what: str | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created with its parent folders) for the ``with`` block.

    ``what`` names the locked thing in the waiting message (default: the lock file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            print(f"hwq: waiting for {what or path} (in use by {holder})", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}\n")
            fh.flush()
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on an existing folder itself (no lock file: for a user's output folder)."""
    folder = Path(folder)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"hwq: waiting for {what or folder} (in use by another process)", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)
