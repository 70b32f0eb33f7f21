"""Small inline PNG images for the HTML report (``data:`` URIs: the page stays one file).

A thumbnail is at most ``SIDE`` pixels on its longer side, 8-bit (16-bit pixels scaled by
1/257, float pixels stretched from their own min to max), grey or RGB (alpha dropped), so a
report of 50 classes x 6 samples plus 20 duplicate pairs is a few hundred kilobytes.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

SIDE = 96


def data_uri(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` of a thumbnail of an H x W x C (or H x W) array."""
    array = _eight_bit(image)
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3])
    picture.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _eight_bit(image: np.ndarray) -> np.ndarray:
    array = image if image.ndim == 3 else image[:, :, None]
    if array.shape[2] == 2:  # LA
        array = array[:, :, :1]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.uint16:
        return np.round(array / 257).astype(np.uint8)
    values = array.astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low or 1.0) * 255
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)
