"""Epoch orders: permutations keyed by (seed, epoch), block shuffling, rank parts."""

from __future__ import annotations

import numpy as np
import pytest

from imgprep.data import H5Images
from imgprep.data.order import EpochOrder
from imgprep.errors import InputError


def test_shuffle_is_philox_keyed_by_seed_and_epoch():
    order = EpochOrder(1000, seed=42, shuffle=True)
    for epoch in (0, 1, 7):
        expected = np.random.Generator(
            np.random.Philox(key=np.array([42, epoch], np.uint64))
        ).permutation(1000)
        np.testing.assert_array_equal(order.full(epoch), expected)
    assert sorted(order.full(3)) == list(range(1000))
    assert not np.array_equal(order.full(0), order.full(1))
    assert not np.array_equal(order.full(0), EpochOrder(1000, seed=43, shuffle=True).full(0))
    np.testing.assert_array_equal(order.full(5), EpochOrder(1000, 42, shuffle=True).full(5))


def test_no_shuffle_is_the_file_order():
    np.testing.assert_array_equal(EpochOrder(10, seed=1).full(3), np.arange(10))


@pytest.mark.parametrize(("rows", "block", "buffer"), [(1000, 64, None), (1003, 10, 35)])
def test_block_shuffle_moves_whole_blocks_within_windows(rows, block, buffer):
    order = EpochOrder(rows, seed=9, block_shuffle=block, shuffle_buffer=buffer)
    sequence = order.full(2)
    assert sorted(sequence) == list(range(rows))
    window = (8 if buffer is None else -(-buffer // block)) * block
    position = np.argsort(sequence)  # where each row is read
    spans = [np.ptp(position[b : b + block]) for b in range(0, rows, block)]
    assert max(spans) < window  # a block's rows stay within one window of each other
    assert max(spans) > block  # and are spread over it, not read in a run
    assert not np.array_equal(sequence, order.full(3))
    assert not np.array_equal(sequence[:window], np.sort(sequence[:window]))


@pytest.mark.parametrize(("rows", "world"), [(1000, 4), (1003, 4), (10, 3), (7, 7)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_rank_parts_are_disjoint_equal_and_cover_all_but_the_remainder(rows, world, shuffle):
    parts = [
        EpochOrder(rows, seed=3, shuffle=shuffle, rank=r, world_size=world).part(4)
        for r in range(world)
    ]
    assert {len(p) for p in parts} == {rows // world}
    joined = np.concatenate(parts)
    assert len(set(joined.tolist())) == len(joined) == rows - rows % world
    full = EpochOrder(rows, seed=3, shuffle=shuffle).full(4)
    np.testing.assert_array_equal(joined, full[: len(joined)])  # the dropped rows: the last
    if not shuffle:
        assert set(range(rows)) - set(joined.tolist()) == set(range(len(joined), rows))


def test_bad_order_options_are_one_line():
    cases = [
        (dict(rank=2, world_size=2), "rank must be in [0, 2), got 2"),
        (dict(world_size=0), "world_size must be at least 1, got 0"),
        (dict(shuffle=True, block_shuffle=4), "shuffle and block_shuffle exclude each other; "
         "choose one"),
        (dict(block_shuffle=0), "block_shuffle must be at least 1, got 0"),
        (dict(shuffle_buffer=8), "shuffle_buffer needs block_shuffle"),
        (dict(world_size=20), "10 rows cannot be split into 20 non-empty parts"),
    ]  # fmt: skip
    for options, message in cases:
        with pytest.raises(InputError) as caught:
            EpochOrder(10, seed=0, **options)
        assert str(caught.value) == message


def test_the_dataset_reads_its_epoch_order(plain):
    import h5py

    with h5py.File(plain, "r") as f:
        stored = f["images"][:]
    ds = H5Images(plain, shuffle=True, seed=11)
    orders = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        rows = ds.rows_of_epoch()
        np.testing.assert_array_equal(rows, EpochOrder(14, 11, shuffle=True).full(epoch))
        for i in range(len(ds)):
            np.testing.assert_array_equal(ds[i][0], stored[rows[i]])
        orders.append(rows.tolist())
    assert orders[0] != orders[1] != orders[2]
    again = H5Images(plain, shuffle=True, seed=11, epoch=1)
    assert again.rows_of_epoch().tolist() == orders[1]
    ranks = [H5Images(plain, shuffle=True, seed=11, rank=r, world_size=4) for r in range(4)]
    joined = [row for r in ranks for row in r.rows_of_epoch().tolist()]
    assert len(joined) == len(set(joined)) == 12 and len(ranks[0]) == 3
    assert joined == orders[0][:12]
