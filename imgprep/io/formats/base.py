"""The writer protocol every output format follows, and its atomic finish.

A writer is used as a context manager. Everything is written under a temporary name beside
the target (``.NAME.imgprep-*.tmp``) and renamed to the target only when ``finish`` ran and the
block exited without an exception; otherwise the temporary file or folder is deleted, so an
interrupted or failed run never leaves a half-written output under the final name. What a
killed run leaves is deleted by the next run of that output (``atomic.temporary_name``).

Protocol (``Writer``): ``open(target, options)``, then per split ``start_split(name,
labelled=..., augmentation=...)``, ``write(images, rels, labels, augmentation)`` in input
order and ``end_split(skipped=...)``, then ``finish(metadata)`` (the commit: leaving the
``with`` block renames the output into place) or an exception (the abandon: leaving the block
deletes it). ``name`` is None for a single input, whose rows sit at the root of the output;
otherwise each split is a group (a subfolder).

Writers know nothing of augmentation: the caller names the recorded columns, ``(name, numpy
dtype)`` in order, when a split starts, and gives each row's ``(source index, copy, values)``.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from imgprep.errors import InputError
from imgprep.io.atomic import (
    OutputError,
    check_writable,
    create_temporary_file,
    remove_stale_temporaries,
    temporary_name,
    write_failure,
)
from imgprep.io.formats.png_tree import DATASET_FORMAT

FORMAT_NAME = DATASET_FORMAT
FORMAT_VERSION = 1

Column = tuple[str, np.dtype]  # a recorded augmentation column: name, dtype it is stored as
AugmentRow = tuple[int, int, Sequence[float]]  # source index, copy (0: original), values


@dataclass(frozen=True)
class OutputOptions:
    """What a run asks of its output; each format takes what applies to it."""

    compression: str = "none"
    batch_size: int = 64  # rows per batch: HDF5 chunks hold at most this many images
    overwrite: bool = False  # replace an existing output folder imgprep wrote


class RowKind(Protocol):
    """What a format needs to know of a pipeline to tell whether it can hold its rows."""

    @property
    def makes_floats(self) -> bool: ...

    @property
    def dtype(self) -> str: ...


class Writer(Protocol):
    """An output format (see the module docstring); registered by ``name`` and ``suffixes``."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]  # output paths ending so (lower case) choose it
    folder: ClassVar[bool]  # writes a folder rather than one file (one file per row)
    shards: ClassVar[bool]  # a Dask run can write it (as shards joined by a main file)
    uniform_rows: ClassVar[bool]  # a split's rows share one shape (one array per split)
    holds_raw_rows: ClassVar[bool]  # can hold float32 rows raw until statistics exist
    records_order: ClassVar[bool]  # has a row order, and writes ``permutation`` (--shuffle)

    @classmethod
    def open(cls, target: str, options: OutputOptions) -> Writer: ...

    @classmethod
    def least_row_bytes(cls, *, path_bytes: int, labelled: bool, augmented: bool,
                        pixel_bytes: int | None) -> int: ...  # fmt: skip

    @classmethod
    def check_pipeline(cls, pipeline: RowKind) -> None: ...

    def __enter__(self) -> Writer: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def start_split(
        self,
        name: str | None,
        *,
        labelled: bool,
        augmentation: Sequence[Column] | None = None,
        path_bytes: int = 1,
        names: Mapping[str, str] | None = None,
        hold_images: bool = False,
    ) -> None: ...  # names: tree names (folder formats); hold_images: holds_raw_rows only

    def release_images(self, transform: Callable[[np.ndarray], np.ndarray]) -> None: ...

    def write(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        rels: Sequence[str],
        labels: Sequence[int | None],
        augmentation: Sequence[AugmentRow] | None = None,
        permutation: Sequence[int] | None = None,
    ) -> None: ...  # permutation (only to records_order formats): position before --shuffle

    def end_split(self, *, skipped: list[dict[str, str]]) -> None: ...

    def finish(self, metadata: dict[str, Any]) -> None: ...


class AtomicWriter:
    """The finish rule every writer shares (see the module docstring).

    A subclass sets ``target``, ``_temporary`` and ``_finished`` and says how to close,
    publish and discard its output; leaving the ``with`` block picks one of the two.
    """

    name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    folder: ClassVar[bool] = False
    shards: ClassVar[bool] = False
    uniform_rows: ClassVar[bool] = False
    holds_raw_rows: ClassVar[bool] = False
    records_order: ClassVar[bool] = False

    target: str
    _temporary: str
    _finished: bool

    @classmethod
    def open(cls, target: str, options: OutputOptions) -> Any:
        """The writer for ``target`` (a subclass takes the options that apply to it)."""
        return cls(target)  # type: ignore[call-arg]

    @classmethod
    def check_pipeline(cls, pipeline: RowKind) -> None:
        """Refuse, before any work, rows this format cannot hold exactly (none by default)."""

    @classmethod
    def least_row_bytes(
        cls, *, path_bytes: int, labelled: bool, augmented: bool, pixel_bytes: int | None
    ) -> int:
        """The bytes on disk each row surely takes, for the space check before a run
        (``pixel_bytes``: a row's uncompressed pixels, None when compressed or unknown)."""
        return pixel_bytes or 0

    def release_images(self, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        """Write the rows held raw, through ``transform`` (``holds_raw_rows`` formats only)."""
        raise NotImplementedError(f"the {self.name} format holds no raw rows")

    def __enter__(self: _Writer) -> _Writer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        failure = write_failure(error)
        if failure is not None:  # disk full, quota, read-only: one line, not a traceback
            raise self._failed(failure) from None
        try:
            self._close()
        except (OSError, RuntimeError) as exc:  # h5py reports a failed final flush as either
            self._broken = True
            failed = self._failed(reason(exc))
            if kind is None or failed.exit_now:
                raise failed from None
            return  # the exception that stopped the run says more
        if kind is None and self._finished:
            try:
                self._publish()
            except OSError as exc:
                self._discard()
                raise self._cannot_write(reason(exc)) from None
            return
        self._discard()

    _broken = False  # the output's library failed a write: it cannot be closed (HDF5)

    def _failed(self, reason: str) -> OutputError:
        """Give up an output that could not be written: deleted, and closed when it can be."""
        error = self._cannot_write(reason)
        if self._broken:
            error.exit_now = self._abandon()
            return error
        try:
            self._close()
        except (OSError, RuntimeError):
            self._broken = True
            error.exit_now = self._abandon()
            return error
        self._discard()
        return error

    def _cannot_write(self, reason: str) -> OutputError:
        return OutputError(f"cannot write {self.target}: {reason}")

    def _abandon(self) -> bool:
        """Delete an output that cannot be closed; True when its handles were left open."""
        self._discard()
        return False

    def _close(self) -> None:
        """Release open handles before the rename or delete."""

    def _publish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


_Writer = TypeVar("_Writer", bound=AtomicWriter)


def reason(error: BaseException) -> str:
    """A one-line reason for a failed write or close (h5py puts the errno in its message)."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    found = re.search(r"errno = (\d+)", str(error))
    if found:
        return os.strerror(int(found.group(1)))
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def never_free(handles: object) -> None:
    """Keep ``handles`` alive until the process ends: they are never freed (see OutputError).

    Freeing the handles of a file HDF5 failed to write can crash the process, so an abandoned
    output's handles get one reference that nothing owns (CPython's ``Py_IncRef``) rather
    than a place in a module-level list: no state any later call or test could see, and not
    freed at interpreter exit either (a module's list is, when the module is torn down).
    """
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(handles))


def temporary_beside(target: str, *, directory: bool) -> str:
    """A new temporary file or folder beside ``target`` (usual permissions, umask applied)."""
    if not directory:
        return create_temporary_file(target)
    check_writable(target, directory_ok=True)
    remove_stale_temporaries(target)
    while True:
        path = temporary_name(target)
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return path
