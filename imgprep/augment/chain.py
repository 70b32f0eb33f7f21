"""``augment``: one copy's parameters applied: the warp, the crops, then each pixel operation.

``view`` is what a row that is not augmented looks like (copy 0, the splits not augmented):
the image itself, centre-cropped when the run crops (``CropOperation.view``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from imgprep.augment.registry import CROP_OPERATIONS, PIXEL_OPERATIONS, WARP_OPERATIONS, chain
from imgprep.augment.settings import AugmentParams
from imgprep.augment.spec import CropOperation, PixelOperation, WarpOperation
from imgprep.augment.warp import warp_copy

Resize = Callable[[np.ndarray], np.ndarray]


def augment(
    image: np.ndarray,
    params: Any,
    settings: Any,
    *,
    keep_dtype: bool,
    resize: Resize | None = None,
) -> np.ndarray:
    """Apply one copy's parameters: the warp (with flips), the crops, then the pixel
    operations (channel shift, brightness, ...) in chain order, or in the settings'
    ``order`` when one is given.

    ``resize`` (an array to the pipeline's ``--size``, as its decoding resizes) is what
    ``--random-resized-crop`` resizes its box with; ``image`` is then the decoded image at
    full scale.

    With ``keep_dtype`` (pipelines that write integers: PNG, uint8 HDF5) an 8- or 16-bit
    image is warped in its dtype and comes back in it, rounded and clipped. Otherwise the
    work is done in 32-bit float, as Keras (``img_to_array`` gives float32), float32 out.
    """
    integer = image.dtype.kind in "ui"
    keep = keep_dtype and image.dtype in (np.uint8, np.uint16)
    source = image if keep else np.asarray(image, np.float32)  # no copy of float32 input
    if settings.order is not None:
        out = _in_order(source, params, settings, resize=resize, dtype=image.dtype)
        if out.dtype == image.dtype or not keep_dtype or not integer:
            return out
        return to_dtype(out, image.dtype)
    out = warp_copy(
        source, params, WARP_OPERATIONS, fill_mode=settings.fill_mode, cval=settings.cval
    )
    for crop in CROP_OPERATIONS:
        if crop.active(settings):
            out = crop.crop(out, params, settings, resize=resize)
    pixel = [op for op in PIXEL_OPERATIONS if not op.identity(params)]
    if keep and len(pixel) == 1 and out.dtype == np.uint8:  # one operation: its 8-bit kernel
        fast = pixel[0].apply_uint8(out, params, settings)
        if fast is not None:
            return fast
    if not pixel:
        return out if out.dtype == image.dtype or not keep_dtype else to_dtype(out, image.dtype)
    work = out.astype(np.float32)  # a new array: the pixel operations change it in place
    for op in pixel:
        work = op.apply(work, params, settings, source_dtype=image.dtype)
    return to_dtype(work, image.dtype) if keep_dtype and integer else work


def _in_order(
    source: np.ndarray, params: Any, settings: Any, *, resize: Resize | None, dtype: np.dtype
) -> np.ndarray:
    """The copy with its operations in the settings' ``order``: each warp operation its own
    resampling, each crop where it is named; from the first pixel operation on, the work is
    the chain's own float32 array (rounded back by the caller)."""
    current, floating = source, False
    for op in chain(settings):
        if not op.active(settings):
            continue
        if isinstance(op, WarpOperation):
            current = warp_copy(
                current, params, (op,), fill_mode=settings.fill_mode, cval=settings.cval
            )
        elif isinstance(op, CropOperation):
            current = op.crop(current, params, settings, resize=resize)
        elif isinstance(op, PixelOperation) and not op.identity(params):
            if not floating:  # a new array: the pixel operations change it in place
                current, floating = current.astype(np.float32), True
            current = op.apply(current, params, settings, source_dtype=dtype)
    return current


_SATURATING = {np.dtype(np.uint8): cv2.CV_8U, np.dtype(np.uint16): cv2.CV_16U}


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round half to even and clip into an integer dtype.

    Float arrays into uint8 / uint16 go through OpenCV's saturating conversion (``add`` of 0
    with a destination depth: ``saturate_cast``, round half to even, then clip), one pass
    instead of NumPy's three; the same integers (tested against ``rint``, ``clip``,
    ``astype``, halves and out-of-range values included)."""
    depth = _SATURATING.get(np.dtype(dtype))
    floating = values.dtype in (np.float32, np.float64)
    if depth is not None and floating and values.ndim == 3 and values.shape[2] <= 4:
        converted = cv2.add(np.ascontiguousarray(values), 0.0, dtype=depth)
        return converted.reshape(values.shape)
    info = np.iinfo(dtype)
    rounded = np.rint(values)
    np.clip(rounded, info.min, info.max, out=rounded)
    return rounded.astype(dtype)


def view_params(settings: Any, shape: tuple[int, ...]) -> Any:
    """The parameters of a row that is not augmented, for an image of ``shape``: every
    column at its identity but the crops' (a centre crop, when the run crops)."""
    values: dict[str, float] = {}
    for crop in CROP_OPERATIONS:
        values.update(crop.view(settings, shape) or {})
    return AugmentParams(**values)


def view(image: np.ndarray, settings: Any) -> tuple[np.ndarray, Any]:
    """A row that is not augmented: ``image`` (itself, not a copy, unless cropped) and its
    parameters (``view_params``)."""
    params = view_params(settings, image.shape)
    out = image
    for crop in CROP_OPERATIONS:  # a crop without a box in the params leaves the image
        out = crop.crop(out, params, settings, resize=None)
    return out, params
