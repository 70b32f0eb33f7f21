"""``augment``: one copy's parameters applied, the warp first, then each pixel operation."""

from __future__ import annotations

from typing import Any

import numpy as np

from imgprep.augment.registry import PIXEL_OPERATIONS, WARP_OPERATIONS
from imgprep.augment.warp import warp_copy


def augment(image: np.ndarray, params: Any, settings: Any, *, keep_dtype: bool) -> np.ndarray:
    """Apply one copy's parameters: the warp (with flips), then the pixel operations (channel
    shift, brightness, ...) in chain order.

    With ``keep_dtype`` (pipelines that write integers: PNG, uint8 HDF5) an 8- or 16-bit
    image is warped in its dtype and comes back in it, rounded and clipped. Otherwise the
    work is done in 32-bit float, as Keras (``img_to_array`` gives float32), float32 out.
    """
    integer = image.dtype.kind in "ui"
    keep = keep_dtype and image.dtype in (np.uint8, np.uint16)
    source = image if keep else np.asarray(image, np.float32)  # no copy of float32 input
    out = warp_copy(
        source, params, WARP_OPERATIONS, fill_mode=settings.fill_mode, cval=settings.cval
    )
    pixel = [op for op in PIXEL_OPERATIONS if not op.identity(params)]
    if not pixel:
        return out if out.dtype == image.dtype or not keep_dtype else to_dtype(out, image.dtype)
    work = out.astype(np.float32)  # a new array: the pixel operations change it in place
    for op in pixel:
        work = op.apply(work, params, settings, source_dtype=image.dtype)
    return to_dtype(work, image.dtype) if keep_dtype and integer else work


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round half to even and clip into an integer dtype."""
    info = np.iinfo(dtype)
    rounded = np.rint(values)
    np.clip(rounded, info.min, info.max, out=rounded)
    return rounded.astype(dtype)
