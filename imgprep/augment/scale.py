"""The pixel scale operations work on: full intensity of the decoded dtype, and its range.

Augmentation works on a float32 copy of the decoded image; an operation that moves values
(brightness, contrast, noise) keeps them inside what the decoded dtype can hold, so that the
chain's final rounding back never wraps, and states amounts as fractions of full intensity,
so that one setting means the same for 8-bit, 16-bit and float images.
"""

from __future__ import annotations

import numpy as np


def dtype_maximum(dtype: np.dtype) -> float:
    """The value of full intensity: 255 (uint8), 65535 (uint16), 1.0 for float images."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def clip_to_dtype(work: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``work`` (float32, changed in place) clipped to an integer ``dtype``'s range; float
    images are left unclipped (their range is the data's own)."""
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        np.clip(work, info.min, info.max, out=work)
    return work
