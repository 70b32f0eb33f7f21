"""Mergeable per-channel statistics, exact for integer pixels: ``MomentAccumulator``.

Why exact integers: decoded pixels are integers (uint8 or uint16). Their per-channel sums and
sums of squares are therefore kept as exact Python integers, and the mean and the population
variance (ddof=0, as NumPy and Keras) are computed from them as exact fractions, rounded once.
The result is the correctly rounded float64 value, so it matches a float64 two-pass NumPy
computation to ~1e-16 relative, and it is *bit-identical* whatever the number of workers, the
batch size or the order in which partial results are combined: integer addition is
associative. The stored float64 ``mean`` and ``m2`` (sum of squared deviations) are derived
from those sums, so a stats file can still be combined with Chan's pairwise formula.

Float pixels (32-bit float TIFFs, float HDF5 datasets) fall back to Chan/Welford in float64:
each image's mean and M2 are computed two-pass, and images are folded one by one in input
order, never by batch, so the result still does not depend on batching or on workers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from imgprep.errors import ImgprepError, InputError, option
from imgprep.stats.histogram import DEFAULT_PERCENTILES, Histogram
from imgprep.stats.moments import ImageMoments, batch_moments
from imgprep.values import plain


def chan_merge(
    n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float
) -> tuple[int, float, float]:
    """Chan et al.'s pairwise combination of (count, mean, M2) for two disjoint parts."""
    if n_a == 0:
        return n_b, mean_b, m2_b
    if n_b == 0:
        return n_a, mean_a, m2_a
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    m2 = m2_a + m2_b + delta * delta * n_a * n_b / n
    return n, mean, m2


@dataclass
class MomentAccumulator:
    """Per-channel image count, pixel count, sums (or mean/M2), min and max.

    ``update``/``add`` fold images in, ``merge`` combines two disjoint accumulators,
    ``to_dict``/``from_dict`` round-trip it through JSON without losing a bit.

    ``histogram`` holds the exact per-channel counts while every part folded in had them
    (8/16-bit images, stats files of format version 2); one part without them (a float
    image, a version 1 file) drops it, since percentiles of part of the data would mislead.
    """

    channels: int | None = None
    images: int = 0
    count: int = 0
    exact: bool = True
    sums: list[int] = field(default_factory=list)
    sums_sq: list[int] = field(default_factory=list)
    float_mean: list[float] = field(default_factory=list)
    float_m2: list[float] = field(default_factory=list)
    minimum: list[float] = field(default_factory=list)
    maximum: list[float] = field(default_factory=list)
    histogram: Histogram | None = None

    def update(self, images: Sequence[np.ndarray] | np.ndarray) -> None:
        """Fold a batch of H x W x C images (a list or a B x H x W x C array) in order."""
        for moments in batch_moments(list(images)):
            self.add(moments)

    def add(self, moments: ImageMoments) -> None:
        """Fold one image's moments in.

        Raises:
            ImgprepError: its channel count differs from the images before it.
        """
        if self.channels is None:
            self._start(moments.channels)
        elif moments.channels != self.channels:
            raise ImgprepError(
                f"image has {moments.channels} channel(s) but the images before it have "
                f"{self.channels}; choose one with {option('color')} grayscale, rgb or rgba"
            )
        self._add_histogram(moments.histogram)
        self.minimum = [min(a, b) for a, b in zip(self.minimum, moments.minimum, strict=True)]
        self.maximum = [max(a, b) for a, b in zip(self.maximum, moments.maximum, strict=True)]
        if self.exact and moments.sums is not None and moments.sums_sq is not None:
            self.sums = [a + b for a, b in zip(self.sums, moments.sums, strict=True)]
            self.sums_sq = [a + b for a, b in zip(self.sums_sq, moments.sums_sq, strict=True)]
        else:
            self._to_float()
            mean_b, m2_b = _float_parts(moments)
            merged = [
                chan_merge(self.count, ma, qa, moments.pixels, mb, qb)
                for ma, qa, mb, qb in zip(self.float_mean, self.float_m2, mean_b, m2_b, strict=True)
            ]
            self.float_mean = [m for _, m, _ in merged]
            self.float_m2 = [q for _, _, q in merged]
        self.count += moments.pixels
        self.images += moments.images

    def merge(self, other: MomentAccumulator) -> MomentAccumulator:
        """A new accumulator for the union of two disjoint datasets (exact when both are)."""
        if other.channels is None:
            return self.copy()
        if self.channels is None:
            return other.copy()
        if other.channels != self.channels:
            raise InputError(
                f"cannot merge statistics of {self.channels} and {other.channels} channel(s)"
            )
        result = self.copy()
        result.add(other.as_moments())
        return result

    def as_moments(self) -> ImageMoments:
        """Everything accumulated, as one part that ``add`` folds into another accumulator."""
        low, high = tuple(self.minimum), tuple(self.maximum)
        if self.exact:
            sums, squares = tuple(self.sums), tuple(self.sums_sq)
            histogram = self.histogram.copy() if self.histogram is not None else None
            return ImageMoments(
                self.count, low, high, sums, squares, images=self.images, histogram=histogram
            )
        return ImageMoments(
            self.count,
            low,
            high,
            mean=tuple(self.float_mean),
            m2=tuple(self.float_m2),
            images=self.images,
        )

    def copy(self) -> MomentAccumulator:
        return replace(
            self,
            sums=list(self.sums),
            sums_sq=list(self.sums_sq),
            float_mean=list(self.float_mean),
            float_m2=list(self.float_m2),
            minimum=list(self.minimum),
            maximum=list(self.maximum),
            histogram=self.histogram.copy() if self.histogram is not None else None,
        )

    def mean_m2(self) -> tuple[list[float], list[float]]:
        """Per-channel float64 mean and M2 (correctly rounded from the sums when exact)."""
        if not self.exact:
            return list(self.float_mean), list(self.float_m2)
        means = [float(Fraction(s, self.count)) for s in self.sums]
        m2s = [
            float(Fraction(self.count * q - s * s, self.count))
            for s, q in zip(self.sums, self.sums_sq, strict=True)
        ]
        return means, m2s

    def channel_stats(self) -> dict[str, np.ndarray]:
        """Per-channel ``mean``, ``std`` (population), ``min``, ``max`` as float64 arrays."""
        self._require_data()
        if self.exact:
            means = [float(Fraction(s, self.count)) for s in self.sums]
            stds = [
                _exact_std(self.count, s, q) for s, q in zip(self.sums, self.sums_sq, strict=True)
            ]
        else:
            means = list(self.float_mean)
            stds = [math.sqrt(max(q, 0.0) / self.count) for q in self.float_m2]
        return {
            "mean": np.array(means, dtype=np.float64),
            "std": np.array(stds, dtype=np.float64),
            "min": np.array(self.minimum, dtype=np.float64),
            "max": np.array(self.maximum, dtype=np.float64),
        }

    def global_stats(self) -> dict[str, float]:
        """Whole-image statistics over every pixel of every channel."""
        self._require_data()
        total = self.count * (self.channels or 0)
        if self.exact:
            s, q = sum(self.sums), sum(self.sums_sq)
            mean, std = float(Fraction(s, total)), _exact_std(total, s, q)
        else:
            n, mean, m2 = 0, 0.0, 0.0
            for mb, qb in zip(self.float_mean, self.float_m2, strict=True):
                n, mean, m2 = chan_merge(n, mean, m2, self.count, mb, qb)
            std = math.sqrt(max(m2, 0.0) / total)
        return {
            "count": total,
            "mean": mean,
            "std": std,
            "min": min(self.minimum),
            "max": max(self.maximum),
        }

    def summary(self, percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
        """The numbers a reader sees, JSON-ready: per-channel ``mean``, ``std``, ``min``,
        ``max``, the whole-image ``global``, and, when the histogram is known, the exact
        ``percentiles`` (``q``, per ``channels``, ``global``), under the keys (and in the
        order) that the stats file and ``inspect --json`` both write them."""
        channel = self.channel_stats()
        numbers: dict[str, Any] = {
            "mean": channel["mean"].tolist(),
            "std": channel["std"].tolist(),
            "min": [plain(v) for v in channel["min"].tolist()],
            "max": [plain(v) for v in channel["max"].tolist()],
            "global": {key: plain(value) for key, value in self.global_stats().items()},
        }
        if self.histogram is not None:
            per_channel, overall = self.histogram.percentiles(percentiles)
            numbers["percentiles"] = {
                "q": [plain(q) for q in percentiles],
                "channels": per_channel,
                "global": overall,
            }
        return numbers

    def to_dict(self) -> dict[str, Any]:
        """The raw, mergeable ``accumulators`` object of a stats file (lossless)."""
        means, m2s = self.mean_m2() if self.channels else ([], [])
        data: dict[str, Any] = {
            "channels": self.channels,
            "images": self.images,
            "count": self.count,
            "exact": self.exact,
            "mean": means,
            "m2": m2s,
            "min": [plain(v) for v in self.minimum],
            "max": [plain(v) for v in self.maximum],
        }
        if self.exact:
            data["sum"] = list(self.sums)
            data["sum_sq"] = list(self.sums_sq)
        if self.histogram is not None:
            data["histogram"] = self.histogram.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MomentAccumulator:
        try:
            exact = data["exact"]
            if not isinstance(exact, bool):
                raise TypeError("'exact' must be true or false")
            acc = cls(
                channels=data["channels"],
                images=int(data["images"]),
                count=int(data["count"]),
                exact=exact,
                minimum=[float(v) for v in data["min"]],
                maximum=[float(v) for v in data["max"]],
            )
            if exact:
                acc.sums = [_integer(v) for v in data["sum"]]
                acc.sums_sq = [_integer(v) for v in data["sum_sq"]]
                if data.get("histogram") is not None:
                    acc.histogram = Histogram.from_dict(data["histogram"])
            else:
                acc.float_mean = [float(v) for v in data["mean"]]
                acc.float_m2 = [float(v) for v in data["m2"]]
        except KeyError as exc:
            raise ValueError(f"accumulators has no {exc.args[0]!r}") from exc
        except TypeError as exc:
            raise ValueError(f"accumulators: {exc}") from exc
        return acc

    def _add_histogram(self, histogram: Histogram | None) -> None:
        """Add a part's counts; a part without them (or of another value range) ends the
        histogram, which must describe every pixel or none."""
        if histogram is None or not (self.exact or self.images == 0):
            self.histogram = None
        elif self.images == 0 and self.histogram is None:
            self.histogram = histogram.copy()
        elif self.histogram is not None and self.histogram.compatible(histogram):
            self.histogram.add(histogram)
        else:
            self.histogram = None

    def _start(self, channels: int) -> None:
        self.channels = channels
        self.sums = [0] * channels
        self.sums_sq = [0] * channels
        self.float_mean = [0.0] * channels
        self.float_m2 = [0.0] * channels
        self.minimum = [math.inf] * channels
        self.maximum = [-math.inf] * channels

    def _to_float(self) -> None:
        if self.exact:
            if self.count:
                self.float_mean, self.float_m2 = self.mean_m2()
            self.exact = False

    def _require_data(self) -> None:
        if not self.count:
            raise ImgprepError("no pixels were accumulated")


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"exact sums must be integers, not {value!r}")
    return value


def _float_parts(moments: ImageMoments) -> tuple[Sequence[float], Sequence[float]]:
    if moments.mean is not None and moments.m2 is not None:
        return moments.mean, moments.m2
    assert moments.sums is not None and moments.sums_sq is not None
    n = moments.pixels
    mean = [float(Fraction(s, n)) for s in moments.sums]
    m2 = [
        float(Fraction(n * q - s * s, n))
        for s, q in zip(moments.sums, moments.sums_sq, strict=True)
    ]
    return mean, m2


def _exact_std(n: int, s: int, q: int) -> float:
    """sqrt(n*q - s^2) / n, correctly rounded to float64 (one rounding, not two).

    The square root is taken with ``math.isqrt`` on the integer scaled to at least 240 bits,
    so the value before the final rounding is known to about 2^-120 relative; rounding the
    variance to float64 first and then taking ``math.sqrt`` would be off by one ulp about
    half the time (it is for the MNIST training set).
    """
    numerator = n * q - s * s
    if numerator <= 0:
        return 0.0
    shift = max(0, 240 - numerator.bit_length())
    shift += shift % 2
    scaled = numerator << shift
    root = math.isqrt(scaled)
    twice = 2 * root + (0 if root * root == scaled else 1)  # midpoint of [root, root + 1)
    return float(Fraction(twice, 2 * n * (1 << (shift // 2))))
