"""Regression tests for problems found in review: no silent value loss, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import imgprep
from imgprep.cli import main
from tests.conftest import listing, make_dataset, write_image


def transform(runner: CliRunner, *args: str):
    return runner.invoke(main, ["transform", *args, "-q"])


def test_every_public_name_exists():
    for name in imgprep.__all__:
        assert hasattr(imgprep, name), name
    assert imgprep.pipeline_from_hdf5 and imgprep.normalization_args


def test_mixed_bit_depths_are_refused_not_saturated(runner, tmp_path: Path, rng):
    write_image(tmp_path / "d/a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(300, 65535, (4, 4), dtype=np.uint16)).save(tmp_path / "d/b.png")
    result = transform(runner, str(tmp_path / "d"), "-o", str(tmp_path / "o.h5"))
    assert result.exit_code == 1  # a mix stops the run as in fit-stats (tests/faults)
    assert "b.png: pixels are uint16 but the images before it are uint8" in result.stderr
    assert not (tmp_path / "o.h5").exists()


def test_narrowing_and_float_to_integer_casts_are_usage_errors(runner, tmp_path: Path, rng):
    Image.fromarray(rng.integers(300, 65535, (4, 4), dtype=np.uint16)).save(tmp_path / "a.png")
    narrow = transform(
        runner, str(tmp_path / "a.png"), "-o", str(tmp_path / "n.h5"), "--dtype", "uint8"
    )
    assert narrow.exit_code == 2
    assert "cannot write uint16 pixels as uint8 without clipping" in narrow.stderr
    Image.fromarray(rng.normal(size=(4, 4)).astype(np.float32), "F").save(tmp_path / "f.tif")
    floats = transform(
        runner, str(tmp_path / "f.tif"), "-o", str(tmp_path / "f.h5"), "--dtype", "uint16"
    )
    assert floats.exit_code == 2 and "Traceback" not in floats.output
    assert floats.stderr.strip() == (
        "Error: --dtype uint16: cannot write float pixels as uint16 without rounding or clipping"
    )
    assert not [name for name in listing(tmp_path) if name.endswith(".h5")]


def test_negative_seed_is_a_usage_error(runner, dataset, tmp_path: Path):
    root, _ = dataset
    result = transform(
        runner, str(root), "-o", str(tmp_path / "o.h5"), "--split", "a=0.5,b=0.5", "--seed", "-1"
    )
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.stderr


def test_a_split_that_would_be_empty_is_refused_up_front(runner, tmp_path: Path, rng):
    make_dataset(tmp_path / "d", rng, classes=("a", "b", "c"), per_class=1, shape=(3, 3))
    result = transform(
        runner,
        str(tmp_path / "d"),
        "-o",
        str(tmp_path / "o.h5"),
        "--split",
        "train=0.8,val=0.2",
        "--seed",
        "1",
    )
    assert result.exit_code == 2
    assert (
        "split 'val' would be empty: 3 image(s) cannot be divided as train=0.8, val=0.2"
        in result.stderr
    )


def test_float_output_keeps_augmented_values_unrounded(runner, dataset, tmp_path: Path):
    root, _ = dataset
    out = tmp_path / "f.h5"
    result = transform(
        runner,
        str(root),
        "-o",
        str(out),
        "--dtype",
        "float32",
        "--rotation-range",
        "20",
        "--seed",
        "1",
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        values = f["images"][:]
    assert values.dtype == np.float32 and not np.array_equal(values, np.rint(values))


def test_preview_is_not_written_when_the_output_is_refused(runner, dataset, tmp_path: Path):
    root, _ = dataset
    sheet = tmp_path / "sheet.png"
    result = transform(
        runner,
        str(root),
        "-o",
        str(tmp_path / "png"),
        "--rescale",
        "1/255",
        "--rotation-range",
        "10",
        "--preview",
        str(sheet),
    )
    assert result.exit_code == 2 and not sheet.exists()


def test_summary_counts_images_and_rows(runner, dataset, tmp_path: Path):
    root, _ = dataset
    (root / "cat" / "bad.png").write_bytes(b"")
    result = runner.invoke(
        main,
        [
            "transform",
            str(root),
            "-o",
            str(tmp_path / "o.h5"),
            "--rotation-range",
            "5",
            "--copies",
            "3",
            "--on-error",
            "skip",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "10 images processed (30 rows written), 1 skipped (of 11 found)" in result.stderr


def test_channel_mix_suggests_color(runner, tmp_path: Path, rng):
    write_image(tmp_path / "d/a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    write_image(tmp_path / "d/b.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    result = transform(runner, str(tmp_path / "d"), "-o", str(tmp_path / "o.h5"))
    assert result.exit_code == 2
    assert "choose one channel count with --color" in result.stderr


def test_epsilon_option_is_applied(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    out = tmp_path / "e.h5"
    args = ["--standardize", "featurewise", "--stats-scope", "global", "--epsilon", "10"]
    assert transform(runner, str(root), "-o", str(out), *args).exit_code == 0
    pixels = np.stack(list(arrays.values())).astype(np.float64)
    with h5py.File(out) as f:
        written = f["images"][:].astype(np.float64)
    assert written.std() == pytest.approx(pixels.std() / (pixels.std() + 10), rel=1e-6)


def test_no_jpeg_draft_is_recorded(runner, dataset):
    root, _ = dataset
    result = runner.invoke(main, ["fit-stats", str(root), "-q", "--no-jpeg-draft", "--size", "5x5"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["preprocessing"]["jpeg_draft"] is False


def test_zoom_keep_aspect_draws_one_factor(runner, dataset, tmp_path: Path):
    root, _ = dataset
    out = tmp_path / "z.h5"
    args = ["--zoom-range", "0.7,1.3", "--zoom-keep-aspect", "--copies", "3", "--seed", "2"]
    assert transform(runner, str(root), "-o", str(out), *args).exit_code == 0
    with h5py.File(out) as f:
        zx, zy = f["augmentation/zx"][:], f["augmentation/zy"][:]
    np.testing.assert_array_equal(zx, zy)
    assert zx.min() >= 0.7 and zx.max() <= 1.3 and len(set(zx.tolist())) > 1


def test_export_stats_global_scope(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    path = tmp_path / "s.json"
    runner.invoke(main, ["fit-stats", str(root), "-q", "-o", str(path)])
    result = runner.invoke(
        main, ["export-stats", str(path), "--for", "keras", "--stats-scope", "global", "--json"]
    )
    assert result.exit_code == 0
    pixels = np.stack(list(arrays.values())).astype(np.float64)
    keras = json.loads(result.stdout)["keras"]
    assert keras["mean"] == [pytest.approx(pixels.mean(), rel=1e-12)]
    assert keras["variance"] == [pytest.approx(pixels.var(), rel=1e-12)]


def test_cval_fills_what_a_constant_fill_mode_shifts_in(runner, tmp_path: Path):
    write_image(tmp_path / "d/a.png", np.full((6, 8), 255, dtype=np.uint8))
    out = tmp_path / "c.h5"
    result = transform(
        runner, str(tmp_path / "d"), "-o", str(out), "--width-shift-range", "3",
        "--fill-mode", "constant", "--cval", "7", "--copies", "8", "--seed", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        images, shifts = f["images"][:], f["augmentation/ty"][:]
    assert set(np.unique(images).tolist()) == {7, 255}  # integer shifts: no blending
    for image, shift in zip(images[:, :, :, 0], shifts, strict=True):
        assert (image == 7).sum() == abs(int(shift)) * 6  # one column of cval per pixel shifted


def test_exif_option_reaches_the_decoder(runner, tmp_path: Path):
    array = np.zeros((8, 16, 3), dtype=np.uint8)  # stored 16x8 (W x H)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    (tmp_path / "d").mkdir()
    Image.fromarray(array).save(tmp_path / "d/r.jpg", exif=exif, quality=100)
    shapes = {}
    for mode in ("apply", "ignore"):
        out = tmp_path / f"{mode}.h5"
        result = transform(runner, str(tmp_path / "d"), "-o", str(out), "--exif", mode)
        assert result.exit_code == 0, result.output
        with h5py.File(out) as f:
            shapes[mode] = f["images"].shape
            assert json.loads(f.attrs["pipeline"])["options"]["decode"]["exif"] == mode
    assert shapes == {"apply": (1, 16, 8, 3), "ignore": (1, 8, 16, 3)}
