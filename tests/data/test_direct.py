"""Rows read at their byte offsets (``imgprep.data.direct``): equal to h5py's reading for
every layout that qualifies, None for those that do not, HDF5's fill value where a chunk
was never written, one line for storage outside the file; and ``H5Images`` using them for
a full shuffle of a split larger than its cache, with the same items."""

from __future__ import annotations

import os
import pickle

import h5py
import numpy as np
import pytest

from imgprep.data import H5Images
from imgprep.data.direct import DirectRows
from imgprep.errors import InputError
from tests.data.conftest import rechunk

ROWS = np.arange(11)[::-1].copy()


def make(path, data, **options) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data, **options)


@pytest.mark.parametrize(
    ("dtype", "options"),
    [
        ("uint8", {"chunks": (3, 4, 5, 3)}),  # the last chunk holds 2 of its 3 rows
        ("uint16", {"chunks": (4, 4, 5, 3)}),
        ("float32", {}),  # contiguous
        ("uint8", {"chunks": (11, 4, 5, 3)}),
    ],
)
def test_rows_equal_h5py_reads(tmp_path, dtype, options):
    data = np.random.default_rng(1).integers(0, 60000, (11, 4, 5, 3)).astype(dtype)
    make(tmp_path / "a.h5", data, **options)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        direct = DirectRows.of(f["x"], str(tmp_path / "a.h5"))
    assert direct is not None
    rows, missing = direct.read(ROWS)
    assert rows.dtype == data.dtype and not missing.any()
    np.testing.assert_array_equal(rows, data[ROWS])
    again = pickle.loads(pickle.dumps(direct))  # a spawned worker: offsets, no descriptor
    np.testing.assert_array_equal(again.read(np.array([10, 0]))[0], data[[10, 0]])
    direct.close()


def test_labels_are_rows_too(tmp_path):
    labels = np.arange(100, dtype=np.int64) * 7
    make(tmp_path / "l.h5", labels, chunks=(16,))
    with h5py.File(tmp_path / "l.h5", "r") as f:
        direct = DirectRows.of(f["x"], str(tmp_path / "l.h5"))
    np.testing.assert_array_equal(direct.read(np.array([99, 0, 50]))[0], [693, 0, 350])


@pytest.mark.parametrize(
    "options",
    [
        {"chunks": (3, 4, 5, 3), "compression": "gzip"},
        {"chunks": (3, 2, 5, 3)},  # a chunk holds half rows
        {"dtype": ">u2"},  # not this machine's byte order
    ],
)
def test_layouts_that_are_not_plain_rows_are_left_to_h5py(tmp_path, options):
    make(tmp_path / "c.h5", np.ones((11, 4, 5, 3), np.uint16), **options)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert DirectRows.of(f["x"], str(tmp_path / "c.h5")) is None


def test_virtual_datasets_are_left_to_h5py(tmp_path):
    make(tmp_path / "part.h5", np.ones((4, 2), np.uint8))
    layout = h5py.VirtualLayout(shape=(4, 2), dtype=np.uint8)
    layout[:] = h5py.VirtualSource(str(tmp_path / "part.h5"), "x", shape=(4, 2))
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f.create_virtual_dataset("x", layout)
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert DirectRows.of(f["x"], str(tmp_path / "v.h5")) is None


def test_chunks_never_written_are_reported_missing(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        dataset = f.create_dataset("x", shape=(9, 2), dtype=np.uint8, chunks=(3, 2), fillvalue=7)
        dataset[3:6] = 1  # only the second chunk is allocated
    with h5py.File(tmp_path / "f.h5", "r") as f:
        direct = DirectRows.of(f["x"], str(tmp_path / "f.h5"))
        rows, missing = direct.read(np.array([0, 4, 8]))
    assert missing.tolist() == [True, False, True]
    assert rows[1].tolist() == [1, 1]


def test_storage_outside_the_file_is_one_line(tmp_path, monkeypatch):
    make(tmp_path / "t.h5", np.ones((11, 4, 5, 3), np.uint8), chunks=(3, 4, 5, 3))
    size = os.path.getsize(tmp_path / "t.h5")
    monkeypatch.setattr(os.path, "getsize", lambda path: size - 100)  # as if truncated
    with h5py.File(tmp_path / "t.h5", "r") as f, pytest.raises(InputError) as caught:
        DirectRows.of(f["x"], str(tmp_path / "t.h5"))
    assert (
        str(caught.value)
        == f"{tmp_path / 't.h5'}: its storage points outside the file (truncated?)"
    )


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_a_full_shuffle_larger_than_the_cache_reads_rows_not_blocks(plain, tmp_path, compression):
    target = rechunk(plain, tmp_path / "chunk4.h5", 4)
    if compression:
        with h5py.File(target, "a") as f:
            images = f["images"][:]
            del f["images"]
            f.create_dataset("images", data=images, chunks=(4, 12, 10, 3), compression="gzip")
    whole = H5Images(target, shuffle=True, seed=3, with_paths=True)  # fits: blocks
    small = H5Images(target, shuffle=True, seed=3, with_paths=True, cache_bytes=2000)
    assert not whole._reader.scattered and small._reader.scattered
    for epoch in (0, 1):
        whole.set_epoch(epoch)
        small.set_epoch(epoch)
        for i in range(14):
            for got, want in zip(small[i], whole[i], strict=True):
                np.testing.assert_array_equal(got, want)
        batch = small.batch(list(range(14)))
        np.testing.assert_array_equal(batch.images, whole.batch(list(range(14))).images)
        assert batch.paths == whole.batch(list(range(14))).paths
    if compression:
        assert small._reader.direct_reads == 0 and small._reader.reads > 0
    else:
        assert small._reader.reads == 0 and small._reader.direct_reads == 2 * (14 + 14)
        assert small.cache.peak == 0


def test_a_file_truncated_after_the_offsets_were_read_is_one_line(tmp_path):
    make(tmp_path / "s.h5", np.ones((11, 4, 5, 3), np.uint8))  # contiguous, stored last
    with h5py.File(tmp_path / "s.h5", "r") as f:
        direct = DirectRows.of(f["x"], str(tmp_path / "s.h5"))
    os.truncate(tmp_path / "s.h5", os.path.getsize(tmp_path / "s.h5") - 30)
    with pytest.raises(InputError) as caught:
        direct.read(np.array([0, 10]))
    assert (
        str(caught.value)
        == f"{tmp_path / 's.h5'}: a row ends past the end of the file (truncated?)"
    )
    direct.close()


def test_labels_that_cannot_be_read_directly_come_through_h5py(plain, tmp_path):
    target = rechunk(plain, tmp_path / "chunk4.h5", 4)
    with h5py.File(target, "a") as f:
        labels = f["labels"][:]
        del f["labels"]
        f.create_dataset("labels", data=labels, chunks=(4,), compression="gzip")
    small = H5Images(target, shuffle=True, seed=3, cache_bytes=2000)
    whole = H5Images(target, shuffle=True, seed=3)
    batch = small.batch(list(range(14)))
    assert small._reader._direct[1] is None and small._reader.direct_reads == 14
    np.testing.assert_array_equal(batch.labels, whole.batch(list(range(14))).labels)
    np.testing.assert_array_equal(batch.images, whole.batch(list(range(14))).images)
