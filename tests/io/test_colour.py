"""The colour rules (imgprep.io.colour): an array of decoded pixels is converted exactly as
the file holding those pixels is decoded, and the luma is Pillow's ITU-R 601-2 formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgprep.config import DecodeSettings
from imgprep.errors import InputError
from imgprep.io.colour import array_in_colour
from imgprep.io.decode import decode_image
from tests.conftest import write_image

CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


@pytest.mark.parametrize("mode", list(CHANNELS))
@pytest.mark.parametrize("color", ["keep", "grayscale", "rgb", "rgba"])
def test_an_array_gets_the_pixels_its_png_decodes_to(tmp_path: Path, rng, mode, color):
    array = rng.integers(0, 256, (5, 7, CHANNELS[mode]), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array, mode)
    decoded = decode_image(str(path), DecodeSettings(color=color))
    converted = array_in_colour(array, color)
    assert converted.dtype == np.uint8
    np.testing.assert_array_equal(converted, decoded)


def test_grayscale_is_the_itu_r_601_2_luma_in_integers():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], np.uint8)
    luma = (rgb.astype(np.int64) * [299, 587, 114]).sum(axis=2) / 1000
    expected = np.floor(luma + 0.5).astype(np.uint8)
    assert expected.tolist() == [[76, 150, 29, 124]]
    np.testing.assert_array_equal(array_in_colour(rgb, "grayscale")[:, :, 0], expected)


def test_one_wide_channel_is_replicated_with_an_opaque_alpha():
    gray16 = np.array([[[0], [1000], [65535]]], np.uint16)
    np.testing.assert_array_equal(array_in_colour(gray16, "rgb"), np.repeat(gray16, 3, axis=2))
    rgba = array_in_colour(gray16, "rgba")
    assert rgba.dtype == np.uint16
    assert rgba[0, :, 3].tolist() == [65535, 65535, 65535]
    floats = np.array([[[0.25], [2.5]]], np.float32)
    assert array_in_colour(floats, "rgba")[0, :, 3].tolist() == [1.0, 1.0]
    assert array_in_colour(gray16, "grayscale") is gray16


def test_wide_arrays_with_channels_no_rule_converts_are_refused():
    rgb16 = np.zeros((2, 2, 3), np.uint16)
    assert array_in_colour(rgb16, "rgb") is rgb16
    with pytest.raises(InputError) as caught:
        array_in_colour(rgb16, "grayscale")
    assert str(caught.value) == "cannot convert a 3-channel uint16 array to grayscale"
