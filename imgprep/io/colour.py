"""The colour rules: a decoded Pillow image, or an array of decoded pixels, in the mode asked.

Mode rules (``color="keep"``, the default):

====================  =========================================  ==========
Pillow mode           becomes                                    dtype
====================  =========================================  ==========
1 (bilevel)           L, values 0 and 255                        uint8
L, LA, RGB, RGBA      unchanged                                  uint8
La, RGBa, RGBX        LA, RGBA, RGB                              uint8
P, PA (palette)       RGBA if the palette has transparency,      uint8
                      else RGB
CMYK, YCbCr, LAB,     RGB (Pillow's conversion)                  uint8
HSV
I;16, I;16B, I;16L    one 16-bit channel, values kept            uint16
I (32-bit int)        one channel if all values fit 0..65535,    uint16
                      else refused
F (32-bit float)      one float channel                          float32
====================  =========================================  ==========

``grayscale`` converts 8-bit images with Pillow's ITU-R 601-2 luma (L = R*299/1000 +
G*587/1000 + B*114/1000), exactly as Keras' ``load_img``; alpha is dropped, not composited.
16-bit and float grayscale stay as they are (Keras keeps ``I;16`` and ``I`` too). ``rgb`` and
``rgba`` use Pillow's ``convert`` for 8-bit images and replicate a 16-bit or float channel,
with an opaque alpha (65535 or 1.0) for ``rgba``. 16-bit values are never truncated to 8 bits
(``imgprep.io.decode`` refuses 16-bit *colour* files, which Pillow can only decode to 8 bits).

One module for files and arrays alike: ``imgprep.io.decode`` converts each decoded image here,
and ``imgprep.api.prepare_image`` converts an array of already decoded pixels here
(``array_in_colour``), through the same Pillow conversion, so both give the same pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from imgprep.errors import DecodeError, InputError

_EIGHT_BIT_KEEP = {
    "1": "L", "L": "L", "LA": "LA", "La": "LA", "RGB": "RGB", "RGBA": "RGBA",
    "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
    "PA": "RGBA",
}  # fmt: skip
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
MODE_OF_COLOR = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}  # for 8-bit images
_CHANNELS_OF_COLOR = {"grayscale": 1, "rgb": 3, "rgba": 4}


def image_to_pil(image: Image.Image, color: str) -> Image.Image | None:
    """The 8-bit PIL image (L, LA, RGB or RGBA) ``image_to_array`` would convert, or None for
    16-bit and float images, which are handled as arrays."""
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return None
    if mode == "P":
        mode_keep = "RGBA" if "transparency" in image.info else "RGB"
    elif mode in _EIGHT_BIT_KEEP:
        mode_keep = _EIGHT_BIT_KEEP[mode]
    else:
        return None
    target = mode_keep if color == "keep" else MODE_OF_COLOR[color]
    if mode == "P" and target != mode_keep:
        image = image.convert(mode_keep)
    return image if image.mode == target else image.convert(target)


def image_to_array(image: Image.Image, color: str, *, path: str = "<image>") -> np.ndarray:
    """Convert a loaded PIL image to an H x W x C array following the module's mode rules."""
    if image.mode in SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        return _wide_to_array(image, color, path)
    converted = image_to_pil(image, color)
    if converted is None:
        raise DecodeError(path, f"unsupported Pillow mode {image.mode!r}")
    array = np.asarray(converted)
    if array.ndim == 2:
        array = array[:, :, None]
    return array


def array_in_colour(array: np.ndarray, color: str) -> np.ndarray:
    """The colour rule applied to an H x W x C array of already decoded pixels: an 8-bit
    array with 1 to 4 channels (L, LA, RGB, RGBA) as the image of that mode would be
    converted; one 16-bit or float channel replicated; anything else only when it already
    has the channels asked.

    Raises:
        InputError: an array with other channels than ``color`` asks that no rule converts.
    """
    channels = array.shape[-1]
    if color == "keep":
        return array
    if array.dtype == np.uint8 and channels in (1, 2, 3, 4):
        plane = array[:, :, 0] if channels == 1 else array
        pil = Image.fromarray(np.ascontiguousarray(plane))  # L, LA, RGB or RGBA
        return image_to_array(pil, color)
    if channels == _CHANNELS_OF_COLOR[color]:
        return array
    if channels == 1:
        opaque = 1.0 if array.dtype.kind == "f" else np.iinfo(array.dtype).max
        return replicate_gray(array, color, opaque=opaque)
    raise InputError(f"cannot convert a {channels}-channel {array.dtype} array to {color}")


def _wide_to_array(image: Image.Image, color: str, path: str) -> np.ndarray:
    """16-bit, 32-bit int and float images: keep the values, replicate for rgb/rgba."""
    if image.mode == "F":
        plane = np.asarray(image, dtype=np.float32)
        opaque: float = 1.0
    else:
        plane = np.asarray(image)
        if plane.dtype != np.uint16:
            if plane.size and (plane.min() < 0 or plane.max() > 65535):
                raise DecodeError(
                    path,
                    f"32-bit integer image with values {plane.min()}..{plane.max()} outside "
                    "0..65535 is not supported",
                )
            plane = plane.astype(np.uint16)
        opaque = 65535
    return replicate_gray(plane[:, :, None], color, opaque=opaque)


def replicate_gray(plane: np.ndarray, color: str, *, opaque: float) -> np.ndarray:
    """One 16-bit or float channel (H x W x 1) in ``color``: itself for keep/grayscale,
    replicated for rgb, with an ``opaque`` alpha for rgba."""
    if color in ("keep", "grayscale"):
        return plane
    channels = [plane] * 3
    if color == "rgba":
        channels.append(np.full_like(plane, opaque))
    return np.concatenate(channels, axis=2)
