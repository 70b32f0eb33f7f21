"""The colour family (``ops/colour.py``): tf.image's brightness delta, contrast, saturation and
hue, then torchvision's RandomGrayscale, against colorsys, Pillow and NumPy formulas."""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.augment import AugmentParams, AugmentSettings, augment
from imgprep.augment.ops.colour import (
    BrightnessDelta,
    Contrast,
    Grayscale,
    Hue,
    Saturation,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    shift_brightness,
    to_grayscale,
)
from imgprep.augment.preview import _describe
from imgprep.augment.registry import recorded_columns
from imgprep.cli import main
from imgprep.errors import InputError
from tests.augment.reference import reference_uniform
from tests.conftest import make_dataset, write_image

MAXIMA = {np.uint8: 255.0, np.uint16: 65535.0, np.float32: 1.0}
DTYPES = list(MAXIMA)


def image(rng: np.random.Generator, dtype, channels: int, shape=(9, 11)) -> np.ndarray:
    """Random pixels over the dtype's range, with some greys, black, white and primaries."""
    top = MAXIMA[dtype]
    values = rng.random((*shape, channels)) * top
    if channels >= 3:
        values[0, :6, :3] = (
            np.array([[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1]]) * top
        )
    return (np.rint(values) if dtype != np.float32 else values).astype(dtype)


def draws(settings: AugmentSettings, count: int, seed: int = 3) -> list:
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=(6, 6)
    )


def colorsys_reference(pixels: np.ndarray, top: float, change) -> np.ndarray:
    """Each RGB pixel (on 0-top) through colorsys: HSV, ``change(h, s, v)``, back."""
    out = []
    for r, g, b in pixels.reshape(-1, 3).astype(np.float64) / top:
        out.append(colorsys.hsv_to_rgb(*change(*colorsys.rgb_to_hsv(r, g, b))))
    return np.array(out).reshape(pixels.shape) * top


COLOUR_COLUMNS = (
    "brightness_delta", "contrast_factor", "saturation_factor", "hue_delta", "grayscale"
)  # fmt: skip


def colour_columns(aug: dict) -> list[str]:
    """The colour columns a file records (only those of active operations), in chain order."""
    return [name for name in COLOUR_COLUMNS if name in aug]


def clip_to(values: np.ndarray, dtype) -> np.ndarray:
    return np.clip(values, 0, MAXIMA[dtype]) if dtype != np.float32 else values


def run(runner: CliRunner, *args: str):
    return runner.invoke(main, ["transform", *args, "-q"])


def read(path: Path):
    with h5py.File(path) as f:
        aug = {name: f["augmentation"][name][:] for name in f["augmentation"]}
        return f["images"][:], f["source_index"][:], aug, json.loads(f.attrs["augmentation"])


def check_rows_reproduced(runner, tmp_path: Path, rng, flags: list[str], channels: int = 3):
    """Run the CLI (--copies 3 --seed 1, HDF5) and re-apply ``augment`` to each source with
    the recorded columns: every written row, bit for bit. Returns the recorded columns."""
    root = tmp_path / "data"
    arrays = make_dataset(root, rng, shape=(12, 10, channels))
    sources = [arrays[rel] for rel in sorted(arrays)]
    out = tmp_path / "out.h5"
    result = run(runner, str(root), "-o", str(out), "--copies", "3", "--seed", "1", *flags)
    assert result.exit_code == 0, result.output
    images, owners, aug, stored = read(out)  # fill mode and cval are the defaults
    assert stored["seed"] == 1
    settings = AugmentSettings()  # the pixel operations read only the params; the warp's
    for row in range(len(images)):
        params = AugmentParams(**{name: values[row].item() for name, values in aug.items()})
        source = sources[owners[row]].reshape(12, 10, channels)
        expected = augment(source, params, settings, keep_dtype=images.dtype == np.uint8)
        np.testing.assert_array_equal(images[row].reshape(expected.shape), expected)
    return aug


class TestBrightnessDelta:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("channels", [1, 3, 4])
    def test_kernel_adds_a_fraction_of_the_maximum(self, rng, dtype, channels):
        source = image(rng, dtype, channels)
        for delta in (0.3, -0.2):
            out = shift_brightness(source.astype(np.float32), delta=delta, dtype=np.dtype(dtype))
            expected = source.astype(np.float64)
            colour = slice(0, 3) if channels == 4 else slice(None)
            expected[..., colour] = clip_to(expected[..., colour] + delta * MAXIMA[dtype], dtype)
            np.testing.assert_allclose(out, expected, rtol=1e-6, atol=MAXIMA[dtype] * 1e-6)
        assert source.max() > MAXIMA[dtype] * 0.7  # the clip was exercised

    def test_float_images_are_not_clipped(self):
        out = shift_brightness(np.full((1, 1, 1), 0.9, np.float32), delta=0.5, dtype=np.float32)
        assert out[0, 0, 0] == np.float32(0.9) + np.float32(0.5)

    def test_sample_is_uniform_in_the_range(self):
        params = draws(AugmentSettings(brightness_delta=0.25), 3000)
        values = np.array([p.brightness_delta for p in params])
        assert values.min() >= -0.25 and values.max() <= 0.25 and values.std() > 0.13
        slot = BrightnessDelta.draw_slots[0]
        for index, p in enumerate(params[:5]):
            assert p.brightness_delta == (2 * reference_uniform(3, 0, index, 1, slot) - 1) * 0.25

    def test_column_identity_and_rows(self, runner, tmp_path, rng):
        assert [(c.name, c.dtype, c.identity) for c in BrightnessDelta.columns] == [
            ("brightness_delta", "float64", 0.0)
        ]
        assert not AugmentSettings().active and AugmentSettings(brightness_delta=0.1).active
        aug = check_rows_reproduced(runner, tmp_path, rng, ["--brightness-delta", "0.3"])
        assert (
            colour_columns(aug) == ["brightness_delta"]
            and np.abs(aug["brightness_delta"]).max() <= 0.3
        )

    def test_applies_to_one_channel_and_refuses_out_of_range(self, runner, tmp_path, rng):
        check_rows_reproduced(runner, tmp_path, rng, ["--brightness-delta", "0.2"], channels=1)
        result = run(runner, str(tmp_path / "data"), "-o", str(tmp_path / "x.h5"),
                     "--brightness-delta", "1.5")  # fmt: skip
        assert result.exit_code == 2
        assert result.stderr == "Error: --brightness-delta must be between 0 and 1, got 1.5\n"


class TestContrast:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("channels", [1, 3, 4])
    def test_kernel_scales_around_each_channel_mean(self, rng, dtype, channels):
        source = image(rng, dtype, channels)
        for factor in (1.8, 0.4):
            out = adjust_contrast(source.astype(np.float32), factor=factor, dtype=np.dtype(dtype))
            expected = source.astype(np.float64)
            colours = 3 if channels == 4 else channels
            for c in range(colours):
                plane = expected[..., c]
                expected[..., c] = clip_to((plane - plane.mean()) * factor + plane.mean(), dtype)
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=MAXIMA[dtype] * 2e-6)

    def test_float_images_are_not_clipped(self):
        work = np.array([[[0.0], [1.0]]], np.float32)
        np.testing.assert_allclose(adjust_contrast(work, factor=3, dtype=np.float32).ravel(),
                                   [-1.0, 2.0])  # fmt: skip

    def test_sample_is_uniform_in_the_range(self):
        params = draws(AugmentSettings(contrast_range=(0.5, 1.5)), 3000)
        values = np.array([p.contrast_factor for p in params])
        assert values.min() >= 0.5 and values.max() <= 1.5 and values.std() > 0.27
        slot = Contrast.draw_slots[0]
        for index, p in enumerate(params[:5]):
            assert p.contrast_factor == 0.5 + 1.0 * reference_uniform(3, 0, index, 1, slot)

    def test_column_identity_and_rows(self, runner, tmp_path, rng):
        assert [(c.name, c.dtype, c.identity) for c in Contrast.columns] == [
            ("contrast_factor", "float64", 1.0)
        ]
        assert not AugmentSettings(contrast_range=(1, 1)).active
        aug = check_rows_reproduced(runner, tmp_path, rng, ["--contrast-range", "0.5,1.5"])
        assert colour_columns(aug) == ["contrast_factor"]
        check_rows_reproduced(runner, tmp_path / "gray", rng, ["--contrast-range", "0.5,2"], 1)


class TestSaturation:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("channels", [3, 4])
    def test_kernel_against_colorsys(self, rng, dtype, channels):
        source = image(rng, dtype, channels)
        top = MAXIMA[dtype]
        for factor in (0.3, 2.5):
            out = adjust_saturation(source.astype(np.float32), factor=factor)
            expected = colorsys_reference(
                source[..., :3], top, lambda h, s, v, f=factor: (h, min(1, s * f), v)
            )
            difference = np.abs(out[..., :3] - expected).max() / top * 255
            assert difference < 1e-3  # grey levels of 255 (measured: 2e-4, OpenCV float32 HSV)
            np.testing.assert_array_equal(out[..., 3:], source[..., 3:])

    def test_sample_and_column(self):
        params = draws(AugmentSettings(saturation_range=(0.2, 1.8)), 3000)
        values = np.array([p.saturation_factor for p in params])
        assert values.min() >= 0.2 and values.max() <= 1.8 and values.std() > 0.43
        slot = Saturation.draw_slots[0]
        assert params[0].saturation_factor == 0.2 + 1.6 * reference_uniform(3, 0, 0, 1, slot)
        assert [(c.name, c.dtype, c.identity) for c in Saturation.columns] == [
            ("saturation_factor", "float64", 1.0)
        ]

    def test_rows_reproduced(self, runner, tmp_path, rng):
        aug = check_rows_reproduced(runner, tmp_path, rng, ["--saturation-range", "0,2"], 4)
        assert colour_columns(aug) == ["saturation_factor"]


class TestHue:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("channels", [3, 4])
    def test_kernel_against_colorsys(self, rng, dtype, channels):
        source = image(rng, dtype, channels)
        top = MAXIMA[dtype]
        for delta in (0.37, -0.5, 0.02, -0.01, 0.499, -0.25, 1e-9, -1e-12):
            out = adjust_hue(source.astype(np.float32), delta=delta)
            expected = colorsys_reference(
                source[..., :3], top, lambda h, s, v, d=delta: ((h + d) % 1, s, v)
            )
            assert np.abs(out[..., :3] - expected).max() / top * 255 < 1e-3
            np.testing.assert_array_equal(out[..., 3:], source[..., 3:])

    def test_sample_and_column(self):
        params = draws(AugmentSettings(hue_delta=0.5), 3000)
        values = np.array([p.hue_delta for p in params])
        assert values.min() >= -0.5 and values.max() <= 0.5 and values.std() > 0.27
        slot = Hue.draw_slots[0]
        assert params[1].hue_delta == (2 * reference_uniform(3, 0, 1, 1, slot) - 1) * 0.5
        assert [(c.name, c.dtype, c.identity) for c in Hue.columns] == [
            ("hue_delta", "float64", 0.0)
        ]
        with pytest.raises(InputError, match=r"^'hue_delta' must be between 0 and 0.5, got 0.6$"):
            AugmentSettings(hue_delta=0.6)

    def test_rows_reproduced_in_float32_too(self, runner, tmp_path, rng):
        aug = check_rows_reproduced(runner, tmp_path, rng, ["--hue-delta", "0.5"])
        assert colour_columns(aug) == ["hue_delta"]
        check_rows_reproduced(
            runner, tmp_path / "f", rng, ["--hue-delta", "0.1", "--dtype", "float32"]
        )


class TestGrayscale:
    def test_uint8_is_pillows_convert_l_bit_for_bit(self, rng):
        pixels = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
        values = np.arange(256)  # every triple whose luma is exactly n + 1/2 (274 of them)
        r, g, b = np.meshgrid(values, values, values, indexing="ij")
        half = (19595 * r + 38470 * g + 7471 * b) % 65536 == 32768
        pixels[0, : half.sum()] = np.stack([r[half], g[half], b[half]], axis=-1)
        out = to_grayscale(pixels.astype(np.float32), dtype=np.uint8)
        pil = np.asarray(Image.fromarray(pixels).convert("L"))
        for channel in range(3):
            np.testing.assert_array_equal(out[..., channel], pil)

    @pytest.mark.parametrize("dtype", [np.uint16, np.float32])
    def test_other_dtypes_use_the_601_weights_and_keep_alpha(self, rng, dtype):
        source = image(rng, dtype, 4)
        out = to_grayscale(source.astype(np.float32), dtype=np.dtype(dtype))
        rgb = source[..., :3].astype(np.float64)
        luma = rgb[..., 0] * 299 / 1000 + rgb[..., 1] * 587 / 1000 + rgb[..., 2] * 114 / 1000
        for channel in range(3):
            np.testing.assert_allclose(out[..., channel], luma, rtol=1e-6)
        np.testing.assert_array_equal(out[..., 3], source[..., 3])

    def test_sample_has_probability_p(self):
        params = draws(AugmentSettings(grayscale_prob=0.3), 4000)
        rate = np.mean([p.grayscale for p in params])
        assert 0.27 < rate < 0.33
        slot = Grayscale.draw_slots[0]
        for index, p in enumerate(params[:8]):
            assert p.grayscale == (reference_uniform(3, 0, index, 1, slot) < 0.3)
        assert all(p.grayscale for p in draws(AugmentSettings(grayscale_prob=1), 50))
        assert [(c.name, c.dtype, c.identity) for c in Grayscale.columns] == [
            ("grayscale", "bool", False)
        ]

    def test_rows_reproduced(self, runner, tmp_path, rng):
        aug = check_rows_reproduced(runner, tmp_path, rng, ["--grayscale-prob", "0.5"])
        assert aug["grayscale"].dtype == bool and 0 < aug["grayscale"].sum() < 30


ALL = ["--brightness-delta", "0.1", "--contrast-range", "0.6,1.4", "--saturation-range",
       "0.5,1.5", "--hue-delta", "0.2", "--grayscale-prob", "0.3"]  # fmt: skip


class TestColourChain:
    def test_all_five_in_chain_order_reproduce_the_rows(self, runner, tmp_path, rng):
        aug = check_rows_reproduced(runner, tmp_path, rng, [*ALL, "--rotation-range", "9"])
        assert colour_columns(aug) == list(COLOUR_COLUMNS)
        names = [column for column, _ in recorded_columns(AugmentSettings(hue_delta=0.1))]
        assert names[-1] == "hue_delta" and "grayscale" not in names  # active ones only

    def test_chain_order_is_brightness_contrast_saturation_hue_grayscale(self):
        gray = np.array([[[250], [100]]], np.uint8)
        params = AugmentParams(brightness_delta=0.1, contrast_factor=2.0)
        out = augment(gray, params, AugmentSettings(), keep_dtype=True)
        # brightness first: (255 clipped, 125.5), then contrast around 190.25: (255, 60.75)
        assert out.ravel().tolist() == [255, 61]
        red = np.array([[[200, 50, 50]]], np.uint8)
        params = AugmentParams(hue_delta=0.5, grayscale=True)
        out = augment(red, params, AugmentSettings(), keep_dtype=True)
        cyan = Image.fromarray(np.array([[[50, 200, 200]]], np.uint8)).convert("L")
        assert out.ravel().tolist() == [np.asarray(cyan)[0, 0]] * 3  # the hue turned first

    def test_toml_keys_and_workers(self, runner, tmp_path, rng):
        root = tmp_path / "data"
        make_dataset(root, rng)
        config = tmp_path / "c.toml"
        config.write_text("brightness-delta = 0.1\ncontrast-range = [0.6, 1.4]\n"
                          "saturation-range = [0.5, 1.5]\nhue-delta = 0.2\n"
                          "grayscale-prob = 0.3\ncopies = 3\nseed = 5\n")  # fmt: skip
        one, two = tmp_path / "1.h5", tmp_path / "2.h5"
        assert run(runner, "--config", str(config), str(root), "-o", str(one)).exit_code == 0
        result = run(runner, *ALL, "--copies", "3", "--seed", "5", str(root), "-o",
                     str(two), "-j", "2", "--batch-size", "3")  # fmt: skip
        assert result.exit_code == 0, result.output
        first, second = read(one), read(two)
        np.testing.assert_array_equal(first[0], second[0])
        for name in first[2]:
            np.testing.assert_array_equal(first[2][name], second[2][name])
        assert first[3]["hue_delta"] == 0.2 and first[3]["contrast_range"] == [0.6, 1.4]

    @pytest.mark.parametrize(
        ("flag", "value"),
        [("--saturation-range", "0.5,1.5"), ("--hue-delta", "0.1"), ("--grayscale-prob", "1")],
    )
    def test_colour_only_options_refused_on_one_channel(self, runner, tmp_path, rng, flag, value):
        root = tmp_path / "data"
        make_dataset(root, rng)
        message = f"Error: {flag} needs colour images: pass --color rgb\n"
        forced = run(runner, str(root), "-o", str(tmp_path / "a.h5"), "--color", "grayscale",
                     flag, value)  # fmt: skip
        assert forced.exit_code == 2 and forced.stderr == message
        gray = tmp_path / "gray"
        write_image(gray / "a.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
        kept = run(runner, str(gray), "-o", str(tmp_path / "b.h5"), flag, value, "--seed", "1")
        assert kept.exit_code == 2 and kept.stderr == message
        assert not list(tmp_path.glob("*.h5"))
        sheet = run(runner, str(gray), "--preview-only", "--preview", str(tmp_path / "p.png"),
                    flag, value, "--seed", "1")  # fmt: skip
        assert sheet.exit_code == 2 and sheet.stderr == message
        rgb = run(runner, str(gray), "-o", str(tmp_path / "c.h5"), "--color", "rgb", flag, value,
                  "--seed", "1")  # fmt: skip
        assert rgb.exit_code == 0, rgb.output

    def test_kernels_refuse_images_without_colour(self):
        for kernel in (adjust_hue, adjust_saturation, to_grayscale):
            keyword = {"adjust_hue": "delta", "to_grayscale": "dtype"}.get(kernel.__name__)
            with pytest.raises(InputError, match=r"needs colour images: pass 'color' rgb$"):
                kernel(np.zeros((2, 2, 2), np.float32), **{keyword or "factor": 0.1})

    def test_preview_captions(self):
        params = AugmentParams(brightness_delta=-0.05, contrast_factor=1.25,
                               saturation_factor=0.5, hue_delta=0.125, grayscale=True)  # fmt: skip
        assert _describe(2, params) == "copy 2 d-0.05 c1.25\ns0.50 h+0.12 gray"
        assert _describe(2, AugmentParams()) == "copy 2"
