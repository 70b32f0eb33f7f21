"""Drift arithmetic (``imgprep.stats.drift``) against textbook computations on raw pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgprep.stats.drift import PSI_FLOOR, compare, ks_distance, psi, psi_bins
from tests.conftest import stats_of


def _ks_of_samples(x: np.ndarray, y: np.ndarray) -> float:
    """The two-sample KS statistic from its definition: the largest ECDF difference over
    the pooled sample points."""
    x, y = np.sort(x), np.sort(y)
    points = np.concatenate([x, y])
    ecdf_x = np.searchsorted(x, points, side="right") / x.size
    ecdf_y = np.searchsorted(y, points, side="right") / y.size
    return float(np.abs(ecdf_x - ecdf_y).max())


def _psi_of_samples(data: np.ndarray, reference: np.ndarray) -> float:
    """PSI over the reference's deciles, from the raw pixels (np.percentile, np.digitize):
    bins (e_k-1, e_k], the last one up to 255, the top of the value range."""
    deciles = np.percentile(reference, np.arange(10, 100, 10), method="inverted_cdf")
    edges = np.unique(np.append(deciles, 255))
    ref_bins = np.bincount(np.digitize(reference, edges, right=True), minlength=edges.size)
    data_bins = np.bincount(np.digitize(data, edges, right=True), minlength=edges.size)
    r = np.maximum(ref_bins / reference.size, PSI_FLOOR)
    d = np.maximum(data_bins / data.size, PSI_FLOOR)
    return float(np.sum((d - r) * np.log(d / r)))


def _histogram(values: np.ndarray) -> np.ndarray:
    return np.bincount(values.ravel(), minlength=256).astype(np.int64)


@pytest.mark.parametrize("shift, scale", [(0, 1.0), (10, 1.0), (0, 0.5), (40, 2.0)])
def test_ks_and_psi_equal_their_definitions_on_the_raw_pixels(rng, shift, scale):
    reference = np.clip(rng.normal(100, 30, 5000), 0, 255).astype(np.uint8)
    data = np.clip(rng.normal(100 + shift, 30 * scale, 3000), 0, 255).astype(np.uint8)
    assert ks_distance(_histogram(data), _histogram(reference)) == pytest.approx(
        _ks_of_samples(data, reference), abs=1e-12
    )
    assert psi(_histogram(data), _histogram(reference)) == pytest.approx(
        _psi_of_samples(data, reference), rel=1e-12, abs=1e-15
    )


def test_data_above_the_reference_maximum_falls_in_a_bin_of_its_own(rng):
    reference = np.concatenate([rng.integers(0, 200, 850), np.full(150, 200)]).astype(np.uint8)
    data = np.concatenate([rng.integers(0, 200, 850), np.full(150, 255)]).astype(np.uint8)
    assert psi_bins(_histogram(reference))[-2:].tolist() == [200, 255]
    value = psi(_histogram(data), _histogram(reference))
    assert value == pytest.approx(_psi_of_samples(data, reference), rel=1e-12)
    assert value > 1  # 15 % of the data where the reference has none (floored at 1e-4)


def test_ks_equals_scipy_ks_2samp(rng):
    stats = pytest.importorskip("scipy.stats")
    reference = rng.integers(0, 256, 4000).astype(np.uint8)
    data = np.clip(rng.normal(128, 40, 2500), 0, 255).astype(np.uint8)
    expected = stats.ks_2samp(data, reference).statistic
    assert ks_distance(_histogram(data), _histogram(reference)) == pytest.approx(
        expected, abs=1e-12
    )


def test_psi_bins_merge_repeated_deciles_as_mnist_zeros():
    reference = np.zeros(256, dtype=np.int64)
    reference[0], reference[128], reference[255] = 80, 10, 10  # 80 % zeros
    assert psi_bins(reference).tolist() == [0, 128, 255]
    assert psi(reference, reference) == 0.0
    moved = reference.copy()
    moved[0], moved[128] = 70, 20
    expected = (0.7 - 0.8) * math.log(0.7 / 0.8) + (0.2 - 0.1) * math.log(0.2 / 0.1)
    assert psi(moved, reference) == pytest.approx(expected, rel=1e-12)


def test_mean_shift_and_std_ratio_per_channel_and_global(rng):
    reference = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    data = np.clip(reference.astype(np.int64) * 2 // 3 + 20, 0, 255).astype(np.uint8)
    rows = compare(stats_of(data).accumulator, stats_of(reference).accumulator, ["R", "G", "B"])
    assert [row.name for row in rows] == ["R", "G", "B", "global"]
    flat_data = data.reshape(-1, 3).astype(np.float64)
    flat_ref = reference.reshape(-1, 3).astype(np.float64)
    for c in range(3):
        expected = (flat_data[:, c].mean() - flat_ref[:, c].mean()) / flat_ref[:, c].std()
        assert rows[c].mean_shift == pytest.approx(expected, rel=1e-12)
        assert rows[c].std_ratio == pytest.approx(flat_data[:, c].std() / flat_ref[:, c].std())
        assert rows[c].ks == pytest.approx(_ks_of_samples(data[..., c].ravel(),
                                                          reference[..., c].ravel()))  # fmt: skip
    glob = rows[-1]
    assert glob.mean_shift == pytest.approx((flat_data.mean() - flat_ref.mean()) / flat_ref.std())
    assert glob.ks == pytest.approx(_ks_of_samples(data.ravel(), reference.ravel()))


def test_a_constant_reference_gives_infinite_or_no_shift():
    constant = np.full((2, 3, 3, 1), 7, dtype=np.uint8)
    other = np.full((2, 3, 3, 1), 9, dtype=np.uint8)
    same = compare(stats_of(constant).accumulator, stats_of(constant).accumulator, ["L"])[0]
    assert same.mean_shift == 0.0 and same.std_ratio == 1.0 and same.ks == 0.0
    moved = compare(stats_of(other).accumulator, stats_of(constant).accumulator, ["L"])[0]
    assert moved.mean_shift == math.inf and moved.ks == 1.0


def test_float_pixels_have_no_ks_or_psi(rng):
    data = stats_of(rng.random((2, 4, 4, 1)).astype(np.float32)).accumulator
    reference = stats_of(rng.random((2, 4, 4, 1)).astype(np.float32)).accumulator
    row = compare(data, reference, ["L"])[0]
    assert row.ks is None and row.psi is None and math.isfinite(row.mean_shift)
