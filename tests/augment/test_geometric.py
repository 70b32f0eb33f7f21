"""The geometric family (``ops/geometric.py``): Keras' matrix, sampling ranges, exact flips."""

from __future__ import annotations

import numpy as np
import pytest

from imgprep.augment import AugmentParams, AugmentSettings, affine_matrix, augment
from imgprep.augment.ops.geometric import Affine
from imgprep.augment.registry import BY_NAME
from imgprep.augment.spec import Mirror
from tests.augment.reference import (
    keras_matrix,
    reference_uniform,
    reference_warp,
    smooth_image,
)


@pytest.fixture
def smooth() -> np.ndarray:
    return smooth_image()


def sample(settings: AugmentSettings, count: int, shape=(30, 50, 3), seed: int = 3):
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=shape
    )


class TestAffine:
    # ------------------------------------------------------------------ kernel

    def test_matrix_is_keras_matrix(self):
        params = AugmentParams(theta=23.0, tx=3.5, ty=-2.0, shear=7.0, zx=0.9, zy=1.2)
        np.testing.assert_allclose(
            affine_matrix(params, 40, 50), keras_matrix(23.0, 3.5, -2.0, 7.0, 0.9, 1.2, 40, 50)
        )

    def test_flips_reflect_the_output_coordinates(self):
        params = AugmentParams(theta=10.0, flip_horizontal=True, flip_vertical=True)
        plain = affine_matrix(AugmentParams(theta=10.0), 40, 50)
        mirror = np.array([[-1, 0, 39], [0, -1, 49], [0, 0, 1]])
        np.testing.assert_allclose(affine_matrix(params, 40, 50), plain @ mirror)

    def test_a_copy_without_geometry_is_a_mirror_step(self):
        op = BY_NAME["affine"]
        assert op.warp(AugmentParams(flip_vertical=True), 4, 5) == Mirror(vertical=True)
        assert op.warp(AugmentParams(), 4, 5) == Mirror()
        assert len(op.warp(AugmentParams(zx=1.1), 4, 5)) == 6

    # ------------------------------------------------------------------ apply

    @pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap", "constant"])
    def test_rotation_matches_an_independent_warp(self, smooth, mode):
        params = AugmentParams(theta=30.0, tx=2.5, zx=0.8, zy=0.9)
        settings = AugmentSettings(rotation_range=30, fill_mode=mode, cval=17.0)
        out = augment(smooth, params, settings, keep_dtype=False)
        expected = reference_warp(smooth, affine_matrix(params, 40, 50), mode, cval=17.0)
        np.testing.assert_allclose(out, expected, atol=2e-3)

    @pytest.mark.parametrize(
        ("mode", "expected_top_rows"),
        [
            ("constant", lambda img: np.full_like(img[:3], 9.0)),
            ("nearest", lambda img: np.repeat(img[:1], 3, axis=0)),
            ("reflect", lambda img: img[2::-1]),
            ("wrap", lambda img: img[-3:]),
        ],
    )
    def test_fill_modes_on_a_shifted_image(self, smooth, mode, expected_top_rows):
        # tx = -3: output row r reads input row r - 3, so rows 0-2 come from the fill.
        params = AugmentParams(tx=-3.0)
        settings = AugmentSettings(fill_mode=mode, cval=9.0)
        out = augment(smooth, params, settings, keep_dtype=False)
        np.testing.assert_allclose(out[3:], smooth[:-3], atol=1e-4)
        np.testing.assert_allclose(out[:3], expected_top_rows(smooth), atol=1e-4)

    def test_flips_are_exact_mirrors(self, rng):
        image = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
        settings = AugmentSettings(horizontal_flip=True)
        h = augment(image, AugmentParams(flip_horizontal=True), settings, keep_dtype=True)
        v = augment(image, AugmentParams(flip_vertical=True), settings, keep_dtype=True)
        both = AugmentParams(flip_horizontal=True, flip_vertical=True)
        np.testing.assert_array_equal(h, image[:, ::-1])
        np.testing.assert_array_equal(v, image[::-1])
        np.testing.assert_array_equal(
            augment(image, both, settings, keep_dtype=True), image[::-1, ::-1]
        )
        assert h.dtype == np.uint8

    def test_flip_with_integer_shift_is_exact(self, rng):
        image = rng.integers(0, 256, (6, 8, 1), dtype=np.uint8).astype(np.float32)
        params = AugmentParams(tx=2.0, flip_horizontal=True)
        out = augment(image, params, AugmentSettings(fill_mode="wrap"), keep_dtype=False)
        expected = np.roll(image[:, ::-1], -2, axis=0)  # mirror, then row r reads row r + 2
        np.testing.assert_allclose(out, expected, atol=1e-5)

    def test_uint16_stays_uint16_when_kept(self, rng):
        image = rng.integers(0, 65536, (9, 11, 1), dtype=np.uint16)
        params = AugmentParams(theta=12.0)
        out = augment(image, params, AugmentSettings(), keep_dtype=True)
        expected = reference_warp(image, affine_matrix(params, 9, 11), "nearest")
        assert out.dtype == np.uint16
        assert np.abs(out.astype(np.float64) - expected).max() <= 1.0  # OpenCV rounds

    # ------------------------------------------------------------------ sample

    def test_sampling_follows_keras_ranges(self):
        """With the intensity operations on too: one op's draws never disturb another's."""
        settings = AugmentSettings(
            rotation_range=20, width_shift_range=0.2, height_shift_range=4, shear_range=10,
            zoom_range=(0.8, 1.2), horizontal_flip=True, channel_shift_range=5,
            brightness_range=(0.5, 1.5),
        )  # fmt: skip
        params = sample(settings, 4000)
        theta = np.array([p.theta for p in params])
        ty = np.array([p.ty for p in params])
        tx = np.array([p.tx for p in params])
        assert theta.min() >= -20 and theta.max() <= 20 and theta.std() > 10
        assert ty.min() >= -10 and ty.max() <= 10 and np.abs(ty).max() > 9  # 0.2 x width 50
        assert set(np.unique(tx)) <= {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0}  # choice(4), signed
        assert all(0.8 <= p.zx <= 1.2 and 0.8 <= p.zy <= 1.2 for p in params)
        assert any(p.zx != p.zy for p in params)
        assert 0.45 < np.mean([p.flip_horizontal for p in params]) < 0.55
        assert not any(p.flip_vertical for p in params)
        assert all(0.5 <= p.brightness <= 1.5 and abs(p.channel_shift) <= 5 for p in params)

    def test_keep_aspect_draws_one_zoom(self):
        settings = AugmentSettings(zoom_range=(0.8, 1.2), zoom_keep_aspect=True)
        assert all(p.zx == p.zy for p in sample(settings, 50, shape=(8, 8)))

    def test_float_shift_of_pixels_is_uniform_in_the_range(self):
        params = sample(AugmentSettings(height_shift_range=2.5), 2000)
        tx = np.array([p.tx for p in params])
        assert tx.min() >= -2.5 and tx.max() <= 2.5 and len(np.unique(tx)) > 1900

    # ------------------------------------------------------------------ recorded params

    def test_columns_come_from_its_own_draw_slots(self):
        """The contract: theta slot 1, tx 2 (sign 11), ty 3 (sign 12), shear 4, zx 5, zy 6,
        flips 7 and 8, whatever other operations exist."""
        settings = AugmentSettings(
            rotation_range=20, width_shift_range=0.25, height_shift_range=3, shear_range=5,
            zoom_range=(0.5, 1.5), horizontal_flip=True, vertical_flip=True,
        )  # fmt: skip
        indices, copies = np.array([4, 4, 17]), np.array([1, 2, 1])
        params = settings.sample(seed=9, split=1, indices=indices, copies=copies, shape=(30, 40))
        for p, index, copy in zip(params, indices.tolist(), copies.tolist(), strict=True):
            u = {
                s: reference_uniform(9, 1, index, copy, s) for s in (1, 2, 3, 4, 5, 6, 7, 8, 11, 12)
            }
            steps = np.floor(u[2] * 3)
            assert p.theta == (2 * u[1] - 1) * 20
            assert p.tx == (-steps if u[11] < 0.5 else steps)
            assert p.ty == (2 * u[3] - 1) * 0.25 * 40
            assert p.shear == (2 * u[4] - 1) * 5
            assert p.zx == 0.5 + 1.0 * u[5] and p.zy == 0.5 + 1.0 * u[6]
            assert p.flip_horizontal is (u[7] < 0.5) and p.flip_vertical is (u[8] < 0.5)

    def test_declares_its_columns_and_identity(self):
        assert [(c.name, c.dtype, c.identity) for c in Affine.columns] == [
            ("theta", "float64", 0.0), ("tx", "float64", 0.0), ("ty", "float64", 0.0),
            ("shear", "float64", 0.0), ("zx", "float64", 1.0), ("zy", "float64", 1.0),
            ("flip_horizontal", "bool", False), ("flip_vertical", "bool", False),
        ]  # fmt: skip
        off = sample(AugmentSettings(channel_shift_range=3), 5)
        assert {(p.theta, p.tx, p.ty, p.shear, p.zx, p.zy) for p in off} == {(0, 0, 0, 0, 1, 1)}
        assert not any(p.flip_horizontal or p.flip_vertical for p in off)

    def test_active_only_with_a_random_option(self):
        assert not AugmentSettings(zoom_keep_aspect=True, fill_mode="wrap", cval=3).active
        assert AugmentSettings(zoom_range=(1.0, 1.1)).active
        assert AugmentSettings(vertical_flip=True).active
