"""Keras' geometric transforms (``ImageDataGenerator`` meaning), as one warp operation.

- ``rotation_range`` D: angle uniform in [-D, D] degrees.
- ``width_shift_range`` / ``height_shift_range`` X: a float < 1 is a fraction of the width
  (height), uniform in [-X, X]; an integer >= 1 is pixels, an integer in [0, X) with a random
  sign (as Keras' ``np.random.choice(X)``); a float >= 1 is pixels, uniform in [-X, X].
- ``shear_range`` D: shear angle uniform in [-D, D] degrees.
- ``zoom_range`` (lo, hi): zoom factors uniform in [lo, hi], drawn independently for rows and
  columns as Keras (``zoom_keep_aspect`` draws one factor for both); values below 1 zoom in.
- ``horizontal_flip`` / ``vertical_flip``: a coin toss per copy.
- ``fill_mode`` constant | nearest | reflect | wrap, with ``cval``: how points outside the
  image are filled (Keras' default ``nearest``), for every warp operation. ``reflect`` is
  SciPy's (d c b a | a b c d), ``wrap`` is periodic (a b c d | a b c d; SciPy's legacy
  ``wrap`` overlaps the edges by one sample).

They are composed, in Keras' order (rotation, shift, shear, zoom, about the image centre
(h/2 - 0.5, w/2 - 0.5) as keras-preprocessing since fix #314 (the 1.1.2 release used
h/2 + 0.5, one pixel off), in keras-preprocessing 1.1.2's row/column coordinates) together
with the flips into one affine map, so each copy is resampled once (``imgprep.augment.warp``).
One operation rather than five: the closed form below is what makes the map cheap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from imgprep.augment.keyed import symmetric
from imgprep.augment.spec import Caption, Coefficients, Column, Mirror, Option, WarpOperation
from imgprep.augment.warp import FILL_MODES


class Affine(WarpOperation):
    """Rotation, shifts, shear, zoom and flips, sampled as Keras and composed in one map."""

    name = "affine"
    order = 10
    options = (
        Option("rotation_range", "number", 0.0, "Augment: rotation uniform in [-DEG, DEG] degrees.",
               metavar="DEG", minimum=0, listed=1, always_written=True),
        Option("width_shift_range", "number", 0.0,
               "Augment: horizontal shift; X < 1 a fraction of the width, a whole X >= 1 pixels.",
               metavar="X", minimum=0, listed=2, always_written=True),
        Option("height_shift_range", "number", 0.0,
               "Augment: vertical shift; X < 1 a fraction of the height, a whole X >= 1 pixels.",
               metavar="X", minimum=0, listed=3, always_written=True),
        Option("shear_range", "number", 0.0,
               "Augment: shear angle uniform in [-DEG, DEG] degrees.",
               metavar="DEG", minimum=0, listed=4, always_written=True),
        Option("zoom_range", "range", (1.0, 1.0),
               "Augment: zoom factors in [1-Z, 1+Z] or [LO, HI] (below 1 zooms in).",
               metavar="Z|LO,HI", minimum=0, exclusive=True, around=1.0,
               hint=" (a single value z means 1-z,1+z with z < 1)", listed=5,
               always_written=True),
        Option("zoom_keep_aspect", "flag", False,
               "Augment: one zoom factor for both axes (Keras draws two).",
               listed=6, always_written=True),
        Option("horizontal_flip", "flag", False,
               "Augment: mirror left-right, a coin toss per copy.", listed=7, always_written=True),
        Option("vertical_flip", "flag", False,
               "Augment: mirror top-bottom, a coin toss per copy.", listed=8, always_written=True),
        Option("fill_mode", "choice", "nearest",
               "Augment: how points outside the image are filled.", choices=FILL_MODES,
               show_default=True, listed=11, always_written=True),
        Option("cval", "number", 0.0, "Augment: the value of --fill-mode constant.",
               show_default=True, listed=12, always_written=True),
    )  # fmt: skip
    columns = (
        Column("theta", "float64", 0.0, always_recorded=True),
        Column("tx", "float64", 0.0, always_recorded=True),
        Column("ty", "float64", 0.0, always_recorded=True),
        Column("shear", "float64", 0.0, always_recorded=True),
        Column("zx", "float64", 1.0, always_recorded=True),
        Column("zy", "float64", 1.0, always_recorded=True),
        Column("flip_horizontal", "bool", False, always_recorded=True),
        Column("flip_vertical", "bool", False, always_recorded=True),
    )
    # theta, tx, ty, shear, zx, zy, flip_h, flip_v, then the signs of integer tx and ty
    draw_slots = (1, 2, 3, 4, 5, 6, 7, 8, 11, 12)

    def active(self, settings: Any) -> bool:
        return bool(
            settings.rotation_range
            or settings.width_shift_range
            or settings.height_shift_range
            or settings.shear_range
            or settings.zoom_range != (1.0, 1.0)
            or settings.horizontal_flip
            or settings.vertical_flip
        )

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        height, width = shape[0], shape[1]
        theta = symmetric(draws[:, 0], settings.rotation_range)
        tx = _shift(draws[:, 1], draws[:, 8], settings.height_shift_range, height)
        ty = _shift(draws[:, 2], draws[:, 9], settings.width_shift_range, width)
        shear = symmetric(draws[:, 3], settings.shear_range)
        low, high = settings.zoom_range
        zx = low + (high - low) * draws[:, 4]
        zy = zx if settings.zoom_keep_aspect else low + (high - low) * draws[:, 5]
        flip_h = (draws[:, 6] < 0.5) & settings.horizontal_flip
        flip_v = (draws[:, 7] < 0.5) & settings.vertical_flip
        return theta, tx, ty, shear, zx, zy, flip_h, flip_v

    def warp(self, params: Any, height: int, width: int) -> Mirror | Coefficients:
        if not (params.theta or params.tx or params.ty or params.shear) and (
            params.zx == 1 and params.zy == 1
        ):  # the copy is the image, maybe mirrored
            return Mirror(vertical=params.flip_vertical, horizontal=params.flip_horizontal)
        return affine_coefficients(params, height, width)

    def caption(self, params: Any) -> tuple[Caption, ...]:
        flips = ("H" if params.flip_horizontal else "") + ("V" if params.flip_vertical else "")
        shown = [(0, 10, f"{params.theta:+.0f}deg")] if params.theta else []
        if (params.zx, params.zy) != (1.0, 1.0):
            shown.append((1, 10, f"z{params.zx:.2f}/{params.zy:.2f}"))
        return (*shown, (1, 90, flips)) if flips else tuple(shown)


def _shift(u: np.ndarray, sign: np.ndarray, limit: float, size: int) -> np.ndarray:
    if not limit:
        return np.zeros_like(u)
    if float(limit).is_integer() and limit >= 1:  # Keras: np.random.choice(int) with a sign
        steps = np.floor(u * limit)
        return np.where(sign < 0.5, -steps, steps)
    values = (2.0 * u - 1.0) * limit
    return values * size if limit < 1 else values


def affine_matrix(params: Any, height: int, width: int) -> np.ndarray:
    """Output (row, col, 1) -> input (row, col, 1), 3 x 3 (see ``affine_coefficients``)."""
    a, b, c, d, e, f = affine_coefficients(params, height, width)
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def affine_coefficients(params: Any, height: int, width: int) -> Coefficients:
    """The composed warp as six floats: input row = a r + b c + c0, col = d r + e c + f0.

    Keras builds rotation @ shift @ shear @ zoom (matrices in (row, col) coordinates, as
    keras-preprocessing 1.1.2) about the image centre, then flips the warped image; flipping
    the output composes a reflection of the output coordinates, so one pass samples each
    flipped copy. The centre is (h/2 - 0.5, w/2 - 0.5), the true centre, as keras-preprocessing
    since its fix #314; the 1.1.2 release used h/2 + 0.5, one pixel off. Written in closed
    form with plain floats: building and multiplying small NumPy matrices cost 23 us per copy,
    half of a 32 x 32 augmentation.
    """
    t = math.radians(params.theta)
    cos_t, sin_t = math.cos(t), math.sin(t)
    s = math.radians(params.shear)
    zx, zy = params.zx, params.zy
    # linear part: R @ Sh @ Z, with Sh @ Z = [[zx, -sin(s) zy], [0, cos(s) zy]]
    shear_zy, scale_zy = -math.sin(s) * zy, math.cos(s) * zy
    a = cos_t * zx
    b = cos_t * shear_zy - sin_t * scale_zy
    d = sin_t * zx
    e = sin_t * shear_zy + cos_t * scale_zy
    # translation R @ (tx, ty), then about the centre: t + o - L o
    o_r, o_c = height / 2 - 0.5, width / 2 - 0.5
    c0 = cos_t * params.tx - sin_t * params.ty + o_r - (a * o_r + b * o_c)
    f0 = sin_t * params.tx + cos_t * params.ty + o_c - (d * o_r + e * o_c)
    if params.flip_vertical:  # output row r -> h - 1 - r
        c0, f0 = c0 + a * (height - 1), f0 + d * (height - 1)
        a, d = -a, -d
    if params.flip_horizontal:  # output col c -> w - 1 - c
        c0, f0 = c0 + b * (width - 1), f0 + e * (width - 1)
        b, e = -b, -e
    return a, b, c0, d, e, f0


OPERATIONS = (Affine(),)
