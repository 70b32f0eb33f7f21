"""The one resampling (``warp.py``): exact bilinear for every channel count, composition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgprep.augment import AugmentParams, affine_matrix, warp
from imgprep.augment.spec import Mirror
from imgprep.augment.warp import compose, exact_flip, mirror_coefficients, warp_copy
from tests.augment.reference import reference_warp, smooth_image


@pytest.fixture
def smooth() -> np.ndarray:
    return smooth_image()


class _Step:
    """A warp operation that returns a fixed step (the registry has one warp operation)."""

    def __init__(self, step):
        self.step = step

    def warp(self, params, height, width):
        return self.step


def test_warp_handles_more_than_four_channels(smooth):
    image = np.concatenate([smooth, smooth], axis=2)
    matrix = affine_matrix(AugmentParams(theta=10), 40, 50)
    out = warp(image, tuple(matrix[:2].ravel()), fill_mode="nearest", cval=0)
    # the same up to float32 rounding: OpenCV 5.1 warps a 4- and a 2-channel chunk with
    # different vector code (one value of 6,000 differed by 1 ulp, 7.6e-6 at 65.97)
    np.testing.assert_allclose(out[..., :3], out[..., 3:], rtol=0, atol=3e-5)
    assert math.isclose(
        float(out[..., :3].mean()),
        float(reference_warp(smooth, matrix, "nearest").mean()),
        rel_tol=1e-5,
    )


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 6])
def test_every_channel_count_is_exact_bilinear(smooth, channels):
    image = np.concatenate([smooth, smooth[..., ::-1]], axis=2)[..., :channels].copy()
    matrix = affine_matrix(AugmentParams(theta=10, zx=0.9), 40, 50)
    out = warp(image, tuple(matrix[:2].ravel()), fill_mode="reflect", cval=0)
    np.testing.assert_allclose(out, reference_warp(image, matrix, "reflect"), atol=2e-3)


def test_compose_is_the_matrix_product():
    first = tuple(affine_matrix(AugmentParams(theta=20, tx=1.5), 40, 50)[:2].ravel())
    then = tuple(affine_matrix(AugmentParams(zx=0.8, shear=4), 40, 50)[:2].ravel())
    expected = np.vstack([np.reshape(first, (2, 3)), [0, 0, 1]]) @ np.vstack(
        [np.reshape(then, (2, 3)), [0, 0, 1]]
    )
    np.testing.assert_allclose(np.reshape(compose(first, then), (2, 3)), expected[:2])


def test_two_steps_resample_once_as_the_steps_in_turn(rng):
    image = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8).astype(np.float32)
    down = (1.0, 0.0, -2.0, 0.0, 1.0, 0.0)  # row r reads row r - 2 (integer: exact)
    right = (1.0, 0.0, 0.0, 0.0, 1.0, -3.0)
    once = warp_copy(image, None, [_Step(down), _Step(right)], fill_mode="wrap", cval=0)
    np.testing.assert_array_equal(once, np.roll(np.roll(image, 2, axis=0), 3, axis=1))


def test_mirror_steps_are_exact_and_cancel(rng):
    image = rng.integers(0, 65536, (5, 7, 2), dtype=np.uint16)
    steps = [_Step(Mirror(vertical=True)), _Step(Mirror(vertical=True, horizontal=True))]
    out = warp_copy(image, None, steps, fill_mode="nearest", cval=0)
    np.testing.assert_array_equal(out, image[:, ::-1])
    assert out.flags.c_contiguous and out.dtype == np.uint16


def test_a_mirror_beside_a_resampling_step_becomes_its_map(rng):
    image = rng.integers(0, 256, (6, 8, 1), dtype=np.uint8).astype(np.float32)
    shift = (1.0, 0.0, 1.0, 0.0, 1.0, 0.0)  # row r reads row r + 1
    steps = [_Step(Mirror(horizontal=True)), _Step(shift)]
    out = warp_copy(image, None, steps, fill_mode="wrap", cval=0)
    np.testing.assert_array_equal(out, np.roll(image[:, ::-1], -1, axis=0))
    assert mirror_coefficients(Mirror(vertical=True), 6, 8) == (-1.0, 0.0, 5.0, 0.0, 1.0, 0.0)


def test_exact_flip_of_nothing_is_the_image_itself():
    image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    assert exact_flip(image, vertical=False, horizontal=False) is image
