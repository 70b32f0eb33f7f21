"""``H5Images.batch`` / ``__getitems__`` (what a DataLoader worker calls for a batch) and
the adapters' framework-free ``collate``: the same values as ``ds[i]`` item by item, for
every option, across chunk borders, within the cache's bound, with one-line refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import imgprep
from imgprep.data import H5Images, RowBatch, RowIndexError
from imgprep.data.torch_adapter import collate
from imgprep.errors import InputError
from tests.data.conftest import rechunk, transform

TABLE = {"rotation_range": 15, "horizontal_flip": True, "zoom_range": [0.9, 1.1]}
ORDER = [13, 0, 5, 2, 2, 9, 12, 1, 7, -1]  # crosses blocks, repeats, a negative index


def assert_batch_is_items(ds: H5Images, indices: list[int]) -> RowBatch:
    batch = ds.batch(indices)
    items = [ds[i] for i in indices]
    assert len(batch) == len(indices)
    np.testing.assert_array_equal(batch.images, np.stack([item[0] for item in items]))
    assert batch.images.dtype == items[0][0].dtype
    for k, item in enumerate(items):  # as a sequence: the item tuples themselves
        assert len(batch[k]) == len(item)
        for got, want in zip(batch[k], item, strict=True):
            np.testing.assert_array_equal(got, want)
    return batch


@pytest.mark.parametrize("chunk", [1, 3, 14])
def test_a_batch_is_its_items_across_chunk_borders(plain, tmp_path, chunk):
    target = rechunk(plain, tmp_path / f"chunk{chunk}.h5", chunk)
    ds = H5Images(target, with_paths=True)
    batch = assert_batch_is_items(ds, ORDER)
    assert batch.paths[0] == ds[13][2] and batch.labels.dtype == np.int64
    assert ds._reader.reads == len({i % 14 // chunk for i in ORDER})  # each block once


def test_shuffled_augmented_and_normalized_batches_are_the_items(plain, folder, tmp_path):
    offline = tmp_path / "float.h5"
    transform(str(folder[0]), "-o", str(offline), "--rescale", "1/255", "--center", "samplewise")
    pipeline = imgprep.pipeline_from_hdf5(str(offline))
    target = rechunk(plain, tmp_path / "chunk3.h5", 3)
    for options in (
        {"shuffle": True},
        {"block_shuffle": 2},
        {"augment": TABLE, "shuffle": True},
        {"augment": TABLE, "normalize": pipeline, "rank": 1, "world_size": 2},
    ):
        ds = H5Images(target, seed=4, epoch=2, **options)
        indices = [i for i in ORDER if -len(ds) <= i < len(ds)]
        batch = assert_batch_is_items(ds, indices)
        ds.set_epoch(3)
        assert not np.array_equal(ds.batch(indices).images, batch.images), options
        if "normalize" in options:
            assert batch.images.dtype == np.float32 and batch.images.shape[1:] == (12, 10, 3)
    plain_ds = H5Images(target, seed=4)
    assert plain_ds.__getitems__([4, 1]).labels.tolist() == [plain_ds[4][1], plain_ds[1][1]]


def test_with_paths_on_a_file_without_paths_gives_none(plain, tmp_path):
    target = rechunk(plain, tmp_path / "nopaths.h5", 3)
    with h5py.File(target, "a") as f:
        del f["paths"]
    ds = H5Images(target, with_paths=True)
    batch = assert_batch_is_items(ds, [5, 0])
    assert batch.paths == [None, None] and ds[5][2] is None


def test_batches_never_hold_more_than_the_cache(plain, tmp_path):
    target = rechunk(plain, tmp_path / "chunk2.h5", 2)
    block = 2 * (360 + 8 + 11)
    ds = H5Images(target, cache_bytes=3 * block, shuffle=True, seed=5)
    for start in range(0, 14, 6):
        assert_batch_is_items(ds, list(range(start, min(start + 6, 14))))
        assert ds.cache.nbytes <= 3 * block and ds.cache.peak <= 3 * block


def test_batch_refusals_are_one_line(plain):
    ds = H5Images(plain)
    with pytest.raises(RowIndexError) as caught:
        ds.batch([0, 14])
    assert str(caught.value) == f"{plain}: index 14 is out of range for 14 rows"
    for bad in ([], [0.5], [[0, 1]]):
        with pytest.raises(InputError) as refused:
            ds.batch(bad)
        assert str(refused.value) == f"{plain}: a batch needs a non-empty list of integer indices"


def test_collate_gives_channels_first_float_arrays_from_batches_and_item_lists(plain, tmp_path):
    target = rechunk(plain, tmp_path / "chunk3.h5", 3)
    ds = H5Images(target, with_paths=True, shuffle=True, seed=1)
    from_batch = collate(ds.__getitems__([3, 8, 0]))
    from_items = collate([ds[3], ds[8], ds[0]])
    images, labels, paths = from_batch
    assert images.dtype == np.float32 and images.shape == (3, 3, 12, 10)
    assert images.flags.c_contiguous
    np.testing.assert_array_equal(
        images, np.stack([ds[i][0] for i in (3, 8, 0)]).transpose(0, 3, 1, 2)
    )
    assert labels.dtype == np.int64 and paths == [ds[i][2] for i in (3, 8, 0)]
    for got, want in zip(from_items, from_batch, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_indices_carrying_their_epoch_move_the_dataset_to_it(plain):
    """What a persistent DataLoader worker receives: ``EpochIndex`` values (pickled)."""
    import pickle

    from imgprep.data.h5images import EpochIndex

    index = pickle.loads(pickle.dumps(EpochIndex(3, 2)))
    assert index == 3 and index.epoch == 2 and isinstance(index, EpochIndex)
    ds = H5Images(plain, augment=TABLE, shuffle=True, seed=8)
    at_two = H5Images(plain, augment=TABLE, shuffle=True, seed=8, epoch=2)
    np.testing.assert_array_equal(ds[index][0], at_two[3][0])
    assert ds.epoch == 2
    batch = ds.batch([EpochIndex(i, 5) for i in (0, 4)])
    at_two.set_epoch(5)
    np.testing.assert_array_equal(batch.images, at_two.batch([0, 4]).images)
    assert ds.epoch == 5
