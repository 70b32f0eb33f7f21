# ruff: noqa: RUF046  (int(round(...)) kept: the transcriptions follow torchvision's code)
"""Independent references for the augmentation tests: plain Python and NumPy, no imgprep.

- ``reference_uniform``: SplitMix64 written with Python integers, the documented key mixing.
- ``keras_matrix``: keras-preprocessing's apply_affine_transform matrix.
- ``reference_warp``: SciPy's order-1 ``affine_transform`` semantics in NumPy.
- ``resized_crop_params``, ``erasing_params``: torchvision's ``get_params`` transcribed.
"""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1


def splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def reference_uniform(seed: int, split: int, index: int, copy: int, slot: int) -> float:
    """Draw ``slot`` of copy ``copy`` of image ``index``, as the module docstring defines it."""
    h = splitmix(splitmix(splitmix(splitmix(seed & M64) ^ split) ^ index) ^ copy)
    return (splitmix(h ^ slot) >> 11) / float(1 << 53)


def named_slot(name: str, offset: int = 0) -> int:
    """The documented named draw slot: blake2b-64 of the name (person imgprep-slots), little
    endian, plus ``offset``, modulo 2^64."""
    import hashlib

    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"imgprep-slots").digest()
    return (int.from_bytes(digest, "little") + offset) & M64


def keras_matrix(theta, tx, ty, shear, zx, zy, h, w):
    """keras-preprocessing's apply_affine_transform matrix (1.1.2's (row, col) convention,
    with the centre h/2 - 0.5 of upstream fix #314; the 1.1.2 release used h/2 + 0.5),
    written out independently with NumPy matrix products."""
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shear_m = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    m = rotation @ shift @ shear_m @ zoom
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    return (
        np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
        @ m
        @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    )


def reference_warp(image, matrix, mode, cval=0.0):
    """SciPy's order-1 affine_transform semantics, in plain NumPy (the independent check)."""
    h, w, channels = image.shape
    rows, cols = np.mgrid[0:h, 0:w]
    src_r = matrix[0, 0] * rows + matrix[0, 1] * cols + matrix[0, 2]
    src_c = matrix[1, 0] * rows + matrix[1, 1] * cols + matrix[1, 2]
    r0, c0 = np.floor(src_r).astype(int), np.floor(src_c).astype(int)
    fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]

    def index(i, n):
        if mode == "wrap":
            return np.mod(i, n)
        if mode == "reflect":
            period = np.mod(i, 2 * n)
            return np.where(period >= n, 2 * n - 1 - period, period)
        return np.clip(i, 0, n - 1)

    flat = image.reshape(h * w, channels).astype(np.float64)

    def at(r, c):
        return flat[index(r, h) * w + index(c, w)]

    out = (at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc) * (1 - fr)
    out += (at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc) * fr
    if mode == "constant":
        outside = (src_r < 0) | (src_r > h - 1) | (src_c < 0) | (src_c > w - 1)
        out[outside] = cval
    return out


def smooth_image() -> np.ndarray:
    """40 x 50 x 3 float32, smooth (bilinear resampling errors stay small)."""
    y, x = np.mgrid[0:40, 0:50]
    planes = [120 + 90 * np.sin(x / 6) * np.cos(y / 5), 128 + 80 * np.cos((x + y) / 9), x * 4.0]
    return np.stack(planes, axis=-1).astype(np.float32)


def resized_crop_params(height, width, uniforms, scale, ratio):
    """torchvision's ``RandomResizedCrop.get_params``, transcribed in plain Python, reading
    its random numbers from ``uniforms`` (area and ratio of try t: 2t and 2t + 1; then top and
    left) instead of torch's generator."""
    import math

    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for attempt in range(10):
        target_area = area * (scale[0] + (scale[1] - scale[0]) * uniforms[2 * attempt])
        aspect_ratio = math.exp(
            log_ratio[0] + (log_ratio[1] - log_ratio[0]) * uniforms[2 * attempt + 1]
        )
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = int(uniforms[20] * (height - h + 1))
            j = int(uniforms[21] * (width - w + 1))
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w = width
        h = height
    return (height - h) // 2, (width - w) // 2, h, w


def erasing_params(height, width, uniforms, scale, ratio):
    """torchvision's ``RandomErasing.get_params`` in plain Python (p = 1), with ``uniforms``
    as in ``resized_crop_params``; None where it returns the image unchanged."""
    import math

    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for attempt in range(10):
        erase_area = area * (scale[0] + (scale[1] - scale[0]) * uniforms[2 * attempt])
        aspect_ratio = math.exp(
            log_ratio[0] + (log_ratio[1] - log_ratio[0]) * uniforms[2 * attempt + 1]
        )
        h = int(round(math.sqrt(erase_area * aspect_ratio)))
        w = int(round(math.sqrt(erase_area / aspect_ratio)))
        if not (h < height and w < width):
            continue
        i = int(uniforms[20] * (height - h + 1))
        j = int(uniforms[21] * (width - w + 1))
        return i, j, h, w
    return None
