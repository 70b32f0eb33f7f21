"""The accumulator against an independent float64 two-pass NumPy computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgprep.errors import ImgprepError
from imgprep.stats.accumulator import MomentAccumulator, chan_merge
from imgprep.stats.moments import image_moments
from tests.conftest import reference_stats

RTOL = 1e-10


def assert_matches(acc: MomentAccumulator, arrays: list[np.ndarray], rtol: float = RTOL) -> None:
    ref = reference_stats(arrays)
    got = acc.channel_stats()
    np.testing.assert_allclose(got["mean"], ref["mean"], rtol=rtol)
    np.testing.assert_allclose(got["std"], ref["std"], rtol=rtol)
    np.testing.assert_array_equal(got["min"], ref["min"])
    np.testing.assert_array_equal(got["max"], ref["max"])
    glob = acc.global_stats()
    assert glob["mean"] == pytest.approx(ref["global_mean"], rel=rtol)
    assert glob["std"] == pytest.approx(ref["global_std"], rel=rtol)
    assert glob["count"] == sum(a.size for a in arrays)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int8, np.int16, np.bool_, np.int32])
def test_integer_images_match_two_pass(rng, channels, dtype):
    if dtype == np.bool_:
        low, high = 0, 2
    else:
        low, high = np.iinfo(dtype).min, np.iinfo(dtype).max + 1
    arrays = [
        rng.integers(low, high, (h, w, channels)).astype(dtype)
        for h, w in [(28, 28), (5, 9), (64, 3), (1, 1), (28, 28)]
    ]
    acc = MomentAccumulator()
    acc.update(arrays)
    assert acc.exact == (dtype != np.int32)  # 32-bit integers take the float64 path
    assert acc.images == 5
    assert_matches(acc, arrays)


def test_float_images_match_two_pass(rng):
    arrays = [(rng.normal(size=(h, 7, 3)) * 50 + 1000).astype(np.float32) for h in (4, 9, 16)]
    acc = MomentAccumulator()
    acc.update(arrays)
    assert not acc.exact
    assert_matches(acc, arrays)


def test_exact_result_is_the_correctly_rounded_value():
    # Values where naive float accumulation loses digits: a large offset and tiny spread.
    arrays = [np.full((100, 100, 1), 65534, np.uint16), np.full((100, 100, 1), 65535, np.uint16)]
    acc = MomentAccumulator()
    acc.update(arrays)
    assert acc.channel_stats()["mean"][0] == 65534.5
    assert acc.channel_stats()["std"][0] == 0.5


def test_mixing_integer_then_float_images_falls_back_to_chan(rng):
    ints = [rng.integers(0, 256, (6, 6, 1), dtype=np.uint8) for _ in range(3)]
    floats = [rng.random((6, 6, 1)).astype(np.float32) * 255 for _ in range(3)]
    acc = MomentAccumulator()
    acc.update(ints + floats)
    assert_matches(acc, ints + floats)


def test_channel_count_change_is_refused(rng):
    acc = MomentAccumulator()
    acc.update([np.zeros((2, 2, 3), np.uint8)])
    with pytest.raises(ImgprepError, match=r"has 1 channel.*before it have 3.*'color' grayscale"):
        acc.add(image_moments(np.zeros((2, 2, 1), np.uint8)))


def test_dict_round_trip_is_lossless(rng):
    acc = MomentAccumulator()
    acc.update([rng.integers(0, 256, (9, 9, 3), dtype=np.uint8) for _ in range(4)])
    again = MomentAccumulator.from_dict(json.loads(json.dumps(acc.to_dict())))
    assert again.to_dict() == acc.to_dict()
    floats = MomentAccumulator()
    floats.update([rng.random((5, 5, 2)).astype(np.float32)])
    again = MomentAccumulator.from_dict(json.loads(json.dumps(floats.to_dict())))
    assert again.channel_stats()["std"].tolist() == floats.channel_stats()["std"].tolist()


def test_chan_merge_matches_textbook():
    a = np.array([1.0, 2.0, 4.0])
    b = np.array([10.0, 11.0])

    def m2(x):
        return float(((x - x.mean()) ** 2).sum())

    n, mean, q = chan_merge(3, a.mean(), m2(a), 2, b.mean(), m2(b))
    both = np.concatenate([a, b])
    assert n == 5
    assert mean == pytest.approx(both.mean(), rel=1e-15)
    assert q == pytest.approx(m2(both), rel=1e-14)


image_lists = st.lists(
    st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1)),
    min_size=2,
    max_size=12,
)


def _images(spec: list[tuple[int, int, int]], dtype=np.uint8) -> list[np.ndarray]:
    high = np.iinfo(dtype).max + 1
    return [
        np.random.default_rng(seed).integers(0, high, (h, w, 3), dtype=dtype) for h, w, seed in spec
    ]


@settings(max_examples=40, deadline=None)
@given(spec=image_lists, cut=st.integers(1, 11), data=st.data())
def test_any_split_and_order_merges_to_the_single_pass_bit_for_bit(spec, cut, data):
    arrays = _images(spec)
    single = MomentAccumulator()
    single.update(arrays)
    cut = min(cut, len(arrays) - 1)
    order = data.draw(st.permutations(range(len(arrays))))
    shuffled = [arrays[i] for i in order]
    left, right = MomentAccumulator(), MomentAccumulator()
    left.update(shuffled[:cut])
    right.update(shuffled[cut:])
    merged = right.merge(left)
    assert merged.to_dict() == single.to_dict()
    assert_matches(merged, arrays)


@settings(max_examples=30, deadline=None)
@given(spec=image_lists, cut=st.integers(1, 11))
def test_float_splits_merge_to_the_single_pass_within_1e_12(spec, cut):
    arrays = [a.astype(np.float32) / 7 for a in _images(spec)]
    single = MomentAccumulator()
    single.update(arrays)
    cut = min(cut, len(arrays) - 1)
    left, right = MomentAccumulator(), MomentAccumulator()
    left.update(arrays[:cut])
    right.update(arrays[cut:])
    merged = left.merge(right)
    for key in ("mean", "std"):
        np.testing.assert_allclose(
            merged.channel_stats()[key], single.channel_stats()[key], rtol=1e-12
        )


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(0, 65535), min_size=1, max_size=200))
def test_exact_std_is_the_correctly_rounded_value(values):
    from decimal import Decimal, localcontext

    acc = MomentAccumulator()
    acc.update([np.array(values, dtype=np.uint16).reshape(-1, 1, 1)])
    n, s, q = len(values), sum(values), sum(v * v for v in values)
    with localcontext() as ctx:
        ctx.prec = 80
        exact = (Decimal(n * q - s * s) / Decimal(n * n)).sqrt()
        assert acc.channel_stats()["std"][0] == float(exact)
        assert acc.channel_stats()["mean"][0] == float(Decimal(s) / Decimal(n))


def test_an_exact_run_holds_no_large_image_after_adding_it(rng):
    """A run counts an image of 4M+ values at once: a batch of camera photos is never held.

    Small images wait to be counted together (speed), large ones do not wait (memory), and
    both give the same exact moments as a two-pass float64 computation.
    """
    import weakref

    from imgprep.stats.moments import ExactRun

    large = rng.integers(0, 256, (1200, 1200, 3), dtype=np.uint8)  # 4.3M values
    small = [rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) for _ in range(3)]
    run = ExactRun(large)
    run.add(large)
    alive = weakref.ref(large)
    for image in small:
        run.add(image)
    reference = MomentAccumulator()
    reference.update([large, *small])  # one image at a time
    del large
    assert alive() is None
    acc = MomentAccumulator()
    acc.add(run.moments())
    assert acc.images == 4
    assert acc.to_dict() == reference.to_dict()
