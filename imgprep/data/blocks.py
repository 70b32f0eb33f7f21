"""Rows of one split, read in chunk-aligned blocks through a bounded LRU cache, per process.

HDF5 decompresses a whole chunk to return any part of it, and each h5py read costs tens of
microseconds besides its bytes, so reading one row at a time (the hand-written ``Dataset``)
pays a chunk per row. ``BlockReader`` reads the chunk's rows (images, labels and paths
together) once and serves the next rows from memory; the cache holds at most
``cache_bytes`` of blocks (least recently used dropped first), counted on the arrays
themselves (``BlockCache.nbytes``). ``rows`` serves a whole batch, one block at a time.

A full shuffle of a split larger than the cache returns to a block only by chance, so a
block read serves about one row: such a reader (``scattered``) reads each row's own bytes
instead (``imgprep.data.direct``), caching nothing, wherever the file's layout allows.

The h5py handle is opened on first read, by the process that reads, and that process's id
is recorded: a handle inherited through ``fork`` (a DataLoader worker) shares HDF5's state
with the parent and is never used; the child opens its own, with an empty cache. Pickling
(``spawn`` workers) carries the description only.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

from imgprep.data.direct import DirectRows
from imgprep.data.source import SplitSource, open_checked
from imgprep.errors import InputError


class Block(NamedTuple):
    """Rows ``start:start + len(images)`` of a split: images, labels and paths (None when
    the file has none)."""

    start: int
    images: np.ndarray
    labels: np.ndarray | None
    paths: np.ndarray | None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.images, self.labels, self.paths) if a is not None)


class BlockCache:
    """An LRU of blocks keyed by block number, never holding more than ``limit`` bytes.

    A block larger than the limit is returned to its reader and not kept (``limit`` 0
    disables caching)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.nbytes = 0
        self.peak = 0  # the most bytes ever held (tests and benchmarks read it)
        self._blocks: OrderedDict[int, Block] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, number: int) -> Block | None:
        block = self._blocks.get(number)
        if block is not None:
            self._blocks.move_to_end(number)
        return block

    def put(self, number: int, block: Block) -> None:
        size = block.nbytes
        if size > self.limit:
            return
        while self._blocks and self.nbytes + size > self.limit:
            _, dropped = self._blocks.popitem(last=False)
            self.nbytes -= dropped.nbytes
        self._blocks[number] = block
        self.nbytes += size
        self.peak = max(self.peak, self.nbytes)

    def clear(self) -> None:
        self._blocks.clear()
        self.nbytes = 0


class BlockReader:
    """Rows of one split by their index in the ``images`` dataset.

    Args:
        source: the split (``describe``).
        cache_bytes: the per-process cache limit.
        scattered: rows will be asked for in an order that rarely returns to a block
            before the cache drops it (a full shuffle of a split larger than the cache): read
            each row's own bytes (``imgprep.data.direct``) instead of its whole block, where
            the file allows; blocks otherwise.
    """

    def __init__(self, source: SplitSource, cache_bytes: int, *, scattered: bool = False) -> None:
        self.source = source
        self.cache = BlockCache(cache_bytes)
        self.scattered = scattered
        self.reads = 0  # h5py block reads in this process
        self.direct_reads = 0  # image rows read at their offsets (or through h5py), here
        self._direct: tuple[DirectRows | None, DirectRows | None] = (None, None)
        self.closed = False
        self._handle: Any = None
        self._pid: int | None = None
        self._datasets: tuple[Any, Any, Any] | None = None

    def row(self, index: int) -> tuple[np.ndarray, Any, Any]:
        """Image, label (None without labels) and path bytes (None without paths) of row
        ``index`` (0 <= index < source.rows, checked by the caller)."""
        if self.scattered:
            images, labels, paths = self.rows(np.array([index], dtype=np.int64))
            return (
                images[0],
                labels[0] if labels is not None else None,
                paths[0] if paths is not None else None,
            )
        number, offset = divmod(index, self.source.chunk_rows)
        block = self._block(number)
        label = block.labels[offset] if block.labels is not None else None
        path = block.paths[offset] if block.paths is not None else None
        return block.images[offset], label, path

    def rows(self, indices: np.ndarray) -> tuple[np.ndarray, Any, Any]:
        """Rows ``indices`` (int64, each in range) stacked: images N x row shape, labels
        (None without), path bytes (None without); the same values as ``row`` one by one,
        with one copy per block touched instead of one Python step per row."""
        if self.scattered:
            self._open()
            if self._direct[0] is not None:
                return self._scattered_rows(indices)
        numbers = indices // self.source.chunk_rows
        wanted = np.unique(numbers)
        first = self._block(int(wanted[0]))
        images = np.empty((len(indices), *first.images.shape[1:]), first.images.dtype)
        labels = np.empty(len(indices), first.labels.dtype) if first.labels is not None else None
        paths = np.empty(len(indices), first.paths.dtype) if first.paths is not None else None
        by_block = np.argsort(numbers, kind="stable")
        groups = np.split(by_block, np.flatnonzero(np.diff(numbers[by_block])) + 1)
        for number, where in zip(wanted, groups, strict=True):  # one block at a time
            block = first if number == wanted[0] else self._block(int(number))
            offsets = indices[where] - block.start
            images[where] = block.images[offsets]
            if labels is not None:
                labels[where] = block.labels[offsets]
            if paths is not None:
                paths[where] = block.paths[offsets]
        return images, labels, paths

    def _scattered_rows(self, indices: np.ndarray) -> tuple[np.ndarray, Any, Any]:
        """``rows`` from each row's own bytes; rows without storage, labels that cannot be
        read directly, and paths (variable-length strings) through h5py, one by one."""
        images_ds, labels_ds, paths_ds = self._datasets  # type: ignore[misc]
        direct_images, direct_labels = self._direct
        images = self._direct_column(direct_images, images_ds, indices)  # type: ignore[arg-type]
        self.direct_reads += len(indices)
        labels = None
        if labels_ds is not None:
            if direct_labels is not None:
                labels = self._direct_column(direct_labels, labels_ds, indices)
            else:
                labels = np.array([labels_ds[int(r)] for r in indices], dtype=labels_ds.dtype)
        paths = None
        if paths_ds is not None:
            paths = np.array([paths_ds[int(r)] for r in indices], dtype=object)
        return images, labels, paths

    def _direct_column(self, direct: DirectRows, dataset: Any, indices: np.ndarray) -> np.ndarray:
        values, missing = direct.read(indices)
        for k in np.flatnonzero(missing):  # chunks never written: HDF5's fill value
            values[k] = dataset[int(indices[k])]
        return values

    def _block(self, number: int) -> Block:
        """Block ``number``, from the cache or read (and cached)."""
        block = self.cache.get(number)
        if block is None:
            block = self._read(number)
            self.cache.put(number, block)
        return block

    def _read(self, number: int) -> Block:
        images, labels, paths = self._open()
        start = number * self.source.chunk_rows
        stop = min(start + self.source.chunk_rows, self.source.rows)
        self.reads += 1
        return Block(
            start,
            images[start:stop],
            labels[start:stop] if labels is not None else None,
            paths[start:stop] if paths is not None else None,
        )

    def _open(self) -> tuple[Any, Any, Any]:
        """The datasets of this process's own handle, opened on first use (and again in a
        process forked after the parent opened its own)."""
        if self.closed:
            raise InputError(f"{self.source.path}: this dataset was closed; make a new one")
        pid = os.getpid()
        if self._datasets is None or self._pid != pid:
            if self._pid != pid:  # inherited through fork: never touch the parent's handle
                self._handle, self._datasets = None, None
                self.cache = BlockCache(self.cache.limit)
                self._direct = (None, None)
            self._handle = open_checked(self.source.path)
            name = self.source.name
            self._datasets = (
                self._handle[name("images")],
                self._handle[name("labels")] if self.source.has_labels else None,
                self._handle[name("paths")] if self.source.has_paths else None,
            )
            if self.scattered:
                images, labels, _ = self._datasets
                direct_images = DirectRows.of(images, self.source.path)
                direct_labels = (
                    DirectRows.of(labels, self.source.path) if labels is not None else None
                )
                self._direct = (direct_images, direct_labels)
            self._pid = pid
        return self._datasets

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open handle."""
        return self._handle is not None and self._pid == os.getpid()

    def close(self) -> None:
        """Close this process's handle and drop the cache; reading afterwards is refused."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
            for direct in self._direct:
                if direct is not None:
                    direct.close()
        self._handle, self._datasets, self._direct = None, None, (None, None)
        self.cache.clear()
        self.closed = True

    def __getstate__(self) -> dict[str, Any]:
        """What a spawned worker receives: the description, no handle, an empty cache."""
        return {
            "source": self.source,
            "limit": self.cache.limit,
            "closed": self.closed,
            "scattered": self.scattered,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"], state["limit"], scattered=state["scattered"])  # type: ignore[misc]
        self.closed = state["closed"]
