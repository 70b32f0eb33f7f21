"""The free space an HDF5 write needs: stop a run while HDF5 can still close its file.

After a failed write HDF5 can neither flush nor close the file (``Hdf5Writer._abandon``), so
each write is checked first: its bytes plus a reserve for what HDF5 still writes at close
must be free. The reserve is sized to the output, so that a 10 KB file fits on a nearly full
small disk: metadata (``METADATA_RESERVE``, plus 1/64 of the file for large ones), and each
chunked dataset's cached chunk (h5py's cache holds at most ``CHUNK_CACHE_BYTES`` per
dataset); never more than ``SPACE_RESERVE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

METADATA_RESERVE = 1 << 20
CHUNK_CACHE_BYTES = 1 << 20
SPACE_RESERVE = 16 << 20


def has_room(path: str, nbytes: int, reserve: Callable[[], int]) -> bool:
    """Whether the disk holding ``path`` takes ``nbytes`` more and still ``reserve()`` (only
    sized when the space is short); True when the free space cannot be told."""
    try:
        info = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return True
    free = info.f_bavail * info.f_frsize
    if free >= nbytes + SPACE_RESERVE:  # the common case: no need to size the reserve
        return True
    return free >= nbytes + reserve()


def close_reserve(handle: Any, path: str) -> int:
    """What HDF5 may still write when the open file ``handle`` (written at ``path``) closes."""
    import h5py

    cached = [0]

    def visit(name: str, node: Any) -> None:
        if isinstance(node, h5py.Dataset) and node.chunks:
            chunk = int(np.prod(node.chunks)) * node.dtype.itemsize
            cached[0] += min(CHUNK_CACHE_BYTES, chunk)

    handle.visititems(visit)
    try:
        written = os.path.getsize(path)
    except OSError:
        written = 0
    return min(SPACE_RESERVE, METADATA_RESERVE + written // 64 + cached[0])
