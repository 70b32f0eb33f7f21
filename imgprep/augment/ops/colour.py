"""tf.image's colour operations, after the warp and Keras' intensity ones, in this order.

Images stay on their dtype's range (0-255 uint8, 0-65535 uint16, 0-1 float32); tf.image
works on 0-1, so its deltas are fractions of the dtype's maximum here. An alpha channel (the
last of 2 or 4) is never changed. Integer images are clipped to their range, float images
are not (as tf.image leaves floats alone).

- ``brightness_delta`` D: add one delta uniform in [-D, D] times the dtype's maximum to every
  colour channel (``tf.image.random_brightness``); column ``brightness_delta`` is the
  fraction (tf's delta), the added value is that times the maximum.
- ``contrast_range`` (lo, hi): per channel, (x - mean) f + mean, the mean of that channel
  over the copy, f uniform in [lo, hi] (``tf.image.adjust_contrast``); column
  ``contrast_factor``.
- ``saturation_range`` (lo, hi): the HSV saturation times f uniform in [lo, hi], clipped to
  [0, 1] (``tf.image.adjust_saturation``); column ``saturation_factor``. Colour images only.
- ``hue_delta`` D (at most 0.5 turn): the HSV hue turned by a delta uniform in [-D, D]
  (``tf.image.adjust_hue``); column ``hue_delta``, in turns. Colour images only.
- ``grayscale_prob`` P: with probability P, every colour channel becomes the ITU-R 601-2
  luma (torchvision's ``RandomGrayscale``); uint8 as Pillow's ``convert("L")`` (its fixed
  point weights, rounded half up), others 0.299 R + 0.587 G + 0.114 B; column ``grayscale``.
  Colour images only.

HSV is computed in float32 on the pixel values themselves: hue and saturation do not depend
on the scale and value is the channel maximum, so scaling by the dtype's maximum and back is
not needed. The formulas are colorsys' (and tf.image's kernels').

Brightness delta, contrast and grayscale also have 8-bit kernels (``apply_uint8``: 256-entry
look-up tables built with the same float32 arithmetic, and the luma's exact integer sums), used
when one of them is a uint8 copy's only pixel operation: the same bytes without the float32
round trip (tested against the float32 path on random images).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from imgprep.augment.keyed import in_range, named_slots, symmetric
from imgprep.augment.lut import brightness_table, contrast_tables, lookup, luma_uint8
from imgprep.augment.scale import clip_to_dtype, dtype_maximum
from imgprep.augment.spec import Caption, Column, Option, PixelOperation
from imgprep.errors import InputError, option


def colour_channels(work: np.ndarray) -> np.ndarray:
    """A view of ``work``'s colour channels: all of 1 or 3, the first of 2 or 4 (alpha)."""
    channels = work.shape[2]
    return work[:, :, : channels - 1] if channels in (2, 4) else work


def _rgb(work: np.ndarray, key: str) -> np.ndarray:
    """The RGB view of a 3- or 4-channel ``work``; other channel counts are refused."""
    if work.shape[2] not in (3, 4):
        raise InputError(refusal(key))
    return work[:, :, :3]


def refusal(key: str) -> str:
    """The message refusing the colour-only option ``key`` on images without colour."""
    return f"{option(key)} needs colour images: pass {option('color')} rgb"


def shift_brightness(work: np.ndarray, *, delta: float, dtype: np.dtype) -> np.ndarray:
    """``work`` (float32, H x W x C, changed in place) with ``delta`` times ``dtype``'s
    maximum added to its colour channels, clipped to an integer ``dtype``'s range."""
    colour = colour_channels(work)
    shift = np.float32(delta * dtype_maximum(dtype))
    if not _per_channel(work, [shift] * colour.shape[2], add=True):
        colour += shift
    clip_to_dtype(colour, dtype)
    return work


def adjust_contrast(work: np.ndarray, *, factor: float, dtype: np.dtype) -> np.ndarray:
    """``work`` (float32, changed in place): each colour channel's distance from its mean
    over the image times ``factor`` (means in float64), clipped to an integer ``dtype``.

    The means come from OpenCV's ``mean`` (double accumulation; within 1e-11 relative of
    NumPy's float64 mean, 15 us against 610 us for a 224 x 224 RGB copy, whose strided
    float64 reduction was most of the operation's time)."""
    colour = colour_channels(work)
    if work.flags.c_contiguous and work.shape[2] <= 4:
        means = cv2.mean(work)[: colour.shape[2]]
    else:
        means = colour.mean(axis=(0, 1), dtype=np.float64)
    mean = np.asarray(means, dtype=np.float64).astype(np.float32)
    scale = np.float32(factor)
    if not _per_channel(work, list(-mean), add=True):
        colour -= mean
        colour *= scale
        colour += mean
    else:
        _per_channel(work, [scale] * colour.shape[2], add=False)
        _per_channel(work, list(mean), add=True)
    clip_to_dtype(colour, dtype)
    return work


def _per_channel(work: np.ndarray, values: list[np.float32], *, add: bool) -> bool:
    """Add ``values`` to (or multiply by them) the colour channels of a contiguous float32
    ``work``, in place, as one operation on its rows with the values tiled along them
    (alpha: + 0 or x 1): the same float32 operations, bit for bit, 4-5x faster than NumPy's
    broadcast over a last axis of 3. False (nothing done) for other arrays."""
    height, width, channels = work.shape
    if not (work.flags.c_contiguous and work.dtype == np.float32):
        return False
    neutral = np.float32(0.0 if add else 1.0)
    row = np.array([*values, *[neutral] * (channels - len(values))], dtype=np.float32)
    flat = work.reshape(height, width * channels)
    (np.add if add else np.multiply)(flat, np.tile(row, width), out=flat)
    return True


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's HSV of an H x W x 3 float32 RGB view: hue in degrees [0, 360), saturation
    [0, 1], value the channel maximum on the pixels' own scale (so 8-bit, 16-bit and float
    pixels alike). 15x faster than the vectorized NumPy HSV it replaced for a 224 x 224 copy
    (150 against 2,300 us), within 3e-4 grey levels of it and of colorsys."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)


def adjust_saturation(work: np.ndarray, *, factor: float) -> np.ndarray:
    """``work`` (float32, 3 or 4 channels, changed in place) with its HSV saturation times
    ``factor``, clipped to [0, 1]; hue, value and alpha kept."""
    rgb = _rgb(work, "saturation-range")
    hsv = _hsv(rgb)
    saturation = hsv[:, :, 1]
    saturation *= np.float32(factor)
    np.clip(saturation, 0, 1, out=saturation)
    rgb[...] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return work


def adjust_hue(work: np.ndarray, *, delta: float) -> np.ndarray:
    """``work`` (float32, 3 or 4 channels, changed in place) with its HSV hue turned by
    ``delta`` turns (modulo 1); saturation, value and alpha kept."""
    rgb = _rgb(work, "hue-delta")
    # OpenCV's HSV2RGB takes hues in [0, 720) (it wraps them; not negative ones): adding the
    # turn as a whole number in [0, 360) to the whole contiguous array needs no modulo on
    # the strided hue plane (141 against 659 us for a 224 x 224 copy; within 2e-4 of it)
    turn = (delta % 1.0) * 360.0
    shifted = cv2.add(_hsv(rgb), (turn, 0.0, 0.0, 0.0))
    rgb[...] = cv2.cvtColor(shifted, cv2.COLOR_HSV2RGB)
    return work


def to_grayscale(work: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
    """``work`` (float32, 3 or 4 channels, changed in place) with R, G and B replaced by the
    ITU-R 601-2 luma. For uint8 sources Pillow's ``convert("L")``: (19595 R + 38470 G +
    7471 B + 32768) >> 16, bit-exact on integer pixels (integer-valued on any); otherwise
    0.299 R + 0.587 G + 0.114 B. Computed in float64."""
    rgb = _rgb(work, "grayscale-prob").astype(np.float64)
    if np.dtype(dtype) == np.uint8:
        luma = np.floor((rgb @ np.array([19595.0, 38470.0, 7471.0]) + 32768.0) / 65536.0)
    else:
        luma = rgb @ np.array([0.299, 0.587, 0.114])
    plane = luma.astype(np.float32)
    planes = [plane, plane, plane] + ([work[:, :, 3].copy()] if work.shape[2] == 4 else [])
    work[...] = cv2.merge(planes).reshape(work.shape)  # not a broadcast into strided channels
    return work


def _range_active(value: Any) -> bool:
    return value is not None and value != (1.0, 1.0)


class BrightnessDelta(PixelOperation):
    """One delta in [-D, D] of the dtype's maximum added (``tf.image.random_brightness``)."""

    name = "brightness-delta"
    order = 35
    options = (
        Option("brightness_delta", "number", 0.0,
               "Augment: add one value in [-D, D] x the dtype's maximum (tf.image's brightness).",
               metavar="D", minimum=0, maximum=1),
    )  # fmt: skip
    columns = (Column("brightness_delta", "float64", 0.0),)
    draw_slots = named_slots(name, 1)

    def active(self, settings: Any) -> bool:
        return bool(settings.brightness_delta)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (symmetric(draws[:, 0], settings.brightness_delta),)

    def identity(self, params: Any) -> bool:
        return not params.brightness_delta

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return shift_brightness(work, delta=params.brightness_delta, dtype=source_dtype)

    def apply_uint8(self, image: np.ndarray, params: Any, settings: Any) -> np.ndarray | None:
        table = brightness_table(params.brightness_delta)
        return lookup(image, [table] * colour_channels(image[:1, :1]).shape[2])

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return () if self.identity(params) else ((0, 35, f"d{params.brightness_delta:+.2f}"),)


class Contrast(PixelOperation):
    """Each channel's distance from its mean times f in [LO, HI] (``adjust_contrast``)."""

    name = "contrast"
    order = 40
    options = (
        Option("contrast_range", "range", None,
               "Augment: scale each channel's distance from its mean by a factor in [LO, HI].",
               metavar="LO,HI", minimum=0),
    )  # fmt: skip
    columns = (Column("contrast_factor", "float64", 1.0),)
    draw_slots = named_slots(name, 1)

    def active(self, settings: Any) -> bool:
        return _range_active(settings.contrast_range)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (in_range(draws[:, 0], settings.contrast_range, 1.0),)

    def identity(self, params: Any) -> bool:
        return params.contrast_factor == 1.0

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return adjust_contrast(work, factor=params.contrast_factor, dtype=source_dtype)

    def apply_uint8(self, image: np.ndarray, params: Any, settings: Any) -> np.ndarray | None:
        return lookup(image, contrast_tables(image, params.contrast_factor))

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return () if self.identity(params) else ((0, 40, f"c{params.contrast_factor:.2f}"),)


class ColourOnly(PixelOperation):
    """An operation that needs colour (3 or 4 channels): refused on others before any work,
    naming its option (``colour_key``)."""

    colour_key: str

    def check_channels(self, settings: Any, channels: int) -> None:
        if self.active(settings) and channels not in (3, 4):
            raise InputError(refusal(self.colour_key))


class Saturation(ColourOnly):
    """The HSV saturation times f in [LO, HI], clipped to [0, 1] (``adjust_saturation``)."""

    name = "saturation"
    colour_key = "saturation-range"
    order = 45
    options = (
        Option("saturation_range", "range", None,
               "Augment: multiply the HSV saturation by a factor in [LO, HI] (colour images).",
               metavar="LO,HI", minimum=0),
    )  # fmt: skip
    columns = (Column("saturation_factor", "float64", 1.0),)
    draw_slots = named_slots(name, 1)

    def active(self, settings: Any) -> bool:
        return _range_active(settings.saturation_range)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (in_range(draws[:, 0], settings.saturation_range, 1.0),)

    def identity(self, params: Any) -> bool:
        return params.saturation_factor == 1.0

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return adjust_saturation(work, factor=params.saturation_factor)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return () if self.identity(params) else ((0, 45, f"s{params.saturation_factor:.2f}"),)


class Hue(ColourOnly):
    """The HSV hue turned by a delta in [-D, D] turns (``tf.image.adjust_hue``)."""

    name = "hue"
    colour_key = "hue-delta"
    order = 50
    options = (
        Option("hue_delta", "number", 0.0,
               "Augment: turn the HSV hue by a value in [-D, D] turns, D <= 0.5 (colour images).",
               metavar="D", minimum=0, maximum=0.5),
    )  # fmt: skip
    columns = (Column("hue_delta", "float64", 0.0),)
    draw_slots = named_slots(name, 1)

    def active(self, settings: Any) -> bool:
        return bool(settings.hue_delta)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (symmetric(draws[:, 0], settings.hue_delta),)

    def identity(self, params: Any) -> bool:
        return not params.hue_delta

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return adjust_hue(work, delta=params.hue_delta)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return () if self.identity(params) else ((0, 50, f"h{params.hue_delta:+.2f}"),)


class Grayscale(ColourOnly):
    """With probability P, the luma in every colour channel (torchvision's RandomGrayscale)."""

    name = "grayscale"
    colour_key = "grayscale-prob"
    order = 55
    options = (
        Option("grayscale_prob", "number", 0.0,
               "Augment: with probability P, replace R, G and B by the luma (colour images).",
               metavar="P", minimum=0, maximum=1),
    )  # fmt: skip
    columns = (Column("grayscale", "bool", False),)
    draw_slots = named_slots(name, 1)

    def active(self, settings: Any) -> bool:
        return bool(settings.grayscale_prob)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (draws[:, 0] < settings.grayscale_prob,)

    def identity(self, params: Any) -> bool:
        return not params.grayscale

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return to_grayscale(work, dtype=source_dtype)

    def apply_uint8(self, image: np.ndarray, params: Any, settings: Any) -> np.ndarray | None:
        _rgb(image, "grayscale-prob")  # 3 or 4 channels
        return luma_uint8(image)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return ((0, 55, "gray"),) if params.grayscale else ()


OPERATIONS = (BrightnessDelta(), Contrast(), Saturation(), Hue(), Grayscale())
