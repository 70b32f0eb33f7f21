"""Pixel kinds (imgprep.pixels): one rule, with one message each, for images of several depths
or channel counts in a run."""

from __future__ import annotations

import numpy as np

from imgprep.pixels import PixelKind, dtype_of_depth


def test_depths_name_their_dtype():
    assert (dtype_of_depth(8), dtype_of_depth(16)) == ("uint8", "uint16")


def test_an_image_of_the_runs_kind_fits():
    assert PixelKind("uint8").mismatch(np.zeros((2, 2, 3), np.uint8)) is None
    assert PixelKind("uint16", channels=1).mismatch(np.zeros((2, 2, 1), np.uint16)) is None


def test_another_depth_names_the_option_and_a_float_says_it_is_not_rescaled():
    kind = PixelKind("uint8")
    assert kind.mismatch(np.zeros((2, 2, 1), np.uint16)) == (
        "pixels are uint16 but the images before it are uint8; pass --bit-depth 8 or "
        "--bit-depth 16 to convert them to one depth"
    )
    assert kind.mismatch(np.zeros((2, 2, 1), np.float32)) == (
        "pixels are float32 but the images before it are uint8; imgprep does not rescale float "
        "images implicitly: convert them to one integer depth (or all to float) first"
    )


def test_a_stats_kind_names_the_scale_or_the_channels():
    kind = PixelKind("uint16", channels=3, from_stats=True)
    assert kind.mismatch(np.zeros((2, 2, 3), np.uint8)) == (
        "pixels are uint8 but the statistics were computed on uint16 pixels, another scale "
        "(--allow-stats-mismatch does not change that); compute them with fit-stats on images "
        "of this depth, or pass the same --bit-depth to both commands"
    )
    assert kind.mismatch(np.zeros((2, 2, 1), np.uint16)) == (
        "pixels have 1 channel(s) but the statistics were computed on 3; compute them with the "
        "same --color, or apply one global value (--stats-scope global --allow-stats-mismatch)"
    )
