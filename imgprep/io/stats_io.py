"""Read and write stats files (``fit-stats -o``): the file side of ``imgprep.stats.file``.

``Stats`` is the document and its numbers (to and from JSON text); this module is the
filesystem: a stats file is read only as a regular file of at most ``STATS_LIMIT`` (256 MiB,
``imgprep.io.bounded``), so a device, a FIFO or a huge file given as one is refused instead of
read without end; it is written atomically (``imgprep.io.atomic``), and with a ZCA fit as one
pair with its sidecar (``imgprep.io.zca_sidecar``).
"""

from __future__ import annotations

import contextlib
import os

from imgprep import interrupts
from imgprep.errors import InputError
from imgprep.io.atomic import (
    OutputError,
    atomic_path,
    create_temporary_file,
    is_special,
    resolve_target,
    write_failure,
    write_text_atomic,
)
from imgprep.io.bounded import STATS_LIMIT, read_regular_file
from imgprep.io.zca_sidecar import write_sidecar_to, zca_sidecar_path
from imgprep.stats.file import Stats
from imgprep.stats.zca import ZcaFit

STATS_SUFFIXES = (".json",)


def is_stats_name(path: str) -> bool:
    """Whether ``path`` is named as a stats file (``inspect`` reads one as statistics, not as
    images: no image format has this suffix)."""
    return path.lower().endswith(STATS_SUFFIXES)


def read_stats(path: str) -> Stats:
    """The stats file at ``path`` (written by ``imgprep fit-stats`` or ``write_stats``).

    Raises:
        InputError: missing, not a path, or not a regular file.
        ImgprepError: larger than 256 MiB or unreadable.
        StatsFileError: not a valid stats file (names the key; see ``Stats.from_dict``).
    """
    raw = read_regular_file(path, limit=STATS_LIMIT, what="stats file")
    stats = Stats.from_json(raw, source=path)
    stats.source_path = path
    return stats


def read_stats_files(paths: list[str]) -> list[Stats]:
    """Read stats files to merge, refusing one file given twice (under any name).

    Merging a file with itself would count its images twice, as the same data twice
    (``Stats.merge``); the same file is recognised by its device and inode, so a second
    name (``./a.json``, a link) is refused too.

    Raises:
        InputError: the same file twice; see ``read_stats`` for the rest.
    """
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            info = os.stat(path)
        except (OSError, TypeError, ValueError):
            continue  # read_stats says what is wrong with it
        first = seen.get((info.st_dev, info.st_ino))
        if first is not None:
            same = f"{path} is given twice" if first == path else f"{first} and {path} are one file"
            raise InputError(
                f"{same}: merging a stats file with itself would count its images twice"
            )
        seen[(info.st_dev, info.st_ino)] = path
    return [read_stats(path) for path in paths]


def write_stats(stats: Stats, path: str, *, zca: ZcaFit | None = None) -> None:
    """Write ``stats`` to ``path`` atomically: a failure leaves no file under ``path``.

    With ``zca``, also its sidecar ``zca_sidecar_path(path)``, recorded in ``stats.zca``.
    The pair is written as one: both under temporary names, then renamed (sidecar first,
    then the JSON) only once both are complete. A failure removes both temporaries, leaves
    ``stats.zca`` as it was and an earlier pair untouched, whose JSON still matches its
    sidecar's checksum.
    """
    if zca is None:
        write_text_atomic(path, stats.to_json())
        return
    sidecar = zca_sidecar_path(path)
    real_sidecar = resolve_target(sidecar)
    before = stats.zca
    # Shielded as a whole: a signal between the two renames would pair the old JSON
    # with the new sidecar; it is raised once both are in place (or both removed).
    with interrupts.shielded(), atomic_path(path) as json_temporary:
        sidecar_temporary = create_temporary_file(real_sidecar)
        try:
            try:
                digest = write_sidecar_to(zca, sidecar_temporary)
            except OSError as exc:  # named here: atomic_path would blame the JSON
                failure = write_failure(exc)
                if failure is None:
                    raise
                raise OutputError(f"cannot write {sidecar}: {failure}") from None
            stats.zca = zca.describe(os.path.basename(sidecar), digest)
            _write_text(json_temporary, stats.to_json())
            os.replace(sidecar_temporary, real_sidecar)  # then atomic_path renames the JSON
        except BaseException:
            stats.zca = before
            with contextlib.suppress(OSError):
                os.unlink(sidecar_temporary)
            raise


def _write_text(path: str, text: str) -> None:
    """UTF-8 text flushed to disk (the body of ``write_text_atomic``, for a pair's JSON)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        if not is_special(path):
            os.fsync(handle.fileno())
