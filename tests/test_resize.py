"""Resize modes: output size, aspect handling, padding, dtypes; input never mutated."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imgprep.transforms.functional import resize, resize_geometry


@pytest.mark.parametrize("mode", ["stretch", "fit", "fill"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_every_mode_gives_the_requested_size(mode, dtype, channels, rng):
    image = (rng.random((30, 50, channels)) * 200).astype(dtype)
    before = image.copy()
    out = resize(image, size=(16, 24), mode=mode)
    assert out.shape == (24, 16, channels)
    assert out.dtype == dtype
    np.testing.assert_array_equal(image, before)


def test_stretch_equals_pillow_resize(rng):
    image = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    for name, flag in [("nearest", 0), ("bilinear", 2), ("bicubic", 3), ("lanczos", 1), ("box", 4)]:
        out = resize(image, size=(20, 9), mode="stretch", resample=name)
        expected = np.asarray(Image.fromarray(image).resize((20, 9), Image.Resampling(flag)))
        np.testing.assert_array_equal(out, expected)


def test_fit_keeps_aspect_and_pads_with_pad_value(rng):
    image = rng.integers(1, 255, (20, 40, 1), dtype=np.uint8)  # 40 wide x 20 high, aspect 2
    out = resize(image, size=(20, 20), mode="fit", pad_value=7)
    assert out.shape == (20, 20, 1)
    # Scaled to 20 x 10, centred vertically: rows 0-4 and 15-19 are padding.
    assert (out[:5] == 7).all() and (out[15:] == 7).all()
    expected = np.asarray(
        Image.fromarray(image[:, :, 0]).resize((20, 10), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(out[5:15, :, 0], expected)


def test_fill_keeps_aspect_and_centre_crops(rng):
    image = rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)  # 40 x 20
    out = resize(image, size=(10, 10), mode="fill", resample="box")
    # Scale 0.5 covers 10 x 10 with a 20 x 10 image; the centre 10 columns of it are kept,
    # i.e. source columns 10..30. A box filter at exactly 2:1 is the 2x2 block mean.
    centre = image[:, 10:30].astype(np.float64)
    blocks = centre.reshape(10, 2, 10, 2, 3).mean(axis=(1, 3))
    # Pillow filters in fixed point: within one grey level of the exact block mean.
    assert np.abs(out.astype(np.float64) - blocks).max() <= 1.0


def test_same_size_is_an_unchanged_copy(rng):
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for mode in ("stretch", "fit", "fill"):
        out = resize(image, size=(8, 8), mode=mode)
        np.testing.assert_array_equal(out, image)
        assert out is not image


def test_fill_box_never_leaves_the_source():
    for source in [(160, 107), (97, 160), (333, 101), (1, 999)]:
        for target in [(64, 64), (224, 224), (7, 3)]:
            _, (left, top, right, bottom), _ = resize_geometry(source, target, "fill")
            assert 0 <= left <= right <= source[0]
            assert 0 <= top <= bottom <= source[1]


def test_uint16_keeps_16_bit_values(rng):
    image = np.full((10, 10, 1), 60000, dtype=np.uint16)
    out = resize(image, size=(5, 5))
    assert out.dtype == np.uint16 and (out == 60000).all()


def test_bad_arguments_are_named():
    image = np.zeros((4, 4, 1), np.uint8)
    with pytest.raises(ValueError, match="unknown resize mode 'zoom'"):
        resize(image, size=(2, 2), mode="zoom")
    with pytest.raises(ValueError, match="unknown resample filter 'cubic'"):
        resize(image, size=(2, 2), resample="cubic")
    with pytest.raises(ValueError, match="H x W x C"):
        resize(np.zeros((4, 4), np.uint8), size=(2, 2))
