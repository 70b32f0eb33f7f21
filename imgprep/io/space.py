"""Refuse, before any work, an output that cannot fit on its disk.

Why: ``--copies 1000000000`` of one 8 x 8 image used to run for minutes and end in a
``MemoryError`` (or fill the disk), when the arithmetic says at once that it cannot be
written. The check compares a lower bound of the output's size (its rows times the bytes
each row surely takes) with the free space, and for a folder of files the file count with
the free inodes, of the file system that will hold it; an estimate that could be too
large never refuses a run.
"""

from __future__ import annotations

import os

from imgprep.errors import InputError
from imgprep.io.atomic import resolve_target


def free_space(target: str) -> tuple[int, int] | None:
    """(bytes, inodes) free for an unprivileged user on the file system that will hold
    ``target`` (its nearest existing folder), or None when that cannot be known (a URL,
    ``os.statvfs`` missing or failing, a file system without inode counts gives -1)."""
    statvfs = getattr(os, "statvfs", None)
    if statvfs is None or "://" in target:
        return None
    folder = os.path.dirname(os.path.abspath(resolve_target(target)))
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    try:
        info = statvfs(folder)
    except OSError:
        return None
    inodes = getattr(info, "f_favail", -1) if getattr(info, "f_files", 0) else -1
    return info.f_bavail * info.f_frsize, inodes


def check_fits(target: str, rows: int, row_bytes: int, *, files: bool, what: str) -> None:
    """Refuse (exit 2) when ``rows`` rows of at least ``row_bytes`` bytes each, one file per
    row when ``files``, cannot fit beside ``target``. ``what`` names the cause in the
    message (``--copies 1000000000``, ``this run``)."""
    free = free_space(target)
    if free is None:
        return
    space, inodes = free
    needed = rows * row_bytes
    if needed > space:
        raise InputError(
            f"{what} would write {rows:,} rows of {row_bytes:,} bytes = {_human(needed)}; "
            f"the disk holding {target} has {_human(space)} free"
        )
    if files and inodes >= 0 and rows > inodes:
        raise InputError(
            f"{what} would write {rows:,} files; the disk holding {target} has room for "
            f"{inodes:,} more"
        )


def _human(size: int) -> str:
    """Bytes in the binary unit that gives 1 to 1023 of them (238 GiB)."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            return f"{value:,.0f} {unit}"
        value /= 1024
    return f"{value:,.0f} EiB"
