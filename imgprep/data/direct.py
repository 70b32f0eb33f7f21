"""Rows of an uncompressed HDF5 dataset read straight from the file at their byte offsets.

A full shuffle of a split larger than the cache touches a different chunk for nearly every
row: the block reader then copies a whole chunk (1,024 digits, 800 KB) to serve one row,
and h5py's own one-row read costs about 80 us of selection bookkeeping. When the dataset
has no filters (``transform`` writes images uncompressed unless ``--compression`` is
given), stores whole rows in each chunk and uses the machine's byte order, a row is
``row_bytes`` at an offset HDF5 itself reports (``H5Dget_chunk_info`` per chunk,
``H5Dget_offset`` for a contiguous dataset): one ``pread`` per row. Every offset is checked
against the file's size when the reader is made, and a short read is refused, so a
truncated or hostile file gives one line, not wrong pixels. Rows whose chunk HDF5 never
allocated (fill values), and datasets that do not qualify (compressed, virtual as the Dask
engine's joined file, another byte order), are read through h5py by the caller.
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from imgprep.errors import InputError

UNALLOCATED = -1


class DirectRows:
    """Byte offsets of every row of one dataset, and ``pread`` of chosen rows.

    Args:
        path: the HDF5 file (opened here for reading, in the process that reads).
        starts: the file offset of each chunk (``UNALLOCATED`` where HDF5 has no storage);
            one value for a contiguous dataset. Rows' offsets are computed from them, so the
            reader holds 8 bytes per chunk, not per row.
        per_chunk: rows per chunk (all rows when contiguous).
        shape, dtype: one row's shape and dtype.
    """

    def __init__(
        self, path: str, starts: np.ndarray, per_chunk: int, shape: tuple[int, ...], dtype: Any
    ) -> None:
        self.path = path
        self.starts = starts
        self.per_chunk = per_chunk
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = None
        self._pid: int | None = None

    @classmethod
    def of(cls, dataset: h5py.Dataset, path: str) -> DirectRows | None:
        """The direct reader of ``dataset`` (rows along axis 0), or None when its bytes are
        not plain rows in the file (filters, virtual or compact layout, chunks that split a
        row, a non-native or non-numeric type)."""
        dtype = dataset.dtype
        if dtype.kind not in "biuf" or not dtype.isnative or dataset.shape[0] == 0:
            return None
        plist = dataset.id.get_create_plist()
        if plist.get_nfilters() != 0:
            return None
        rows, shape = int(dataset.shape[0]), tuple(int(n) for n in dataset.shape[1:])
        row_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        layout = plist.get_layout()
        if layout == h5py.h5d.CONTIGUOUS:
            base = dataset.id.get_offset()
            if base is None:
                return None
            starts, per_chunk = np.array([base], dtype=np.int64), rows
        elif layout == h5py.h5d.CHUNKED and tuple(dataset.chunks[1:]) == shape:
            per_chunk = int(dataset.chunks[0])
            starts = _chunk_starts(dataset, -(-rows // per_chunk), per_chunk)
        else:
            return None
        allocated = starts[starts != UNALLOCATED]
        size = os.path.getsize(path)
        if len(allocated) and (
            allocated.min() < 0 or allocated.max() + per_chunk * row_bytes > size
        ):
            raise InputError(f"{path}: its storage points outside the file (truncated?)")
        return cls(path, starts, per_chunk, shape, dtype)

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``rows`` (in range) as an array, and a mask of the rows that have no storage
        (left as zeros, for the caller to read through h5py)."""
        out = np.zeros((len(rows), *self.shape), self.dtype)
        chunks, within = np.divmod(rows, self.per_chunk)
        offsets = self.starts[chunks] + within * self.row_bytes
        missing = self.starts[chunks] == UNALLOCATED
        fd = self._open()
        flat = out.reshape(len(rows), -1).view(np.uint8)
        for k in np.argsort(offsets, kind="stable"):  # ascending: the file read forwards
            if missing[k]:
                continue
            got = os.preadv(fd, [flat[k]], int(offsets[k]))
            if got != self.row_bytes:
                raise InputError(f"{self.path}: a row ends past the end of the file (truncated?)")
        return out, missing

    def _open(self) -> int:
        """This process's descriptor (one inherited through fork is not shared: reopened)."""
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), pid
        return self._fd

    def close(self) -> None:
        """Close this process's descriptor."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (spawned workers): the offsets, no descriptor."""
        keys = ("path", "starts", "per_chunk", "shape", "dtype")
        return {key: getattr(self, key) for key in keys}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


def _chunk_starts(dataset: h5py.Dataset, chunks: int, per_chunk: int) -> np.ndarray:
    """Each chunk's file offset (``UNALLOCATED`` for chunks HDF5 did not allocate)."""
    starts = np.full(chunks, UNALLOCATED, dtype=np.int64)
    for index in range(dataset.id.get_num_chunks()):
        info = dataset.id.get_chunk_info(index)
        if info.byte_offset is not None and info.filter_mask == 0:
            starts[info.chunk_offset[0] // per_chunk] = info.byte_offset
    return starts
