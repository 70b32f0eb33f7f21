"""What ``inspect`` keeps of each image besides the statistics: its ``Profile`` row.

A profile row is a few dozen bytes per image: its size, its mean and whether it is constant
(for the shape and outlier report), an exact digest of its decoded pixels, and a 64-bit
perceptual hash (for duplicates and split leakage, ``imgprep.duplicates``). Workers compute
them from the pixels they decode for the statistics anyway, so a check costs no second decode.

- ``digest``: the first 16 bytes of the SHA-256 of the dtype, the shape and the pixel bytes.
  Two files match when their decoded pixels are identical, whatever their format or
  compression (a PNG and its re-saved copy, a lossless WebP of it).
- ``phash``: the DCT perceptual hash (pHash, as Zauner 2010 and the ``imagehash`` library):
  the image reduced to 32 x 32 by area averaging (OpenCV ``INTER_AREA``, after an exact
  integer-factor reduction that drops at most a few border pixels of large images), its
  ITU-R 601-2 luma, the 8 x 8 lowest frequencies of its DCT-II, one bit per coefficient:
  above their median or not (first coefficient, the top-left one, in the highest bit).
  Re-encoding, rescaling and mild colour changes move a few bits; different images differ
  in about half of them.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import cv2
import numpy as np

THUMBNAIL = 32  # the side the image is reduced to before the DCT
HASH_SIDE = 8  # 8 x 8 = 64 bits
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's "L"

PROFILE_DTYPE = np.dtype(
    [
        ("index", np.int64),  # position in the run's file list
        ("height", np.int32),
        ("width", np.int32),
        ("mean", np.float64),  # over every pixel and channel
        ("constant", np.bool_),  # every value equal
        ("digest", "S16"),
        ("phash", np.uint64),
        ("flat", np.bool_),  # a uniform thumbnail: its hash would be rounding noise
    ]
)


class Profiler:
    """Collects the profile rows of a batch's images as they are decoded; ``rows()`` hashes
    their thumbnails in one matrix product (per image, NumPy's call overhead would cost as
    much as a small image's decode)."""

    def __init__(self) -> None:
        self._columns: tuple[list, ...] = ([], [], [], [], [], [])  # index ... digest
        self._thumbnails: list[np.ndarray | None] = []
        self._small: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}

    def add(self, index: int, image: np.ndarray) -> None:
        position = len(self._thumbnails)
        if _batched(image):  # its mean, constancy and thumbnail come with its batch's
            self._small.setdefault(image.shape, []).append((position, image))
            mean, constant, small = 0.0, False, None
        else:
            (mean, constant), small = mean_and_constant(image), thumbnail(image)
        for column, value in zip(
            self._columns,
            (index, image.shape[0], image.shape[1], mean, constant, pixel_digest(image)),
            strict=True,
        ):
            column.append(value)
        self._thumbnails.append(small)

    def rows(self) -> np.ndarray:
        for group in self._small.values():
            positions = [position for position, _ in group]
            stack = np.stack([image for _, image in group])
            flat = stack.reshape(len(stack), -1)
            means = flat.mean(axis=1, dtype=np.float64)  # exact sums: mean_and_constant's
            constant = flat.min(axis=1) == flat.max(axis=1)
            for position, mean, same, small in zip(
                positions, means.tolist(), constant.tolist(), small_thumbnails(stack),
                strict=True,
            ):  # fmt: skip
                self._columns[3][position] = mean
                self._columns[4][position] = same
                self._thumbnails[position] = small
        self._small = {}
        rows = np.zeros(len(self._thumbnails), dtype=PROFILE_DTYPE)
        for name, column in zip(PROFILE_DTYPE.names or (), self._columns, strict=False):
            rows[name] = column
        if len(rows):
            rows["phash"], rows["flat"] = phashes(
                np.stack(self._thumbnails).astype(np.float64), with_flat=True
            )
        return rows


def _batched(image: np.ndarray) -> bool:
    """8-bit images no larger than the thumbnail (MNIST, CIFAR): OpenCV enlarges many planes
    at once with the same arithmetic as one (tested), 2.5 us per image instead of 5, and
    their means and constancy are one NumPy call per batch."""
    return (
        image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[0] <= THUMBNAIL
        and image.shape[1] <= THUMBNAIL
        and image.shape[2] <= 4
    )


def small_thumbnails(stack: np.ndarray) -> list[np.ndarray]:
    """``thumbnail`` of each image of an N x H x W x C uint8 stack (H, W <= 32), the planes of
    up to ``_PLANES`` images enlarged in one OpenCV call (its channel limit is 128)."""
    count, height, width, channels = stack.shape
    colour = channels >= 3
    used = stack[..., :3] if colour else stack[..., :1]
    per_image = 3 if colour else 1
    planes = np.ascontiguousarray(used.transpose(1, 2, 0, 3).reshape(height, width, -1))
    step = (_PLANES // per_image) * per_image
    parts = []
    for start in range(0, planes.shape[2], step):
        out = _area(planes[:, :, start : start + step], (THUMBNAIL, THUMBNAIL))
        parts.append(out if out.ndim == 3 else out[:, :, None])
    enlarged = np.concatenate(parts, axis=2).reshape(THUMBNAIL, THUMBNAIL, count, per_image)
    images = enlarged.transpose(2, 0, 1, 3)
    if colour:
        return list(images @ LUMA)
    return list(images[..., 0])


_PLANES = 126  # planes per OpenCV call: a multiple of 3 under its limit of 128 channels


def pixel_digest(image: np.ndarray) -> bytes:
    """16 bytes of SHA-256 over the dtype, the shape and the pixels (C order)."""
    array = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.digest()[:16]


def mean_and_constant(image: np.ndarray) -> tuple[float, bool]:
    """The mean of every value (float64) and whether all values are equal, of an H x W x C
    image (OpenCV's vectorized sum and min/max: 0.1 ms for a 0.6 MPix photo, not 0.4)."""
    array = _opencv_pixels(image)
    flat = array.reshape(-1)
    if flat.size == 0:
        return 0.0, True
    if array.shape[2] > 4:  # beyond what cv2.sumElems sums
        return float(flat.mean(dtype=np.float64)), bool(flat.min() == flat.max())
    total = sum(cv2.sumElems(array))
    low, high, _, _ = cv2.minMaxLoc(flat)
    return float(total) / flat.size, bool(low == high)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The 32 x 32 luma the perceptual hash is taken from, of an H x W x C image
    (alpha and channels beyond the third ignored; one channel is luma already)."""
    array = _opencv_pixels(image)
    array = array[:, :, :3] if array.shape[2] >= 3 else array[:, :, 0]
    height, width = array.shape[:2]
    factor = max(1, min(height, width) // THUMBNAIL)
    if factor > 1:  # OpenCV's integer-factor area path: exact block means, fast
        cropped = array[: height // factor * factor, : width // factor * factor]
        array = _area(cropped, (width // factor, height // factor))
    small = _area(array, (THUMBNAIL, THUMBNAIL))  # in the pixels' dtype: one cast per batch
    return small @ LUMA if small.ndim == 3 else small


def phashes(thumbnails: np.ndarray, *, with_flat: bool = False) -> Any:
    """The 64-bit perceptual hashes (uint64) of a stack of 32 x 32 thumbnails (N x 32 x 32);
    ``with_flat``: also which thumbnails are uniform (every frequency but the first below
    1e-9 of it), whose bits would compare rounding noise (they are 0 there)."""
    if len(thumbnails) == 0:
        empty = np.zeros(0, dtype=np.uint64)
        return (empty, np.zeros(0, dtype=bool)) if with_flat else empty
    basis, n = _dct_rows(), len(thumbnails)
    # the DCT of the columns, then of the rows, each as one (n * 32) x 32 x 8 product
    columns = (thumbnails.reshape(n * THUMBNAIL, THUMBNAIL) @ basis.T).reshape(n, THUMBNAIL, 8)
    rows = columns.transpose(0, 2, 1).reshape(n * HASH_SIDE, THUMBNAIL) @ basis.T
    flat = rows.reshape(n, HASH_SIDE, HASH_SIDE).transpose(0, 2, 1).reshape(n, -1)
    middle = np.partition(flat, (31, 32), axis=1)[:, 31:33]  # the median of 64: their mean
    bits = flat > middle.mean(axis=1, keepdims=True)
    hashes = np.packbits(bits, axis=1).view(">u8")[:, 0].astype(np.uint64)
    uniform = np.abs(flat[:, 1:]).max(axis=1) <= 1e-9 * np.maximum(np.abs(flat[:, 0]), 1.0)
    hashes[uniform] = 0
    return (hashes, uniform) if with_flat else hashes


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences between uint64 hashes, elementwise (int64)."""
    different = np.bitwise_xor(a, b)
    if hasattr(np, "bitwise_count"):  # NumPy 2
        return np.bitwise_count(different).astype(np.int64)
    halves = np.ascontiguousarray(different).view(np.uint16).reshape(*different.shape, 4)
    return _popcount16()[halves].sum(axis=-1, dtype=np.int64)


@functools.cache
def _popcount16() -> np.ndarray:
    """Set bits of every 16-bit value (NumPy 1 only): built on first use, not at import,
    where it cost every command 10 ms."""
    return np.array([bin(v).count("1") for v in range(1 << 16)], dtype=np.uint8)


def _dct_rows() -> np.ndarray:
    """The first 8 rows of the unnormalized DCT-II matrix of size 32 (SciPy's default
    scaling, 2 cos(pi k (2n + 1) / 64), as imagehash uses)."""
    k = np.arange(HASH_SIDE)[:, None]
    n = np.arange(THUMBNAIL)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * THUMBNAIL))


def _area(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA)


def _opencv_pixels(image: np.ndarray) -> np.ndarray:
    """H x W x C in a dtype OpenCV reduces and resizes (uint8, uint16, float32 as they are;
    bool as uint8; others as float32 or float64)."""
    array = image if image.ndim == 3 else image.reshape(*image.shape[:2], -1)
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype in (np.uint8, np.uint16, np.float32, np.float64):
        return array
    return array.astype(np.float64 if array.dtype.itemsize > 2 else np.float32)
