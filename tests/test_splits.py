"""Split parsing and the seeded, stratified split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgprep.errors import InputError
from imgprep.splits import parse_named_input, parse_split_spec, split_counts, stratified_split

SPEC = [("train", 0.8), ("val", 0.1), ("test", 0.1)]


def test_parse_split_spec():
    assert parse_split_spec("train=0.8,val=0.1,test=0.1") == SPEC
    for bad, message in [
        ("train=0.8", "add up to 1"),
        ("train=0.5,train=0.5", "unique"),
        ("train", "NAME=FRACTION"),
        ("train=x,val=1", "invalid split fraction"),
        ("train=0,val=1", r"\(0, 1\]"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_split_spec(bad)


def test_parse_named_input():
    assert parse_named_input("train=data/a=b") == ("train", "data/a=b")
    with pytest.raises(InputError, match="NAME=PATH"):
        parse_named_input("data/train")


def test_split_is_stratified_and_covers_everything():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    parts = stratified_split(labels, SPEC, seed=1)
    assert sorted(i for ids in parts.values() for i in ids) == list(range(100))
    counts = {
        name: np.bincount([labels[i] for i in ids], minlength=3).tolist()
        for name, ids in parts.items()
    }
    assert counts == {"train": [40, 24, 16], "val": [5, 3, 2], "test": [5, 3, 2]}
    assert all(ids == sorted(ids) for ids in parts.values())


def test_split_is_reproducible_and_depends_on_the_seed():
    labels = [i % 4 for i in range(200)]
    assert stratified_split(labels, SPEC, seed=7) == stratified_split(labels, SPEC, seed=7)
    assert stratified_split(labels, SPEC, seed=7) != stratified_split(labels, SPEC, seed=8)


def test_unlabelled_images_are_split_too():
    parts = stratified_split([None] * 10, [("a", 0.5), ("b", 0.5)], seed=0)
    assert len(parts["a"]) == len(parts["b"]) == 5


@given(total=st.integers(0, 10_000), cut=st.floats(0.01, 0.99))
def test_counts_always_add_up(total, cut):
    counts = split_counts(total, [("a", cut), ("b", 1 - cut)])
    assert sum(counts) == total
    assert abs(counts[0] - total * cut) < 1 + 1e-9
