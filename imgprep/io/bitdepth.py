"""Bit depth: the exact conversion decoding applies with ``bit_depth`` (``--bit-depth 8|16``).

Integer images are converted right after the mode (colour) rules and before resizing, so a
run's pixels are on one scale (the rule that they must be is ``imgprep.pixels``):

- 16 to 8 bits: ``round(v / 257)``, computed in integers as ``(v + 128) // 257``. It has no
  ties to break (``v / 257`` is never ``k + 0.5`` for an integer ``v``), so it equals
  ``numpy.round(v / 257)`` for every value (tested over all 65,536);
- 8 to 16 bits: ``v * 257`` (0 -> 0, 255 -> 65535; 16 to 8 bits inverts it exactly).

Float images (32-bit float TIFF, Pillow mode ``F``) are never rescaled implicitly: with
``bit_depth`` each is refused as a decode error, and without it a mix of float and integer
images is refused like any other mix of depths.
"""

from __future__ import annotations

import numpy as np

from imgprep.pixels import DTYPE_OF_DEPTH


def float_refused(dtype: str) -> str:
    """Why a float image cannot take ``--bit-depth`` (a decode error of that file)."""
    return (
        f"pixels are {dtype} (a float image): --bit-depth converts integer images only, and "
        "imgprep does not rescale float images implicitly; convert it to 8 or 16 bits first"
    )


def to_bit_depth(array: np.ndarray, bit_depth: int | None) -> np.ndarray:
    """``array`` (uint8 or uint16) converted exactly to ``bit_depth``; itself when it already
    has it, or when ``bit_depth`` is None.

    Raises:
        ValueError: ``array`` is not uint8 or uint16 (the decoder refuses floats before).
    """
    if bit_depth is None:
        return array
    target = DTYPE_OF_DEPTH[bit_depth]
    if array.dtype == target:
        return array
    if array.dtype == np.uint16 and bit_depth == 8:
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if array.dtype == np.uint8 and bit_depth == 16:
        return array.astype(np.uint16) * np.uint16(257)
    raise ValueError(f"cannot convert {array.dtype} pixels to {bit_depth} bits")
