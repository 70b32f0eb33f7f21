"""The crops, after the warp: torchvision's ``RandomResizedCrop``, then ``tf.image.random_crop``.

Both record ``crop_top``, ``crop_left``, ``crop_height``, ``crop_width``: the box, in pixels
of the image it was taken from, so only one of them can be used in a run.

- ``random_resized_crop`` (with ``crop_scale`` (LO, HI), default 0.08-1, and ``crop_ratio``
  (LO, HI), default 3/4-4/3): torchvision's ``RandomResizedCrop.get_params``. Ten tries of
  an area fraction uniform in ``crop_scale`` and an aspect ratio (width / height)
  log-uniform in ``crop_ratio``; w = round(sqrt(area x ratio)), h = round(sqrt(area /
  ratio)) (round half to even, as Python); the first try that fits is placed at a uniform
  position (top uniform in 0..H-h, left in 0..W-w), else the centre crop of the ratio
  nearest the image's (the whole image when its ratio is within the range). The box is
  taken from the DECODED image (before the pipeline's resize; the warp, when there is one,
  runs on it first) and resized to ``--size`` (which it requires) with ``--resample``
  (aspect ratio not kept, as torchvision). Rows that are not augmented are the decoded image
  resized as the pipeline resizes it (``--resize-mode``), since there is nothing to crop.
  The training split's images are then decoded at full scale: no JPEG draft.
- ``random_crop`` (W, H): a W x H box at a uniform position (top uniform in 0..H'-H, left in
  0..W'-W) of the copy at the pipeline's size (``tf.image.random_crop``; the classic recipe
  is ``--size 256x256 --random-crop 224x224``). A box larger than ``--size`` is a usage
  error; without ``--size``, an image smaller than the box is a bad file (exit 1, or skipped
  with ``--on-error skip``). Rows that are not augmented (copy 0 with ``--keep-original``
  and the validation and test splits) are centre-cropped to W x H (top (H' - H) // 2, left
  (W' - W) // 2; torchvision's ``CenterCrop``), so every row of a run has one size.

One operation (``Crop``) with its own draw slots (the tries of the resized crop: 22, the plain
crop's position: 2), so neither moves another operation's numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgprep.augment.boxes import DRAWS, first_fitting_boxes, positions
from imgprep.augment.keyed import named_slots
from imgprep.augment.spec import Box, Caption, Column, CropOperation, Option
from imgprep.errors import InputError, option

CROP_COLUMNS = (
    Column("crop_top", "float64", 0.0),
    Column("crop_left", "float64", 0.0),
    Column("crop_height", "float64", 0.0),
    Column("crop_width", "float64", 0.0),
)


def box_of(params: Any) -> Box | None:
    """The copy's crop box (top, left, height, width), None when it is not cropped."""
    if not params.crop_height:
        return None
    return (
        int(params.crop_top),
        int(params.crop_left),
        int(params.crop_height),
        int(params.crop_width),
    )


def take(image: np.ndarray, box: Box) -> np.ndarray:
    """The box of ``image`` (a contiguous copy)."""
    top, left, height, width = box
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def resized_crop_boxes(
    height: int,
    width: int,
    draws: np.ndarray,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> np.ndarray:
    """(copies, 4) boxes (top, left, h, w) of ``RandomResizedCrop`` on an H x W image, from
    ``draws`` (copies, ``DRAWS``): the ratio is width / height, a box fits inside the image,
    and without one the centre crop of the nearest ratio."""
    boxes, found = first_fitting_boxes(
        height, width, draws, scale, ratio, ratio_is_width_over_height=True,
        fits=lambda h, w: (w > 0) & (w <= width) & (h > 0) & (h <= height),
    )  # fmt: skip
    boxes[~found] = _centre_fallback(height, width, ratio)
    return boxes


def _centre_fallback(height: int, width: int, ratio: tuple[float, float]) -> Box:
    """torchvision's fallback after ten misses: the centre crop of the nearest ratio."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return ((height - h) // 2, (width - w) // 2, h, w)


class Crop(CropOperation):
    """torchvision's ``RandomResizedCrop`` or ``tf.image.random_crop`` (one per run: they
    record the same columns)."""

    name = "crop"
    order = 10
    options = (
        Option("random_resized_crop", "flag", False,
               "Augment: crop a random area and aspect ratio of the decoded image and resize "
               "it to --size (torchvision's RandomResizedCrop)."),
        Option("crop_scale", "range", (0.08, 1.0),
               "Augment: with --random-resized-crop, the crop's area fraction range "
               "[default: 0.08,1].",
               metavar="LO,HI", show_default=True, minimum=0, exclusive=True, maximum=1),
        Option("crop_ratio", "range", (3 / 4, 4 / 3),
               "Augment: with --random-resized-crop, the crop's aspect ratio (width / height) "
               "range [default: 3/4,4/3].",
               metavar="LO,HI", minimum=0, exclusive=True),
        Option("random_crop", "size", None,
               "Augment: a WxH crop at a random position, after the resize (--size 256x256 "
               "--random-crop 224x224); rows not augmented are centre-cropped.",
               metavar="WxH"),
    )  # fmt: skip
    columns = CROP_COLUMNS
    # the resized crop's ten tries and its position, then the plain crop's position
    draw_slots = named_slots("random-resized-crop", DRAWS) + named_slots("random-crop", 2)

    def active(self, settings: Any) -> bool:
        return bool(settings.random_resized_crop) or settings.random_crop is not None

    def full_source(self, settings: Any) -> bool:
        return bool(settings.random_resized_crop)

    def sample(
        self, settings: Any, draws: np.ndarray, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, ...]:
        if settings.random_resized_crop:
            boxes = resized_crop_boxes(
                shape[0], shape[1], draws[:, :DRAWS], settings.crop_scale,
                settings.crop_ratio,
            )  # fmt: skip
        elif settings.random_crop is not None:
            width, height = settings.random_crop
            tail = draws[:, DRAWS:]
            top = positions(tail[:, 0], np.full(len(draws), shape[0] - height))
            left = positions(tail[:, 1], np.full(len(draws), shape[1] - width))
            sizes = np.broadcast_to(np.array([height, width], dtype=np.float64), (len(draws), 2))
            boxes = np.column_stack([top, left, sizes])
        else:
            boxes = np.zeros((len(draws), 4))
        return tuple(np.ascontiguousarray(boxes[:, j], dtype=np.float64) for j in range(4))

    def crop(self, image: np.ndarray, params: Any, settings: Any, *, resize: Any) -> np.ndarray:
        box = box_of(params)
        if box is None:
            return image
        cropped = take(image, box)
        if not settings.random_resized_crop:
            return cropped
        if resize is None:
            raise InputError(f"{option('random-resized-crop')} needs {option('size')}")
        return resize(cropped)

    def changes_view(self, settings: Any) -> bool:
        return settings.random_crop is not None

    def view(self, settings: Any, shape: tuple[int, ...]) -> dict[str, float] | None:
        if not self.changes_view(settings):
            return None
        width, height = settings.random_crop
        top, left = (shape[0] - height) // 2, (shape[1] - width) // 2
        return {"crop_top": top, "crop_left": left, "crop_height": height, "crop_width": width}

    def size_after(self, settings: Any, shape: tuple[int, ...]) -> tuple[int, int] | None:
        if settings.random_crop is None:
            return None  # the resized crop has the pipeline's size, as the rows not augmented
        width, height = settings.random_crop
        return (height, width)

    def shape_problem(self, settings: Any, shape: tuple[int, ...]) -> str | None:
        if settings.random_crop is None:
            return None
        width, height = settings.random_crop
        if width > shape[1] or height > shape[0]:
            return (
                f"the image is {shape[1]}x{shape[0]}, smaller than "
                f"{option('random-crop')} {width}x{height}"
            )
        return None

    def check_plan(self, settings: Any, size: tuple[int, int] | None) -> None:
        if settings.random_resized_crop and size is None:
            raise InputError(
                f"{option('random-resized-crop')} needs {option('size')}: the crop is resized to it"
            )
        if settings.random_crop is None:
            return
        if settings.random_resized_crop:
            raise InputError(
                f"{option('random-crop')} and {option('random-resized-crop')} cannot be "
                "combined (both record crop_top, crop_left, crop_height, crop_width)"
            )
        width, height = settings.random_crop
        if size is not None and (width > size[0] or height > size[1]):
            raise InputError(
                f"{option('random-crop')} {width}x{height} is larger than the image: "
                f"{option('size')} is {size[0]}x{size[1]}"
            )

    def caption(self, params: Any) -> tuple[Caption, ...]:
        box = box_of(params)
        return () if box is None else ((1, 10, f"crop{box[3]}x{box[2]}+{box[1]}+{box[0]}"),)


OPERATIONS = (Crop(),)
