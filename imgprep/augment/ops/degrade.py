"""Degradations of every modern recipe, after the colour operations: blur, noise, JPEG.

- ``blur_sigma`` (LO, HI), LO > 0 (leave it out for no blur): a Gaussian blur, sigma uniform in
  [LO, HI], an odd kernel of ``ceil(6 sigma) | 1`` taps, OpenCV's ``GaussianBlur`` on the
  float32 work array, every channel (alpha too) on its own, border ``BORDER_REFLECT_101``
  (``dcb|abcd|cba``: the edge pixel is not repeated). Column ``blur_sigma`` (0: not blurred).
- ``noise_std`` (LO, HI), 0 <= LO: additive Gaussian noise, std uniform in [LO, HI] times the
  dtype's maximum (255, 65535, 1.0), one independent normal per pixel and channel (alpha too),
  from ``Generator(Philox(key=noise_seed))``; integer images are clipped to their range (the
  chain rounds back), float images are not clipped. Columns ``noise_std`` (a FRACTION of the
  maximum, dtype-free like the option) and ``noise_seed`` (the copy's 53-bit generator key,
  exact in float64, so a row can be reproduced from its columns).
- ``jpeg_quality`` (LO, HI), whole numbers 1 to 100: the copy re-encoded as a baseline JPEG at
  an integer quality uniform in [LO, HI] (4:2:0 chroma) and decoded, with OpenCV's
  ``imencode`` / ``imdecode`` (libjpeg-turbo; as fast as Pillow, about 0.4 ms per 224 x 224 RGB
  image, and the library the blur already uses). JPEG is an 8-bit format: uint16 and float32
  copies are scaled to 8 bits (x * 255 / max, rounded, clipped: float32 to [0, 1]) and back,
  so they also lose their finer levels. Three or more channels: the first three are encoded as
  RGB, the rest (alpha) kept aside unchanged; one or two: the first as grey. Column
  ``jpeg_quality`` (0: not re-encoded).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from imgprep.augment.keyed import in_range, named_slots, slot_integers, standard_normals
from imgprep.augment.scale import clip_to_dtype, dtype_maximum
from imgprep.augment.spec import Caption, Column, Option, PixelOperation
from imgprep.errors import InputError, option


def kernel_size(sigma: float) -> int:
    """The blur's odd kernel width: ``ceil(6 sigma) | 1`` (3 sigma each side)."""
    return math.ceil(6.0 * sigma) | 1


def gaussian_blur(work: np.ndarray, *, sigma: float) -> np.ndarray:
    """``work`` (H x W x C float32) blurred per channel with a ``kernel_size(sigma)`` Gaussian,
    border ``BORDER_REFLECT_101``; a new float32 array of the same shape."""
    size = kernel_size(sigma)
    out = cv2.GaussianBlur(
        work,
        (size, size),
        sigmaX=sigma,
        sigmaY=sigma,
        borderType=cv2.BORDER_REFLECT_101,
        hint=cv2.ALGO_HINT_ACCURATE,
    )
    return out.reshape(work.shape)  # OpenCV drops a single channel's axis


def add_noise(work: np.ndarray, *, normals: np.ndarray, std: float, dtype: np.dtype) -> np.ndarray:
    """``work`` (float32, changed in place) plus ``std`` x ``dtype_maximum(dtype)`` x
    ``normals`` (standard normals of ``work``'s shape); clipped to [0, max] for an integer
    ``dtype`` (the decoded image's), not for floats."""
    scale = np.float32(std * dtype_maximum(dtype))
    work += normals * scale
    return clip_to_dtype(work, dtype)


def jpeg_roundtrip(work: np.ndarray, *, quality: int, dtype: np.dtype) -> np.ndarray:
    """``work`` (H x W x C float32 on ``dtype``'s range) encoded as JPEG at ``quality`` and
    decoded, through 8 bits (``rint(x * 255 / max)`` clipped to 0-255, back as ``* max / 255``);
    channels past the first three (one when C < 3) are kept unchanged. ``work`` is changed in
    place and returned."""
    maximum = dtype_maximum(dtype)
    colour = 3 if work.shape[2] >= 3 else 1
    pixels = work[:, :, :colour] * np.float32(255.0 / maximum)  # a new array: rounded in place
    np.rint(pixels, out=pixels)
    eight = np.clip(pixels, 0, 255, out=pixels).astype(np.uint8)
    decoded = jpeg_bytes_roundtrip(eight, quality)
    view = work[:, :, :colour]
    view[...] = decoded  # in place: a fresh 224 x 224 x 3 float32 array costs more than libjpeg
    if maximum != 255.0:
        view *= np.float32(maximum / 255.0)
    return work


def jpeg_bytes_roundtrip(eight: np.ndarray, quality: int) -> np.ndarray:
    """An H x W x 1 or 3 uint8 array encoded as JPEG at ``quality`` and decoded (a new
    array of the same shape)."""
    colour = eight.shape[2]
    if colour == 3:  # OpenCV encodes BGR (cvtColor: a tenth of the time of [..., ::-1])
        eight = cv2.cvtColor(np.ascontiguousarray(eight), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(eight), _jpeg_flags(quality))
    if not ok:  # pragma: no cover - libjpeg refuses only impossible inputs
        raise RuntimeError(f"JPEG encoding failed at quality {quality}")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED).reshape(*eight.shape[:2], colour)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB) if colour == 3 else decoded


def _jpeg_flags(quality: int) -> list[int]:
    """Every encoder setting spelled out, so a library default change cannot move outputs."""
    return [
        cv2.IMWRITE_JPEG_QUALITY, int(quality),
        cv2.IMWRITE_JPEG_OPTIMIZE, 0,
        cv2.IMWRITE_JPEG_PROGRESSIVE, 0,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]  # fmt: skip


class WholeRange(Option):
    """A range of whole numbers (a quality): its LO and HI must be integers."""

    def _check_range(self, value: Any) -> Any:
        checked = super()._check_range(value)
        if checked is not None and not all(float(v).is_integer() for v in checked):
            low, high = checked
            raise InputError(f"{option(self.key)} must be whole numbers, got {low:g},{high:g}")
        return checked


class GaussianBlur(PixelOperation):
    """A Gaussian blur of sigma in [LO, HI] (torchvision's ``GaussianBlur``)."""

    name = "blur"
    order = 80
    options = (
        Option("blur_sigma", "range", None,
               "Augment: Gaussian blur, sigma in [LO, HI] pixels (kernel ceil(6 sigma) | 1).",
               metavar="LO,HI", minimum=0, exclusive=True,
               hint=" (leave the option out for no blur)"),
    )  # fmt: skip
    columns = (Column("blur_sigma", "float64", 0.0),)
    draw_slots = named_slots("blur", 1)

    def active(self, settings: Any) -> bool:
        return settings.blur_sigma is not None

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        return (in_range(draws[:, 0], settings.blur_sigma, 0.0),)

    def identity(self, params: Any) -> bool:
        return not params.blur_sigma

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return gaussian_blur(work, sigma=params.blur_sigma)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return ((0, 80, f"blur{params.blur_sigma:.1f}"),) if params.blur_sigma else ()


class GaussianNoise(PixelOperation):
    """Additive Gaussian noise of std in [LO, HI] x the dtype's maximum."""

    name = "noise"
    order = 90
    options = (
        Option("noise_std", "range", None,
               "Augment: add Gaussian noise, std in [LO, HI] x the maximum (255, 65535, 1.0).",
               metavar="LO,HI", minimum=0),
    )  # fmt: skip
    columns = (Column("noise_std", "float64", 0.0), Column("noise_seed", "float64", 0.0))
    draw_slots = named_slots("noise", 2)

    def active(self, settings: Any) -> bool:
        return settings.noise_std is not None and settings.noise_std[1] > 0

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        std = in_range(draws[:, 0], settings.noise_std, 0.0)
        return std, np.where(std > 0, slot_integers(draws[:, 1]), 0.0)

    def identity(self, params: Any) -> bool:
        return not params.noise_std

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        normals = standard_normals(int(params.noise_seed), work.shape)
        return add_noise(work, normals=normals, std=params.noise_std, dtype=source_dtype)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return ((0, 90, f"n{params.noise_std:.3f}"),) if params.noise_std else ()


class JpegQuality(PixelOperation):
    """A JPEG re-encoding at a whole quality in [LO, HI] (as albumentations' ImageCompression)."""

    name = "jpeg"
    order = 100
    options = (
        WholeRange("jpeg_quality", "range", None,
                   "Augment: re-encode as JPEG at a whole quality in [LO, HI] (1 to 100).",
                   metavar="LO,HI", minimum=1, maximum=100),
    )  # fmt: skip
    columns = (Column("jpeg_quality", "float64", 0.0),)
    draw_slots = named_slots("jpeg", 1)

    def active(self, settings: Any) -> bool:
        return settings.jpeg_quality is not None

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        if settings.jpeg_quality is None:
            return (np.zeros(len(draws)),)
        low, high = settings.jpeg_quality
        return (np.minimum(low + np.floor(draws[:, 0] * (high - low + 1)), high),)

    def identity(self, params: Any) -> bool:
        return not params.jpeg_quality

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        return jpeg_roundtrip(work, quality=int(params.jpeg_quality), dtype=source_dtype)

    def apply_uint8(self, image: np.ndarray, params: Any, settings: Any) -> np.ndarray | None:
        """8-bit pixels are encoded as they are: the float32 path's scaling is the identity."""
        colour = 3 if image.shape[2] >= 3 else 1
        decoded = jpeg_bytes_roundtrip(image[:, :, :colour], int(params.jpeg_quality))
        if colour == image.shape[2]:
            return decoded
        out = image.copy()
        out[:, :, :colour] = decoded
        return out

    def caption(self, params: Any) -> tuple[Caption, ...]:
        return ((0, 100, f"q{params.jpeg_quality:.0f}"),) if params.jpeg_quality else ()


OPERATIONS = (GaussianBlur(), GaussianNoise(), JpegQuality())
