"""H5Images over real ``imgprep transform`` outputs: indexing, blocks, splits, the cache's
bound and the one-line refusals (exact messages)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.data import H5Images, RowIndexError
from imgprep.errors import InputError
from tests.data.conftest import rechunk, transform


def test_items_are_the_decoded_pixels_and_labels_in_file_order(plain, folder):
    _, arrays = folder
    ds = H5Images(plain, with_paths=True)
    assert len(ds) == 14
    names = sorted(arrays)  # transform writes class by class, files sorted
    for i, name in enumerate(names):
        image, label, path = ds[i]
        assert path == name
        assert label == (0 if name.startswith("cat/") else 1)
        assert image.dtype == np.uint8 and image.shape == (12, 10, 3)
        np.testing.assert_array_equal(image, arrays[name])
    np.testing.assert_array_equal(ds[-1][0], arrays[names[-1]])
    assert len(list(ds)) == 14  # iteration stops at the end (RowIndexError is an IndexError)


def test_out_of_range_is_one_line(plain):
    ds = H5Images(plain)
    with pytest.raises(RowIndexError) as caught:
        ds[14]
    assert str(caught.value) == f"{plain}: index 14 is out of range for 14 rows"
    assert isinstance(caught.value, InputError)
    with pytest.raises(RowIndexError):
        ds[-15]


def test_no_label_when_the_file_has_none(plain, tmp_path):
    target = tmp_path / "nolabels.h5"
    rechunk(plain, target, 4)
    with h5py.File(target, "a") as f:
        del f["labels"]
    item = H5Images(target)[3]
    assert len(item) == 1 and item[0].shape == (12, 10, 3)


@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_blocks_across_chunk_borders(plain, tmp_path, chunk):
    target = rechunk(plain, tmp_path / f"chunk{chunk}.h5", chunk)
    with h5py.File(plain, "r") as f:
        expected, labels = f["images"][:], f["labels"][:]
    ds = H5Images(target)
    assert ds.source.chunk_rows == chunk
    for i in [13, 0, 2, 3, 4, 5, 6, 12, 1, 7, 8, 9, 10, 11]:
        image, label = ds[i]
        np.testing.assert_array_equal(image, expected[i])
        assert label == labels[i]
    assert ds._reader.reads == -(-14 // chunk)  # each block read once (the cache holds all)


def test_a_block_is_a_divisor_of_a_chunk_larger_than_the_cache(plain, tmp_path):
    target = rechunk(plain, tmp_path / "big.h5", 12)  # 12 rows of 360 bytes per chunk
    ds = H5Images(target, cache_bytes=5 * 360 + 100)  # labels and paths count too
    assert ds.source.chunk_rows == 4
    with h5py.File(plain, "r") as f:
        np.testing.assert_array_equal(np.stack([ds[i][0] for i in range(14)]), f["images"][:])


def test_the_cache_never_holds_more_than_its_limit(plain, tmp_path):
    target = rechunk(plain, tmp_path / "chunk2.h5", 2)
    block = 2 * (360 + 8 + 11)  # images, int64 labels, 11-byte paths ("cat/000.png")
    ds = H5Images(target, cache_bytes=3 * block)  # no shuffle: blocks, not direct reads
    for epoch in range(3):
        for i in np.random.default_rng(epoch).permutation(len(ds)):
            ds[int(i)]
            assert ds.cache.nbytes <= 3 * block
            assert len(ds.cache) <= 3
    assert ds.cache.peak == 3 * block
    assert ds._reader.reads > 7  # blocks were dropped and read again
    uncached = H5Images(target, cache_bytes=0)
    uncached[0], uncached[1]
    assert uncached.cache.nbytes == 0 and uncached._reader.reads == 2


@pytest.fixture
def splits(folder, tmp_path) -> Path:
    out = tmp_path / "splits.h5"
    transform(str(folder[0]), "-o", str(out), "--split", "train=0.5,val=0.5", "--seed", "3")
    return out


def test_splits_read_their_own_group(splits):
    with h5py.File(splits, "r") as f:
        train, val = f["train/images"][:], f["val/images"][:]
    ds_train, ds_val = H5Images(splits, "train"), H5Images(splits, "val")
    assert (len(ds_train), len(ds_val)) == (len(train), len(val)) == (8, 6)
    assert (ds_train.source.ordinal, ds_val.source.ordinal) == (0, 1)
    np.testing.assert_array_equal(np.stack([ds_val[i][0] for i in range(6)]), val)
    np.testing.assert_array_equal(ds_train[7][0], train[7])


def test_a_missing_split_names_those_there_are(splits, plain):
    with pytest.raises(InputError) as caught:
        H5Images(splits, "test")
    assert str(caught.value) == f"{splits}: no split 'test'; it has: train, val"
    with pytest.raises(InputError) as caught:
        H5Images(splits)
    assert str(caught.value) == f"{splits}: holds the splits train, val; name one (split=...)"
    with pytest.raises(InputError) as caught:
        H5Images(plain, "train")
    assert str(caught.value) == f"{plain}: no split 'train'; its datasets are at the root"


def test_a_closed_dataset_refuses_to_read(plain):
    ds = H5Images(plain)
    ds[0]
    assert ds.is_open
    ds.close()
    assert not ds.is_open
    with pytest.raises(InputError) as caught:
        ds[0]
    assert str(caught.value) == f"{plain}: this dataset was closed; make a new one"


def test_del_closes_the_handle(plain):
    ds = H5Images(plain)
    ds[0]
    handle = ds._reader._handle
    del ds
    assert not handle.id.valid


def test_the_file_opens_on_first_read_only(plain):
    ds = H5Images(plain)
    assert not ds.is_open
    ds[2]
    assert ds.is_open


def test_a_missing_file(tmp_path):
    path = tmp_path / "none.h5"
    with pytest.raises(InputError) as caught:
        H5Images(path)
    assert str(caught.value) == f"{path}: cannot open (No such file or directory)"


def test_files_that_are_not_imgprep_hdf5(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["images"] = np.zeros((2, 4, 4, 1), np.uint8)
    with pytest.raises(InputError) as caught:
        H5Images(other)
    assert str(caught.value) == (
        f"{other}: not an imgprep HDF5 file (no 'format' attribute 'imgprep-dataset'); "
        "write one with imgprep transform"
    )
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError) as caught:
        H5Images(text)
    assert str(caught.value) == f"{text}: not an imgprep HDF5 file (it cannot be opened as HDF5)"
    assert "\n" not in str(caught.value)


def test_block_shuffle_within_the_cache_reads_each_chunk_once_per_epoch(plain, tmp_path):
    target = rechunk(plain, tmp_path / "chunk2.h5", 2)
    block = 2 * (360 + 8 + 11)
    ds = H5Images(target, cache_bytes=3 * block, block_shuffle=2, seed=1)
    assert ds.order.shuffle_buffer == 6  # the 3 blocks the cache holds
    full = H5Images(target, cache_bytes=3 * block, shuffle=True, seed=1)
    for epoch in range(3):
        ds.set_epoch(epoch)
        full.set_epoch(epoch)
        before = ds._reader.reads
        for i in range(14):
            ds[i], full[i]
        # 7 chunks of 2 rows, each read at most once (the last window's stay cached)
        assert ds._reader.reads - before == 7 if epoch == 0 else ds._reader.reads - before <= 7
        # a full shuffle of a split larger than the cache reads each row's own bytes
        assert full._reader.reads == 0 and full._reader.direct_reads == 14 * (epoch + 1)
