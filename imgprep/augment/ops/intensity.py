"""Keras' intensity transforms, after the warp: channel shift, then brightness.

- ``channel_shift_range`` X: one intensity uniform in [-X, X] added to every channel, clipped
  to the image's own min and max (as Keras).
- ``brightness_range`` (lo, hi): a factor uniform in [lo, hi] multiplying the pixel values,
  clipped to the input's range. Keras 1.1.2 first stretches each image to 0-255
  (keras-preprocessing issue 327); imgprep does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgprep.augment.keyed import in_range, symmetric
from imgprep.augment.scale import clip_to_dtype
from imgprep.augment.spec import Caption, Column, Option, PixelOperation


def shift_channels(work: np.ndarray, *, shift: float) -> np.ndarray:
    """``work`` (float32, changed in place) plus ``shift``, clipped to its own min and max."""
    low, high = work.min(), work.max()
    work += np.float32(shift)
    np.clip(work, low, high, out=work)
    return work


def scale_brightness(work: np.ndarray, *, factor: float, dtype: np.dtype) -> np.ndarray:
    """``work`` (float32, changed in place) times ``factor``, clipped to the range of an
    integer ``dtype`` (the decoded image's); float images are not clipped."""
    work *= np.float32(factor)
    return clip_to_dtype(work, dtype)


class ChannelShift(PixelOperation):
    """One value in [-X, X] added to every channel (Keras' ``channel_shift_range``)."""

    name = "channel-shift"
    order = 10
    options = (
        Option("channel_shift_range", "number", 0.0,
               "Augment: add one value in [-X, X] to every channel (clipped to the image's range).",
               metavar="X", minimum=0, listed=10, always_written=True),
    )  # fmt: skip
    columns = (Column("channel_shift", "float64", 0.0, always_recorded=True),)
    draw_slots = (9,)

    def active(self, settings: Any) -> bool:
        return bool(settings.channel_shift_range)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (symmetric(draws[:, 0], settings.channel_shift_range),)

    def identity(self, params: Any) -> bool:
        return not params.channel_shift

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return shift_channels(work, shift=params.channel_shift)


class Brightness(PixelOperation):
    """Pixel values times a factor in [LO, HI] (Keras' ``brightness_range``)."""

    name = "brightness"
    order = 20
    options = (
        Option("brightness_range", "range", None,
               "Augment: multiply pixel values by a factor in [LO, HI].",
               metavar="LO,HI", minimum=0, listed=9, always_written=True),
    )  # fmt: skip
    columns = (Column("brightness", "float64", 1.0, always_recorded=True),)
    draw_slots = (10,)

    def active(self, settings: Any) -> bool:
        value = settings.brightness_range
        return value is not None and value != (1.0, 1.0)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (in_range(draws[:, 0], settings.brightness_range, 1.0),)

    def identity(self, params: Any) -> bool:
        return params.brightness == 1.0

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return scale_brightness(work, factor=params.brightness, dtype=source_dtype)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return ((1, 20, f"b{params.brightness:.2f}"),) if params.brightness != 1.0 else ()


OPERATIONS = (ChannelShift(), Brightness())
