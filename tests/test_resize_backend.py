"""``--resize-backend``: recorded, applied again at prediction time, part of the space, a
TOML key, the same rows for any ``--workers``, and within its bound of Pillow's pixels."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFilter

from imgprep.api import pipeline_from_hdf5, prepare_image
from imgprep.cli import main
from imgprep.config import DecodeSettings


def _photos(root: Path, rng: np.random.Generator, count: int = 8) -> None:
    """JPEG photos of several sizes (some drafted at 1/2 for 32x32, some not), two classes."""
    for index in range(count):
        width, height = int(rng.integers(40, 180)), int(rng.integers(40, 180))
        canvas = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(5):
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            box = (x, y, x + int(rng.integers(5, width)), y + int(rng.integers(5, height)))
            draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        canvas.filter(ImageFilter.GaussianBlur(1)).save(folder / f"{index}.jpg", quality=90)


def _run(runner: CliRunner, *args: str):
    return runner.invoke(main, [*args, "-q"])


def test_recorded_and_applied_again_at_prediction_time(runner, rng, tmp_path: Path):
    root = tmp_path / "photos"
    _photos(root, rng)
    out = tmp_path / "o.h5"
    args = ["--size", "32x32", "--resize-backend", "opencv", "--rescale", "1/255"]
    result = _run(runner, "transform", str(root), "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        decode = json.loads(f.attrs["pipeline"])["options"]["decode"]
        assert decode["resize_backend"] == "opencv"
        pipeline = pipeline_from_hdf5(str(out))
        for row, rel in enumerate(f["paths"][:]):
            path = root / rel.decode()
            np.testing.assert_array_equal(prepare_image(pipeline, str(path)), f["images"][row])
            np.testing.assert_array_equal(
                prepare_image(pipeline, path.read_bytes()), f["images"][row]
            )


def test_rows_are_within_the_bound_of_pillows(runner, rng, tmp_path: Path):
    root = tmp_path / "photos"
    _photos(root, rng, count=12)
    rows = {}
    for backend in ("pillow", "opencv"):
        out = tmp_path / f"{backend}.h5"
        args = ["--size", "48x40", "--resize-mode", "fill", "--resize-backend", backend]
        assert _run(runner, "transform", str(root), "-o", str(out), *args).exit_code == 0
        with h5py.File(out) as f:
            rows[backend] = f["images"][:].astype(np.int16)
    difference = np.abs(rows["opencv"] - rows["pillow"])
    assert 0 < difference.mean() < 0.5
    assert np.percentile(difference, 99) <= 2


def test_the_same_rows_for_any_workers(runner, rng, tmp_path: Path):
    root = tmp_path / "photos"
    _photos(root, rng)
    digests = []
    for workers in ("1", "2"):
        out = tmp_path / f"j{workers}.h5"
        args = ["--size", "32x32", "--resize-backend", "opencv", "-j", workers, "--batch-size", "3"]
        assert _run(runner, "transform", str(root), "-o", str(out), *args).exit_code == 0
        with h5py.File(out) as f:
            digests.append(f["images"][:].tobytes())
    assert digests[0] == digests[1]


def test_part_of_the_space_of_statistics(runner, rng, tmp_path: Path):
    root = tmp_path / "photos"
    _photos(root, rng)
    stats = tmp_path / "s.json"
    fitted = _run(
        runner, "fit-stats", str(root), "--size", "32x32", "--resize-backend", "opencv",
        "-o", str(stats),
    )  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(stats.read_text())["preprocessing"]["resize_backend"] == "opencv"
    args = ["--stats", str(stats), "--center", "featurewise", "--size", "32x32"]
    refused = _run(runner, "transform", str(root), "-o", str(tmp_path / "x.h5"), *args)
    assert refused.exit_code == 2
    assert "differently prepared images" in refused.stderr
    assert "resize_backend=opencv" in refused.stderr
    same = [*args, "--resize-backend", "opencv"]
    assert _run(runner, "transform", str(root), "-o", str(tmp_path / "y.h5"), *same).exit_code == 0
    # without a size the backend changes no pixel: recorded, but not part of the space
    assert DecodeSettings(resize_backend="opencv").same_space(DecodeSettings())
    assert not DecodeSettings(size=(5, 5), resize_backend="opencv").same_space(
        DecodeSettings(size=(5, 5))
    )
    assert DecodeSettings.from_dict(DecodeSettings().to_dict()).resize_backend == "pillow"
    assert "resize_backend" not in DecodeSettings().to_dict()  # earlier files keep their bytes


def test_a_toml_key(runner, rng, tmp_path: Path):
    root = tmp_path / "photos"
    _photos(root, rng)
    config = tmp_path / "c.toml"
    config.write_text('size = "32x32"\nresize-backend = "opencv"\n')
    by_config, by_flag = tmp_path / "c.h5", tmp_path / "f.h5"
    result = _run(runner, "transform", str(root), "-o", str(by_config), "--config", str(config))
    assert result.exit_code == 0, result.output
    flags = ["--size", "32x32", "--resize-backend", "opencv"]
    assert _run(runner, "transform", str(root), "-o", str(by_flag), *flags).exit_code == 0
    with h5py.File(by_config) as a, h5py.File(by_flag) as b:
        np.testing.assert_array_equal(a["images"][:], b["images"][:])
        decode = json.loads(a.attrs["pipeline"])["options"]["decode"]
        assert decode["resize_backend"] == "opencv"  # the key took effect
    bad = tmp_path / "bad.toml"
    bad.write_text('resize-backend = "vips"\n')
    refused = _run(
        runner, "transform", str(root), "-o", str(tmp_path / "z.h5"), "--config", str(bad)
    )
    assert refused.exit_code == 2 and "resize-backend" in refused.stderr
