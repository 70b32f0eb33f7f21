"""Random erasing (``ops/erasing.py``): torchvision's RandomErasing boxes, the fills, the rows."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.augment import AugmentParams, AugmentSettings, apply_recorded
from imgprep.augment.boxes import TRIES
from imgprep.augment.ops.erasing import erase, erasing_boxes
from imgprep.cli import main
from tests.augment.reference import erasing_params, named_slot, reference_uniform
from tests.conftest import make_dataset

MAXIMA = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}


def sample(settings, count: int, shape=(40, 30, 3), seed: int = 3):
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=shape
    )


@pytest.mark.parametrize("shape", [(40, 30), (224, 224), (3, 50), (2, 2)])
@pytest.mark.parametrize("scale,ratio", [((0.02, 0.33), (0.3, 3.3)), ((0.5, 1.0), (1, 1))])
def test_boxes_are_torchvisions_get_params(shape, scale, ratio):
    draws = np.random.default_rng(5).random((1500, 2 * TRIES + 2))
    got = erasing_boxes(*shape, draws, scale, ratio)
    for row, u in zip(got, draws, strict=True):
        expected = erasing_params(*shape, list(u), scale, ratio)
        assert tuple(row) == (expected if expected is not None else (0, 0, 0, 0))


def test_sample_reads_the_documented_slots_and_probability():
    settings = AugmentSettings(erasing_prob=0.3)
    params = sample(settings, 20000)
    erased = np.array([p.erase_height > 0 for p in params])
    assert abs(erased.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 20000)  # a few tiny boxes are 0
    for index, p in enumerate(params[:30]):
        u = [
            reference_uniform(3, 0, index, 1, named_slot("erasing", j))
            for j in range(2 * TRIES + 4)
        ]
        expected = erasing_params(40, 30, u, (0.02, 0.33), (0.3, 3.3))
        if u[2 * TRIES + 2] >= 0.3 or expected is None or 0 in expected[2:]:
            expected = (0, 0, 0, 0)
        assert (p.erase_top, p.erase_left, p.erase_height, p.erase_width) == expected
        assert p.erase_seed == 0.0  # a fixed value needs no generator


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_a_value_fills_the_colour_channels_of_the_box(rng, dtype, channels):
    work = (rng.random((9, 8, channels)) * MAXIMA[dtype]).astype(np.float32)
    before = work.copy()
    erase(work, box=(2, 1, 4, 3), value=0.5, seed=0, dtype=np.dtype(dtype))
    colour = slice(0, channels - 1) if channels == 4 else slice(None)
    expected = before.copy()
    expected[2:6, 1:4, colour] = np.float32(0.5 * MAXIMA[dtype])
    np.testing.assert_array_equal(work, expected)  # alpha and the rest unchanged


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_random_values_are_whole_numbers_of_the_range_or_floats(dtype):
    work = np.zeros((200, 200, 3), np.float32)
    erase(work, box=(0, 0, 200, 200), value="random", seed=77, dtype=np.dtype(dtype))
    generator = np.random.Generator(np.random.Philox(key=77))
    if dtype is np.float32:
        expected = generator.random((200, 200, 3), dtype=np.float32)
        assert work.max() < 1
    else:
        expected = generator.integers(0, MAXIMA[dtype] + 1, (200, 200, 3)).astype(np.float32)
        assert (
            (work == np.round(work)).all() and work.max() == MAXIMA[dtype]
        ) or dtype is np.uint16
    np.testing.assert_array_equal(work, expected)
    assert abs(work.mean() / MAXIMA[dtype] - 0.5) < 0.01


def test_rows_are_reproduced_from_their_columns(runner, tmp_path: Path, rng):
    root = tmp_path / "data"
    arrays = make_dataset(root, rng, shape=(24, 20, 3))
    sources = [arrays[rel] for rel in sorted(arrays)]
    for value, dtype_flags in (("random", []), ("0.25", ["--rescale", "1/255"])):
        out = tmp_path / f"{value}.h5"
        args = [str(root), "-o", str(out), "--copies", "3", "--seed", "1", *dtype_flags]
        result = runner.invoke(
            main, ["transform", *args, "--erasing-prob", "0.8", "--erasing-value", value, "-q"]
        )
        assert result.exit_code == 0, result.output
        with h5py.File(out) as f:
            images, owners = f["images"][:], f["source_index"][:]
            aug = {name: f["augmentation"][name][:] for name in f["augmentation"]}
            stored = json.loads(f.attrs["augmentation"])
        assert {"erase_top", "erase_left", "erase_height", "erase_width", "erase_seed"} <= set(aug)
        assert 0 < (aug["erase_height"] > 0).mean() < 1
        assert ((aug["erase_seed"] > 0) == (value == "random") & (aug["erase_height"] > 0)).all()
        for row in range(len(images)):
            params = {name: values[row] for name, values in aug.items()}
            again = apply_recorded(sources[owners[row]], params, stored, keep_dtype=not dtype_flags)
            if dtype_flags:  # the pipeline rescales the float32 row in float64, then casts
                again = (again.astype(np.float64) / 255).astype(np.float32)
            np.testing.assert_array_equal(images[row], again)


def test_defaults_and_refusals(runner, dataset, tmp_path):
    settings = AugmentSettings(erasing_prob=1)
    assert (settings.erasing_scale, settings.erasing_ratio) == ((0.02, 0.33), (0.3, 3.3))
    assert settings.erasing_value == 0.0 and not AugmentSettings().active
    assert AugmentParams().erase_height == 0.0
    root, _ = dataset
    for flags, message in (
        (["--erasing-prob", "1.5"], "--erasing-prob must be between 0 and 1, got 1.5"),
        (["--erasing-prob", "1", "--erasing-value", "grey"], "expected a number or random"),
        (["--erasing-prob", "1", "--erasing-value", "2"], "--erasing-value must be between 0"),
        (["--erasing-prob", "1", "--erasing-ratio", "0,2"], "--erasing-ratio must be 0 < LO"),
    ):
        out = tmp_path / "o.h5"
        result = runner.invoke(main, ["transform", str(root), "-o", str(out), *flags])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert not out.exists()


@pytest.mark.parametrize("crop", [["--random-crop", "9x7"], ["--random-resized-crop"]])
def test_the_box_lies_in_the_cropped_copy(runner, tmp_path: Path, rng, crop):
    """Erasing is sampled for the copy's shape after the crops, not the decoded image's."""
    root = tmp_path / "data"
    make_dataset(root, rng, shape=(40, 36, 3))
    out = tmp_path / "o.h5"
    args = [str(root), "-o", str(out), "--size", "18x14", *crop, "--copies", "4", "--seed", "2"]
    result = runner.invoke(main, ["transform", *args, "--erasing-prob", "1", "-q"])
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        height, width = f["images"].shape[1:3]
        aug = {name: f["augmentation"][name][:] for name in f["augmentation"]}
    assert (height, width) == ((7, 9) if "--random-crop" in crop else (14, 18))
    assert (aug["erase_height"] > 0).all()
    assert (aug["erase_top"] + aug["erase_height"] <= height).all()
    assert (aug["erase_left"] + aug["erase_width"] <= width).all()
    area = aug["erase_height"] * aug["erase_width"]
    assert area.max() <= 0.33 * height * width + height + width  # round() of each side
