"""How far a dataset's pixels have drifted from the training statistics a model was
normalized with: ``compare``.

Why these four numbers. A model sees ``(x - mean) / std`` of the *training* statistics, so a
shift of the mean is best read in training-std units (0.5 means the normalized inputs are off
by half a unit) and a change of contrast as the ratio of the stds. Those two miss a change
of shape (a clipped or bimodal channel with the same mean and std), which the two distances
between the exact histograms catch:

- ``ks``: the Kolmogorov-Smirnov distance, the largest difference between the two empirical
  CDFs, over every pixel value (0: identical distributions, 1: disjoint). On integer pixels
  it is exactly SciPy's two-sample ``ks_2samp`` statistic of the two sets of pixels.
- ``psi``: the population stability index, ``sum((d - r) * ln(d / r))`` over bins, ``r`` and
  ``d`` the fractions of the reference and of the data in each bin. The bins are the
  reference's deciles (``PSI_BINS`` bins between its exact percentiles; equal percentiles, as
  the 80 % of MNIST pixels that are 0, make one bin), and a fraction under ``PSI_FLOOR`` counts
  as ``PSI_FLOOR``, so an empty bin gives a large but finite value. The usual reading: below
  0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a significant one.

Rows are per channel and, last, ``global`` (every channel's pixels together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.histogram import Histogram

PSI_BINS = 10
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class Drift:
    """One row of the comparison; ``ks`` and ``psi`` are None without both histograms."""

    name: str
    mean: float
    reference_mean: float
    mean_shift: float  # (mean - reference mean) / reference std; inf when that std is 0
    std: float
    reference_std: float
    std_ratio: float  # std / reference std; inf when that std is 0 (1 when both are)
    ks: float | None
    psi: float | None

    def to_dict(self) -> dict[str, float | str | None]:
        return {
            "name": self.name,
            "mean": self.mean,
            "reference_mean": self.reference_mean,
            "mean_shift": self.mean_shift,
            "std": self.std,
            "reference_std": self.reference_std,
            "std_ratio": self.std_ratio,
            "ks": self.ks,
            "psi": self.psi,
        }


def compare(
    data: MomentAccumulator, reference: MomentAccumulator, names: Sequence[str]
) -> list[Drift]:
    """Per-channel rows, then the global one, of ``data`` against ``reference``.

    Both must describe pixels of one space (the caller checks colour, size and dtype); the
    channel counts must agree.
    """
    if data.channels != reference.channels:
        raise ValueError(f"{data.channels} channel(s) against {reference.channels}")
    mine, theirs = data.channel_stats(), reference.channel_stats()
    histograms = _histograms(data.histogram, reference.histogram)
    rows = []
    for c, name in enumerate(names):
        pair = (histograms[0].counts[c], histograms[1].counts[c]) if histograms else None
        rows.append(
            _row(name, mine["mean"][c], theirs["mean"][c], mine["std"][c], theirs["std"][c], pair)
        )
    whole, whole_ref = data.global_stats(), reference.global_stats()
    pair = (histograms[0].total(), histograms[1].total()) if histograms else None
    rows.append(
        _row("global", whole["mean"], whole_ref["mean"], whole["std"], whole_ref["std"], pair)
    )
    return rows


def ks_distance(counts: np.ndarray, reference: np.ndarray) -> float:
    """The largest difference of the two empirical CDFs (histograms over the same values)."""
    cdf = np.cumsum(counts) / counts.sum()
    cdf_ref = np.cumsum(reference) / reference.sum()
    return float(np.abs(cdf - cdf_ref).max())


def psi_bins(reference: np.ndarray) -> np.ndarray:
    """Upper bin edges (indices into the histogram): the reference's deciles, repeats
    merged, the last bin reaching the top value."""
    cumulative = np.cumsum(reference)
    n = int(cumulative[-1])
    edges = []
    for k in range(1, PSI_BINS):
        rank = min(max(math.ceil(n * k / PSI_BINS) - 1, 0), n - 1)  # inverted_cdf, exact
        edges.append(int(np.searchsorted(cumulative, rank, side="right")))
    edges.append(len(reference) - 1)
    return np.unique(np.array(edges, dtype=np.int64))


def psi(counts: np.ndarray, reference: np.ndarray) -> float:
    """The population stability index of ``counts`` against ``reference`` (module docstring)."""
    edges = psi_bins(reference)
    starts = np.concatenate([[0], edges[:-1] + 1])
    data = np.add.reduceat(counts, starts) / counts.sum()
    ref = np.add.reduceat(reference, starts) / reference.sum()
    data, ref = np.maximum(data, PSI_FLOOR), np.maximum(ref, PSI_FLOOR)
    return float(np.sum((data - ref) * np.log(data / ref)))


def _histograms(
    data: Histogram | None, reference: Histogram | None
) -> tuple[Histogram, Histogram] | None:
    if data is None or reference is None or not data.compatible(reference):
        return None
    return data, reference


def _ratio(value: float, reference: float) -> float:
    if reference == 0:
        return 1.0 if value == 0 else math.inf
    return value / reference


def _row(
    name: str,
    mean: float,
    mean_ref: float,
    std: float,
    std_ref: float,
    pair: tuple[np.ndarray, np.ndarray] | None,
) -> Drift:
    if std_ref == 0:
        shift = 0.0 if mean == mean_ref else math.copysign(math.inf, mean - mean_ref)
    else:
        shift = (float(mean) - float(mean_ref)) / float(std_ref)
    return Drift(
        name=name,
        mean=float(mean),
        reference_mean=float(mean_ref),
        mean_shift=shift,
        std=float(std),
        reference_std=float(std_ref),
        std_ratio=_ratio(float(std), float(std_ref)),
        ks=ks_distance(*pair) if pair else None,
        psi=psi(*pair) if pair else None,
    )
