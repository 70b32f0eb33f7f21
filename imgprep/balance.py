"""Class balance per split, and images whose size, content or brightness stands out.

Why: a class ten times rarer than the others, a class missing from the validation split, a
folder with one 8,000-pixel panorama among thumbnails, a blank frame: each is cheap to see
and costs a training run when missed. Class counts come from the labels (class folders, an
HDF5 ``labels`` dataset); the rest from the profile rows (``imgprep.profile``).

- ``imbalance``: the largest class count over the smallest among the classes a split has.
- Size outliers: an area more than ``AREA_FACTOR`` (4) times the median area, or less than a
  quarter of it.
- Brightness outliers: an image mean below the 0.1th or above the 99.9th percentile of the
  image means (NumPy's ``inverted_cdf``, as every percentile here), and constant images
  (every value equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

AREA_FACTOR = 4.0
MEAN_PERCENTILES = (0.1, 99.9)
ASPECT_EDGES = (0.5, 0.75, 1.0, 1.0 + 1e-9, 4 / 3, 2.0)  # width / height; ASPECT_LABELS


@dataclass(frozen=True)
class SplitClasses:
    """Images per class of one split (every class of the dataset, 0 when absent)."""

    counts: dict[str, int]

    @property
    def missing(self) -> list[str]:
        return [name for name, count in self.counts.items() if count == 0]

    @property
    def imbalance(self) -> float | None:
        present = [count for count in self.counts.values() if count > 0]
        return max(present) / min(present) if present else None


def class_counts(
    labels: Sequence[int | None], classes: Sequence[str], all_classes: Sequence[str]
) -> SplitClasses:
    """Counts of one split's labels (indices into ``classes``) over ``all_classes``."""
    counts = dict.fromkeys(all_classes, 0)
    for label in labels:
        if label is not None:
            counts[classes[label]] += 1
    return SplitClasses(counts)


def all_splits(counts: dict[str | None, dict[str, int] | None]) -> dict[str | None, SplitClasses]:
    """Each labelled split's counts over every class any split has (0 when absent)."""
    names = sorted({name for found in counts.values() if found for name in found})
    return {
        split: SplitClasses({name: found.get(name, 0) for name in names})
        for split, found in counts.items()
        if found is not None
    }


def min_per_class_failures(splits: Mapping[str | None, SplitClasses], minimum: int) -> list[str]:
    """One line per class of a split with fewer than ``minimum`` images."""
    failures = []
    for name, classes in splits.items():
        where = f"{name}: " if name else ""
        for label, count in classes.counts.items():
            if count < minimum:
                failures.append(f"{where}class {label!r} has {count} images, expected at least "
                                f"{minimum}")  # fmt: skip
    return failures


@dataclass
class Outliers:
    """Sizes and the rows that stand out (positions in the profile table)."""

    images: int
    height: tuple[int, int, int]  # min, median, max
    width: tuple[int, int, int]
    aspect: tuple[float, float, float]  # width / height
    aspect_histogram: list[int]  # counts per ASPECT_EDGES bin
    large: list[int] = field(default_factory=list)  # area > 4x the median
    small: list[int] = field(default_factory=list)  # area < median / 4
    constant: list[int] = field(default_factory=list)
    dark: list[int] = field(default_factory=list)  # mean below the 0.1th percentile
    bright: list[int] = field(default_factory=list)  # mean above the 99.9th percentile
    mean_bounds: tuple[float, float] = (0.0, 0.0)


def find_outliers(heights: np.ndarray, widths: np.ndarray, means: np.ndarray,
                  constant: np.ndarray) -> Outliers:  # fmt: skip
    """Sizes and outliers of n profiled images (rows in input order)."""
    heights, widths = heights.astype(np.int64), widths.astype(np.int64)
    area = heights * widths
    aspect = widths / np.maximum(heights, 1)
    median_area = _median(area)
    low, high = (float(v) for v in np.percentile(means, MEAN_PERCENTILES, method="inverted_cdf"))
    bins = np.searchsorted(np.array(ASPECT_EDGES), aspect, side="right")
    return Outliers(
        images=len(area),
        height=_spread(heights),
        width=_spread(widths),
        aspect=(float(aspect.min()), float(_median(aspect)), float(aspect.max())),
        aspect_histogram=np.bincount(bins, minlength=len(ASPECT_EDGES) + 1).tolist(),
        large=np.flatnonzero(area > AREA_FACTOR * median_area).tolist(),
        small=np.flatnonzero(area * AREA_FACTOR < median_area).tolist(),
        constant=np.flatnonzero(constant).tolist(),
        dark=np.flatnonzero(means < low).tolist(),
        bright=np.flatnonzero(means > high).tolist(),
        mean_bounds=(low, high),
    )


ASPECT_LABELS = ("< 1/2", "1/2 - 3/4", "3/4 - 1", "1 (square)", "1 - 4/3", "4/3 - 2", ">= 2")


def _median(values: np.ndarray) -> float:
    return float(np.percentile(values, 50, method="inverted_cdf"))


def _spread(values: np.ndarray) -> tuple[int, int, int]:
    return int(values.min()), int(_median(values)), int(values.max())
