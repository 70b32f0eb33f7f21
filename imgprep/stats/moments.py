"""What one image, or a run of images, adds to the statistics: ``ImageMoments``.

Integer images (8 and 16 bits) give exact integer sums and sums of squares, counted from a
histogram (``ExactRun``); float images, and integers wider than 16 bits, give a two-pass
float64 mean and M2 per image. ``batch_moments`` turns a batch into such parts in input
order; ``MomentAccumulator`` (``imgprep.stats.accumulator``) folds them. Workers send these
parts, small tuples, instead of pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from imgprep.errors import ImgprepError
from imgprep.stats.histogram import Histogram

_MAX_VECTOR_ELEMENTS = 1 << 22
_FLOAT32_EXACT = (1 << 24) - 1  # pixels per calcHist call: its float32 counts stay exact


class ImageMoments(NamedTuple):
    """Summary of one image (or of ``images`` integer images), small enough to send.

    Integer images fill ``sums`` and ``sums_sq`` (exact) and ``histogram`` (the counts they
    were computed from); float images fill ``mean`` and ``m2``. ``minimum`` and ``maximum``
    are per channel; ``pixels`` is per channel.
    """

    pixels: int
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]
    sums: tuple[int, ...] | None = None
    sums_sq: tuple[int, ...] | None = None
    mean: tuple[float, ...] | None = None
    m2: tuple[float, ...] | None = None
    images: int = 1
    histogram: Histogram | None = None

    @property
    def channels(self) -> int:
        return len(self.minimum)


def image_moments(image: np.ndarray) -> ImageMoments:
    """Moments of one H x W x C (or N x C) array."""
    return batch_moments([image])[0]


def is_exact_dtype(dtype: np.dtype) -> bool:
    """8- and 16-bit integers (and bool) are summed exactly; wider types use float64."""
    return dtype == np.bool_ or (dtype.kind in "ui" and dtype.itemsize <= 2)


def batch_moments(images: Sequence[np.ndarray]) -> list[ImageMoments]:
    """Moments of a sequence of images, as parts in order.

    Consecutive exact-dtype images with the same dtype and channel count become one part
    (exact integer sums are associative, so this equals adding them one by one); every other
    image (float, or integers wider than 16 bits) is a part of its own, computed two-pass in
    float64, so that folding the parts in order does not depend on how images are batched.
    """
    parts: list[ImageMoments] = []
    start = 0
    while start < len(images):
        first = images[start]
        channels = _channels(first)
        stop = start + 1
        if is_exact_dtype(first.dtype):
            while (
                stop < len(images)
                and images[stop].dtype == first.dtype
                and _channels(images[stop]) == channels
            ):
                stop += 1
            parts.append(run_moments(images[start:stop]))
        else:
            while (
                stop < len(images)
                and images[stop].shape == first.shape
                and images[stop].dtype == first.dtype
            ):
                stop += 1
            parts.extend(_float_moments(images[start:stop]))
        start = stop
    return parts


def run_moments(images: Sequence[np.ndarray]) -> ImageMoments:
    """Exact moments of 8/16-bit integer images with one dtype and channel count, as one part."""
    if not images:
        raise ValueError("run_moments needs at least one image")
    run = ExactRun(images[0])
    for image in images:
        run.add(image)
    return run.moments()


class ExactRun:
    """Exact moments of 8/16-bit integer images added one at a time, in bounded memory.

    Each channel's values are counted with ``np.bincount`` (256 or 65536 bins); the sum, the
    sum of squares, the minimum and the maximum follow exactly from the histogram. That is
    one pass over the pixels and about 12 times faster than squaring int64 copies for RGB.
    Small images are held back until about 4M values are waiting, then counted in one call
    (per-call overhead matters at MNIST size); a larger image is counted as soon as it is
    added. So a run holds at most one image plus about 4M values, however many images it
    covers (a batch of 256 camera photos would otherwise be gigabytes), and every int64
    product stays exact.
    """

    def __init__(self, first: np.ndarray) -> None:
        self.dtype = first.dtype
        self.channels = _channels(first)
        if not is_exact_dtype(self.dtype):
            raise ValueError("ExactRun takes 8/16-bit integer images")
        self._signed = self.dtype.kind == "i"
        levels = 2 if self.dtype == np.bool_ else 1 << (8 * self.dtype.itemsize)
        self._offset = levels // 2 if self._signed else 0
        self._levels = levels
        self._histogram = np.zeros((self.channels, levels), dtype=np.int64)
        self._waiting: list[np.ndarray] = []
        self._waiting_size = 0
        self.pixels = 0
        self.images = 0

    def accepts(self, image: np.ndarray) -> bool:
        """Whether ``image`` can join this run (same dtype and channel count)."""
        return image.dtype == self.dtype and _channels(image) == self.channels

    def add(self, image: np.ndarray) -> None:
        if not self.accepts(image):
            raise ValueError("a run takes images of one dtype and channel count")
        self._waiting.append(image.reshape(-1, self.channels))
        self._waiting_size += image.size
        self.images += 1
        if self._waiting_size >= _MAX_VECTOR_ELEMENTS:
            self._count_waiting()

    def moments(self) -> ImageMoments:
        """The run's exact moments (the run stays usable)."""
        self._count_waiting()
        if self.pixels == 0:
            raise ImgprepError("cannot take statistics of an empty image")
        histogram = Histogram(-self._offset, self._histogram.copy())
        return histogram_moments(histogram, images=self.images)

    def _count_waiting(self) -> None:
        waiting = self._waiting
        if not waiting:
            return
        flat = np.concatenate(waiting) if len(waiting) > 1 else waiting[0]
        self._waiting, self._waiting_size = [], 0
        if self._signed:
            flat = flat.astype(np.int32) + self._offset
        elif self.dtype == np.bool_:
            flat = flat.view(np.uint8)
        if self.dtype == np.uint8 and self.channels <= 4:
            _count_uint8(self._histogram, flat)
        else:
            for c in range(self.channels):
                self._histogram[c] += np.bincount(flat[:, c], minlength=self._levels)
        self.pixels += flat.shape[0]


def _count_uint8(histogram: np.ndarray, flat: np.ndarray) -> None:
    """Add the per-channel counts of (pixels, channels) uint8 values to ``histogram``.

    OpenCV's ``calcHist`` reads the interleaved bytes as they are: 0.30 ms per 0.5 MPix RGB
    photo, where ``np.bincount`` first widens every value of each strided channel to 64 bits
    (1.37 ms). Its counts are float32, exact integers up to 2^24, so at most 2^24 - 1 pixels
    are counted per call (the same counts as ``np.bincount``, tested).
    """
    image = np.ascontiguousarray(flat).reshape(-1, 1, flat.shape[1])
    for start in range(0, len(image), _FLOAT32_EXACT):
        part = image[start : start + _FLOAT32_EXACT]
        for c in range(flat.shape[1]):
            counts = cv2.calcHist([part], [c], None, [256], [0, 256])
            histogram[c] += counts.reshape(-1).astype(np.int64)


def histogram_moments(histogram: Histogram, *, images: int) -> ImageMoments:
    """The exact moments of the pixels a histogram counts (``images`` of them), with it."""
    values = histogram.values
    squares = values * values
    sums, sums_sq, low, high = [], [], [], []
    for counts in histogram.counts:
        present = np.flatnonzero(counts)
        sums.append(_exact_dot(counts, values))
        sums_sq.append(_exact_dot(counts, squares))
        low.append(int(values[present[0]]))
        high.append(int(values[present[-1]]))
    return ImageMoments(
        int(histogram.counts[0].sum()),
        tuple(low),
        tuple(high),
        tuple(sums),
        tuple(sums_sq),
        images=images,
        histogram=histogram,
    )


def _exact_dot(counts: np.ndarray, values: np.ndarray) -> int:
    """sum(counts * values) as an exact Python int.

    NumPy's int64 dot is exact while the total cannot reach 2^62, which holds for any run
    under a billion pixels; beyond that the nonzero bins are summed as Python ints.
    """
    present = np.flatnonzero(counts)
    counts, values = counts[present], values[present]
    if not present.size:
        return 0
    if int(counts.sum()) * int(np.abs(values).max()) < 1 << 62:
        return int(np.dot(counts, values))
    return sum(int(c) * int(v) for c, v in zip(counts.tolist(), values.tolist(), strict=True))


def _channels(image: np.ndarray) -> int:
    return image.shape[-1] if image.ndim >= 2 else 1


def _float_moments(group: Sequence[np.ndarray]) -> list[ImageMoments]:
    """Per-image two-pass float64 moments of same-shape images."""
    channels = _channels(group[0])
    stacked = np.stack([image.reshape(-1, channels) for image in group]).astype(np.float64)
    if stacked.shape[1] == 0:
        raise ImgprepError("cannot take statistics of an empty image")
    pixels = stacked.shape[1]
    means = stacked.mean(axis=1)
    m2s = ((stacked - means[:, None, :]) ** 2).sum(axis=1)
    return [
        ImageMoments(pixels, tuple(mn), tuple(mx), mean=tuple(m), m2=tuple(q))
        for mn, mx, m, q in zip(
            stacked.min(axis=1).tolist(),
            stacked.max(axis=1).tolist(),
            means.tolist(),
            m2s.tolist(),
            strict=True,
        )
    ]
