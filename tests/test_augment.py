"""Augmentation: Keras' meaning, exact flips, fill modes, reproducibility, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgprep.augment import (
    AugmentParams,
    AugmentSettings,
    affine_matrix,
    augment,
    uniform_draws,
    warp,
)
from imgprep.errors import InputError


def keras_matrix(theta, tx, ty, shear, zx, zy, h, w):
    """keras-preprocessing's apply_affine_transform matrix (1.1.2's (row, col) convention,
    with the centre h/2 - 0.5 of upstream fix #314; the 1.1.2 release used h/2 + 0.5),
    written out independently with NumPy matrix products."""
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shear_m = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    m = rotation @ shift @ shear_m @ zoom
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    return (
        np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
        @ m
        @ np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    )


def reference_warp(image, matrix, mode, cval=0.0):
    """SciPy's order-1 affine_transform semantics, in plain NumPy (the independent check)."""
    h, w, channels = image.shape
    rows, cols = np.mgrid[0:h, 0:w]
    src_r = matrix[0, 0] * rows + matrix[0, 1] * cols + matrix[0, 2]
    src_c = matrix[1, 0] * rows + matrix[1, 1] * cols + matrix[1, 2]
    r0, c0 = np.floor(src_r).astype(int), np.floor(src_c).astype(int)
    fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]

    def index(i, n):
        if mode == "wrap":
            return np.mod(i, n)
        if mode == "reflect":
            period = np.mod(i, 2 * n)
            return np.where(period >= n, 2 * n - 1 - period, period)
        return np.clip(i, 0, n - 1)

    flat = image.reshape(h * w, channels).astype(np.float64)

    def at(r, c):
        return flat[index(r, h) * w + index(c, w)]

    out = (at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc) * (1 - fr)
    out += (at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc) * fr
    if mode == "constant":
        outside = (src_r < 0) | (src_r > h - 1) | (src_c < 0) | (src_c > w - 1)
        out[outside] = cval
    return out


@pytest.fixture
def smooth() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:50]
    planes = [120 + 90 * np.sin(x / 6) * np.cos(y / 5), 128 + 80 * np.cos((x + y) / 9), x * 4.0]
    return np.stack(planes, axis=-1).astype(np.float32)


def test_matrix_is_keras_matrix():
    params = AugmentParams(theta=23.0, tx=3.5, ty=-2.0, shear=7.0, zx=0.9, zy=1.2)
    np.testing.assert_allclose(
        affine_matrix(params, 40, 50), keras_matrix(23.0, 3.5, -2.0, 7.0, 0.9, 1.2, 40, 50)
    )


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap", "constant"])
def test_rotation_matches_an_independent_warp(smooth, mode):
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
def test_fill_modes_on_a_shifted_image(smooth, mode, expected_top_rows):
    # tx = -3: output row r reads input row r - 3, so rows 0-2 come from the fill.
    params = AugmentParams(tx=-3.0)
    out = augment(smooth, params, AugmentSettings(fill_mode=mode, cval=9.0), keep_dtype=False)
    np.testing.assert_allclose(out[3:], smooth[:-3], atol=1e-4)
    np.testing.assert_allclose(out[:3], expected_top_rows(smooth), atol=1e-4)


def test_flips_are_exact_mirrors(rng):
    image = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    settings = AugmentSettings(horizontal_flip=True)
    h = augment(image, AugmentParams(flip_horizontal=True), settings, keep_dtype=True)
    v = augment(image, AugmentParams(flip_vertical=True), settings, keep_dtype=True)
    both = augment(
        image, AugmentParams(flip_horizontal=True, flip_vertical=True), settings, keep_dtype=True
    )
    np.testing.assert_array_equal(h, image[:, ::-1])
    np.testing.assert_array_equal(v, image[::-1])
    np.testing.assert_array_equal(both, image[::-1, ::-1])
    assert h.dtype == np.uint8


def test_flip_with_integer_shift_is_exact(rng):
    image = rng.integers(0, 256, (6, 8, 1), dtype=np.uint8).astype(np.float32)
    params = AugmentParams(tx=2.0, flip_horizontal=True)
    out = augment(image, params, AugmentSettings(fill_mode="wrap"), keep_dtype=False)
    expected = np.roll(image[:, ::-1], -2, axis=0)  # mirror, then row r reads row r + 2
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_channel_shift_and_brightness_follow_keras_and_the_documented_rule(rng):
    image = rng.integers(10, 200, (5, 5, 3), dtype=np.uint8)
    shifted = augment(image, AugmentParams(channel_shift=30.0), AugmentSettings(), keep_dtype=False)
    expected = np.clip(image.astype(np.float64) + 30, image.min(), image.max())
    np.testing.assert_allclose(shifted, expected, atol=1e-4)
    bright = augment(image, AugmentParams(brightness=1.5), AugmentSettings(), keep_dtype=True)
    expected = np.clip(np.rint(image.astype(np.float64) * 1.5), 0, 255)
    np.testing.assert_array_equal(bright, expected.astype(np.uint8))


def test_sampling_follows_keras_ranges():
    settings = AugmentSettings(
        rotation_range=20, width_shift_range=0.2, height_shift_range=4, shear_range=10,
        zoom_range=(0.8, 1.2), horizontal_flip=True, channel_shift_range=5,
        brightness_range=(0.5, 1.5),
    )  # fmt: skip
    params = settings.sample(
        seed=3, split=0, indices=np.arange(4000), copies=np.ones(4000, int), shape=(30, 50, 3)
    )
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
    keep = AugmentSettings(zoom_range=(0.8, 1.2), zoom_keep_aspect=True)
    sampled = keep.sample(
        seed=3, split=0, indices=np.arange(50), copies=np.ones(50, int), shape=(8, 8)
    )
    assert all(p.zx == p.zy for p in sampled)


def test_draws_are_a_pure_function_of_the_key():
    a = uniform_draws(7, 0, np.array([5, 9, 5]), np.array([1, 1, 2]), 4)
    b = uniform_draws(7, 0, np.array([5]), np.array([2]), 4)
    np.testing.assert_array_equal(a[2], b[0])
    assert not np.array_equal(a[0], a[2])
    assert not np.array_equal(a, uniform_draws(8, 0, np.array([5, 9, 5]), np.array([1, 1, 2]), 4))
    assert not np.array_equal(a, uniform_draws(7, 1, np.array([5, 9, 5]), np.array([1, 1, 2]), 4))
    many = uniform_draws(1, 0, np.arange(20000), np.zeros(20000, int), 2)
    assert (many >= 0).all() and (many < 1).all()
    assert abs(many.mean() - 0.5) < 0.01 and abs(np.corrcoef(many[:, 0], many[:, 1])[0, 1]) < 0.03


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rotation_range": -1}, "--rotation-range must be >= 0"),
        ({"width_shift_range": -0.1}, "--width-shift-range must be >= 0"),
        ({"zoom_range": (1.2, 0.8)}, "--zoom-range must be 0 < LO <= HI"),
        ({"zoom_range": (0.0, 1.5)}, "--zoom-range must be 0 < LO <= HI"),
        ({"brightness_range": (1.5, 0.5)}, "--brightness-range must be 0 <= LO <= HI"),
        ({"fill_mode": "mirror"}, "invalid fill mode 'mirror'"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        AugmentSettings(**kwargs)


def test_warp_handles_more_than_four_channels(smooth):
    image = np.concatenate([smooth, smooth], axis=2)
    matrix = affine_matrix(AugmentParams(theta=10), 40, 50)
    out = warp(image, tuple(matrix[:2].ravel()), fill_mode="nearest", cval=0)
    np.testing.assert_allclose(out[..., :3], out[..., 3:])
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
