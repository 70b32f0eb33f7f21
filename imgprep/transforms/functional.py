"""Pure array functions: H x W x C array in, new array out; no randomness, no files.

Every function leaves its input untouched and states the dtypes it accepts and returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from PIL import Image

from imgprep.errors import option
from imgprep.transforms import fast_resize

_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
_PILLOW_CHANNELS = (1, 2, 3, 4)  # uint8 L, LA, RGB, RGBA
_BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}  # of the 8-bit PIL images resize_pil takes


def resize_geometry(
    source: tuple[int, int], target: tuple[int, int], mode: str
) -> tuple[tuple[int, int], tuple[float, float, float, float], tuple[int, int]]:
    """Where a ``source`` (w, h) image lands in a ``target`` (w, h) canvas.

    Returns ``(scaled_size, crop_box, offset)``: the source region ``crop_box`` (left, top,
    right, bottom, in source pixels, possibly fractional) is resampled to ``scaled_size`` and
    pasted at ``offset`` of the target canvas.

    - ``stretch``: the whole source to the whole target, aspect ratio ignored (Keras).
    - ``fit``: the whole source, scaled by min(tw/sw, th/sh), centred; the rest is padding.
    - ``fill``: scaled by max(tw/sw, th/sh) and centre-cropped; no padding, aspect kept. The
      crop happens in source coordinates so the image is resampled once.
    """
    (sw, sh), (tw, th) = source, target
    full_box = (0.0, 0.0, float(sw), float(sh))
    if mode == "stretch":
        return (tw, th), full_box, (0, 0)
    if mode == "fit":
        scale = min(tw / sw, th / sh)
        w = min(tw, max(1, round(sw * scale)))
        h = min(th, max(1, round(sh * scale)))
        return (w, h), full_box, ((tw - w) // 2, (th - h) // 2)
    if mode == "fill":
        scale = max(tw / sw, th / sh)
        crop_w, crop_h = tw / scale, th / scale
        left, top = max(0.0, (sw - crop_w) / 2), max(0.0, (sh - crop_h) / 2)
        right, bottom = min(float(sw), left + crop_w), min(float(sh), top + crop_h)
        return (tw, th), (left, top, right, bottom), (0, 0)
    raise ValueError(f"unknown resize mode {mode!r}: choose stretch, fit or fill")


def resize(
    image: np.ndarray,
    *,
    size: tuple[int, int],
    mode: str = "stretch",
    resample: str = "bilinear",
    pad_value: float = 0,
    backend: str = "pillow",
) -> np.ndarray:
    """Resize an H x W x C image to ``size`` = (width, height) with Pillow (or, with
    ``backend="opencv"``, Pillow's ``bilinear`` approximated by ``fast_resize`` where that
    covers the image).

    Accepts uint8 (1-4 channels), uint16 and float32 (any channel count) and returns the same
    dtype. 8-bit images are resampled by Pillow as a whole (alpha premultiplied for LA/RGBA);
    16-bit channels are resampled as Pillow ``I;16``, float channels as ``F``, one channel at a
    time, so no precision is lost. Pillow's filters antialias when shrinking (all but
    ``nearest``), which is why Pillow does the work rather than an interpolating warp.
    """
    if image.ndim != 3:
        raise ValueError(f"resize expects an H x W x C array, got shape {image.shape}")
    _check_filter(resample)
    _check_backend(backend)
    channels = image.shape[2]
    if backend == "opencv" and fast_resize.covers(image.dtype, channels, resample):
        return _resampled(image, size, mode, pad_value, fast_resize.resample_region)
    if image.dtype == np.uint8 and channels in _PILLOW_CHANNELS:
        pil = Image.fromarray(np.ascontiguousarray(image[:, :, 0] if channels == 1 else image))
        return resize_pil(pil, size=size, mode=mode, resample=resample, pad_value=pad_value)
    planes = functools.partial(_resample_planes, resample=_FILTERS[resample])
    return _resampled(image, size, mode, pad_value, planes)


def resize_pil(
    image: Image.Image,
    *,
    size: tuple[int, int],
    mode: str = "stretch",
    resample: str = "bilinear",
    pad_value: float = 0,
    backend: str = "pillow",
) -> np.ndarray:
    """``resize`` for an 8-bit PIL image (L, LA, RGB, RGBA): H x W x C uint8 array out.

    Decoding resizes the PIL image before turning it into an array, so a large photo is
    never copied at full size; ``resize`` on an array goes through the same code, so both
    paths give the same numbers.
    """
    _check_filter(resample)
    _check_backend(backend)
    if backend == "opencv" and fast_resize.covers(np.uint8, _BANDS.get(image.mode, 0), resample):
        array = np.asarray(image)
        array = array[:, :, None] if array.ndim == 2 else array
        return _resampled(array, size, mode, pad_value, fast_resize.resample_region)
    width, height = image.size
    scaled, box, offset = resize_geometry((width, height), size, mode)
    if scaled != (width, height) or box != (0.0, 0.0, float(width), float(height)):
        image = image.resize(scaled, _FILTERS[resample], box=box)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    elif not array.flags.writeable:
        array = array.copy()
    return _pad(array, size, offset, pad_value)


def _resampled(
    image: np.ndarray,
    size: tuple[int, int],
    mode: str,
    pad_value: float,
    resampler: Callable[[np.ndarray, tuple[int, int], tuple[float, ...]], np.ndarray],
) -> np.ndarray:
    """An array resized by ``resampler(image, scaled_size, box)`` where ``mode`` asks it (a
    copy when the geometry keeps every pixel), then padded."""
    height, width = image.shape[:2]
    scaled, box, offset = resize_geometry((width, height), size, mode)
    if scaled == (width, height) and box == (0.0, 0.0, float(width), float(height)):
        resized = image.copy()
    else:
        resized = resampler(image, scaled, box)
    return _pad(resized, size, offset, pad_value)


def _check_backend(backend: str) -> None:
    if backend not in fast_resize.BACKENDS:
        choices = ", ".join(fast_resize.BACKENDS)
        raise ValueError(f"unknown resize backend {backend!r}: choose {choices}")


def _pad(
    resized: np.ndarray, size: tuple[int, int], offset: tuple[int, int], pad_value: float
) -> np.ndarray:
    target_w, target_h = size
    if resized.shape[:2] == (target_h, target_w):
        return resized
    check_pad_value(pad_value, resized.dtype)
    canvas = np.full((target_h, target_w, resized.shape[2]), pad_value, dtype=resized.dtype)
    left, top = offset
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def check_pad_value(pad_value: float, dtype: np.dtype) -> None:
    """A pad value must be representable in the image's dtype (no silent clip or round)."""
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        if not float(pad_value).is_integer() or not info.min <= pad_value <= info.max:
            raise PadValueError(
                f"pad value {pad_value:g} does not fit {np.dtype(dtype).name} images "
                f"(an integer from {info.min} to {info.max})"
            )


class PadValueError(ValueError):
    """The pad value cannot be stored in the image's dtype."""


def _check_filter(resample: str) -> None:
    if resample not in _FILTERS:
        raise ValueError(f"unknown resample filter {resample!r}: choose {', '.join(_FILTERS)}")


def _resample_planes(
    image: np.ndarray,
    size: tuple[int, int],
    box: tuple[float, float, float, float],
    resample: Image.Resampling,
) -> np.ndarray:
    """Resample each channel on its own (16-bit as I;16, others as 32-bit float)."""
    planes = []
    for c in range(image.shape[2]):
        plane = image[:, :, c]
        if image.dtype == np.uint8:
            pil = Image.fromarray(np.ascontiguousarray(plane))
            planes.append(np.asarray(pil.resize(size, resample, box=box)))
        elif image.dtype == np.uint16:
            pil = Image.fromarray(np.ascontiguousarray(plane, dtype=np.uint16))
            planes.append(np.asarray(pil.resize(size, resample, box=box), dtype=np.uint16))
        else:
            pil = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
            resized = np.asarray(pil.resize(size, resample, box=box), dtype=np.float32)
            planes.append(resized.astype(image.dtype, copy=False))
    return np.stack(planes, axis=-1)


def rescale(image: np.ndarray, *, factor: float) -> np.ndarray:
    """Multiply by ``factor`` (Keras' ``rescale``); any dtype in, float64 out."""
    return image.astype(np.float64) * factor


def image_mean(image: np.ndarray, *, scope: str) -> np.ndarray:
    """The image's own mean: one value (``global``, Keras' samplewise) or one per channel.

    Returned with shape (1,) or (C,), float64, so it broadcasts against H x W x C.
    """
    if scope == "global":
        return np.array([image.mean(dtype=np.float64)])
    return image.reshape(-1, image.shape[-1]).mean(axis=0, dtype=np.float64)


def image_std(image: np.ndarray, *, scope: str) -> np.ndarray:
    """The image's own population std (ddof=0), ``global`` or per ``channel``, float64."""
    if scope == "global":
        return np.array([image.std(dtype=np.float64)])
    return image.reshape(-1, image.shape[-1]).std(axis=0, dtype=np.float64)


def center(image: np.ndarray, *, mean: np.ndarray) -> np.ndarray:
    """Subtract ``mean`` (shape (1,) or (C,)); float64 out."""
    return image.astype(np.float64, copy=False) - mean


def standardize(image: np.ndarray, *, std: np.ndarray, epsilon: float) -> np.ndarray:
    """Divide by ``std + epsilon``, as Keras (``x /= std + 1e-6``); float64 out.

    The epsilon is added, not used as a floor, so that results agree with Keras'
    ``ImageDataGenerator.standardize`` to float32 precision.
    """
    return image.astype(np.float64, copy=False) / (np.asarray(std, dtype=np.float64) + epsilon)


def cast(image: np.ndarray, *, dtype: str) -> np.ndarray:
    """Convert to the output dtype, never losing values silently.

    Integer outputs take integer inputs whose range fits (uint8 -> uint16 is fine, uint16 ->
    uint8 is refused); float outputs take any value they can hold: one beyond the largest
    (65535 in float16, 1e300 in float32) would become an infinity, so it is refused.
    """
    target = np.dtype(dtype)
    if target.kind == "f" and image.dtype != target:
        return cast_into(np.empty(image.shape, dtype=target), image)
    if target.kind in "ui":
        if image.dtype.kind == "f":
            raise CastError(f"cannot write float pixels as {dtype} without rounding or clipping")
        source_info, target_info = np.iinfo(image.dtype), np.iinfo(target)
        if source_info.min < target_info.min or source_info.max > target_info.max:
            raise CastError(
                f"cannot write {image.dtype} pixels as {dtype} "
                f"without clipping; use {option('dtype')} "
                f"float32 (with {option('rescale')} if needed)"
            )
    return image.astype(target, copy=False)


def cast_into(out: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Copy ``values`` into the float array ``out``, refusing a value beyond its range.

    Raises:
        CastError: a finite value would become an infinity (NumPy only warns).
    """
    try:
        with np.errstate(over="raise"):
            np.copyto(out, values, casting="unsafe")
    except FloatingPointError:
        largest = float(np.max(np.abs(values[np.isfinite(values)])))
        advice = (
            f"{option('dtype')} float32, or a smaller {option('rescale')}"
            if out.itemsize < 4
            else f"a smaller {option('rescale')}"
        )
        raise CastError(
            f"values up to {largest:.6g} do not fit {out.dtype.name} (at most "
            f"{float(np.finfo(out.dtype).max):.6g}); use {advice}"
        ) from None
    return out


class CastError(ValueError):
    """The output dtype cannot hold the pixels without losing values."""
