"""HDF5 output: one file, a group per split, rows chunked by whole images.

See ``Hdf5Writer`` for the datasets and attributes, ``imgprep.io.formats.base`` for the
protocol and the atomic finish, ``hdf5_space`` for the free space each write needs and
``hdf5_reader`` for the rules every HDF5 file imgprep reads must pass.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from imgprep import interrupts
from imgprep.errors import ImgprepError, InputError
from imgprep.io.atomic import is_special, resolve_target
from imgprep.io.formats.base import (
    AtomicWriter,
    AugmentRow,
    Column,
    OutputOptions,
    never_free,
    reason,
    temporary_beside,
)
from imgprep.io.formats.hdf5_layout import (
    SUFFIXES,
    check_like_first,
    column,
    utf8,
    write_dataset_attrs,
)
from imgprep.io.formats.hdf5_space import close_reserve, has_room

COMPRESSIONS = ("none", "gzip", "lzf")
CHUNK_BYTES = 4 << 20
MIN_CHUNK_BYTES = 64 << 10  # images chunks hold at least this (or one row)


# HDF5 columns beside ``images`` (never compressed): labels; source_index, copy and the
# sampled parameters (eight float64, two flags) of an augmented split
_LABEL_BYTES = 8
_AUGMENTATION_BYTES = 8 + 4 + 8 * 8 + 2


class Hdf5Writer(AtomicWriter):
    """``images`` (N, H, W, C), ``labels`` (N,) int64, ``paths`` (N,) UTF-8, per split.

    Augmented splits add ``source_index`` (N,) (the row's source image, by its position in
    the split's input order), ``copy`` (N,) (0: the original, 1..K: augmented copies) and an
    ``augmentation`` group with one (N,) dataset per recorded parameter, named and typed as
    ``start_split(augmentation=...)`` says (the writer does not know which parameters exist).
    Shuffled splits (``transform --shuffle``) add ``permutation`` (N,) int64: the row's source
    image by its position in the split before shuffling (``source_index`` counts images in the
    order written).

    ``images`` is chunked by whole images (as many as fit in about 4 MiB, at most one batch,
    at least one) and optionally compressed. Root attributes: ``format``,
    ``format_version``, ``imgprep_version``, ``class_names``, ``splits``, ``pipeline`` and
    ``stats`` (JSON text); each split's group (or the root) has ``skipped`` (JSON list of
    {path, reason}) and ``count``.
    """

    name = "hdf5"
    suffixes = SUFFIXES
    shards = True
    uniform_rows = True
    holds_raw_rows = True
    records_order = True

    @classmethod
    def least_row_bytes(
        cls, *, path_bytes: int, labelled: bool, augmented: bool, pixel_bytes: int | None
    ) -> int:
        """The uncompressed columns (path, label, augmentation), and the pixels unless
        compressed: chunked datasets hold at least that much per row."""
        row = path_bytes + (_LABEL_BYTES if labelled else 0) + (pixel_bytes or 0)
        return row + (_AUGMENTATION_BYTES if augmented else 0)

    @classmethod
    def open(cls, target: str, options: OutputOptions) -> Hdf5Writer:
        return cls(target, compression=options.compression, batch_size=options.batch_size)

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
            self._temporary = temporary_beside(target, directory=False)
            try:
                self._file = h5py.File(self._temporary, "w")
            except OSError as exc:  # a full disk already
                self._discard()
                raise self._cannot_write(reason(exc)) from None
        self._group: Any = None
        # Open dataset handles of the current split, kept across flushes: closing a handle
        # writes out its partly filled chunk, which the next flush must read back (that cost
        # 0.4 s per 60,000 digits when each flush reopened the datasets).
        self._datasets: dict[str, Any] = {}
        self._first_path: str | None = None
        self._image_shape: tuple[int, ...] = ()
        self._labelled = False
        self._columns: Sequence[Column] | None = None  # recorded augmentation columns
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
        augmentation: Sequence[Column] | None = None,
        path_bytes: int = 1,
        names: Mapping[str, str] | None = None,
        hold_images: bool = False,
    ) -> None:
        """Begin a split; ``path_bytes`` is the longest relative path in UTF-8 bytes (``paths``
        is a fixed-length UTF-8 dataset: written much faster than variable-length strings, and
        not held in memory until the file closes). ``augmentation`` names the recorded
        columns of an augmented split, in the order of each row's values.

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
        self._columns = augmentation
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
        augmentation: Sequence[AugmentRow] | None = None,
        permutation: Sequence[int] | None = None,
    ) -> None:
        if len(images) == 0:
            return
        if augmentation is not None and self._columns is None:
            raise ValueError("augmentation rows for a split started without augmentation columns")
        if self._first_path is None:
            with self._hdf5():
                self._create(images[0], rels[0], augmentation is not None, permutation is not None)
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
        columns: dict[str, np.ndarray] = {"paths": np.array(encoded, dtype=utf8(self.path_bytes))}
        if self._held is not None:
            self._held.write(np.ascontiguousarray(block).data)  # errno kept (tofile drops it)
        else:
            columns["images"] = block
        if self._labelled:
            columns["labels"] = np.array(labels, dtype=np.int64)
        if permutation is not None:
            columns["permutation"] = np.array(permutation, dtype=np.int64)
        if augmentation is not None:
            columns["source_index"] = np.array([row[0] for row in augmentation], dtype=np.int64)
            columns["copy"] = np.array([row[1] for row in augmentation], dtype=np.int32)
            for column, (name, dtype) in enumerate(self._columns or ()):
                values = [row[2][column] for row in augmentation]
                columns[f"augmentation/{name}"] = np.array(values, dtype=dtype)
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

    def _create(self, first: np.ndarray, rel: str, augmented: bool, shuffled: bool) -> None:
        group = self._group
        if self._held is None:
            self._create_images(first)
        group.create_dataset(
            "paths",
            shape=(0,),
            maxshape=(None,),
            dtype=utf8(self.path_bytes),
            chunks=(1024,),
        )
        if self._labelled:
            column(group, "labels", np.int64)
        if shuffled:
            column(group, "permutation", np.int64)
        if augmented:
            column(group, "source_index", np.int64)
            column(group, "copy", np.int32)
            params = group.create_group("augmentation")
            for name, dtype in self._columns or ():
                column(params, name, dtype)
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
        never_free((self._file, self._group, self._datasets))
        return True

    def _check_space(self, nbytes: int) -> None:
        """Stop before a write that the disk cannot take, while HDF5 can still close the
        file cleanly (``imgprep.io.formats.hdf5_space``)."""
        if not has_room(self._temporary, nbytes, self._close_reserve):
            raise self._cannot_write(os.strerror(errno.ENOSPC))

    def _close_reserve(self) -> int:
        with self._hdf5():
            return close_reserve(self._file, self._temporary)

    def _publish(self) -> None:
        os.replace(self._temporary, self.target)

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._temporary)


WRITERS = (Hdf5Writer,)  # found by imgprep.io.formats.registry.discover
