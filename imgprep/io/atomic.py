"""Write outputs under a temporary name beside the target and rename them when complete.

An interrupted (Ctrl-C) or failed run therefore never leaves a half-written file under the
final name: ``os.replace`` is atomic on the same filesystem. Details a careful user relies on:

- the file gets the usual permissions (0666 less the umask), not a temporary file's 0600;
- a symbolic link as the target is written through (its target is replaced, the link kept);
- a target that exists and is not a regular file (``/dev/stdout``, a FIFO) is written
  directly, since it cannot be replaced;
- an unwritable folder is one clear error, checked before any work with ``check_writable``;
- a write that fails for want of space, quota or permission is one clear error
  (``OutputError``, exit 1), and the temporary file is deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator

from imgprep.errors import ImgprepError, InputError

# errno values that only a write gives: no space, quota, file too large, read-only file
# system (a read error, say EACCES on an input, must not be blamed on the output)
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class OutputError(ImgprepError):
    """The output could not be written (disk full, quota, read-only file system); exit 1.
    The temporary output is deleted first, so nothing is left under any name.

    ``exit_now`` is set when an HDF5 file had to be abandoned open: after a failed write
    HDF5 can neither flush nor close it (each try fails again or crashes, and so can freeing
    its handles at interpreter exit), so the command line exits at once after its one-line
    error. A program using the library should end soon after such an error, too; imgprep
    checks the free space before each HDF5 write to make it rare.
    """

    exit_now = False


def write_failure(error: BaseException | None) -> str | None:
    """The reason, when ``error`` is a failed write (h5py, Pillow or a plain file), else None."""
    if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
        return os.strerror(error.errno)
    return None


def resolve_target(target: str) -> str:
    """The path really written: a symbolic link's target, else ``target``.

    A link to something that is not a regular file (``/dev/stdout`` into a pipe is a link
    to ``/proc/self/fd/1``, whose target is named ``pipe:[...]`` and cannot be opened by
    that name) is written through the link as given.
    """
    if not os.path.islink(target) or is_special(target):
        return target
    return os.path.realpath(target)


def is_special(target: str) -> bool:
    """An existing non-regular file (device, FIFO): written in place, not replaced."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_writable(target: str, *, directory_ok: bool = False) -> None:
    """Fail early, with one line, when ``target`` cannot be written.

    Raises:
        InputError: the folder is missing or not writable, or the target is a folder.
    """
    real = resolve_target(target)
    if is_special(real):
        return
    if os.path.isdir(real) and not directory_ok:
        raise InputError(f"cannot write {target}: it is a directory")
    parent = os.path.dirname(os.path.abspath(real))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {target}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {target}: directory {parent} is not writable")


def temporary_name(target: str) -> str:
    """``.NAME.<random>.tmp`` in the target's folder (not created)."""
    parent = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(os.path.normpath(target))
    return os.path.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")


def create_temporary_file(target: str) -> str:
    """Create an empty temporary file beside ``target`` with the umask's permissions."""
    check_writable(target)
    while True:
        path = temporary_name(target)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        os.close(fd)
        return path


@contextlib.contextmanager
def atomic_path(target: str) -> Iterator[str]:
    """Yield a temporary path beside ``target``; rename it to ``target`` on success."""
    real = resolve_target(target)
    special = is_special(real)  # a device or FIFO is written in place
    temporary = real if special else create_temporary_file(real)
    try:
        yield temporary
        if not special:
            os.replace(temporary, real)
    except BaseException as exc:
        if not special:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        failure = write_failure(exc)
        if failure is not None:  # /dev/full, a full disk...
            raise OutputError(f"cannot write {target}: {failure}") from None
        raise


def write_text_atomic(target: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically, flushed to disk before the rename."""
    with atomic_path(target) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        if not is_special(temporary):
            os.fsync(handle.fileno())
