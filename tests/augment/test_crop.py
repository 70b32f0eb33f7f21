"""The crops (``ops/crop.py``): torchvision's RandomResizedCrop and tf.image's random crop."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.augment import AugmentSettings, apply_recorded, augment, view
from imgprep.augment.boxes import TRIES
from imgprep.augment.ops.crop import resized_crop_boxes
from imgprep.cli import main
from imgprep.config import DecodeSettings
from imgprep.io.decode import decode_image
from imgprep.run.worker import crop_resize
from imgprep.transforms import functional as F
from tests.augment.reference import named_slot, reference_uniform, resized_crop_params
from tests.conftest import make_dataset, write_image


def sample(settings, count: int, shape: tuple[int, ...], seed: int = 3):
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=shape
    )


def boxes(params) -> np.ndarray:
    return np.array([[p.crop_top, p.crop_left, p.crop_height, p.crop_width] for p in params])


def run(runner, *args: str):
    return runner.invoke(main, ["transform", *args, "-q"])


def read(path: Path, group: str = "") -> tuple[np.ndarray, np.ndarray, dict, dict]:
    with h5py.File(path) as f:
        g = f[group] if group else f
        aug = {name: g["augmentation"][name][:] for name in g.get("augmentation", {})}
        owners = g["source_index"][:] if "source_index" in g else np.arange(len(g["images"]))
        return g["images"][:], owners, aug, json.loads(f.attrs["augmentation"])


class TestRandomResizedCrop:
    @pytest.mark.parametrize(
        "shape", [(300, 400), (100, 1000), (1000, 100), (5, 5), (1, 1), (7, 3)]
    )
    @pytest.mark.parametrize("scale,ratio", [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 1), (1, 3))])
    def test_boxes_are_torchvisions_get_params(self, shape, scale, ratio):
        draws = np.random.default_rng(7).random((1500, 2 * TRIES + 2))
        got = resized_crop_boxes(*shape, draws, scale, ratio)
        expected = [resized_crop_params(*shape, list(row), scale, ratio) for row in draws]
        np.testing.assert_array_equal(got, np.array(expected, dtype=np.float64))

    def test_sample_reads_the_documented_slots(self):
        settings = AugmentSettings(random_resized_crop=True)
        params = sample(settings, 40, (60, 80, 3))
        for index, p in enumerate(params):
            u = [
                reference_uniform(3, 0, index, 1, named_slot("random-resized-crop", j))
                for j in range(22)
            ]
            expected = resized_crop_params(60, 80, u, (0.08, 1.0), (3 / 4, 4 / 3))
            assert (p.crop_top, p.crop_left, p.crop_height, p.crop_width) == expected

    def test_area_and_ratio_stay_in_their_ranges(self):
        settings = AugmentSettings(random_resized_crop=True, crop_scale=(0.2, 0.6))
        got = boxes(sample(settings, 20000, (500, 500, 3)))
        area = got[:, 2] * got[:, 3] / 250000
        ratio = got[:, 3] / got[:, 2]
        assert area.min() > 0.2 - 0.01 and area.max() < 0.6 + 0.01
        assert ratio.min() > 0.75 - 0.01 and ratio.max() < 4 / 3 + 0.01
        assert abs(area.mean() - 0.4) < 0.01  # uniform in the area, not in the side
        assert abs(np.log(ratio).mean()) < 0.01  # log-uniform: symmetric about 1
        assert (got[:, 0] + got[:, 2] <= 500).all() and (got[:, 1] + got[:, 3] <= 500).all()

    def test_copy_is_the_box_resized_from_the_decoded_image(self, runner, tmp_path, rng):
        root = tmp_path / "data"
        sources = {}
        for index, (h, w) in enumerate([(40, 50), (47, 31), (64, 64)]):
            sources[index] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            write_image(root / f"{index}.png", sources[index])
        out = tmp_path / "o.h5"
        args = [str(root), "-o", str(out), "--size", "16x12", "--random-resized-crop"]
        result = run(runner, *args, "--copies", "3", "--keep-original", "--seed", "4")
        assert result.exit_code == 0, result.output
        images, owners, aug, stored = read(out)
        assert images.shape == (12, 12, 16, 3)
        decode = DecodeSettings(size=(16, 12))
        for row in range(len(images)):
            full = sources[owners[row]]
            top, left, h, w = (
                int(aug[k][row]) for k in ("crop_top", "crop_left", "crop_height", "crop_width")
            )
            if row % 4 == 0:  # copy 0: the whole image at --size, nothing recorded
                assert (top, left, h, w) == (0, 0, 0, 0)
                expected = F.resize(full, size=(16, 12))
            else:
                assert top >= 0 and top + h <= full.shape[0] and left + w <= full.shape[1]
                expected = F.resize(full[top : top + h, left : left + w], size=(16, 12))
            np.testing.assert_array_equal(images[row], expected)
            row_params = {name: values[row] for name, values in aug.items()}
            resize = crop_resize(decode)
            source = full if row % 4 else decode_image(str(root / f"{owners[row]}.png"), decode)
            again = apply_recorded(source, row_params, stored, resize=resize)
            np.testing.assert_array_equal(again, images[row])

    def test_needs_size_and_excludes_random_crop(self, runner, dataset, tmp_path):
        root, _ = dataset
        result = run(runner, str(root), "-o", str(tmp_path / "o.h5"), "--random-resized-crop")
        assert result.exit_code == 2
        assert (
            "Error: --random-resized-crop needs --size: the crop is resized to it" in result.output
        )
        both = ["--size", "8x8", "--random-resized-crop", "--random-crop", "4x4"]
        result = run(runner, str(root), "-o", str(tmp_path / "o.h5"), *both)
        assert result.exit_code == 2
        assert "--random-crop and --random-resized-crop cannot be combined" in result.output
        assert not (tmp_path / "o.h5").exists()

    @pytest.mark.parametrize("bad", ["0,1", "0.5,1.5", "0.9,0.5"])
    def test_scale_outside_zero_one_is_refused(self, runner, dataset, tmp_path, bad):
        root, _ = dataset
        args = [str(root), "-o", str(tmp_path / "o.h5"), "--size", "8x8"]
        result = run(runner, *args, "--random-resized-crop", "--crop-scale", bad)
        assert result.exit_code == 2
        assert "--crop-scale must be 0 < LO <= HI <= 1" in result.output


class TestRandomCrop:
    def test_positions_are_uniform_over_the_free_room(self):
        settings = AugmentSettings(random_crop=(4, 3))
        got = boxes(sample(settings, 40000, (10, 12, 3)))
        assert (got[:, 2] == 3).all() and (got[:, 3] == 4).all()
        tops = np.bincount(got[:, 0].astype(int), minlength=8)
        lefts = np.bincount(got[:, 1].astype(int), minlength=9)
        assert len(tops) == 8 and len(lefts) == 9  # 0..H-h and 0..W-w, nothing beyond
        assert abs(tops / 5000 - 1).max() < 0.06 and abs(lefts / (40000 / 9) - 1).max() < 0.06
        for index, p in enumerate(sample(settings, 5, (10, 12, 3))):
            u_top = reference_uniform(3, 0, index, 1, named_slot("random-crop", 0))
            u_left = reference_uniform(3, 0, index, 1, named_slot("random-crop", 1))
            assert (p.crop_top, p.crop_left) == (int(u_top * 8), int(u_left * 9))

    @pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
    @pytest.mark.parametrize("channels", [1, 3, 4])
    def test_crop_and_view_are_slices_in_the_dtype(self, rng, dtype, channels):
        image = (rng.random((10, 12, channels)) * 200).astype(dtype)
        settings = AugmentSettings(random_crop=(5, 4))
        for params in sample(settings, 6, image.shape):
            out = augment(image, params, settings, keep_dtype=True)
            top, left = int(params.crop_top), int(params.crop_left)
            np.testing.assert_array_equal(out, image[top : top + 4, left : left + 5])
            assert out.dtype == dtype and out.flags.c_contiguous
        centre, params = view(image, settings)
        assert (params.crop_top, params.crop_left, params.crop_height) == (3, 3, 4)
        np.testing.assert_array_equal(centre, image[3:7, 3:8])

    def test_copies_original_and_validation_rows(self, runner, tmp_path, rng):
        root = tmp_path / "data"
        arrays = make_dataset(root, rng, shape=(20, 24, 3), per_class=4)
        out = tmp_path / "o.h5"
        args = [str(root), "-o", str(out), "--size", "16x12", "--random-crop", "8x6"]
        split = ["--split", "train=0.5,val=0.5", "--seed", "2"]
        result = run(runner, *args, "--copies", "2", "--keep-original", *split)
        assert result.exit_code == 0, result.output
        resized = {rel: F.resize(a, size=(16, 12)) for rel, a in arrays.items()}
        images, _, aug, _ = read(out, "train")
        with h5py.File(out) as f:
            paths = [p.decode() for p in f["train/paths"][:]]
            val = f["val/images"][:]
            val_paths = [p.decode() for p in f["val/paths"][:]]
        assert images.shape[1:] == (6, 8, 3) and val.shape[1:] == (6, 8, 3)
        for row, rel in enumerate(paths):
            top, left = int(aug["crop_top"][row]), int(aug["crop_left"][row])
            assert int(aug["crop_height"][row]) == 6 and int(aug["crop_width"][row]) == 8
            if row % 3 == 0:  # copy 0: the centre crop
                assert (top, left) == (3, 4)
            np.testing.assert_array_equal(images[row], resized[rel][top : top + 6, left : left + 8])
        for row, rel in enumerate(val_paths):  # not augmented: centre-cropped to 8x6
            np.testing.assert_array_equal(val[row], resized[rel][3:9, 4:12])

    def test_workers_give_the_same_bytes(self, runner, dataset, tmp_path):
        root, _ = dataset
        outs = []
        for workers in ("1", "2"):
            out = tmp_path / f"j{workers}.h5"
            args = [str(root), "-o", str(out), "--random-crop", "5x4", "--copies", "3"]
            result = run(runner, *args, "--seed", "9", "-j", workers)
            assert result.exit_code == 0, result.output
            outs.append(read(out))
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        for name in outs[0][2]:
            np.testing.assert_array_equal(outs[0][2][name], outs[1][2][name])

    def test_images_of_any_size_become_one_size(self, runner, tmp_path, rng):
        root = tmp_path / "data"
        for index, (h, w) in enumerate([(20, 30), (25, 22), (40, 41)]):
            write_image(root / f"{index}.png", rng.integers(0, 256, (h, w), dtype=np.uint8))
        out = tmp_path / "o.h5"
        result = run(runner, str(root), "-o", str(out), "--random-crop", "20x18", "--seed", "1")
        assert result.exit_code == 0, result.output
        assert read(out)[0].shape == (3, 18, 20, 1)

    def test_larger_than_size_is_a_usage_error(self, runner, dataset, tmp_path):
        root, _ = dataset
        args = [str(root), "-o", str(tmp_path / "o.h5"), "--size", "8x8", "--random-crop", "9x4"]
        result = run(runner, *args)
        assert result.exit_code == 2
        assert "Error: --random-crop 9x4 is larger than the image: --size is 8x8" in result.output

    def test_a_smaller_image_is_a_bad_file(self, runner, tmp_path, rng):
        root = tmp_path / "data"
        write_image(root / "big.png", rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
        write_image(root / "small.png", rng.integers(0, 256, (10, 30, 3), dtype=np.uint8))
        out = tmp_path / "o.h5"
        args = [str(root), "-o", str(out), "--random-crop", "20x20", "--seed", "1"]
        result = run(runner, *args)
        assert result.exit_code == 1
        assert "small.png: the image is 30x10, smaller than --random-crop 20x20" in result.output
        assert not out.exists()
        result = runner.invoke(main, ["transform", *args, "--on-error", "skip"])
        assert result.exit_code == 0, result.output
        assert "1 images processed, 1 skipped (of 2 found)" in result.output
        assert "small.png" in result.output
        assert read(out)[0].shape == (1, 20, 20, 3)

    @pytest.mark.parametrize("value", ['"8x6"', "[8, 6]"])
    def test_toml_key(self, runner, dataset, tmp_path, value):
        root, _ = dataset
        config = tmp_path / "c.toml"
        config.write_text(f"random-crop = {value}\nseed = 3\n")
        out = tmp_path / "o.h5"
        result = run(runner, "--config", str(config), str(root), "-o", str(out))
        assert result.exit_code == 0, result.output
        images, _, _, stored = read(out)
        assert images.shape[1:3] == (6, 8) and stored["random_crop"] == [8, 6]

    @pytest.mark.parametrize("bad", ["8", "0x4", "ax4", "8x6x2"])
    def test_bad_sizes_are_usage_errors(self, runner, dataset, tmp_path, bad):
        root, _ = dataset
        result = run(runner, str(root), "-o", str(tmp_path / "o.h5"), "--random-crop", bad)
        assert result.exit_code == 2 and "--random-crop" in result.output


def test_range_options_reach_the_stored_settings(runner, dataset, tmp_path):
    """--crop-scale, --crop-ratio, --erasing-scale and --erasing-ratio are the settings the
    copies were sampled with, and every recorded box obeys them."""
    root, _ = dataset
    out = tmp_path / "o.h5"
    flags = ["--size", "40x40", "--random-resized-crop", "--crop-scale", "0.25,0.3",
             "--crop-ratio", "2,2", "--erasing-prob", "1", "--erasing-scale", "0.1,0.1",
             "--erasing-ratio", "1,1", "--copies", "5", "--seed", "3"]  # fmt: skip
    result = run(runner, str(root), "-o", str(out), *flags)
    assert result.exit_code == 0, result.output
    _, _, aug, stored = read(out)
    assert stored["crop_scale"] == [0.25, 0.3] and stored["crop_ratio"] == [2, 2]
    assert stored["erasing_scale"] == [0.1, 0.1] and stored["erasing_ratio"] == [1, 1]
    crops = [(int(h), int(w)) for h, w in zip(aug["crop_height"], aug["crop_width"], strict=True)]
    # the decoded images are 12 x 10: an area of 30-36 at width / height 2 is always 8 x 4
    assert set(crops) == {(4, 8)}
    assert set(aug["erase_height"]) == set(aug["erase_width"]) == {13.0}  # round(sqrt(160))


@pytest.mark.dask  # starts a real LocalCluster of 2 workers
def test_dask_engine_writes_the_local_crops_and_views(runner, tmp_path, rng):
    root = tmp_path / "data"
    make_dataset(root, rng, shape=(20, 24, 3), per_class=4)
    args = ["--size", "16x12", "--random-crop", "8x6", "--randaugment", "2,9", "--copies", "2",
            "--split", "train=0.5,val=0.5", "--seed", "2"]  # fmt: skip
    outs = []
    for engine in (["--engine", "local"], ["--engine", "dask", "-j", "2"]):
        out = tmp_path / f"{engine[1]}.h5"
        result = run(runner, str(root), "-o", str(out), *args, *engine)
        assert result.exit_code == 0, result.output
        with h5py.File(out) as f:
            outs.append({name: f[name][:] for name in (
                "train/images", "val/images", "train/augmentation/crop_top",
                "train/augmentation/randaugment_ops",
            )})  # fmt: skip
    assert outs[1]["val/images"].shape[1:] == (6, 8, 3)  # the view: centre-cropped
    for name, values in outs[0].items():
        np.testing.assert_array_equal(outs[1][name], values)
