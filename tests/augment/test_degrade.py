"""The degradations (``ops/degrade.py``): Gaussian blur, Gaussian noise, JPEG re-encoding."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from imgprep.augment import AugmentParams, AugmentSettings, augment
from imgprep.augment.ops.degrade import (
    GaussianBlur,
    GaussianNoise,
    JpegQuality,
    add_noise,
    gaussian_blur,
    jpeg_roundtrip,
    kernel_size,
)
from imgprep.augment.preview import _describe
from imgprep.cli import main
from tests.augment.reference import named_slot, reference_uniform

MAXIMUM = {np.uint8: 255.0, np.uint16: 65535.0, np.float32: 1.0}


def sample(settings: AugmentSettings, count: int, seed: int = 3):
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=(6, 6)
    )


def source(rng: np.random.Generator, dtype, shape=(17, 13, 3)) -> np.ndarray:
    if dtype is np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, int(MAXIMUM[dtype]) + 1, shape).astype(dtype)


def reference_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable convolution in float64 with the textbook weights exp(-x^2 / 2 sigma^2)
    (normalized), ``ceil(6 sigma) | 1`` taps, reflect-101 border (NumPy's ``reflect``)."""
    size = math.ceil(6 * sigma) | 1
    r = size // 2
    x = np.arange(size) - r
    weights = np.exp(-(x**2) / (2 * sigma**2))
    weights /= weights.sum()
    padded = np.pad(image.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    rows = sum(weights[i] * padded[i : i + h] for i in range(size))
    return sum(weights[i] * rows[:, i : i + w] for i in range(size))


def reference_jpeg(image8: np.ndarray, quality: int) -> np.ndarray:
    """OpenCV's encoder with only the quality flag, RGB through cvtColor (an independent path)."""
    grey = image8.shape[2] == 1
    bgr = image8[:, :, 0] if grey else cv2.cvtColor(image8, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    return out[:, :, None] if grey else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def run(runner, *args: str):
    return runner.invoke(main, ["transform", *args, "-q"])


def read_h5(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        data = {name: f[name][:] for name in ("images", "source_index") if name in f}
        data.update({f"aug/{k}": v[:] for k, v in f.get("augmentation", {}).items()})
        return data


class TestGaussianBlur:
    def test_kernel_size_is_ceil_six_sigma_made_odd(self):
        sizes = [kernel_size(s) for s in (0.1, 0.5, 1.0, 1.2, 2.0, 2.5)]
        assert sizes == [1, 3, 7, 9, 13, 15]

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
    @pytest.mark.parametrize("channels", [1, 3, 4])
    @pytest.mark.parametrize("sigma", [0.4, 1.3, 3.0])
    def test_kernel_matches_a_separable_reflect101_convolution(self, rng, dtype, channels, sigma):
        image = source(rng, dtype, (17, 13, channels))  # sigma 3: 19 taps, wider than the image
        work = image.astype(np.float32)
        out = gaussian_blur(work, sigma=sigma)
        assert out.shape == image.shape and out.dtype == np.float32
        np.testing.assert_array_equal(work, image.astype(np.float32))  # input untouched
        difference = np.abs(out - reference_blur(image, sigma)).max() / MAXIMUM[dtype]
        assert difference < 2e-6  # float32 accumulation; measured <= 6e-7 of the maximum

    def test_integer_copies_round_the_blur_back(self, rng):
        image = source(rng, np.uint16, (9, 8, 3))
        out = augment(image, AugmentParams(blur_sigma=0.8), AugmentSettings(), keep_dtype=True)
        expected = np.clip(np.rint(reference_blur(image, 0.8)), 0, 65535)
        assert out.dtype == np.uint16
        assert np.abs(out.astype(np.int64) - expected).max() <= 1  # ties at .5 may differ

    def test_sample_is_uniform_in_the_range_from_its_slot(self):
        params = sample(AugmentSettings(blur_sigma=(0.5, 2.0)), 3000)
        values = np.array([p.blur_sigma for p in params])
        assert values.min() >= 0.5 and values.max() <= 2.0 and values.std() > 0.4
        for index, p in enumerate(params[:5]):
            assert p.blur_sigma == 0.5 + 1.5 * reference_uniform(3, 0, index, 1, named_slot("blur"))

    def test_column_identity_and_caption(self):
        assert [(c.name, c.identity, c.always_recorded) for c in GaussianBlur.columns] == [
            ("blur_sigma", 0.0, False)
        ]
        assert {p.blur_sigma for p in sample(AugmentSettings(rotation_range=4), 5)} == {0.0}
        assert GaussianBlur().identity(AugmentParams())
        assert GaussianBlur().caption(AugmentParams(blur_sigma=1.34)) == ((0, 80, "blur1.3"),)
        assert _describe(2, AugmentParams(blur_sigma=1.34, jpeg_quality=55.0)) == (
            "copy 2 blur1.3 q55"
        )


class TestGaussianNoise:
    def test_same_key_same_noise_and_keys_differ(self):
        work = np.zeros((64, 64, 3), np.float32)
        params = AugmentParams(noise_std=0.1, noise_seed=12345.0)
        op = GaussianNoise()
        a = op.apply(work.copy(), params, AugmentSettings(), source_dtype=np.float32)
        b = op.apply(work.copy(), params, AugmentSettings(), source_dtype=np.float32)
        np.testing.assert_array_equal(a, b)
        other = AugmentParams(noise_std=0.1, noise_seed=12346.0)
        c = op.apply(work.copy(), other, AugmentSettings(), source_dtype=np.float32)
        assert np.abs(a - c).mean() > 0.05
        normals = np.random.Generator(np.random.Philox(key=12345)).standard_normal(
            (64, 64, 3), dtype=np.float32
        )  # the documented generator, rebuilt here
        np.testing.assert_array_equal(a, normals * np.float32(0.1))

    def test_noise_mean_and_std_match_the_drawn_std(self):
        work = np.full((512, 512, 3), 0.5, np.float32)
        params = AugmentParams(noise_std=0.05, noise_seed=987654321.0)
        out = GaussianNoise().apply(work, params, AugmentSettings(), source_dtype=np.float32)
        noise = out.astype(np.float64) - 0.5
        n = noise.size  # 786,432: standard errors 0.05 / sqrt(n) and 0.05 / sqrt(2 n)
        assert abs(noise.mean()) < 5 * 0.05 / math.sqrt(n)
        assert abs(noise.std() - 0.05) < 5 * 0.05 / math.sqrt(2 * n)

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
    @pytest.mark.parametrize("channels", [1, 3, 4])
    def test_kernel_adds_std_times_the_maximum_and_clips_integers(self, rng, dtype, channels):
        image = source(rng, dtype, (9, 7, channels))
        normals = rng.standard_normal(image.shape).astype(np.float32)
        out = add_noise(image.astype(np.float32), normals=normals, std=0.2, dtype=dtype)
        expected = image.astype(np.float64) + normals * 0.2 * MAXIMUM[dtype]
        if dtype is not np.float32:
            expected = np.clip(expected, 0, MAXIMUM[dtype])
            assert out.min() >= 0 and out.max() <= MAXIMUM[dtype]
        else:
            assert out.min() < 0  # floats are not clipped
        assert np.abs(out - expected).max() <= 1e-6 * MAXIMUM[dtype] * 4

    def test_sample_draws_std_and_a_53_bit_key_from_its_slots(self):
        params = sample(AugmentSettings(noise_std=(0.01, 0.05)), 3000)
        values = np.array([p.noise_std for p in params])
        assert values.min() >= 0.01 and values.max() <= 0.05 and values.std() > 0.01
        seeds = {p.noise_seed for p in params}
        assert len(seeds) == 3000 and all(s.is_integer() and 0 <= s < 2**53 for s in seeds)
        for index, p in enumerate(params[:5]):
            u0 = reference_uniform(3, 0, index, 1, named_slot("noise"))
            u1 = reference_uniform(3, 0, index, 1, named_slot("noise", 1))
            assert p.noise_std == 0.01 + 0.04 * u0 and p.noise_seed == u1 * 2**53

    def test_columns_identity_and_activity(self):
        assert [c.name for c in GaussianNoise.columns] == ["noise_std", "noise_seed"]
        assert not AugmentSettings(noise_std=(0.0, 0.0)).active
        assert AugmentSettings(noise_std=(0.0, 0.01)).active
        off = sample(AugmentSettings(rotation_range=4), 5)
        assert {(p.noise_std, p.noise_seed) for p in off} == {(0.0, 0.0)}
        assert GaussianNoise().caption(AugmentParams(noise_std=0.0213)) == ((0, 90, "n0.021"),)

    def test_cli_output_does_not_depend_on_workers_or_batch_size(self, runner, dataset, tmp_path):
        root, _ = dataset
        args = ["--noise-std", "0.02,0.1", "--blur-sigma", "0.5,1", "--copies", "3", "--seed", "7"]
        outputs = []
        for workers, batch in (("1", "64"), ("2", "1"), ("2", "3")):
            out = tmp_path / f"{workers}-{batch}.h5"
            result = run(runner, str(root), "-o", str(out), *args, "-j", workers,
                         "--batch-size", batch)  # fmt: skip
            assert result.exit_code == 0, result.output
            data = read_h5(out)
            outputs.append((data["images"].tobytes(), data["aug/noise_seed"].tobytes()))
        assert outputs[0] == outputs[1] == outputs[2]


QUALITY = "--jpeg-quality must be 1 <= LO <= HI <= 100"
SIGMA = "--blur-sigma must be 0 < LO <= HI"


class TestJpegQuality:
    @pytest.mark.parametrize("channels", [1, 3, 4])
    @pytest.mark.parametrize("quality", [1, 37, 95, 100])
    def test_uint8_matches_an_independent_encode_decode(self, rng, channels, quality):
        image = cv2.GaussianBlur(source(rng, np.uint8, (24, 32, channels)), (5, 5), 1.5)
        image = image.reshape(24, 32, channels)
        out = jpeg_roundtrip(image.astype(np.float32), quality=quality, dtype=np.uint8)
        colour = 3 if channels >= 3 else 1
        expected = reference_jpeg(np.ascontiguousarray(image[:, :, :colour]), quality)
        np.testing.assert_array_equal(out[:, :, :colour], expected)
        np.testing.assert_array_equal(out[:, :, colour:], image[:, :, colour:])  # alpha kept
        assert out.dtype == np.float32 and out.shape == image.shape

    def test_uint16_and_float32_go_through_eight_bits(self, rng):
        wide = source(rng, np.uint16, (16, 16, 3))
        out = jpeg_roundtrip(wide.astype(np.float32), quality=80, dtype=np.uint16)
        eight = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(out, reference_jpeg(eight, 80).astype(np.float64) * 257)
        floats = rng.uniform(-0.2, 1.2, (16, 16, 3)).astype(np.float32)
        out = jpeg_roundtrip(floats.copy(), quality=60, dtype=np.float32)  # changes its input
        eight = np.clip(np.rint(np.clip(floats, 0, 1) * 255.0), 0, 255).astype(np.uint8)
        expected = reference_jpeg(eight, 60).astype(np.float32) * np.float32(1 / 255)
        np.testing.assert_array_equal(out, expected)

    def test_sample_is_a_whole_uniform_quality_in_the_range(self):
        params = sample(AugmentSettings(jpeg_quality=(70, 72)), 3000)
        values = np.array([p.jpeg_quality for p in params])
        counts = np.bincount(values.astype(int))[70:]
        assert counts.tolist() and len(counts) == 3 and counts.min() > 900
        for index, p in enumerate(params[:5]):
            u = reference_uniform(3, 0, index, 1, named_slot("jpeg"))
            assert p.jpeg_quality == 70 + math.floor(u * 3)
        assert {p.jpeg_quality for p in sample(AugmentSettings(jpeg_quality=(9, 9)), 20)} == {9}
        assert JpegQuality().caption(AugmentParams(jpeg_quality=74.0)) == ((0, 100, "q74"),)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--jpeg-quality", "0,50"], f"{QUALITY}, got 0.0,50.0"),
            (["--jpeg-quality", "50,101"], f"{QUALITY}, got 50.0,101.0"),
            (["--jpeg-quality", "50.5,60"], "--jpeg-quality must be whole numbers, got 50.5,60"),
            (["--blur-sigma", "0,1"], f"{SIGMA}, got 0.0,1.0 (leave the option out for no blur)"),
            (["--blur-sigma", "2,1"], f"{SIGMA}, got 2.0,1.0"),
            (["--noise-std", "-0.1,0.1"], "--noise-std must be 0 <= LO <= HI, got -0.1,0.1"),
        ],
    )
    def test_bad_ranges_are_usage_errors(self, runner, dataset, tmp_path, args, message):
        root, _ = dataset
        result = run(runner, str(root), "-o", str(tmp_path / "x.h5"), *args)
        assert result.exit_code == 2, result.output
        assert f"Error: {message}" in result.stderr
        assert not (tmp_path / "x.h5").exists()


class TestRecordedRows:
    def test_columns_reproduce_every_written_row(self, runner, dataset, tmp_path):
        root, _ = dataset
        plain, out = tmp_path / "plain.h5", tmp_path / "aug.h5"
        assert run(runner, str(root), "-o", str(plain)).exit_code == 0
        args = ["--blur-sigma", "0.3,1.5", "--noise-std", "0,0.08", "--jpeg-quality", "20,95"]
        result = run(runner, str(root), "-o", str(out), *args, "--copies", "3", "--seed", "1")
        assert result.exit_code == 0, result.output
        base, aug = read_h5(plain)["images"], read_h5(out)
        assert len(aug["images"]) == 30
        for row, image in enumerate(aug["images"]):
            work = base[aug["source_index"][row]].astype(np.float32)
            work = gaussian_blur(work, sigma=float(aug["aug/blur_sigma"][row]))
            key = int(aug["aug/noise_seed"][row])
            normals = np.random.Generator(np.random.Philox(key=key)).standard_normal(
                work.shape, dtype=np.float32
            )
            work = np.clip(work + normals * np.float32(aug["aug/noise_std"][row] * 255), 0, 255)
            quality = int(aug["aug/jpeg_quality"][row])
            work = jpeg_roundtrip(work, quality=quality, dtype=np.uint8)
            np.testing.assert_array_equal(image, np.clip(np.rint(work), 0, 255).astype(np.uint8))
        assert aug["aug/jpeg_quality"].min() >= 20 and aug["aug/jpeg_quality"].max() <= 95
        assert len(set(aug["aug/blur_sigma"].tolist())) == 30

    def test_toml_keys_and_columns_only_when_active(self, runner, dataset, tmp_path):
        root, _ = dataset
        config = tmp_path / "a.toml"
        config.write_text(
            "blur-sigma = [0.5, 1.0]\nnoise-std = [0.0, 0.02]\njpeg-quality = [50, 60]\n"
            "copies = 2\nseed = 4\n"
        )
        out = tmp_path / "c.h5"
        result = run(runner, "--config", str(config), str(root), "-o", str(out))
        assert result.exit_code == 0, result.output
        data = read_h5(out)
        assert data["aug/blur_sigma"].min() >= 0.5 and data["aug/blur_sigma"].max() <= 1.0
        assert data["aug/noise_std"].max() <= 0.02
        assert set(data["aug/jpeg_quality"].tolist()) <= set(range(50, 61))
        flip = tmp_path / "f.h5"
        assert run(runner, str(root), "-o", str(flip), "--horizontal-flip").exit_code == 0
        assert not {"aug/blur_sigma", "aug/noise_std", "aug/jpeg_quality"} & set(read_h5(flip))
