"""Write outputs under a temporary name beside the target and rename them when complete.

An interrupted (Ctrl-C) or failed run therefore never leaves a half-written file under the
final name: ``os.replace`` is atomic on the same filesystem. Details a careful user relies on:

- the file gets the usual permissions (0666 less the umask), not a temporary file's 0600;
- a symbolic link as the target is written through (its target is replaced, the link kept);
- a target that exists and is not a regular file (``/dev/stdout``, a FIFO) is written
  directly, since it cannot be replaced;
- an unwritable folder is one clear error, checked before any work with ``check_writable``;
- a write that fails for want of space, quota or permission is one clear error
  (``OutputError``, exit 1), and the temporary file is deleted;
- a run killed with SIGKILL (or a crash) cannot delete its temporary file: its name carries
  imgprep's mark, this machine and the owner's pid (``temporary_name``), and the next run
  of the same output deletes it once that process is gone (``remove_stale_temporaries``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator

from imgprep import interrupts
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
    """``.NAME.imgprep-<host>-<pid>-<random>.tmp`` in the target's folder (not created).

    The name says whose it is: imgprep's, for output ``NAME``, written by process ``pid``
    on the machine whose name hashes to ``host`` (8 hex digits; an output folder may be
    shared by several machines). That is what lets a later run of the same output delete
    what a killed run left (``remove_stale_temporaries``). A scratch file of the writer
    adds ``.rows`` to this name.
    """
    parent = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(os.path.normpath(target))
    owner = f"imgprep-{_host_key()}-{os.getpid()}-{secrets.token_hex(4)}"
    return os.path.join(parent, f".{name}.{owner}.tmp")


def _host_key() -> str:
    """8 hex digits naming this machine in temporary names (a pid means nothing elsewhere)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _stale_name(name: str) -> re.Pattern[str]:
    """Temporary names of output ``name`` (``temporary_name``, and its ``.rows`` scratch)."""
    owner = r"imgprep-(?P<host>[0-9a-f]{8})-(?P<pid>[1-9][0-9]{0,9})-[0-9a-f]{8}"
    return re.compile(rf"\.{re.escape(name)}\.{owner}\.tmp(?:\.rows)?")


def remove_stale_temporaries(target: str) -> list[str]:
    """Delete the temporary files and folders that killed runs of ``target`` left beside it.

    A ``kill -9``, a crash or a power cut leaves a temporary output (``temporary_name``,
    hundreds of MB for a large HDF5 file) that no clean-up could delete. Each new temporary
    of ``target`` first removes those whose name matches exactly ``target``'s pattern, was
    written on this machine, and whose owner process is gone (``os.kill(pid, 0)`` finds no
    process; a process of another user counts as running). Another output's temporaries,
    those of running imgprep processes (a second run of the same output), symbolic links
    and any other name are never touched. Returns the paths removed.
    """
    parent = os.path.dirname(os.path.abspath(target))
    pattern = _stale_name(os.path.basename(os.path.normpath(target)))
    host = _host_key()
    removed: list[str] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found is None or found["host"] != host or _running(int(found["pid"])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            elif entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            else:
                continue
        except OSError:
            continue  # not ours to delete after all (permissions): left as it is
        removed.append(entry.path)
    return removed


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (this one included); unsure counts as running."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: another user's process
        return True
    return True


def create_temporary_file(target: str) -> str:
    """Create an empty temporary file beside ``target`` with the umask's permissions (after
    deleting the stale temporaries of killed runs of ``target``)."""
    check_writable(target)
    remove_stale_temporaries(target)
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
    with interrupts.shielded():  # a signal is raised once the clean-up below is in place
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
