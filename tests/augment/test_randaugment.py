"""RandAugment (``ops/randaugment.py``): torchvision's list, magnitudes, draws and kernels.

The kernels are checked against Pillow's ``ImageOps`` and ``ImageEnhance`` (torchvision's
own reference for them) on 8-bit images, and against NumPy gathers for the geometric ones.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from imgprep.augment import AugmentSettings, apply_recorded, augment
from imgprep.augment.chain import to_dtype
from imgprep.augment.ops import randaugment as ra
from imgprep.cli import main
from imgprep.errors import InputError
from tests.augment.reference import named_slot, reference_uniform
from tests.conftest import make_dataset


def photo_like(rng, shape=(37, 41, 3)) -> np.ndarray:
    """Smooth gradients plus noise (a flat random image makes every blend trivial)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    base = np.stack([rows * 5, cols * 6, (rows + cols) * 3], axis=2)[..., : shape[2]]
    return np.clip(base + rng.integers(-20, 20, shape), 0, 255).astype(np.uint8)


def run_kernel(image: np.ndarray, name: str, m: float) -> np.ndarray:
    out = ra.apply_named(image.astype(np.float32), name, m, np.dtype(np.uint8))
    return to_dtype(out, np.uint8)


def test_the_list_and_magnitudes_are_torchvisions():
    assert ra.NAMES == (
        "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
        "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
    )  # fmt: skip
    for bin_ in range(31):  # torch.linspace(0, top, 31)[bin] and the posterize bits
        assert ra.magnitude("ShearX", bin_, 10, 20) == pytest.approx(np.linspace(0, 0.3, 31)[bin_])
        assert ra.magnitude("Rotate", bin_, 10, 20) == pytest.approx(np.linspace(0, 30, 31)[bin_])
        top = 150 / 331 * 20
        assert ra.magnitude("TranslateX", bin_, 10, 20) == pytest.approx(
            np.linspace(0, top, 31)[bin_]
        )
        assert ra.magnitude("Solarize", bin_, 10, 20) == pytest.approx(np.linspace(1, 0, 31)[bin_])
        assert ra.magnitude("Posterize", bin_, 10, 20) == float(
            np.round(8 - np.arange(31) / (30 / 4)).astype(int)[bin_]
        )
    assert ra.magnitude("Equalize", 30, 10, 20) == 0.0


def test_draws_choose_uniformly_and_sign_half_the_signed():
    settings = AugmentSettings(randaugment=(2, 9))
    params = settings.sample(
        seed=3, split=0, indices=np.arange(14000), copies=np.ones(14000, int), shape=(8, 8, 3)
    )
    names = [p.randaugment_ops.split(",") for p in params]
    assert all(len(chosen) == 2 for chosen in names)
    counts = np.array([sum(row.count(n) for row in names) for n in ra.NAMES])
    assert abs(counts / 2000 - 1).max() < 0.1  # 28,000 picks, 2,000 per operation
    signs = np.array([p.randaugment_signs for p in params]).astype(int)
    first_signed = [row[0] in ra.SIGNED for row in names]
    negated = (signs & 1).astype(bool)
    assert not negated[~np.array(first_signed)].any()
    assert abs(negated[np.array(first_signed)].mean() - 0.5) < 0.02
    for index, p in enumerate(params[:20]):
        u = [reference_uniform(3, 0, index, 1, named_slot("randaugment", j)) for j in range(20)]
        expected = [ra.NAMES[int(u[j] * 14)] for j in range(2)]
        assert p.randaugment_ops == ",".join(expected)
        bits = sum(1 << j for j in range(2) if expected[j] in ra.SIGNED and u[10 + j] <= 0.5)
        assert p.randaugment_signs == bits


class TestKernelsAgainstPillow:
    def test_posterize_solarize_equalize_are_exact(self, rng):
        image = photo_like(rng)
        pil = Image.fromarray(image)
        for bits in (8, 7, 6, 5, 4):
            expected = np.asarray(ImageOps.posterize(pil, bits))
            np.testing.assert_array_equal(run_kernel(image, "Posterize", bits), expected)
        for threshold in (0, 64, 128, 200, 255):
            expected = np.asarray(ImageOps.solarize(pil, threshold))
            np.testing.assert_array_equal(run_kernel(image, "Solarize", threshold / 255), expected)
        np.testing.assert_array_equal(run_kernel(image, "Equalize", 0), ImageOps.equalize(pil))

    def test_blends_within_one_grey_level(self, rng):
        image = photo_like(rng)
        pil = Image.fromarray(image)
        for name, enhancer in (
            ("Brightness", ImageEnhance.Brightness),
            ("Color", ImageEnhance.Color),
            ("Contrast", ImageEnhance.Contrast),
            ("Sharpness", ImageEnhance.Sharpness),
        ):
            for m in (-0.9, -0.3, 0.45, 0.9):
                expected = np.asarray(enhancer(pil).enhance(1 + m)).astype(int)
                got = run_kernel(image, name, m).astype(int)
                assert np.abs(got - expected).max() <= 1, (name, m)

    def test_autocontrast_within_one_grey_level(self, rng):
        image = (photo_like(rng) // 2 + 40).astype(np.uint8)
        expected = np.asarray(ImageOps.autocontrast(Image.fromarray(image))).astype(int)
        got = run_kernel(image, "AutoContrast", 0).astype(int)
        assert np.abs(got - expected).max() <= 1 and got.min() == 0 and got.max() == 255


class TestGeometric:
    def gather(self, image, x_in, y_in):
        """Nearest neighbour by an explicit index, 0 outside, and a mask away from ties."""
        xs, ys = np.floor(x_in + 0.5).astype(int), np.floor(y_in + 0.5).astype(int)
        inside = (xs >= 0) & (xs < image.shape[1]) & (ys >= 0) & (ys < image.shape[0])
        out = np.zeros_like(image)
        out[inside] = image[ys[inside], xs[inside]]
        clear = (np.abs((x_in % 1) - 0.5) > 0.01) & (np.abs((y_in % 1) - 0.5) > 0.01)
        return out, clear

    @pytest.mark.parametrize("m", [0.27, -0.13])
    def test_shears(self, rng, m):
        image = photo_like(rng)
        y, x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]].astype(np.float64)
        for name, x_in, y_in in (
            ("ShearX", x + m * (y + 0.5), y),
            ("ShearY", x, y + m * (x + 0.5)),
        ):
            expected, clear = self.gather(image, x_in, y_in)
            got = run_kernel(image, name, m)
            np.testing.assert_array_equal(got[clear], expected[clear])
            assert clear.mean() > 0.9

    @pytest.mark.parametrize("degrees", [17.0, -29.0, 90.0])
    def test_rotate_counter_clockwise_about_the_centre(self, rng, degrees):
        image = photo_like(rng)
        h, w = image.shape[:2]
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        cx, cy, t = (w - 1) / 2, (h - 1) / 2, math.radians(degrees)
        x_in = math.cos(t) * (x - cx) - math.sin(t) * (y - cy) + cx
        y_in = math.sin(t) * (x - cx) + math.cos(t) * (y - cy) + cy
        expected, clear = self.gather(image, x_in, y_in)
        np.testing.assert_array_equal(run_kernel(image, "Rotate", degrees)[clear], expected[clear])
        square = photo_like(rng, (20, 20, 3))
        quarter = run_kernel(square, "Rotate", 90.0)  # counter-clockwise, as PIL's rotate
        np.testing.assert_array_equal(quarter, np.asarray(Image.fromarray(square).rotate(90)))

    def test_translate_is_a_whole_pixel_shift_with_zeros(self, rng):
        image = photo_like(rng)
        got = run_kernel(image, "TranslateX", -5.7)  # int(): toward zero, 5 pixels left
        np.testing.assert_array_equal(got[:, :-5], image[:, 5:])
        assert (got[:, -5:] == 0).all()
        got = run_kernel(image, "TranslateY", 3.2)
        np.testing.assert_array_equal(got[3:], image[:-3])
        assert (got[:3] == 0).all()


def test_one_channel_images_and_alpha(rng):
    gray = photo_like(rng, (20, 22, 1))
    np.testing.assert_array_equal(run_kernel(gray, "Color", 0.9), gray)
    assert not np.array_equal(run_kernel(gray, "Contrast", 0.9), gray)
    rgba = photo_like(rng, (20, 22, 3))
    rgba = np.concatenate([rgba, rng.integers(0, 256, (20, 22, 1), dtype=np.uint8)], axis=2)
    for name in ("Brightness", "Solarize", "Equalize", "AutoContrast", "Posterize"):
        out = run_kernel(rgba, name, 0.5 if name != "Posterize" else 4)
        np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_other_dtypes_keep_their_range(rng, dtype):
    top = 65535.0 if dtype is np.uint16 else 1.0
    image = (photo_like(rng).astype(np.float64) / 255 * top).astype(dtype)
    for name in ra.NAMES:
        m = 4.0 if name == "Posterize" else 0.6
        out = ra.apply_named(image.astype(np.float32), name, m, np.dtype(dtype))
        assert out.shape == image.shape and out.min() >= 0 and out.max() <= top * 1.000001
    bits = ra.apply_named(image.astype(np.float32), "Posterize", 2.0, np.dtype(dtype))
    assert len(np.unique(bits)) <= 4


def test_rows_are_reproduced_and_refusals(runner, tmp_path: Path, rng):
    root = tmp_path / "data"
    arrays = make_dataset(root, rng, shape=(24, 20, 3))
    sources = [arrays[rel] for rel in sorted(arrays)]
    out = tmp_path / "o.h5"
    args = [str(root), "-o", str(out), "--randaugment", "3,14", "--copies", "4", "--seed", "2"]
    result = runner.invoke(main, ["transform", *args, "-q"])
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        images, owners = f["images"][:], f["source_index"][:]
        aug = {name: f["augmentation"][name][:] for name in f["augmentation"]}
        stored = json.loads(f.attrs["augmentation"])
    assert aug["randaugment_ops"].dtype == np.dtype("S160") and stored["randaugment"] == [3, 14]
    used = {name for row in aug["randaugment_ops"] for name in row.decode().split(",")}
    assert len(used) >= 12  # 40 copies x 3 draws of 14 operations
    for row in range(len(images)):
        params = {name: values[row] for name, values in aug.items()}
        np.testing.assert_array_equal(
            apply_recorded(sources[owners[row]], params, stored), images[row]
        )
    for bad, message in (("0,9", "whole N from 1 to 10"), ("2,31", "M from 0 to 30"),
                         ("2.5,9", "whole N")):  # fmt: skip
        result = runner.invoke(main, ["transform", str(root), "-o", str(tmp_path / "x.h5"),
                                      "--randaugment", bad])  # fmt: skip
        assert result.exit_code == 2 and message in result.output, result.output
    with pytest.raises(InputError, match="whole N"):
        AugmentSettings(randaugment=(11, 3))


def test_same_bytes_for_any_workers(runner, dataset, tmp_path):
    root, _ = dataset
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"j{workers}.h5"
        args = [str(root), "-o", str(out), "--randaugment", "2,20", "--copies", "3", "--seed", "5"]
        assert runner.invoke(main, ["transform", *args, "-j", workers, "-q"]).exit_code == 0
        with h5py.File(out) as f:
            outs.append((f["images"][:], f["augmentation/randaugment_ops"][:]))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    image = photo_like(np.random.default_rng(0))
    settings = AugmentSettings(randaugment=(1, 5))
    params = settings.sample(seed=1, split=0, indices=np.array([0]), copies=np.array([1]),
                             shape=image.shape)[0]  # fmt: skip
    assert augment(image, params, settings, keep_dtype=True).dtype == np.uint8
