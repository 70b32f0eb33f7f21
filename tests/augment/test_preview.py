"""The contact sheet (``preview.py``): captions from the operations, sheet geometry."""

from __future__ import annotations

import numpy as np

from imgprep.augment import AugmentParams
from imgprep.augment.preview import GAP, LABEL, TILE, _describe, contact_sheet


def test_captions_join_each_operations_pieces():
    params = AugmentParams(theta=-12.4, zx=0.951, zy=1.05, brightness=1.104, flip_horizontal=True)
    assert _describe(3, params) == "copy 3 -12deg\nz0.95/1.05 b1.10 H"
    both = AugmentParams(theta=7.0, flip_horizontal=True, flip_vertical=True)
    assert _describe(1, both) == "copy 1 +7deg\nz1.00/1.00 b1.00 HV"
    assert _describe(2, AugmentParams()) == "copy 2 +0deg\nz1.00/1.00 b1.00"


def test_sheet_has_one_row_per_source_and_a_column_per_copy(rng):
    image = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    copies = [(k, image[:, ::-1], AugmentParams(flip_horizontal=True)) for k in (1, 2)]
    sheet = contact_sheet([("#0 a.png", image, copies), ("#1 b.png", image, copies[:1])])
    assert sheet.size == (GAP + 3 * (TILE + GAP), GAP + 2 * (TILE + LABEL + GAP))
    pixels = np.asarray(sheet)
    assert pixels.std() > 20 and (pixels[: GAP - 1] == 255).all()  # white margin, not blank
