"""The contact sheet (``preview.py``): captions from the operations, sheet geometry."""

from __future__ import annotations

import numpy as np

from imgprep.augment import AugmentParams
from imgprep.augment.preview import GAP, LABEL, TILE, _describe, contact_sheet


def test_captions_join_each_operations_pieces():
    params = AugmentParams(theta=-12.4, zx=0.951, zy=1.05, brightness=1.104, flip_horizontal=True)
    assert _describe(3, params) == "copy 3 -12deg\nz0.95/1.05 b1.10 H"
    both = AugmentParams(theta=7.0, flip_horizontal=True, flip_vertical=True)
    assert _describe(1, both) == "copy 1 +7deg HV"
    assert _describe(2, AugmentParams()) == "copy 2"  # identities are not shown


def test_long_captions_flow_into_lines_instead_of_being_cut():
    params = AugmentParams(
        theta=3.0, crop_top=1, crop_left=2, crop_height=30, crop_width=40, hue_delta=0.1,
        saturation_factor=1.5, blur_sigma=1.2, erase_top=1, erase_height=5, erase_width=6,
    )  # fmt: skip
    lines = _describe(4, params).split("\n")
    assert lines == ["copy 4 +3deg s1.50", "h+0.10 blur1.2", "crop40x30+2+1 erase6x5"]
    assert all(len(line) <= 22 for line in lines)


def test_sheet_has_one_row_per_source_and_a_column_per_copy(rng):
    image = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    copies = [(k, image[:, ::-1], AugmentParams(flip_horizontal=True)) for k in (1, 2)]
    sheet = contact_sheet([("#0 a.png", image, copies), ("#1 b.png", image, copies[:1])])
    assert sheet.size == (GAP + 3 * (TILE + GAP), GAP + 2 * (TILE + LABEL + GAP))
    pixels = np.asarray(sheet)
    assert pixels.std() > 20 and (pixels[: GAP - 1] == 255).all()  # white margin, not blank
