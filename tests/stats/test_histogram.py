"""Exact histograms (stats format version 2) and the percentiles derived from them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imgprep
from imgprep.errors import StatsFileError
from imgprep.run.stats_pass import compute_stats
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from imgprep.stats.histogram import (
    DEFAULT_PERCENTILES,
    Histogram,
    merged_percentiles,
    parse_percentiles,
    percentile_label,
    value_range,
)
from tests.conftest import make_dataset, stats_of

EDGE_PERCENTILES = (0.0, 0.1, 1.0, 5.0, 12.5, 25.0, 33.3, 50.0, 66.7, 75.0, 95.0, 99.0, 99.9, 100.0)


def _reference(flat: np.ndarray, q) -> list[int]:
    return [int(v) for v in np.percentile(flat, q, method="inverted_cdf")]


@pytest.mark.parametrize(
    "dtype, low, high",
    [(np.uint8, 0, 256), (np.uint16, 0, 65536), (np.int16, -32768, 32768), (np.uint8, 7, 9)],
)
def test_percentiles_equal_numpy_inverted_cdf_per_channel_and_global(rng, dtype, low, high):
    images = rng.integers(low, high, (5, 13, 11, 3)).astype(dtype)
    stats = stats_of(images)
    numbers = stats.accumulator.summary(EDGE_PERCENTILES)["percentiles"]
    flat = images.reshape(-1, 3)
    for c in range(3):
        assert numbers["channels"][c] == _reference(flat[:, c], EDGE_PERCENTILES)
    assert numbers["global"] == _reference(flat.ravel(), EDGE_PERCENTILES)
    assert numbers["q"] == list(EDGE_PERCENTILES)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 255), min_size=1, max_size=400),
    q=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=6),
)
def test_percentiles_equal_numpy_on_any_data_and_any_percentile(values, q):
    flat = np.array(values, dtype=np.uint8)
    histogram = Histogram(0, np.bincount(flat, minlength=256)[None, :].astype(np.int64))
    per_channel, overall = histogram.percentiles(q)
    assert per_channel[0] == overall == _reference(flat, q)


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, 12), max_size=4), seed=st.integers(0, 2**32 - 1))
def test_any_split_merges_to_the_single_pass_histogram(cuts, seed):
    images = list(np.random.default_rng(seed).integers(0, 256, (12, 4, 5, 2), dtype=np.uint8))
    whole = MomentAccumulator()
    whole.update(images)
    bounds = [0, *sorted(cuts), 12]
    merged = MomentAccumulator()
    for start, stop in itertools.pairwise(bounds):
        part = MomentAccumulator()
        part.update(images[start:stop])
        merged = merged.merge(part)
    assert merged.histogram is not None and whole.histogram is not None
    np.testing.assert_array_equal(merged.histogram.counts, whole.histogram.counts)
    expected = np.stack([np.bincount(np.stack(images)[..., c].ravel(), minlength=256)
                         for c in range(2)])  # fmt: skip
    np.testing.assert_array_equal(whole.histogram.counts, expected)


def test_a_float_image_drops_the_histogram_and_the_percentiles(rng):
    acc = MomentAccumulator()
    acc.update([rng.integers(0, 256, (4, 4, 1), dtype=np.uint8)])
    assert acc.histogram is not None
    acc.update([rng.random((4, 4, 1), dtype=np.float32)])
    assert acc.histogram is None and "percentiles" not in acc.summary()


def test_value_ranges_of_the_dtypes():
    assert value_range(np.dtype(np.uint8)) == (0, 256)
    assert value_range(np.dtype(np.uint16)) == (0, 65536)
    assert value_range(np.dtype(np.int8)) == (-128, 256)
    assert value_range(np.dtype(np.bool_)) == (0, 2)


def test_labels_and_parsing_of_percentiles():
    assert [percentile_label(q) for q in (0.1, 1.0, 50.0, 99.9)] == ["p0.1", "p1", "p50", "p99.9"]
    assert parse_percentiles("2, 98") == (2.0, 98.0)
    assert merged_percentiles((2.0, 50.0)) == tuple(sorted({*DEFAULT_PERCENTILES, 2.0}))
    for text, message in (("2,x", "'x' is not a number"), ("101", "101 is not a percentile")):
        with pytest.raises(ValueError, match=message):
            parse_percentiles(text)


def test_the_stats_file_keeps_the_histogram_and_reloads_it_exactly(tmp_path: Path, rng):
    root = tmp_path / "data"
    arrays = make_dataset(root, rng)
    stats = compute_stats([str(root)])
    path = tmp_path / "stats.json"
    imgprep.write_stats(stats, str(path))
    text = path.read_text()
    data = json.loads(text)
    assert data["format_version"] == 2
    bins = data["accumulators"]["histogram"]["bins"]
    flat = np.stack(list(arrays.values())).reshape(-1, 3)
    for c in range(3):
        values, counts = np.unique(flat[:, c], return_counts=True)
        assert bins[c] == [[int(v), int(n)] for v, n in zip(values, counts, strict=True)]
        assert data["percentiles"]["channels"][c] == _reference(flat[:, c], DEFAULT_PERCENTILES)
    assert sum(line.startswith("        [[") for line in text.splitlines()) == 3  # one per channel
    loaded = imgprep.read_stats(str(path))
    counts = loaded.accumulator.histogram.counts
    np.testing.assert_array_equal(counts, stats.accumulator.histogram.counts)
    assert loaded.to_json() == text


def test_percentiles_asked_for_are_kept_in_the_file(tmp_path: Path, images):
    stats = stats_of(images)
    stats.percentiles = merged_percentiles((2.0, 98.0))
    path = tmp_path / "s.json"
    imgprep.write_stats(stats, str(path))
    loaded = imgprep.read_stats(str(path))
    assert 2.0 in loaded.percentiles and 98.0 in loaded.percentiles
    q = loaded.to_dict()["percentiles"]["q"]
    row = loaded.to_dict()["percentiles"]["global"]
    assert row[q.index(98.0)] == _reference(images.ravel(), [98.0])[0]


def _version_1(stats: Stats) -> dict:
    data = stats.to_dict()
    data["format_version"] = 1
    del data["percentiles"], data["accumulators"]["histogram"]
    return data


def test_a_version_1_file_loads_without_percentiles_and_a_merge_drops_the_histogram(rng):
    first = stats_of(rng.integers(0, 256, (3, 5, 5, 3), dtype=np.uint8))
    second = stats_of(rng.integers(0, 256, (2, 5, 5, 3), dtype=np.uint8))
    old = Stats.from_dict(_version_1(first))
    assert old.accumulator.histogram is None and "percentiles" not in old.to_dict()
    np.testing.assert_array_equal(old.mean, first.mean)
    merged = old.merge(second)
    assert merged.accumulator.histogram is None and "percentiles" not in merged.to_dict()
    both = first.merge(second)
    assert both.accumulator.histogram is not None


def _tampered(stats: Stats, edit) -> dict:
    data = json.loads(stats.to_json())
    edit(data)
    return data


def _histogram(data: dict) -> dict:
    return data["accumulators"]["histogram"]


TAMPERING = [
    (
        lambda d: _histogram(d)["bins"][0][0].__setitem__(1, _histogram(d)["bins"][0][0][1] + 1),
        "counts add up to",
    ),
    (lambda d: _histogram(d)["bins"][0].__setitem__(0, [-1, 1]), "is not above -1"),
    (lambda d: _histogram(d)["bins"][0].reverse(), "is not above"),
    (lambda d: _histogram(d).__setitem__("levels", 65536), "is not uint8's 256"),
    (lambda d: _histogram(d)["bins"].pop(), "one list of [value, count] per channel"),
    (lambda d: _histogram(d)["bins"][1][0].__setitem__(1, 0), "must be positive"),
    (lambda d: _histogram(d)["bins"][2].__setitem__(0, "x"), "must be a [value, count] pair"),
    (lambda d: d["percentiles"]["global"].__setitem__(4, 3), "p50 is 3, the histogram gives"),
    (lambda d: d["percentiles"]["q"].__setitem__(0, 101), "101 is not in [0, 100]"),
    (lambda d: d["accumulators"].pop("histogram"), "given without accumulators.histogram"),
]


@pytest.mark.parametrize("edit, message", TAMPERING)
def test_a_histogram_or_percentiles_edited_by_hand_is_refused(edit, message):
    images = np.arange(2 * 6 * 6 * 3, dtype=np.int64).reshape(2, 6, 6, 3) % 200
    data = _tampered(stats_of(images.astype(np.uint8)), edit)
    with pytest.raises(StatsFileError) as caught:
        Stats.from_dict(data, source="s.json")
    assert message in str(caught.value) and str(caught.value).startswith("s.json: key ")


def test_moving_counts_between_values_with_the_same_total_is_refused():
    """Counts add up, min and max agree: only the exact sums catch it."""
    images = np.array([[[[0], [1], [2], [3]]]], dtype=np.uint8)
    data = stats_of(images).to_dict()
    data["accumulators"]["histogram"]["bins"][0] = [[0, 1], [1, 0 + 1], [3, 2]]
    with pytest.raises(StatsFileError, match=r"gives sum 7, accumulators.sum\[0\] says 6"):
        Stats.from_dict(data, source="s.json")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_opencv_counting_equals_bincount_also_in_chunks(rng, monkeypatch, channels):
    import imgprep.stats.moments as moments

    image = rng.integers(0, 256, (37, 23, channels), dtype=np.uint8)[:, ::2]  # a strided view
    flat = image.reshape(-1, channels)
    expected = np.stack([np.bincount(flat[:, c], minlength=256) for c in range(channels)])
    for chunk in ((1 << 24) - 1, 5):  # float32 counts exact below 2^24: chunked beyond it
        monkeypatch.setattr(moments, "_FLOAT32_EXACT", chunk)
        counts = np.zeros((channels, 256), dtype=np.int64)
        moments._count_uint8(counts, flat)
        np.testing.assert_array_equal(counts, expected)
