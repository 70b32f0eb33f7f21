"""The 8-bit kernels (``PixelOperation.apply_uint8``) equal the float32 path bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from imgprep.augment import AugmentSettings, augment
from imgprep.augment.chain import to_dtype
from imgprep.augment.registry import PIXEL_OPERATIONS

# settings that make each pixel operation active (every registered one must be listed)
ACTIVE = {
    "channel-shift": {"channel_shift_range": 40.0},
    "brightness": {"brightness_range": (0.5, 1.5)},
    "brightness-delta": {"brightness_delta": 0.6},
    "contrast": {"contrast_range": (0.0, 3.0)},
    "saturation": {"saturation_range": (0.0, 3.0)},
    "hue": {"hue_delta": 0.5},
    "grayscale": {"grayscale_prob": 1.0},
    "randaugment": {"randaugment": (3, 15)},
    "blur": {"blur_sigma": (0.5, 2.0)},
    "noise": {"noise_std": (0.01, 0.2)},
    "jpeg": {"jpeg_quality": (10, 95)},
    "erasing": {"erasing_prob": 1.0, "erasing_value": "random"},
}


def test_every_pixel_operation_has_example_settings():
    assert sorted(ACTIVE) == sorted(op.name for op in PIXEL_OPERATIONS)


@pytest.mark.parametrize("op", PIXEL_OPERATIONS, ids=lambda op: op.name)
def test_kernel_equals_the_float32_path(op, rng):
    settings = AugmentSettings(**ACTIVE[op.name])
    checked = 0
    for trial in range(60):
        channels = (1, 2, 3, 4)[trial % 4]
        if op.name in ("saturation", "hue", "grayscale") and channels < 3:
            continue
        shape = (int(rng.integers(1, 30)), int(rng.integers(1, 30)), channels)
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        params = settings.sample(
            seed=trial, split=0, indices=np.array([0]), copies=np.array([1]), shape=shape
        )[0]
        before = image.copy()
        fast = op.apply_uint8(image, params, settings)
        if fast is None:
            continue
        np.testing.assert_array_equal(image, before)  # the source is not changed
        slow = op.apply(image.astype(np.float32), params, settings, source_dtype=image.dtype)
        np.testing.assert_array_equal(fast, to_dtype(slow, np.uint8))
        assert fast.dtype == np.uint8 and fast.shape == shape
        checked += 1
    kernels = {"brightness-delta", "contrast", "grayscale", "jpeg", "erasing"}
    assert (checked > 0) == (op.name in kernels)


def test_the_chain_uses_the_kernel_only_for_a_lone_operation(rng, monkeypatch):
    from imgprep.augment.ops import colour

    calls = []
    original = colour.BrightnessDelta.apply_uint8
    monkeypatch.setattr(
        colour.BrightnessDelta,
        "apply_uint8",
        lambda self, *a: calls.append(1) or original(self, *a),
    )
    image = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    alone = AugmentSettings(brightness_delta=0.3)
    params = alone.sample(
        seed=1, split=0, indices=np.array([0]), copies=np.array([1]), shape=(9, 7)
    )
    out = augment(image, params[0], alone, keep_dtype=True)
    assert calls == [1] and out.dtype == np.uint8
    float_out = augment(image, params[0], alone, keep_dtype=False)  # float rows: no kernel
    np.testing.assert_array_equal(out, to_dtype(float_out, np.uint8))
    assert calls == [1]
    both = AugmentSettings(brightness_delta=0.3, contrast_range=(1.5, 1.5))
    params = both.sample(seed=1, split=0, indices=np.array([0]), copies=np.array([1]), shape=(9, 7))
    augment(image, params[0], both, keep_dtype=True)
    assert calls == [1]  # two operations: the float32 path, rounded once


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("source", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_to_dtype_rounds_half_to_even_and_clips(rng, dtype, source, channels):
    top = np.iinfo(dtype).max
    values = rng.uniform(-300, top + 300, (31, 17, channels)).astype(source)
    values.flat[:400] = np.arange(400) / 2 - 50  # exact halves: 0.5 -> 0, 1.5 -> 2, ...
    values.flat[400:420] = top + np.arange(20) / 2 - 5
    expected = np.clip(np.rint(values.astype(np.float64)), 0, top).astype(dtype)
    got = to_dtype(values, np.dtype(dtype))
    assert got.dtype == dtype and got.shape == values.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("value", [0.5, 0.0, 1.0, 0.3])
def test_erasing_with_a_value_equals_the_float32_path(rng, value):
    from imgprep.augment.registry import BY_NAME

    op = BY_NAME["erasing"]
    settings = AugmentSettings(erasing_prob=1.0, erasing_value=value)
    for trial in range(20):
        image = rng.integers(0, 256, (20, 17, (1, 3, 4)[trial % 3]), dtype=np.uint8)
        params = settings.sample(
            seed=trial, split=0, indices=np.array([0]), copies=np.array([1]), shape=image.shape
        )[0]
        fast = op.apply_uint8(image, params, settings)
        slow = op.apply(image.astype(np.float32), params, settings, source_dtype=image.dtype)
        np.testing.assert_array_equal(fast, to_dtype(slow, np.uint8))
