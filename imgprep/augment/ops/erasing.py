"""Random erasing (Zhong et al. 2017; torchvision's ``RandomErasing``, Cutout), last in the chain.

- ``erasing_prob`` P: with probability P a rectangle of the copy (after every geometric
  operation, the crops, colour and degradations) is overwritten. Its area is a fraction of
  the copy's uniform in ``erasing_scale`` (default 0.02-0.33) and its aspect ratio log-uniform
  in ``erasing_ratio`` (default 0.3-3.3), as torchvision's ``RandomErasing.get_params``:
  h = round(sqrt(area x ratio)), w = round(sqrt(area / ratio)); of ten tries, the first with
  h < H and w < W is placed at a uniform position (top in 0..H-h, left in 0..W-w); when none
  fits, nothing is erased.
- ``erasing_value``: a number V is a fraction of the dtype's maximum (0: black, 1: white,
  0.5: mid-grey; as the deltas of the colour operations), or ``random``: every erased pixel
  and channel an independent uniform value, whole numbers 0..255 (0..65535) for integer
  images as in the paper, [0, 1) for float ones, from ``Generator(Philox(key=erase_seed))``.
  The colour channels are erased; an alpha channel (the last of 2 or 4) is kept.

Columns ``erase_top``, ``erase_left``, ``erase_height``, ``erase_width`` (all 0 when the copy is
not erased) and ``erase_seed`` (the copy's 53-bit generator key with ``random``, else 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgprep.augment.boxes import DRAWS, first_fitting_boxes
from imgprep.augment.keyed import named_slots, slot_integers
from imgprep.augment.ops.colour import colour_channels
from imgprep.augment.scale import dtype_maximum
from imgprep.augment.spec import Caption, Column, Option, PixelOperation


def erasing_boxes(
    height: int,
    width: int,
    draws: np.ndarray,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> np.ndarray:
    """(copies, 4) boxes (top, left, h, w) of ``RandomErasing`` on an H x W copy from
    ``draws`` (copies, ``DRAWS``): the ratio is height / width, a box fits when both sides are
    smaller than the copy's; zeros where no try fits."""
    return first_fitting_boxes(
        height, width, draws, scale, ratio, ratio_is_width_over_height=False,
        fits=lambda h, w: (h < height) & (w < width),
    )[0]  # fmt: skip


def erase(
    work: np.ndarray,
    *,
    box: tuple[int, int, int, int],
    value: float | str,
    seed: int,
    dtype: np.dtype,
) -> np.ndarray:
    """``work`` (float32, changed in place) with the colour channels of ``box`` (top, left,
    h, w) set to ``value`` x the dtype's maximum, or with ``random`` to uniform values (see
    the module docstring) of ``Generator(Philox(key=seed))``."""
    top, left, height, width = box
    region = colour_channels(work)[top : top + height, left : left + width]
    region[...] = fill(region.shape, value=value, seed=seed, dtype=dtype)
    return work


def fill(
    shape: tuple[int, ...], *, value: float | str, seed: int, dtype: np.dtype
) -> np.ndarray | np.float32:
    """What the erased pixels become (float32): ``value`` x the maximum, or with
    ``random`` the copy's uniform values (whole numbers for integer dtypes)."""
    maximum = dtype_maximum(dtype)
    if value != "random":
        return np.float32(float(value) * maximum)
    generator = np.random.Generator(np.random.Philox(key=int(seed)))
    if np.dtype(dtype).kind in "ui":
        drawn = generator.integers(0, int(maximum) + 1, size=shape, dtype=np.int64)
        return drawn.astype(np.float32)
    return generator.random(shape, dtype=np.float32)


class RandomErasing(PixelOperation):
    """A rectangle overwritten with probability P (torchvision's ``RandomErasing``)."""

    name = "erasing"
    order = 120
    options = (
        Option("erasing_prob", "number", 0.0,
               "Augment: with probability P, erase a random rectangle (torchvision's "
               "RandomErasing), last.",
               metavar="P", minimum=0, maximum=1),
        Option("erasing_scale", "range", (0.02, 0.33),
               "Augment: with --erasing-prob, the rectangle's area fraction range "
               "[default: 0.02,0.33].",
               metavar="LO,HI", show_default=True, minimum=0, maximum=1),
        Option("erasing_ratio", "range", (0.3, 3.3),
               "Augment: with --erasing-prob, the rectangle's aspect ratio (height / width) "
               "range [default: 0.3,3.3].",
               metavar="LO,HI", show_default=True, minimum=0, exclusive=True),
        Option("erasing_value", "value", 0.0,
               "Augment: with --erasing-prob, the fill, a fraction of the maximum (0 black, "
               "1 white) or 'random' (uniform per pixel) [default: 0].",
               metavar="V|random", choices=("random",), minimum=0, maximum=1,
               show_default=True),
    )  # fmt: skip
    columns = (
        Column("erase_top", "float64", 0.0),
        Column("erase_left", "float64", 0.0),
        Column("erase_height", "float64", 0.0),
        Column("erase_width", "float64", 0.0),
        Column("erase_seed", "float64", 0.0),
    )
    draw_slots = named_slots(name, DRAWS + 2)  # the tries, the position, P, the seed

    def active(self, settings: Any) -> bool:
        return bool(settings.erasing_prob)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        count = len(draws)
        if not self.active(settings):
            return tuple(np.zeros(count) for _ in range(5))
        boxes = erasing_boxes(
            shape[0], shape[1], draws[:, :DRAWS], settings.erasing_scale,
            settings.erasing_ratio,
        )  # fmt: skip
        erased = (draws[:, DRAWS] < settings.erasing_prob) & (boxes[:, 2] > 0)
        erased &= boxes[:, 3] > 0
        boxes[~erased] = 0.0
        random = settings.erasing_value == "random"
        seeds = np.where(erased & random, slot_integers(draws[:, DRAWS + 1]), 0.0)
        return (*(np.ascontiguousarray(boxes[:, j]) for j in range(4)), seeds)

    def identity(self, params: Any) -> bool:
        return not params.erase_height

    def apply(
        self, work: np.ndarray, params: Any, settings: Any, *, source_dtype: np.dtype
    ) -> np.ndarray:
        box = (
            int(params.erase_top),
            int(params.erase_left),
            int(params.erase_height),
            int(params.erase_width),
        )
        value = "random" if params.erase_seed else settings.erasing_value
        return erase(work, box=box, value=value, seed=int(params.erase_seed), dtype=source_dtype)

    def apply_uint8(self, image: np.ndarray, params: Any, settings: Any) -> np.ndarray | None:
        top, left = int(params.erase_top), int(params.erase_left)
        height, width = int(params.erase_height), int(params.erase_width)
        out = image.copy()
        region = colour_channels(out)[top : top + height, left : left + width]
        value = "random" if params.erase_seed else settings.erasing_value
        values = fill(region.shape, value=value, seed=int(params.erase_seed), dtype=image.dtype)
        region[...] = np.clip(np.rint(values), 0, 255).astype(np.uint8)  # the chain's rounding
        return out

    def caption(self, params: Any) -> tuple[Caption, ...]:
        if self.identity(params):
            return ()
        return ((1, 120, f"erase{params.erase_width:.0f}x{params.erase_height:.0f}"),)


OPERATIONS = (RandomErasing(),)
