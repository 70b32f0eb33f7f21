"""Dataset writers: HDF5 file or PNG tree, one small protocol, atomic finish.

A writer is used as a context manager. Everything is written under a temporary name beside
the target (``.NAME.imgprep-*.tmp``) and renamed to the target only when ``finish`` ran and the
block exited without an exception; otherwise the temporary file or folder is deleted, so an
interrupted or failed run never leaves a half-written output under the final name. What a
killed run leaves is deleted by the next run of that output (``atomic.temporary_name``).

Protocol: ``start_split(name, labelled)``, ``write(images, rels, labels)`` in input order,
``end_split(skipped)``, then ``finish(metadata)``; the HDF5 writer can also hold a split's
images raw (``start_split(..., hold_images=True)``) until ``release_images(transform)``.
``name`` is None for a single input, whose datasets sit at the root of the file (or of the
folder); otherwise each split is a group (a subfolder).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from imgprep import __version__, interrupts
from imgprep.augment import PARAMETER_NAMES, AugmentParams
from imgprep.errors import ImgprepError, InputError
from imgprep.io.atomic import (
    OutputError,
    check_writable,
    create_temporary_file,
    is_special,
    remove_stale_temporaries,
    resolve_target,
    temporary_name,
    write_failure,
)
from imgprep.io.bitdepth import mixed_depth_reason
from imgprep.plan import DATASET_FORMAT, DATASET_MANIFEST, check_png_target, png_stem

FORMAT_NAME = DATASET_FORMAT
FORMAT_VERSION = 1
COMPRESSIONS = ("none", "gzip", "lzf")
CHUNK_BYTES = 4 << 20
MIN_CHUNK_BYTES = 64 << 10  # images chunks hold at least this (or one row)
# Free space kept for what HDF5 still writes at close (see _close_reserve): a write that
# would eat into it stops the run first (see _check_space). Sized to the output, so that a
# 10 KB file fits on a nearly full small disk: metadata (1 MiB, plus 1/64 of the file for
# large ones), and each chunked dataset's cached chunk (h5py's cache holds at most 1 MiB
# per dataset); never more than SPACE_RESERVE.
METADATA_RESERVE = 1 << 20
CHUNK_CACHE_BYTES = 1 << 20
SPACE_RESERVE = 16 << 20


class _AtomicWriter:
    """The finish rule both writers share (see the module docstring).

    A subclass sets ``target``, ``_temporary`` and ``_finished`` and says how to close,
    publish and discard its output; leaving the ``with`` block picks one of the two.
    """

    target: str
    _temporary: str
    _finished: bool

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
            failed = self._failed(_reason(exc))
            if kind is None or failed.exit_now:
                raise failed from None
            return  # the exception that stopped the run says more
        if kind is None and self._finished:
            try:
                self._publish()
            except OSError as exc:
                self._discard()
                raise self._cannot_write(_reason(exc)) from None
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


_Writer = TypeVar("_Writer", bound=_AtomicWriter)

# HDF5 objects of abandoned outputs, kept alive so that they are never freed (see OutputError)
_ABANDONED: list[Any] = []


def _reason(error: BaseException) -> str:
    """A one-line reason for a failed write or close (h5py puts the errno in its message)."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    found = re.search(r"errno = (\d+)", str(error))
    if found:
        return os.strerror(int(found.group(1)))
    return str(error).splitlines()[0] if str(error) else type(error).__name__


class Hdf5Writer(_AtomicWriter):
    """``images`` (N, H, W, C), ``labels`` (N,) int64, ``paths`` (N,) UTF-8, per split.

    Augmented splits add ``source_index`` (N,) (the row's source image, by its position in
    the split's input order), ``copy`` (N,) (0: the original, 1..K: augmented copies) and an
    ``augmentation`` group with one (N,) dataset per sampled parameter (``theta``, ``tx``,
    ``ty``, ``shear``, ``zx``, ``zy``, ``flip_horizontal``, ``flip_vertical``,
    ``channel_shift``, ``brightness``).

    ``images`` is chunked by whole images (as many as fit in about 4 MiB, at most one batch,
    at least one) and optionally compressed. Root attributes: ``format``,
    ``format_version``, ``imgprep_version``, ``class_names``, ``splits``, ``pipeline`` and
    ``stats`` (JSON text); each split's group (or the root) has ``skipped`` (JSON list of
    {path, reason}) and ``count``.
    """

    def __init__(self, target: str, *, compression: str = "none", batch_size: int = 64) -> None:
        import h5py

        if is_special(resolve_target(target)):
            raise InputError(f"cannot write HDF5 to {target}: it is not a regular file")
        if compression not in COMPRESSIONS:
            raise InputError(
                f"invalid compression {compression!r}: choose {', '.join(COMPRESSIONS)}"
            )
        self.target = resolve_target(target)
        self.compression = None if compression == "none" else compression
        self.batch_size = batch_size
        # Shielded: a signal between creating the file and the caller's ``with`` (whose exit
        # deletes it) would leave the file behind; it is raised just after, inside the block.
        with interrupts.shielded():
            self._temporary = _temporary_beside(target, directory=False)
            try:
                self._file = h5py.File(self._temporary, "w")
            except OSError as exc:  # a full disk already
                self._discard()
                raise self._cannot_write(_reason(exc)) from None
        self._group: Any = None
        # Open dataset handles of the current split, kept across flushes: closing a handle
        # writes out its partly filled chunk, which the next flush must read back (that cost
        # 0.4 s per 60,000 digits when each flush reopened the datasets).
        self._datasets: dict[str, Any] = {}
        self._first_path: str | None = None
        self._image_shape: tuple[int, ...] = ()
        self._labelled = False
        self._written = 0  # rows of this split in the file (more may be held in _pending)
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self._flush_rows = 1
        self._dtype = np.dtype(np.uint8)
        self._held: Any = None  # the scratch file of a split started with hold_images
        self._finished = False

    def start_split(
        self,
        name: str | None,
        *,
        labelled: bool,
        augmented: bool = False,
        path_bytes: int = 1,
        hold_images: bool = False,
    ) -> None:
        """Begin a split; ``path_bytes`` is the longest relative path in UTF-8 bytes (``paths``
        is a fixed-length UTF-8 dataset: written much faster than variable-length strings, and
        not held in memory until the file closes).

        With ``hold_images`` the rows are kept as given (raw pixels, before statistics that
        do not exist yet) in a scratch file beside the output, and ``images`` is written by
        ``release_images`` once they do: uint8 digits then cost a quarter of the bytes of
        float32 rows written, read back and rewritten.
        """
        self.path_bytes = max(1, path_bytes)
        with self._hdf5():
            if self._datasets:
                # Written out now, where a failure raises: the previous split's handles would
                # otherwise write when dropped, and a failure there is only printed by h5py.
                self._check_space(0)
                self._file.flush()
            self._group = self._file if name is None else self._file.create_group(name)
        self._datasets = {}
        self._labelled = labelled
        self._first_path = None
        self._written = 0
        self._held = None
        if hold_images:
            self._held = open(self._temporary + ".rows", "w+b")  # noqa: SIM115 (closed in _close)

    def write(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        rels: Sequence[str],
        labels: Sequence[int | None],
        augmentation: Sequence[tuple[int, int, AugmentParams]] | None = None,
    ) -> None:
        if len(images) == 0:
            return
        if self._first_path is None:
            with self._hdf5():
                self._create(images[0], rels[0], augmented=augmentation is not None)
        dtype = self._dtype
        if (
            isinstance(images, np.ndarray)
            and images.shape[1:] == self._image_shape
            and images.dtype == dtype
        ):
            block = images.copy()  # held until the next flush: the caller may reuse its array
        else:
            for image, rel in zip(images, rels, strict=True):
                self._check_like_first(image, rel, dtype)
            block = np.stack(images)
        encoded = [rel.encode("utf-8", "surrogateescape") for rel in rels]
        if max(len(value) for value in encoded) > self.path_bytes:
            raise ValueError("path_bytes given to start_split is shorter than a path written")
        columns: dict[str, np.ndarray] = {"paths": np.array(encoded, dtype=_utf8(self.path_bytes))}
        if self._held is not None:
            self._held.write(np.ascontiguousarray(block).data)  # errno kept (tofile drops it)
        else:
            columns["images"] = block
        if self._labelled:
            columns["labels"] = np.array(labels, dtype=np.int64)
        if augmentation is not None:
            columns["source_index"] = np.array([row[0] for row in augmentation], dtype=np.int64)
            columns["copy"] = np.array([row[1] for row in augmentation], dtype=np.int32)
            table = np.array([row[2].as_row() for row in augmentation], dtype=np.float64)
            for column, name in enumerate(PARAMETER_NAMES):
                columns[f"augmentation/{name}"] = table[:, column]
        self._pending.append(columns)
        self._pending_rows += len(block)
        if self._pending_rows >= self._flush_rows:
            self._flush()

    def _flush(self) -> None:
        """Write the rows held back, all datasets at once (a few h5py calls per 4 MiB of
        images rather than per batch: for 28x28 digits that is a second per 60,000)."""
        if not self._pending:
            return
        start, stop = self._written, self._written + self._pending_rows
        self._check_space(sum(column.nbytes for row in self._pending for column in row.values()))
        for name in self._pending[0]:
            parts = [columns[name] for columns in self._pending]
            block = parts[0] if len(parts) == 1 else np.concatenate(parts)
            with self._hdf5():
                dataset = self._datasets.get(name)
                if dataset is None:
                    dataset = self._datasets[name] = self._group[name]
                dataset.resize(stop, axis=0)
                dataset[start:stop] = block.astype(dataset.dtype, copy=False)
        self._written = stop
        self._pending = []
        self._pending_rows = 0

    def _check_like_first(self, image: np.ndarray, rel: str, dtype: np.dtype) -> None:
        first = self._first_path or ""
        check_like_first(first, self._image_shape, dtype, rel, image.shape, image.dtype)

    def end_split(self, *, skipped: list[dict[str, str]], allow_empty: bool = False) -> None:
        """Close the split; an empty one is an error unless ``allow_empty`` (a shard)."""
        self._flush()
        if self._written == 0 and not allow_empty:
            raise ImgprepError("no image could be read; nothing to write")
        with self._hdf5():
            self._group.attrs["skipped"] = json.dumps(skipped)
            self._group.attrs["count"] = self._written

    def release_images(self, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        """Write the held rows of the split just ended as ``images``: ``transform`` of them
        (N x H x W x C in, the same N out), one chunk's worth at a time (``transform`` acts on
        each image alone, so the block size never changes the result)."""
        held = self._held
        if held is None:
            raise ValueError("release_images needs a split started with hold_images")
        self._flush()
        total, shape = self._written, self._image_shape  # end_split refused an empty split

        def read(count: int) -> np.ndarray:
            values = count * int(np.prod(shape))
            block = np.fromfile(held, dtype=self._dtype, count=values)
            if block.size != values:
                raise ImgprepError(f"the scratch file {held.name} was cut short")
            return block.reshape(count, *shape)

        held.seek(0)
        first = transform(read(1))[0]
        with self._hdf5():  # chunked as a directly written split would be: by the first row
            data = self._datasets["images"] = self._create_images(first)
            data.resize(total, axis=0)
        held.seek(0)
        step = data.chunks[0]

        def store(start: int, rows: np.ndarray) -> None:
            self._check_space(rows.nbytes)
            with self._hdf5():
                data[start : start + len(rows)] = rows

        # One thread reads and transforms the next block while this one writes the last:
        # NumPy and HDF5 both release the GIL there, so the two overlap (60,000 digits: 0.1
        # s instead of 0.25-0.3 s). One thread, in order: the same blocks and bytes.
        with ThreadPoolExecutor(1) as pool:
            waiting: tuple[int, Future[np.ndarray]] | None = None
            for start in range(0, total, step):
                count = min(step, total - start)
                task = pool.submit(lambda count=count: transform(read(count)))  # type: ignore[misc]
                if waiting is not None:
                    store(waiting[0], waiting[1].result())
                waiting = (start, task)
            assert waiting is not None
            store(waiting[0], waiting[1].result())
        self._close_held()

    def _close_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()
            with contextlib.suppress(OSError):
                os.unlink(held.name)

    def finish(self, metadata: dict[str, Any]) -> None:
        self._flush()
        with self._hdf5():
            write_dataset_attrs(self._file.attrs, metadata)
        self._finished = True

    def _create_images(self, first: np.ndarray) -> Any:
        """The split's empty ``images`` dataset, chunked by whole images (about 4 MiB, at most
        one batch, but at least ``MIN_CHUNK_BYTES``: HDF5 keeps about 0.7 kB of index per
        chunk in memory, so 200,000 copies of an 8 x 8 image in chunks of one row took 150 MB
        and more with every row)."""
        row = max(1, first.nbytes)
        rows = max(1, min(self.batch_size, CHUNK_BYTES // row), MIN_CHUNK_BYTES // row)
        return self._group.create_dataset(
            "images",
            shape=(0, *first.shape),
            maxshape=(None, *first.shape),
            dtype=first.dtype,
            chunks=(rows, *first.shape),
            compression=self.compression,
        )

    def _create(self, first: np.ndarray, rel: str, *, augmented: bool = False) -> None:
        group = self._group
        if self._held is None:
            self._create_images(first)
        group.create_dataset(
            "paths",
            shape=(0,),
            maxshape=(None,),
            dtype=_utf8(self.path_bytes),
            chunks=(1024,),
        )
        if self._labelled:
            _column(group, "labels", np.int64)
        if augmented:
            _column(group, "source_index", np.int64)
            _column(group, "copy", np.int32)
            params = group.create_group("augmentation")
            for name in PARAMETER_NAMES:
                _column(params, name, np.bool_ if name.startswith("flip") else np.float64)
        self._first_path = rel
        self._image_shape = first.shape
        self._dtype = first.dtype
        self._flush_rows = max(1, CHUNK_BYTES // max(1, first.nbytes))  # rows of ~4 MiB

    def _close(self) -> None:
        self._close_held()
        self._file.close()

    @contextlib.contextmanager
    def _hdf5(self) -> Iterator[None]:
        """Around h5py calls that write: a failure there leaves the file unclosable."""
        try:
            yield
        except (OSError, RuntimeError):
            self._broken = True
            raise

    def _abandon(self) -> bool:
        """Delete the output after HDF5 itself failed to write; its handles are left open.

        After a failed write HDF5 can neither flush nor close the file: a close fails again
        or crashes the process (seen here), and so can freeing the handles. So the file is
        unlinked and truncated to nothing, which gives its space back at once, and the
        handles stay referenced until the process exits (see ``OutputError``). Writes are
        checked against the free space first (``_check_space``), so this is the rare case.
        """
        with contextlib.suppress(OSError):
            self._close_held()
        descriptor = None
        with contextlib.suppress(Exception):
            descriptor = int(self._file.id.get_vfd_handle())
        self._discard()
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
        _ABANDONED.append((self._file, self._group, self._datasets))
        return True

    def _check_space(self, nbytes: int) -> None:
        """Stop before a write that the disk cannot take, while HDF5 can still close the
        file cleanly: ``nbytes`` plus a reserve for what HDF5 writes at close must be free."""
        try:
            info = os.statvfs(os.path.dirname(os.path.abspath(self._temporary)))
        except OSError:
            return
        free = info.f_bavail * info.f_frsize
        if free >= nbytes + SPACE_RESERVE:  # the common case: no need to size the reserve
            return
        if free < nbytes + self._close_reserve():
            raise self._cannot_write(os.strerror(errno.ENOSPC))

    def _close_reserve(self) -> int:
        """What HDF5 may still write when the file closes (see ``METADATA_RESERVE``)."""
        import h5py

        cached = [0]

        def visit(name: str, node: Any) -> None:
            if isinstance(node, h5py.Dataset) and node.chunks:
                chunk = int(np.prod(node.chunks)) * node.dtype.itemsize
                cached[0] += min(CHUNK_CACHE_BYTES, chunk)

        with self._hdf5():
            self._file.visititems(visit)
        try:
            written = os.path.getsize(self._temporary)
        except OSError:
            written = 0
        return min(SPACE_RESERVE, METADATA_RESERVE + written // 64 + cached[0])

    def _publish(self) -> None:
        os.replace(self._temporary, self.target)

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._temporary)


class PngWriter(_AtomicWriter):
    """A folder mirroring the input's class folders (``SPLIT/CLASS/NAME.png``).

    Only integer images can be written: uint8 with 1-4 channels (L, LA, RGB, RGBA) or
    uint16 grayscale (16-bit PNG). The file name keeps the source's relative path with its
    extension replaced by ``.png``; files given one by one are named as ``imgprep.plan``
    says (``start_split(names=...)``), and every resolved path is checked to lie inside the
    output before it is written. ``imgprep.json`` at the top records the pipeline, the
    statistics, the class names and the skipped files.

    Two runs writing one tree at once do not replace each other silently: the target's
    state is noted when the writer opens, and if another run has written it meanwhile the
    rename is refused and this run's tree deleted.
    """

    def __init__(self, target: str, *, overwrite: bool = False) -> None:
        check_png_target(target, overwrite=overwrite)
        self.target = target
        with interrupts.shielded():  # as in Hdf5Writer: the caller's ``with`` deletes it
            self._temporary = _temporary_beside(target, directory=True)
        self._root = os.path.abspath(self._temporary) + os.sep
        self._state = _tree_state(target)
        self._prefix = ""
        self._names: Mapping[str, str] = {}
        self._written: set[str] = set()
        self._skipped: dict[str, list[dict[str, str]]] = {}
        self._split_key = ""
        self._copies: list[dict[str, Any]] = []
        self._finished = False

    def start_split(
        self,
        name: str | None,
        *,
        labelled: bool,
        augmented: bool = False,
        path_bytes: int = 1,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """Begin a split; ``names`` maps relative paths of files given one by one to their
        names in the tree (``imgprep.plan.png_names``)."""
        self._prefix = f"{name}/" if name else ""
        self._split_key = name or ""
        self._names = names or {}
        self._count = 0

    def write(
        self,
        images: Sequence[np.ndarray],
        rels: Sequence[str],
        labels: Sequence[int | None],
        augmentation: Sequence[tuple[int, int, AugmentParams]] | None = None,
    ) -> None:
        for position, (image, rel) in enumerate(zip(images, rels, strict=True)):
            stem = self._prefix + png_stem(rel, self._names)
            if augmentation is not None:
                index, copy, params = augmentation[position]
                if copy:
                    stem = f"{stem}_copy{copy}"
                record = {"path": stem + ".png", "source": rel, "source_index": index, "copy": copy}
                record.update(zip(PARAMETER_NAMES, params.as_row(), strict=True))
                self._copies.append(record)
            name = stem + ".png"
            if name in self._written:
                raise InputError(f"two inputs would both be written as {name}; rename one of them")
            self._written.add(name)
            path = os.path.normpath(os.path.join(self._temporary, name))
            if not path.startswith(self._root):  # imgprep.plan's names never get here
                raise InputError(f"{rel}: its output name {name} would lie outside {self.target}")
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _save_png(image, path, rel)
            except OSError as exc:
                if exc.errno != errno.ENAMETOOLONG:
                    raise
                raise self._cannot_write(f"{name}: file name too long") from None
            self._count += 1

    def end_split(self, *, skipped: list[dict[str, str]]) -> None:
        if self._count == 0:
            raise ImgprepError("no image could be read; nothing to write")
        self._skipped[self._split_key] = skipped

    def finish(self, metadata: dict[str, Any]) -> None:
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "imgprep_version": __version__,
            **metadata,
            "skipped": self._skipped,
        }
        if self._copies:
            manifest["copies"] = self._copies
        with open(os.path.join(self._temporary, "imgprep.json"), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
        self._finished = True

    def _publish(self) -> None:
        """Swap the new tree in; a replaced folder is moved aside first, then deleted.

        Refused when another run wrote the target since this one began (that tree is kept,
        this one discarded). A target that did not exist is taken with a plain rename, which
        fails rather than replace a non-empty folder created meanwhile.
        """
        if _tree_state(self.target) != self._state:
            raise self._written_meanwhile()
        old = None
        if os.path.isdir(self.target):
            old = temporary_name(self.target)
            os.replace(self.target, old)
        try:
            os.rename(self._temporary, self.target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise self._written_meanwhile() from None
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def _written_meanwhile(self) -> OutputError:
        self._discard()
        return OutputError(
            f"cannot write {self.target}: another run wrote it while this one ran; this run's "
            "output was discarded"
        )

    def _discard(self) -> None:
        shutil.rmtree(self._temporary, ignore_errors=True)


def _tree_state(target: str) -> tuple[int, ...] | None:
    """What identifies the target folder's content: the folder's and its manifest's inode and
    modification time (None when the folder is absent)."""
    parts: list[int] = []
    for path in (target, os.path.join(target, DATASET_MANIFEST)):
        try:
            info = os.stat(path)
        except OSError:
            parts += [-1, -1]
            continue
        parts += [info.st_ino, info.st_mtime_ns]
    return None if parts[0] == -1 else tuple(parts)


def _utf8(length: int) -> Any:
    """h5py's fixed-length UTF-8 string dtype (NumPy arrays must carry it to be written)."""
    import h5py

    return h5py.string_dtype("utf-8", length)


def _column(group: Any, name: str, dtype: Any) -> None:
    """An empty, growable one-dimensional dataset."""
    group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))


def _save_png(image: np.ndarray, path: str, rel: str) -> None:
    channels = image.shape[-1]
    if image.dtype == np.uint8 and channels in (1, 2, 3, 4):
        Image.fromarray(image[:, :, 0] if channels == 1 else image).save(path, format="PNG")
    elif image.dtype == np.uint16 and channels == 1:
        Image.fromarray(np.ascontiguousarray(image[:, :, 0])).save(path, format="PNG")
    else:
        raise InputError(
            f"{rel}: cannot write a {channels}-channel {image.dtype} image as PNG (uint8 with 1-4 "
            "channels or uint16 grayscale only); write HDF5 instead"
        )


def _temporary_beside(target: str, *, directory: bool) -> str:
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


def write_dataset_attrs(attrs: Any, metadata: dict[str, Any]) -> None:
    """The root attributes of an imgprep HDF5 output: format, versions, and each metadata
    value as JSON text (shared by the writer and the sharded main file)."""
    attrs["format"] = FORMAT_NAME
    attrs["format_version"] = FORMAT_VERSION
    attrs["imgprep_version"] = __version__
    for key, value in metadata.items():
        attrs[key] = json.dumps(value)


def check_like_first(
    first: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    rel: str,
    other_shape: tuple[int, ...],
    other_dtype: np.dtype,
) -> None:
    """One dataset holds one shape and one dtype: name the two files that differ."""
    if other_shape != shape:
        if other_shape[:2] == shape[:2]:
            advice = "choose one channel count with --color grayscale, rgb or rgba"
        else:
            advice = "pass --size WxH to resize them to one size"
        raise InputError(
            f"images differ in shape: {first} is {_shape(shape)} but {rel} is "
            f"{_shape(other_shape)}; {advice}"
        )
    if other_dtype != dtype:
        raise InputError(f"{rel}: {mixed_depth_reason(other_dtype.name, dtype.name)}")


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape) + " (HxWxC)"
