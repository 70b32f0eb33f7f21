"""transform --zca: the whitened output, worker invariance, the recorded step, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.api import pipeline_from_hdf5, prepare_image
from imgprep.cli import main
from tests.conftest import write_image
from tests.stats.test_zca import correlated_images, textbook_zca


@pytest.fixture
def fitted(tmp_path: Path, rng) -> tuple[Path, Path, np.ndarray]:
    images = correlated_images(rng, 120, shape=(4, 5, 3))
    for index, image in enumerate(images):
        write_image(tmp_path / "d" / f"{index:03d}.png", image)
    stats = tmp_path / "s.json"
    result = CliRunner().invoke(
        main,
        ["fit-stats", str(tmp_path / "d"), "-q", "-o", str(stats), "--zca", "--rescale", "1/255"],
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "d", stats, images


def transform(*args: str):
    return CliRunner().invoke(main, ["transform", *args, "-q"])


def test_output_is_the_textbook_whitening(fitted, tmp_path: Path):
    root, stats, images = fitted
    out = tmp_path / "w.h5"
    result = transform(
        str(root), "-o", str(out), "--stats", str(stats), "--zca", "--rescale", "1/255"
    )
    assert result.exit_code == 0, result.output
    mean, whitening = textbook_zca(images, 1e-6, 1 / 255)
    expected = (images.reshape(len(images), -1) / 255 - mean) @ whitening
    with h5py.File(out) as f:
        written = f["images"][:].reshape(len(images), -1).astype(np.float64)
        steps = json.loads(f.attrs["pipeline"])["steps"]
    # float32 output: 1e-6 relative, and an absolute floor at float32's resolution near zero
    np.testing.assert_allclose(written, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    zca = next(step for step in steps if step["step"] == "zca")
    assert zca["zca_epsilon"] == 1e-6
    assert zca["sha256"] == json.loads(stats.read_text())["zca"]["sha256"]
    pipeline = pipeline_from_hdf5(str(out))
    with h5py.File(out) as f:
        first = root / f["paths"][0].decode()
        np.testing.assert_array_equal(prepare_image(pipeline, str(first)), f["images"][0])


def test_workers_do_not_change_the_output(fitted, tmp_path: Path):
    root, stats, _ = fitted
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.h5"
        args = [
            "--stats",
            str(stats),
            "--zca",
            "--rescale",
            "1/255",
            "-j",
            workers,
            "--batch-size",
            "7",
        ]
        assert transform(str(root), "-o", str(out), *args).exit_code == 0
        with h5py.File(out) as f:
            outputs.append(f["images"][:].tobytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--zca", "--rescale", "1/255", "--center", "featurewise"],
            "--zca cannot be combined with --center",
        ),
        (
            ["--zca", "--rescale", "0.5"],
            "ZCA was fitted with --rescale 0.00392157; pass the same --rescale",
        ),
        (["--zca"], "ZCA was fitted with --rescale"),
    ],
)
def test_refusals(fitted, tmp_path: Path, args, message):
    root, stats, _ = fitted
    result = transform(str(root), "-o", str(tmp_path / "x.h5"), "--stats", str(stats), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "x.h5").exists()


def test_zca_needs_a_zca_stats_file(fitted, tmp_path: Path):
    root, _, _ = fitted
    plain = tmp_path / "plain.json"
    CliRunner().invoke(main, ["fit-stats", str(root), "-q", "-o", str(plain)])
    for extra in ([], ["--stats", str(plain)]):
        result = transform(str(root), "-o", str(tmp_path / "x.h5"), "--zca", *extra)
        assert result.exit_code == 2
        assert "--zca needs --stats STATS.json written by fit-stats --zca" in result.stderr


def test_images_of_another_shape_with_the_same_size_are_refused(fitted, tmp_path: Path, rng):
    _, stats, _ = fitted  # fitted on 4 x 5 x 3 images (60 values)
    for index in range(3):
        write_image(
            tmp_path / "wide" / f"{index}.png", rng.integers(0, 256, (2, 10, 3), dtype=np.uint8)
        )
    result = transform(
        str(tmp_path / "wide"),
        "-o",
        str(tmp_path / "w.h5"),
        "--stats",
        str(stats),
        "--zca",
        "--rescale",
        "1/255",
    )
    assert result.exit_code == 2
    assert "ZCA was fitted on 4x5x3 (HxWxC) images, this one is 2x10x3" in result.stderr
