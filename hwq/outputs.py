"""Checks of output paths named on the command line, before any work is done or anything is written.

A command that will write into ``--out`` calls :func:`check_out_dir` (or :func:`check_out_file`) first, so
that a file in the way, a read-only folder or a read-only working directory is refused at once, by name,
instead of failing after minutes of work or with a traceback. The checks only look (``os.access``): they
create nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from hwq.errors import HwqError, OutputExistsError

__all__ = ["check_out_dir", "check_out_file"]


def _writable(path: Path, mode: int) -> bool:
    """``os.access`` for the effective user (the one that will write), where the platform allows it."""
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def _writable_ancestor(p: Path, flag: str) -> None:
    """The nearest existing folder at or above ``p`` must be a writable folder."""
    anc = p.absolute()
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise HwqError(f"{flag} {p}: {anc} is a file, not a folder: remove it or choose another {flag}")
    if not _writable(anc, os.W_OK | os.X_OK):
        where = "the working directory" if anc == Path.cwd() else f"folder {anc}"
        raise HwqError(f"{flag} {p}: {where} is not writable (read-only or no permission): "
                       f"choose another {flag}"
                       + (" or run from a writable folder" if anc == Path.cwd() else ""))


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` is (or can be created as) a writable folder; returns it as a Path."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise HwqError(f"{flag} {p} is a file, not a folder: remove it or choose another {flag}")
    _writable_ancestor(p, flag)
    return p


def check_out_file(path: str | Path, flag: str = "--out", overwrite: bool = True,
                   content: bytes | None = None) -> Path:
    """``path`` can be written as a file: not a folder, in a writable folder. With ``overwrite=False`` an
    existing file is refused (unless it already holds ``content``)."""
    p = Path(path)
    if p.is_dir():
        raise HwqError(f"{flag} {p} is a folder: give a file name")
    if p.exists() and not overwrite and (content is None or p.read_bytes() != content):
        raise OutputExistsError(f"{flag} {p} exists and would be overwritten: remove it, choose another "
                                f"{flag} or add --force")
    if p.exists() and not _writable(p, os.W_OK):
        raise HwqError(f"{flag} {p} is not writable (read-only or no permission): choose another {flag}")
    _writable_ancestor(p.parent if str(p.parent) else Path("."), flag)
    return p
