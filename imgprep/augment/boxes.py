"""Random boxes of a given area fraction and aspect ratio: the ten tries that torchvision's
``RandomResizedCrop`` and ``RandomErasing`` both make (``get_params``), vectorized over copies.

Try t reads draw columns 2t (the area, uniform in ``scale``) and 2t + 1 (the aspect ratio,
log-uniform in ``ratio``); the first try that fits is placed by the last two columns at a
uniform whole position (``torch.randint(0, room + 1)``). The sides are round half to even, as
Python's ``round``. The two transforms differ only in which side the ratio divides and in
what fits, so both are one function with those two choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TRIES = 10  # torchvision's RandomResizedCrop and RandomErasing
DRAWS = 2 * TRIES + 2  # the tries, then the position (top, left)


def positions(u: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Uniform whole positions in 0..room (``torch.randint(0, room + 1)``) from uniforms."""
    return np.minimum(np.floor(u * (room + 1)), room)


def first_fitting_boxes(
    height: int,
    width: int,
    draws: np.ndarray,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    *,
    ratio_is_width_over_height: bool,
    fits: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(copies, 4) boxes (top, left, h, w) on an H x W image from ``draws`` (copies, DRAWS),
    and whether a try fitted (``fits(h, w)``); rows without one are all 0 (the caller says
    what they become)."""
    count = len(draws)
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    target = height * width * (scale[0] + (scale[1] - scale[0]) * draws[:, 0 : 2 * TRIES : 2])
    aspect = np.exp(log_low + (log_high - log_low) * draws[:, 1 : 2 * TRIES : 2])
    long_side, short_side = np.rint(np.sqrt(target * aspect)), np.rint(np.sqrt(target / aspect))
    w, h = (long_side, short_side) if ratio_is_width_over_height else (short_side, long_side)
    tried = fits(h, w)
    rows = np.arange(count)
    chosen = np.argmax(tried, axis=1)
    found = tried[rows, chosen]
    box_h = np.where(found, h[rows, chosen], 0.0)
    box_w = np.where(found, w[rows, chosen], 0.0)
    top = np.where(found, positions(draws[:, 2 * TRIES], height - box_h), 0.0)
    left = np.where(found, positions(draws[:, 2 * TRIES + 1], width - box_w), 0.0)
    return np.stack([top, left, box_h, box_w], axis=1), found
