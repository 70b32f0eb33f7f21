"""RandAugment (Cubuk et al. 2019) as torchvision's ``RandAugment``: N of 14 operations per copy.

``randaugment`` (N, M): each copy applies N operations, each chosen uniformly (with
repetition) from torchvision's list, at magnitude bin M of 31 (0-30), each signed magnitude
negated with probability 1/2 (``RandAugment._AUGMENTATION_SPACE``, torchvision 0.2x):

=============  ==========================================  ====================================
operation      magnitude at bin M (of 0..30)               what it does (fill 0, nearest)
=============  ==========================================  ====================================
Identity       -                                           nothing
ShearX/Y       0.3 M / 30, signed                          shear about the top / left edge
TranslateX/Y   int(150 / 331 x width (height) x M / 30)    shift by whole pixels, signed
Rotate         30 M / 30 degrees, signed                   about the centre, counter-clockwise
Brightness     1 + 0.9 M / 30 (signed part)                blend with black (x f)
Color          1 + 0.9 M / 30                              blend with the grayscale image
Contrast       1 + 0.9 M / 30                              blend with the grayscale mean
Sharpness      1 + 0.9 M / 30                              blend with a 3x3 smoothed image
Posterize      8 - round(M / 7.5) bits                     keep 2^bits levels (floor)
Solarize       1 - M / 30 of the maximum                   invert pixels at or above it
AutoContrast   -                                           stretch each channel to the range
Equalize       -                                           equalize each channel's histogram
=============  ==========================================  ====================================

Torchvision's kernels (``torchvision.transforms.v2.functional``), on the copy's float32 work
array, values on the dtype's range; the geometric ones move every channel (OpenCV's
``warpAffine``, nearest neighbour, border 0, with torchvision's inverse maps); the others
leave an alpha channel (the last of 2 or 4) as it is; Color is nothing on one channel. Two
documented differences: the result is rounded once at the end of the chain (torchvision's
uint8 path truncates after each blend), and magnitudes are computed in float64. Posterize on
16-bit and float images keeps 2^bits levels of their range; Equalize works on 256 levels
(16-bit and float copies through 8 bits, as the JPEG operation).

Columns ``randaugment_ops`` (the names chosen, comma-separated, in the order applied) and
``randaugment_signs`` (bit j set: operation j's magnitude was negated).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from imgprep.augment.keyed import named_slots
from imgprep.augment.ops.colour import colour_channels
from imgprep.augment.scale import dtype_maximum
from imgprep.augment.spec import Caption, Column, Option, PixelOperation
from imgprep.errors import InputError, option

BINS = 31  # torchvision's num_magnitude_bins
MAX_OPERATIONS = 10  # N at most (each reads two draw slots: the choice and the sign)
NAMES = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
    "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)  # fmt: skip
SIGNED = frozenset(
    {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
     "Contrast", "Sharpness"}
)  # fmt: skip
OPS_BYTES = 160  # the randaugment_ops column's width: 10 names of at most 12 letters, commas


def magnitude(name: str, bin_: int, height: int, width: int) -> float:
    """The unsigned magnitude of operation ``name`` at bin ``bin_`` (torchvision's
    ``linspace(0, top, 31)[bin]``, in float64; 0 for the operations without one)."""
    fraction = bin_ / (BINS - 1)
    tops = {
        "ShearX": 0.3, "ShearY": 0.3, "Rotate": 30.0, "Brightness": 0.9, "Color": 0.9,
        "Contrast": 0.9, "Sharpness": 0.9,
        "TranslateX": 150.0 / 331.0 * width, "TranslateY": 150.0 / 331.0 * height,
    }  # fmt: skip
    if name in tops:
        return tops[name] * fraction
    if name == "Posterize":
        return float(round(8 - bin_ / ((BINS - 1) / 4)))  # half to even, as torch.round
    if name == "Solarize":
        return 1.0 - fraction
    return 0.0


def _warp(work: np.ndarray, matrix: tuple[float, ...]) -> np.ndarray:
    """``work`` resampled through the inverse map (x_in, y_in) = (m0 x + m1 y + m2, m3 x +
    m4 y + m5) in pixel indices: nearest neighbour, outside pixels 0 (every channel)."""
    height, width = work.shape[:2]
    inverse = np.array(matrix, dtype=np.float64).reshape(2, 3)
    flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    planes = []
    for c in range(work.shape[2]):
        plane = np.ascontiguousarray(work[:, :, c])
        planes.append(cv2.warpAffine(plane, inverse, (width, height), flags=flags, borderValue=0.0))
    return np.stack(planes, axis=2)


def shear_x(work: np.ndarray, m: float) -> np.ndarray:
    """torchvision's ``affine(shear=[degrees(atan(m)), 0], center=[0, 0])``: pixel (x, y)
    reads (x + m (y + 0.5), y)."""
    return _warp(work, (1.0, m, 0.5 * m, 0.0, 1.0, 0.0))


def shear_y(work: np.ndarray, m: float) -> np.ndarray:
    """Pixel (x, y) reads (x, y + m (x + 0.5))."""
    return _warp(work, (1.0, 0.0, 0.0, m, 1.0, 0.5 * m))


def rotate(work: np.ndarray, degrees: float) -> np.ndarray:
    """torchvision's ``rotate`` (counter-clockwise, about ((w - 1) / 2, (h - 1) / 2))."""
    height, width = work.shape[:2]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _warp(work, (c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy))


def translate(work: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shifted right by ``dx`` and down by ``dy`` whole pixels, the uncovered part 0."""
    out = np.zeros_like(work)
    height, width = work.shape[:2]
    if abs(dx) >= width or abs(dy) >= height:
        return out
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = work[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def _blend(colour: np.ndarray, other: np.ndarray | float, factor: float, bound: float) -> None:
    """``colour`` := clip(factor x colour + (1 - factor) x other, 0, bound), in place."""
    colour *= np.float32(factor)
    colour += np.float32(1.0 - factor) * np.asarray(other, dtype=np.float32)
    np.clip(colour, 0, bound, out=colour)


def _gray(colour: np.ndarray) -> np.ndarray:
    """torchvision's ``rgb_to_grayscale`` (0.2989 R + 0.587 G + 0.114 B), H x W x 1."""
    if colour.shape[2] == 1:
        return colour
    weights = np.array([0.2989, 0.587, 0.114], dtype=np.float32)
    return (colour[:, :, :3] @ weights)[:, :, None]


def brightness(work: np.ndarray, factor: float, bound: float) -> np.ndarray:
    _blend(colour_channels(work), 0.0, factor, bound)
    return work


def color(work: np.ndarray, factor: float, bound: float) -> np.ndarray:
    colour = colour_channels(work)
    if colour.shape[2] >= 3:
        _blend(colour, _gray(colour), factor, bound)
    return work


def contrast(work: np.ndarray, factor: float, bound: float) -> np.ndarray:
    colour = colour_channels(work)
    _blend(colour, float(_gray(colour).mean(dtype=np.float64)), factor, bound)
    return work


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / np.float32(13)


def sharpness(work: np.ndarray, factor: float, bound: float) -> np.ndarray:
    """torchvision's ``adjust_sharpness``: the blend with the image whose interior is
    smoothed by [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 (its border pixels kept)."""
    if work.shape[0] <= 2 or work.shape[1] <= 2:
        return work
    colour = colour_channels(work)
    degenerate = colour.copy()
    for c in range(colour.shape[2]):
        smoothed = cv2.filter2D(np.ascontiguousarray(colour[:, :, c]), -1, _SMOOTH)
        degenerate[1:-1, 1:-1, c] = smoothed[1:-1, 1:-1]
    _blend(colour, degenerate, factor, bound)
    return work


def posterize(work: np.ndarray, bits: int, dtype: np.dtype) -> np.ndarray:
    """2^bits levels: integer images floor(x / step) x step (step: (max + 1) / 2^bits; for
    uint8 torchvision's bit mask), float ones floor(x 2^bits) / 2^bits clipped below 1."""
    colour = colour_channels(work)
    levels = float(1 << bits)
    if np.dtype(dtype).kind in "ui":
        step = np.float32((dtype_maximum(dtype) + 1) / levels)
        np.floor(colour / step, out=colour)
        colour *= step
    else:
        np.floor(colour * np.float32(levels), out=colour)
        np.clip(colour, 0, levels - 1, out=colour)
        colour /= np.float32(levels)
    return work


def solarize(work: np.ndarray, threshold: float, bound: float) -> np.ndarray:
    colour = colour_channels(work)
    np.copyto(colour, np.float32(bound) - colour, where=colour >= np.float32(threshold * bound))
    return work


def autocontrast(work: np.ndarray, bound: float) -> np.ndarray:
    """Each colour channel stretched from its min and max to [0, bound] (unchanged when
    constant), as torchvision's ``autocontrast``."""
    colour = colour_channels(work)
    for c in range(colour.shape[2]):
        plane = colour[:, :, c]
        low, high = float(plane.min()), float(plane.max())
        if high > low:
            plane -= np.float32(low)
            plane /= np.float32((high - low) / bound)
            np.clip(plane, 0, bound, out=plane)
    return work


def equalize(work: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Each colour channel's histogram equalized as Pillow's ``ImageOps.equalize`` (and
    torchvision's): on 256 levels (16-bit and float through 8 bits)."""
    colour = colour_channels(work)
    maximum = dtype_maximum(dtype)
    for c in range(colour.shape[2]):
        plane = colour[:, :, c]
        levels = np.clip(np.rint(plane * np.float32(255.0 / maximum)), 0, 255).astype(np.int64)
        histogram = np.bincount(levels.ravel(), minlength=256)
        used = histogram[histogram > 0]
        step = (int(used.sum()) - int(used[-1])) // 255 if len(used) > 1 else 0
        if not step:
            continue
        table = (np.concatenate([[0], np.cumsum(histogram)[:-1]]) + step // 2) // step
        table = np.minimum(table, 255).astype(np.float32) * np.float32(maximum / 255.0)
        plane[...] = table[levels]
    return work


def apply_named(
    work: np.ndarray, name: str, signed_magnitude: float, dtype: np.dtype
) -> np.ndarray:
    """One RandAugment operation at its (signed) magnitude on float32 ``work``."""
    bound = dtype_maximum(dtype)
    m = signed_magnitude
    kernels: dict[str, Callable[[], np.ndarray]] = {
        "Identity": lambda: work,
        "ShearX": lambda: shear_x(work, m),
        "ShearY": lambda: shear_y(work, m),
        "TranslateX": lambda: translate(work, int(m), 0),
        "TranslateY": lambda: translate(work, 0, int(m)),
        "Rotate": lambda: rotate(work, m),
        "Brightness": lambda: brightness(work, 1.0 + m, bound),
        "Color": lambda: color(work, 1.0 + m, bound),
        "Contrast": lambda: contrast(work, 1.0 + m, bound),
        "Sharpness": lambda: sharpness(work, 1.0 + m, bound),
        "Posterize": lambda: posterize(work, int(m), dtype),
        "Solarize": lambda: solarize(work, m, bound),
        "AutoContrast": lambda: autocontrast(work, bound),
        "Equalize": lambda: equalize(work, dtype),
    }
    return kernels[name]()


class RandAugmentOption(Option):
    """``N,M``: a whole number of operations (1 to 10) and a whole magnitude bin (0 to 30)."""

    def _check_range(self, value: Any) -> Any:
        if value is None:
            return None
        count, bin_ = value
        whole = all(math.isfinite(v) and float(v).is_integer() for v in (count, bin_))
        if not whole or not 1 <= count <= MAX_OPERATIONS or not 0 <= bin_ <= BINS - 1:
            raise InputError(
                f"{option(self.key)} must be N,M with whole N from 1 to {MAX_OPERATIONS} and "
                f"M from 0 to {BINS - 1}, got {count:g},{bin_:g}"
            )
        return (float(count), float(bin_))


class RandAugment(PixelOperation):
    """N operations of torchvision's RandAugment list at magnitude bin M."""

    name = "randaugment"
    order = 60
    options = (
        RandAugmentOption("randaugment", "range", None,
                          "Augment: RandAugment, N operations per copy at magnitude M of "
                          "0-30 (torchvision's RandAugment(N, M)).",
                          metavar="N,M"),
    )  # fmt: skip
    columns = (
        Column("randaugment_ops", f"S{OPS_BYTES}", ""),
        Column("randaugment_signs", "float64", 0.0),
    )
    draw_slots = named_slots(name, 2 * MAX_OPERATIONS)

    def active(self, settings: Any) -> bool:
        return settings.randaugment is not None

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        count = len(draws)
        if not self.active(settings):
            return np.array([""] * count, dtype=object), np.zeros(count)
        n = int(settings.randaugment[0])
        chosen = np.minimum(np.floor(draws[:, :n] * len(NAMES)), len(NAMES) - 1).astype(int)
        negative = draws[:, MAX_OPERATIONS : MAX_OPERATIONS + n] <= 0.5
        names = np.array(NAMES)[chosen]
        signed = np.isin(names, list(SIGNED)) & negative
        signs = (signed * (1 << np.arange(n))).sum(axis=1).astype(np.float64)
        ops = np.array([",".join(row) for row in names], dtype=object)
        return ops, signs

    def identity(self, params: Any) -> bool:
        return not params.randaugment_ops

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        bin_ = int(settings.randaugment[1])
        signs = int(params.randaugment_signs)
        for j, name in enumerate(params.randaugment_ops.split(",")):
            m = magnitude(name, bin_, work.shape[0], work.shape[1])
            work = apply_named(work, name, -m if signs >> j & 1 else m, source_dtype)
        return work

    def caption(self, params: Any) -> tuple[Caption, ...]:
        if self.identity(params):
            return ()
        return ((1, 60, params.randaugment_ops.replace(",", " ")),)


OPERATIONS = (RandAugment(),)
