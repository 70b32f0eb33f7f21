"""8-bit look-up kernels of the colour operations (``PixelOperation.apply_uint8``).

Each table is the float32 path's own arithmetic applied to the 256 byte values and rounded as
the chain rounds, so a lone operation on a uint8 copy gives the float32 path's bytes without
its round trip (tested against it).
"""

from __future__ import annotations

import cv2
import numpy as np


def colour_count(channels: int) -> int:
    """How many of ``channels`` are colour: all of 1 or 3, all but the alpha of 2 or 4."""
    return channels - 1 if channels in (2, 4) else channels


def _table(values: np.ndarray) -> np.ndarray:
    """float32 results of a kernel on the 256 byte values, as the chain rounds them: a
    uint8 look-up table."""
    np.clip(values, 0, 255, out=values)
    return np.rint(values).astype(np.uint8)


def lookup(image: np.ndarray, tables: list[np.ndarray]) -> np.ndarray:
    """``image`` (uint8) through one table per colour channel; alpha (the last of 2 or 4)
    kept. One ``cv2.LUT`` call (a 256 x 1 x C table)."""
    channels = image.shape[2]
    if channels == 3 and all(table is tables[0] for table in tables):  # one table for all
        return cv2.LUT(np.ascontiguousarray(image), tables[0])  # (a third of the time)
    if channels in (2, 4):
        tables = [*tables, np.arange(256, dtype=np.uint8)]
    if channels == 1:
        return cv2.LUT(np.ascontiguousarray(image), tables[0]).reshape(image.shape)
    table = np.stack(tables, axis=1).reshape(256, 1, channels)
    return cv2.LUT(np.ascontiguousarray(image), table)


_BYTES = np.arange(256, dtype=np.float32)


def brightness_table(delta: float) -> np.ndarray:
    """``shift_brightness`` of every byte value, rounded: its uint8 look-up table."""
    return _table(_BYTES + np.float32(delta * 255.0))


def contrast_tables(image: np.ndarray, factor: float) -> list[np.ndarray]:
    """``adjust_contrast``'s per-channel look-up tables for a uint8 ``image``: the same
    float32 arithmetic on every byte value, about the same channel means (OpenCV's exact
    double sums of the integers, as on the float32 copy)."""
    channels = colour_count(image.shape[2])
    means = cv2.mean(np.ascontiguousarray(image))[:channels]
    tables = []
    for mean in np.asarray(means, dtype=np.float64).astype(np.float32):
        values = _BYTES - mean
        values *= np.float32(factor)
        values += mean
        tables.append(_table(values))
    return tables


def luma_uint8(image: np.ndarray) -> np.ndarray:
    """``to_grayscale`` of a 3- or 4-channel uint8 ``image``, without float64: the weighted
    sums are whole numbers below 2^24, exact in OpenCV's float32 ``transform``."""
    rgb = np.ascontiguousarray(image[:, :, :3]).astype(np.float32)
    sums = cv2.transform(rgb, _LUMA_WEIGHTS)
    luma = np.floor((sums + np.float32(32768.0)) * np.float32(1.0 / 65536.0)).astype(np.uint8)
    luma = luma.reshape(image.shape[0], image.shape[1])
    planes = [luma, luma, luma] + (
        [np.ascontiguousarray(image[:, :, 3])] if image.shape[2] == 4 else []
    )
    # cv2.merge: a broadcast assignment into the strided channels took 1.4 ms of 1.5
    return cv2.merge(planes).reshape(image.shape)


_LUMA_WEIGHTS = np.array([[19595.0, 38470.0, 7471.0]], dtype=np.float32)
