"""Keyed draws (``keyed.py``): a pure function of (seed, split, image, copy, slot)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imgprep.augment import AugmentSettings, uniform_draws
from imgprep.augment.keyed import copy_keys, named_slots, slot_uniforms
from tests.augment.reference import reference_uniform

FULL = AugmentSettings(
    rotation_range=20, width_shift_range=0.2, height_shift_range=3, shear_range=10,
    zoom_range=(0.8, 1.2), horizontal_flip=True, vertical_flip=True, channel_shift_range=5,
    brightness_range=(0.5, 1.5),
)  # fmt: skip


def test_draws_are_the_documented_splitmix_of_the_key():
    draws = uniform_draws(7, 2, np.array([5, 9]), np.array([1, 3]), 4)
    expected = [
        [reference_uniform(7, 2, i, k, s) for s in (1, 2, 3, 4)] for i, k in ((5, 1), (9, 3))
    ]
    np.testing.assert_array_equal(draws, expected)


def test_draws_are_a_pure_function_of_the_key():
    a = uniform_draws(7, 0, np.array([5, 9, 5]), np.array([1, 1, 2]), 4)
    b = uniform_draws(7, 0, np.array([5]), np.array([2]), 4)
    np.testing.assert_array_equal(a[2], b[0])
    assert not np.array_equal(a[0], a[2])
    assert not np.array_equal(a, uniform_draws(8, 0, np.array([5, 9, 5]), np.array([1, 1, 2]), 4))
    assert not np.array_equal(a, uniform_draws(7, 1, np.array([5, 9, 5]), np.array([1, 1, 2]), 4))
    many = uniform_draws(1, 0, np.arange(20000), np.zeros(20000, int), 2)
    assert (many >= 0).all() and (many < 1).all()
    assert abs(many.mean() - 0.5) < 0.01 and abs(np.corrcoef(many[:, 0], many[:, 1])[0, 1]) < 0.03


def test_a_slot_reads_the_same_numbers_alone_or_among_others():
    keys = copy_keys(3, 0, np.arange(6), np.ones(6, int))
    together = slot_uniforms(keys, [1, 9, 12])
    np.testing.assert_array_equal(together[:, 1], slot_uniforms(keys, [9])[:, 0])


def test_named_slots_are_stable_and_far_from_the_first_releases():
    slots = named_slots("hue", 3)
    assert slots == named_slots("hue", 3) and slots[1] == slots[0] + 1
    assert slots[0] > 1 << 20 and not set(slots) & set(named_slots("blur", 3))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    split=st.integers(0, 5),
    keys=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 16)), min_size=1, max_size=12, unique=True
    ),
    order=st.randoms(use_true_random=False),
)
def test_same_key_same_params_whatever_the_batch(seed, split, keys, order):
    """Copy k of image i has the same parameters alone, in any batch, in any order."""
    alone = {
        key: FULL.sample(
            seed=seed, split=split, indices=np.array([key[0]]), copies=np.array([key[1]]),
            shape=(20, 30, 3),
        )[0]
        for key in keys
    }  # fmt: skip
    shuffled = list(keys)
    order.shuffle(shuffled)
    batch = FULL.sample(
        seed=seed,
        split=split,
        indices=np.array([i for i, _ in shuffled]),
        copies=np.array([k for _, k in shuffled]),
        shape=(20, 30, 3),
    )
    assert dict(zip(shuffled, batch, strict=True)) == alone
