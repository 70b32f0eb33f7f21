"""Exact per-channel histograms of integer pixels, and the exact percentiles they give.

Why keep them: the moments pass counts every value of an 8- or 16-bit image already
(``imgprep.stats.moments.ExactRun``); keeping those counts costs a few kilobytes and gives
what the mean and the std cannot: exact percentiles (for robust clipping) and the whole
distribution (for drift tests against the training data, ``imgprep.stats.drift``). Counts are
integers, so merging two histograms is exact and does not depend on order.

A histogram covers ``levels`` consecutive integer values starting at ``offset`` (0 and 256
for uint8, -32768 and 65536 for int16, 0 and 2 for bool). In a stats file it is written
sparsely, one ``[value, count]`` pair per value present (a 16-bit channel uses a few
thousand of its 65,536 values), so a uint8 file grows by a few kilobytes per channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_PERCENTILES = (0.1, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9)
MAX_PERCENTILES = 1000  # asked for in one run or stats file
MAX_HISTOGRAM_BINS = 1 << 22  # channels x levels: 64 channels of 16 bits, 32 MB of counts


def value_range(dtype: np.dtype) -> tuple[int, int]:
    """(offset, levels) of the integer values an 8/16-bit (or bool) dtype holds."""
    if dtype == np.bool_:
        return 0, 2
    levels = 1 << (8 * dtype.itemsize)
    return (-(levels // 2) if dtype.kind == "i" else 0), levels


@dataclass
class Histogram:
    """``counts[c, v - offset]`` pixels of channel c have value v (int64 counts)."""

    offset: int
    counts: np.ndarray

    @property
    def levels(self) -> int:
        return int(self.counts.shape[1])

    @property
    def channels(self) -> int:
        return int(self.counts.shape[0])

    @property
    def values(self) -> np.ndarray:
        """The value of each bin (int64)."""
        return np.arange(self.levels, dtype=np.int64) + self.offset

    def copy(self) -> Histogram:
        return Histogram(self.offset, self.counts.copy())

    def compatible(self, other: Histogram) -> bool:
        return self.offset == other.offset and self.counts.shape == other.counts.shape

    def add(self, other: Histogram) -> None:
        """Add ``other``'s counts in place (same channels and value range).

        Raises:
            ValueError: a count would pass 2^63 - 1 (a merge of crafted files).
        """
        if not self.compatible(other):
            raise ValueError(
                f"cannot add a histogram of {other.channels} channel(s) over "
                f"[{other.offset}, {other.offset + other.levels}) to one of {self.channels} "
                f"over [{self.offset}, {self.offset + self.levels})"
            )
        if np.any(self.counts > np.iinfo(np.int64).max - other.counts):
            raise ValueError("a histogram count would pass 2^63 - 1")
        self.counts += other.counts

    def clipped(self, low: Sequence[int], high: Sequence[int]) -> Histogram:
        """The histogram of the same pixels after clipping channel c to [low[c], high[c]]
        (values inside the histogram's range): every count below moves to ``low[c]``, every
        count above to ``high[c]``, so the clipped data's moments stay exact."""
        counts = self.counts.copy()
        for c, (lo, hi) in enumerate(zip(low, high, strict=True)):
            start, stop = int(lo) - self.offset, int(hi) - self.offset
            counts[c, start] += counts[c, :start].sum()
            counts[c, :start] = 0
            counts[c, stop] += counts[c, stop + 1 :].sum()
            counts[c, stop + 1 :] = 0
        return Histogram(self.offset, counts)

    def total(self) -> np.ndarray:
        """The histogram of all channels together (one row)."""
        return self.counts.sum(axis=0)

    def percentiles(self, q: Sequence[float]) -> tuple[list[list[int]], list[int]]:
        """Per channel and global percentiles ``q`` (0-100), as NumPy's ``inverted_cdf``.

        Returns ``(per_channel, overall)``: ``per_channel[c][k]`` is percentile ``q[k]`` of
        channel c, ``overall[k]`` that of every pixel of every channel. They are the values
        ``numpy.percentile(pixels, q, method="inverted_cdf")`` returns, exactly.
        """
        per_channel = [_percentiles_of(row, self.offset, q) for row in self.counts]
        return per_channel, _percentiles_of(self.total(), self.offset, q)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: offset, levels and one list of [value, count] pairs per channel."""
        return {
            "offset": self.offset,
            "levels": self.levels,
            "bins": [
                [[int(v) + self.offset, int(row[v])] for v in np.flatnonzero(row)]
                for row in self.counts
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """The inverse of ``to_dict`` (the document is checked by ``imgprep.stats.check``)."""
        offset, levels = int(data["offset"]), int(data["levels"])
        counts = np.zeros((len(data["bins"]), levels), dtype=np.int64)
        for c, pairs in enumerate(data["bins"]):
            for value, count in pairs:
                counts[c, value - offset] = count
        return cls(offset, counts)


def percentile_label(q: float) -> str:
    """``p0.1``, ``p50``, ``p99.9``: a percentile's name in tables and JSON keys."""
    return "p" + (f"{q:g}" if q != int(q) else str(int(q)))


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``"2,98"`` -> (2.0, 98.0); each in [0, 100].

    Raises:
        ValueError: not numbers, or outside [0, 100].
    """
    values = []
    if text.count(",") >= MAX_PERCENTILES:
        raise ValueError(f"more than {MAX_PERCENTILES} percentiles")
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a number") from None
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"{part.strip()} is not a percentile in [0, 100]")
        values.append(value)
    return tuple(values)


def merged_percentiles(extra: Sequence[float] = ()) -> tuple[float, ...]:
    """The default percentiles plus ``extra``, sorted, without repeats."""
    return tuple(sorted(set(DEFAULT_PERCENTILES) | {float(q) for q in extra}))


def _percentiles_of(counts: np.ndarray, offset: int, q: Sequence[float]) -> list[int]:
    """NumPy's ``inverted_cdf`` rank rule on a histogram.

    NumPy computes, in float64, ``index = n * (q / 100) - 1``, takes ``floor(index) + 1``
    when the fractional part is positive and ``floor(index)`` otherwise, clipped to
    [0, n - 1], and returns the value of that rank in sorted order. The same float64
    operations are done here, so ties at exact ranks fall the same way.
    """
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])
    asked = np.asarray(q, dtype=np.float64)
    index = np.float64(n) * (asked / np.float64(100)) - np.float64(1)  # NumPy's own float ops
    below = np.floor(index)
    ranks = np.where(index - below > 0, below + 1, below).astype(np.int64)
    ranks = np.clip(ranks, 0, n - 1)
    return (np.searchsorted(cumulative, ranks, side="right") + offset).tolist()
