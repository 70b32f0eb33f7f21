"""Open the small files imgprep reads besides images (stats JSON, ZCA sidecars, TOML configs).

Such a path may come from a user's typo (``--stats /dev/zero``), from a file received from
someone else, or from a config file: reading it must neither hang nor exhaust memory. So:

- only a regular file is opened: the path is checked with ``os.stat`` first, then opened with
  ``O_NONBLOCK`` (a FIFO swapped in between cannot block the open) and checked again with
  ``fstat`` on the open descriptor, which is what is really read;
- the bytes read are capped: a stats file may have at most ``STATS_LIMIT`` (256 MiB, far
  above the few kilobytes one holds), a TOML config ``CONFIG_LIMIT`` (1 MiB). A file larger
  than its cap is refused before a byte of it is read, and one that grows while it is read
  is refused too.

A path found inside a file (the ZCA sidecar a stats file names) is resolved only beside that
file, and only as a bare file name (``path_beside``): a file received from someone else cannot
make imgprep read ``../../secret`` or ``/dev/zero``.

A missing, unopenable or non-regular file is a usage error (``InputError``, exit 2); a file
too large, or failing while it is read, is a data error (``ImgprepError``, exit 1).
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from imgprep.errors import ImgprepError, InputError
from imgprep.values import is_bare_name

STATS_LIMIT = 256 << 20  # bytes of a stats JSON file
CONFIG_LIMIT = 1 << 20  # bytes of a TOML config file
_BLOCK = 1 << 20


def describe_limit(limit: int) -> str:
    """``268435456`` -> ``256 MiB`` (for messages)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"


def _article(what: str) -> str:
    return "an" if what[:1].lower() in "aeiou" else "a"


def _kind(mode: int) -> str:
    """What a non-regular file is, in a few words."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _check_regular(path: str, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{path}: not a regular file ({_kind(mode)}); {_article(what)} {what} must be one"
        )


def _check_size(path: str, size: int, limit: int | None, what: str) -> None:
    if limit is not None and size > limit:
        raise ImgprepError(
            f"{path} is larger than the {describe_limit(limit)} {_article(what)} {what} may have"
        )


def open_regular_file(path: str, *, what: str, limit: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a regular file.

    Args:
        path: the file; anything but a ``str`` or ``os.PathLike`` (an integer, which ``open``
            would take as a file descriptor) is refused.
        what: the file's role for messages, e.g. ``stats file`` or ``ZCA sidecar``.
        limit: the largest size in bytes accepted, or None (the caller bounds its reads).

    Raises:
        InputError: missing, not a path, not a regular file, or cannot be opened.
        ImgprepError: larger than ``limit``.
    """
    if isinstance(path, bool) or not isinstance(path, str | os.PathLike):
        raise InputError(f"{what} must be a file path (a string), not {path!r}")
    path = os.fspath(path)
    try:
        before = os.stat(path)
        _check_regular(path, before.st_mode, what)
        _check_size(path, before.st_size, limit, what)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise InputError(f"{what} not found: {path}") from exc
    except OSError as exc:  # permission denied, a loop of links...: the path given is wrong
        raise InputError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    try:
        opened = os.fstat(fd)
        _check_regular(path, opened.st_mode, what)  # replaced between stat and open
        _check_size(path, opened.st_size, limit, what)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_file(path: str, *, limit: int, what: str) -> bytes:
    """All bytes of a regular file of at most ``limit`` bytes (see the module docstring).

    Raises:
        InputError: missing, not a path, or not a regular file.
        ImgprepError: larger than ``limit`` (also when it grows while read) or unreadable.
    """
    blocks: list[bytes] = []
    total = 0
    with open_regular_file(path, what=what, limit=limit) as handle:
        try:
            # In blocks, not read(limit + 1): that would reserve the whole cap for a small file.
            while total <= limit and (block := handle.read(min(_BLOCK, limit + 1 - total))):
                blocks.append(block)
                total += len(block)
        except OSError as exc:
            raise ImgprepError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    _check_size(os.fspath(path), total, limit, what)
    return b"".join(blocks)


def path_beside(naming_file: str, name: object, *, what: str) -> str:
    """The file ``name`` in the folder of ``naming_file``, the file whose content names it.

    Raises:
        InputError: ``name`` is not a bare file name (a folder part, ``..``, absolute).
    """
    if not isinstance(name, str) or not is_bare_name(name):
        raise InputError(
            f"{naming_file}: the {what} {name!r} must be a file name beside it "
            "(no folder, no '..', not absolute)"
        )
    return os.path.join(os.path.dirname(os.path.abspath(naming_file)), name)
