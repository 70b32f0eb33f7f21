"""Write outputs under a temporary name beside the target and rename them when complete.

An interrupted (Ctrl-C) or failed run therefore never leaves a half-written file under the
final name: ``os.replace`` is atomic on the same filesystem.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from imgprep.errors import InputError


@contextlib.contextmanager
def atomic_path(target: str) -> Iterator[str]:
    """Yield a temporary path in ``target``'s directory; rename it to ``target`` on success.

    Raises:
        InputError: the target's directory does not exist.
    """
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise InputError(f"cannot write {target}: directory {directory} does not exist")
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
    )
    os.close(fd)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text_atomic(target: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically, flushed to disk before the rename."""
    with atomic_path(target) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
