"""The compact file list (imgprep.io.items): items, labels, runs for workers, subsets."""

from __future__ import annotations

import os

import pytest

from imgprep.io.items import Discovery, ImageItem, ItemList, iter_segments


def sample_list() -> ItemList:
    items = ItemList()
    items.extend("data", ["cat/1.png", "cat/2.png"], 0)
    items.extend("data", ["dog/3.png"], 1)
    items.extend("", ["x.png", "/abs/y.png"], None)
    items.extend("s3://bucket/root", ["é.png"], None)
    return items


def test_items_join_their_root_and_keep_their_label():
    items = sample_list()
    assert len(items) == 6
    assert items[0] == ImageItem(path=os.path.join("data", "cat/1.png"), rel="cat/1.png", label=0)
    assert items[2].label == 1
    assert items[3] == ImageItem(path="x.png", rel="x.png", label=None)
    assert items[-1] == ImageItem(path="s3://bucket/root/é.png", rel="é.png", label=None)
    assert [item.rel for item in items[1:3]] == ["cat/2.png", "dog/3.png"]
    with pytest.raises(IndexError):
        items[6]
    assert items.labels() == [0, 0, 1, None, None, None]
    assert items.labelled_count() == 3
    assert items.rels_between(2, 4) == ["dog/3.png", "x.png"]
    assert items.labels_between(2, 4) == [1, None]
    assert items.longest_rel_bytes() == 10  # "/abs/y.png"; "é.png" is 6 bytes in UTF-8
    assert ItemList().longest_rel_bytes() == 1


def test_segments_are_runs_of_one_root_that_workers_join_to_the_same_paths():
    items = sample_list()
    runs = items.segments(1, 6)
    assert runs == [
        ("data", ("cat/2.png", "dog/3.png")),
        ("", ("x.png", "/abs/y.png")),
        ("s3://bucket/root", ("é.png",)),
    ]
    assert list(iter_segments(runs)) == [(items.path(i), items.rel(i)) for i in range(1, 6)]


def test_take_keeps_the_chosen_items_in_the_order_asked():
    items = sample_list()
    subset = items.take([4, 0, 2])
    assert [item.rel for item in subset] == ["/abs/y.png", "cat/1.png", "dog/3.png"]
    assert subset.labels() == [None, 0, 1]
    assert subset.path(1) == items.path(0)
    assert items.segments(0, 1) == [("data", ("cat/1.png",))]  # the original is unchanged


def test_discovery_is_labelled_only_when_every_item_has_a_label():
    labelled = ItemList()
    labelled.extend("d", ["a/1.png"], 0)
    assert Discovery(items=labelled, classes=["a"]).labelled
    assert not Discovery(items=sample_list()).labelled
    assert not Discovery(items=ItemList()).labelled


def test_absolute_segments_keep_stored_paths_and_open_the_same_files(tmp_path, monkeypatch):
    from imgprep.io.items import absolute_segments, iter_segments

    monkeypatch.chdir(tmp_path)
    segments = [
        ("data", ("a/1.png", "b/2.png")),
        ("", ("x.png", "/abs/y.png", "z.png", "s3://bucket/w.png")),
        ("s3://bucket/root", ("c/3.png",)),
    ]
    located = absolute_segments(segments)
    assert [rel for _, rel in iter_segments(located)] == [rel for _, rel in iter_segments(segments)]
    assert [path for path, _ in iter_segments(located)] == [
        f"{tmp_path}/data/a/1.png",
        f"{tmp_path}/data/b/2.png",
        f"{tmp_path}/x.png",
        "/abs/y.png",
        f"{tmp_path}/z.png",
        "s3://bucket/w.png",
        "s3://bucket/root/c/3.png",
    ]
