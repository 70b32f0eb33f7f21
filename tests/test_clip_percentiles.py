"""``transform --clip-percentiles LO,HI``: robust normalization with the training set's exact
percentiles, recorded in the pipeline and applied again at prediction time."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import imgprep
from imgprep.cli import main
from tests.conftest import write_image


@pytest.fixture
def photos(tmp_path: Path, rng) -> tuple[Path, np.ndarray, Path]:
    """Eight RGB images with a few saturated outliers, and their stats file."""
    images = rng.normal(120, 25, (8, 12, 10, 3)).clip(0, 255).astype(np.uint8)
    images[0, :2] = 255  # hot pixels
    images[1, :2] = 0  # dead ones
    for index, image in enumerate(images):
        write_image(tmp_path / "data" / f"{index}.png", image)
    stats = tmp_path / "stats.json"
    imgprep.write_stats(imgprep.compute_stats([str(tmp_path / "data")]), str(stats))
    return tmp_path / "data", images, stats


def _bounds(images: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    pixels = images.reshape(-1, images.shape[-1])
    return tuple(np.percentile(pixels, [low, high], axis=0, method="inverted_cdf"))  # type: ignore[return-value]


def test_clip_then_standardize_with_the_clipped_pixels_statistics(runner, photos, tmp_path):
    folder, images, stats = photos
    out = tmp_path / "out.h5"
    args = ["transform", str(folder), "-o", str(out), "-q", "--stats", str(stats),
            "--clip-percentiles", "2,98", "--center", "featurewise",
            "--standardize", "featurewise"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    low, high = _bounds(images, 2, 98)
    clipped = np.clip(images.astype(np.float64), low, high)
    mean = clipped.reshape(-1, 3).mean(axis=0)
    std = clipped.reshape(-1, 3).std(axis=0)
    expected = ((clipped - mean) / (std + 1e-6)).astype(np.float32)
    with h5py.File(out) as handle:
        stored = handle["images"][:]
        steps = json.loads(handle.attrs["pipeline"])["steps"]
    np.testing.assert_allclose(stored, expected, rtol=0, atol=1e-5)  # rows: 0.png ... 7.png
    assert steps[0] == {"step": "clip_percentiles", "percentiles": [2.0, 98.0],
                        "low": low.tolist(), "high": high.tolist()}  # fmt: skip
    assert steps[1]["mean"] == pytest.approx(mean.tolist(), rel=1e-14)
    assert steps[2]["std"] == pytest.approx(std.tolist(), rel=1e-14)
    # the prediction-time pipeline gives the stored rows again
    pipeline = imgprep.pipeline_from_hdf5(str(out))
    again = imgprep.prepare_image(pipeline, str(folder / "3.png"))
    np.testing.assert_array_equal(again, stored[3])


def test_clip_alone_keeps_the_pixels_dtype(runner, photos, tmp_path):
    folder, images, stats = photos
    out = tmp_path / "clip.h5"
    args = ["transform", str(folder), "-o", str(out), "-q", "--stats", str(stats),
            "--clip-percentiles", "5,95"]  # fmt: skip
    assert runner.invoke(main, args).exit_code == 0
    low, high = _bounds(images, 5, 95)
    with h5py.File(out) as handle:
        stored = handle["images"][:]
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored[0], np.clip(images[0], low, high).astype(np.uint8))


def test_statistics_from_the_train_split_and_a_config_file(runner, photos, tmp_path):
    folder, _, _ = photos
    config = tmp_path / "robust.toml"
    config.write_text('clip-percentiles = [1, 99]\nstandardize = "featurewise"\n')
    out = tmp_path / "split.h5"
    args = ["transform", str(folder), "-o", str(out), "-q", "--config", str(config),
            "--split", "train=0.75,val=0.25", "--seed", "3"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    with h5py.File(out) as handle:
        steps = json.loads(handle.attrs["pipeline"])["steps"]
        train = handle["train/paths"][:]
    assert [step["step"] for step in steps] == ["clip_percentiles", "featurewise_standardize"]
    from PIL import Image

    pixels = np.concatenate(
        [np.asarray(Image.open(folder / p.decode())).reshape(-1, 3) for p in train]
    )
    low, high = np.percentile(pixels, [1, 99], axis=0, method="inverted_cdf")
    assert steps[0]["low"] == low.tolist() and steps[0]["high"] == high.tolist()


@pytest.mark.parametrize(
    "value, message",
    [
        ("98,2", "Error: Invalid value for '--clip-percentiles': invalid clip_percentiles "
                 "'98,2': expected 0 <= LO < HI <= 100"),
        ("5", "Error: Invalid value for '--clip-percentiles': invalid clip_percentiles '5': "
              "expected LO,HI"),
    ],
)  # fmt: skip
def test_bad_percentiles_are_usage_errors(runner, photos, tmp_path, value, message):
    folder, _, stats = photos
    args = ["transform", str(folder), "-o", str(tmp_path / "x.h5"), "--stats", str(stats),
            "--clip-percentiles", value]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == message


def test_statistics_without_a_histogram_are_refused(runner, photos, tmp_path):
    folder, _, stats = photos
    old = json.loads(stats.read_text())
    old["format_version"] = 1
    del old["percentiles"], old["accumulators"]["histogram"]
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps(old))
    args = ["transform", str(folder), "-o", str(tmp_path / "x.h5"), "--stats", str(v1),
            "--clip-percentiles", "2,98"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: --clip-percentiles needs the exact histogram of the statistics: 8- or 16-bit "
        "pixels, and a stats file of format version 2 (run fit-stats again)"
    )
    assert not (tmp_path / "x.h5").exists()


def test_the_python_api_applies_the_clip_on_its_own(photos):
    _, images, stats = photos
    pipeline = imgprep.pipeline_from_stats(
        str(stats), clip_percentiles=(2, 98), rescale=1 / 255, center=None, standardize=None
    )
    low, high = _bounds(images, 2, 98)
    out = pipeline.apply_array(images[0])
    expected = (np.clip(images[0].astype(np.float64), low, high) / 255).astype(np.float32)
    np.testing.assert_array_equal(out, expected)
