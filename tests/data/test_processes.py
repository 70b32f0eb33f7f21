"""The file is opened by the process that reads: after fork (the parent's handle already
open) and after spawn (the dataset pickled), a child reads the same rows with its own
handle, and the parent's handle keeps working."""

from __future__ import annotations

import multiprocessing
import os

import h5py
import numpy as np
import pytest

from imgprep.data import H5Images


def read_in_child(ds: H5Images, indices: list[int]) -> tuple[int, bool, int, list[np.ndarray]]:
    """In the child: its pid, whether it had a handle before reading, the pid its reader
    recorded, and the rows."""
    had_handle = ds.is_open
    rows = [ds[i][0] for i in indices]
    return os.getpid(), had_handle, ds._reader._pid, rows


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_children_open_their_own_handle(plain, method):
    with h5py.File(plain, "r") as f:
        expected = f["images"][:]
    ds = H5Images(plain, shuffle=True, seed=4)
    ds[0]  # the parent opens (and caches) first
    assert ds.is_open and ds._reader._pid == os.getpid()
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        results = pool.starmap(read_in_child, [(ds, [0, 5, 13]), (ds, [1, 2, 3])])
    order = ds.rows_of_epoch()
    for (pid, had_handle, recorded, rows), indices in zip(
        results, [[0, 5, 13], [1, 2, 3]], strict=True
    ):
        assert pid != os.getpid() and recorded == pid
        assert not had_handle
        np.testing.assert_array_equal(np.stack(rows), expected[order[indices]])
    np.testing.assert_array_equal(ds[13][0], expected[order[13]])  # the parent still reads
    assert ds._reader._pid == os.getpid()


def test_a_pickled_dataset_carries_no_handle_and_no_cache(plain):
    import pickle

    ds = H5Images(plain, epoch=2, shuffle=True, seed=8)
    ds[0]
    copy = pickle.loads(pickle.dumps(ds))
    assert not copy.is_open and copy.cache.nbytes == 0 and copy.epoch == 2
    np.testing.assert_array_equal(copy[3][0], ds[3][0])
