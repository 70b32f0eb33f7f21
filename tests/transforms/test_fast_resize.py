"""``--resize-backend opencv`` (``imgprep.transforms.fast_resize``) against Pillow, the
resize it approximates, and against formulas: constants and linear ramps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from imgprep.transforms.functional import resize

CASES = [  # (source w, h), (target w, h): shrinking 2x, 2x, 4x/3.7x, mixed, enlarging
    ((300, 200), (150, 100)),
    ((448, 448), (224, 224)),
    ((500, 333), (120, 90)),
    ((200, 300), (230, 150)),
    ((90, 60), (200, 140)),
]


def _photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth shapes, soft edges and sensor-like noise: what photos look like to a resize."""
    canvas = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(1, width // 2)), int(rng.integers(1, height // 2))
        draw.ellipse((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    noise = rng.integers(-12, 13, (height, width, 3))
    blurred = np.asarray(canvas.filter(ImageFilter.GaussianBlur(1.5)))
    return np.clip(blurred + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("source, target", CASES)
@pytest.mark.parametrize("mode", ["stretch", "fit", "fill"])
@pytest.mark.parametrize("channels", [1, 3])
def test_within_a_fraction_of_a_grey_level_of_pillow(rng, source, target, mode, channels):
    """Measured here: mean 0.08-0.24, 99th percentile 1, largest 5 (the README gives the
    real-photo figures: 0.39, 3)."""
    image = _photo(rng, *source)[:, :, :channels]
    before = image.copy()
    exact = resize(image, size=target, mode=mode).astype(np.int16)
    fast = resize(image, size=target, mode=mode, backend="opencv")
    np.testing.assert_array_equal(image, before)
    assert fast.shape == exact.shape and fast.dtype == np.uint8
    difference = np.abs(fast.astype(np.int16) - exact)
    assert difference.mean() < 0.3
    assert np.percentile(difference, 99) <= 1
    assert difference.max() <= 6


@pytest.mark.parametrize("source, target", CASES)
@pytest.mark.parametrize("mode", ["stretch", "fit", "fill"])
def test_a_constant_image_stays_that_constant(source, target, mode):
    image = np.full((source[1], source[0], 3), (3, 128, 251), dtype=np.uint8)
    out = resize(image, size=target, mode=mode, backend="opencv", pad_value=9)
    scaled = resize(image, size=target, mode=mode, pad_value=9)  # the padding: Pillow's
    np.testing.assert_array_equal(out, scaled)


@pytest.mark.parametrize("source, target", CASES)
def test_a_linear_ramp_is_sampled_at_the_pixel_centres(source, target):
    """A symmetric filter leaves a linear ramp linear: output pixel j of a ramp x + 0.5 is
    its centre, (j + 0.5) * scale, to rounding (away from the two ends, where the filter
    meets the border)."""
    (sw, sh), (tw, _) = source, target
    ramp = np.broadcast_to(np.arange(sw, dtype=np.float64)[None, :] * (200 / sw), (sh, sw))
    image = np.round(ramp).astype(np.uint8)[:, :, None]
    out = resize(image, size=target, backend="opencv")[:, :, 0].astype(np.float64)
    centres = ((np.arange(tw) + 0.5) * (sw / tw) - 0.5) * (200 / sw)
    margin = int(np.ceil(3 * max(1.0, sw / tw) * tw / sw)) + 1
    inner = slice(margin, tw - margin)
    assert np.abs(out[:, inner] - centres[None, inner]).max() <= 1.0


@pytest.mark.parametrize(
    "dtype, channels, resample",
    [
        (np.uint8, 4, "bilinear"),  # alpha: Pillow premultiplies it
        (np.uint8, 2, "bilinear"),
        (np.uint16, 1, "bilinear"),
        (np.float32, 3, "bilinear"),
        (np.uint8, 3, "bicubic"),
        (np.uint8, 3, "nearest"),
    ],
)
def test_what_it_does_not_cover_is_pillows_exactly(rng, dtype, channels, resample):
    image = (rng.random((40, 60, channels)) * 250).astype(dtype)
    for mode in ("stretch", "fill"):
        exact = resize(image, size=(25, 17), mode=mode, resample=resample)
        fast = resize(image, size=(25, 17), mode=mode, resample=resample, backend="opencv")
        np.testing.assert_array_equal(fast, exact)


def test_an_unknown_backend_is_named():
    with pytest.raises(ValueError, match="unknown resize backend 'vips'"):
        resize(np.zeros((4, 4, 3), np.uint8), size=(2, 2), backend="vips")
