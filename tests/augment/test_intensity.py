"""The intensity family (``ops/intensity.py``): channel shift, then brightness, as Keras."""

from __future__ import annotations

import numpy as np

from imgprep.augment import AugmentParams, AugmentSettings, augment
from imgprep.augment.ops.intensity import (
    Brightness,
    ChannelShift,
    scale_brightness,
    shift_channels,
)
from tests.augment.reference import reference_uniform


def sample(settings: AugmentSettings, count: int, seed: int = 3):
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=(6, 6)
    )


class TestChannelShift:
    def test_kernel_adds_and_clips_to_the_image_range(self):
        work = np.array([[[10.0, 50.0], [90.0, 20.0]]], dtype=np.float32)
        out = shift_channels(work.copy(), shift=30.0)
        np.testing.assert_array_equal(out, [[[40.0, 80.0], [90.0, 50.0]]])
        np.testing.assert_array_equal(
            shift_channels(work.copy(), shift=-15.0), [[[10, 35], [75, 10]]]
        )

    def test_apply_follows_keras(self, rng):
        image = rng.integers(10, 200, (5, 5, 3), dtype=np.uint8)
        shifted = augment(
            image, AugmentParams(channel_shift=30.0), AugmentSettings(), keep_dtype=False
        )
        expected = np.clip(image.astype(np.float64) + 30, image.min(), image.max())
        np.testing.assert_allclose(shifted, expected, atol=1e-4)
        assert shifted.dtype == np.float32

    def test_sample_is_uniform_in_the_range_from_slot_9(self):
        params = sample(AugmentSettings(channel_shift_range=5), 3000)
        values = np.array([p.channel_shift for p in params])
        assert values.min() >= -5 and values.max() <= 5 and values.std() > 2.5
        for index, p in enumerate(params[:5]):
            assert p.channel_shift == (2 * reference_uniform(3, 0, index, 1, 9) - 1) * 5

    def test_recorded_column_and_identity(self):
        assert [(c.name, c.dtype, c.identity) for c in ChannelShift.columns] == [
            ("channel_shift", "float64", 0.0)
        ]
        assert {p.channel_shift for p in sample(AugmentSettings(rotation_range=4), 5)} == {0.0}
        assert ChannelShift().identity(AugmentParams()) and not AugmentSettings().active
        assert AugmentSettings(channel_shift_range=1).active


class TestBrightness:
    def test_kernel_multiplies_and_clips_integer_ranges_only(self):
        work = np.array([[[100.0], [200.0]]], dtype=np.float32)
        np.testing.assert_array_equal(
            scale_brightness(work.copy(), factor=1.5, dtype=np.uint8), [[[150.0], [255.0]]]
        )
        np.testing.assert_array_equal(
            scale_brightness(work.copy(), factor=1.5, dtype=np.float32), [[[150.0], [300.0]]]
        )

    def test_apply_rounds_back_into_the_dtype(self, rng):
        image = rng.integers(10, 200, (5, 5, 3), dtype=np.uint8)
        bright = augment(image, AugmentParams(brightness=1.5), AugmentSettings(), keep_dtype=True)
        expected = np.clip(np.rint(image.astype(np.float64) * 1.5), 0, 255)
        np.testing.assert_array_equal(bright, expected.astype(np.uint8))

    def test_channel_shift_comes_first(self):
        image = np.array([[[10], [20]]], dtype=np.uint8)
        params = AugmentParams(channel_shift=5.0, brightness=2.0)
        out = augment(image, params, AugmentSettings(), keep_dtype=False)
        np.testing.assert_array_equal(out, [[[30.0], [40.0]]])  # clip(x + 5, 10, 20) * 2

    def test_sample_is_uniform_in_the_range_from_slot_10(self):
        params = sample(AugmentSettings(brightness_range=(0.5, 1.5)), 3000)
        values = np.array([p.brightness for p in params])
        assert values.min() >= 0.5 and values.max() <= 1.5 and values.std() > 0.25
        for index, p in enumerate(params[:5]):
            assert p.brightness == 0.5 + 1.0 * reference_uniform(3, 0, index, 1, 10)

    def test_recorded_column_and_identity(self):
        assert [(c.name, c.dtype, c.identity) for c in Brightness.columns] == [
            ("brightness", "float64", 1.0)
        ]
        assert {p.brightness for p in sample(AugmentSettings(rotation_range=4), 5)} == {1.0}
        assert not AugmentSettings(brightness_range=(1.0, 1.0)).active
        assert AugmentSettings(brightness_range=(0.9, 1.0)).active
