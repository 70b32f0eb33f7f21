"""Issue 12, section 5, item 6: ``Pipeline.apply`` gives what ``transform`` wrote, bit for bit,
from a path or the file's bytes (EXIF applied to PIL images too), and refuses arrays of
another dtype than the pipeline's input unless ``dtype_ok=True``."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.api import pipeline_from_hdf5, pipeline_from_stats, prepare_image
from imgprep.cli import main
from imgprep.config import DecodeSettings
from imgprep.errors import InputError
from imgprep.run.stats_pass import compute_stats
from imgprep.transforms.pipeline import Pipeline, PipelineOptions
from tests.conftest import write_image


def rotated_jpeg(path: Path, rng: np.random.Generator) -> None:
    """A 40 x 24 (W x H) JPEG whose EXIF says "rotate 90 degrees clockwise" (orientation 6)."""
    pixels = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=90)


def written(runner: CliRunner, folder: Path, out: Path, *args: str) -> dict[str, np.ndarray]:
    result = runner.invoke(main, ["transform", str(folder), "-o", str(out), "-q", *args])
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        return {p.decode(): f["images"][i] for i, p in enumerate(f["paths"][:])}


@pytest.mark.parametrize("size", [None, "16x12"])  # with a size the JPEG is drafted
def test_path_bytes_and_transform_agree_bit_for_bit(runner, tmp_path: Path, rng, size):
    folder = tmp_path / "data"
    rotated_jpeg(folder / "photo.jpg", rng)
    write_image(folder / "plain.png", rng.integers(0, 256, (40, 24, 3), dtype=np.uint8))
    extra = ["--size", size] if size else []
    out = tmp_path / "out.h5"
    rows = written(runner, folder, out, *extra, "--center", "featurewise", "--rescale", "1/255")
    pipeline = pipeline_from_hdf5(str(out))
    assert rows["photo.jpg"].shape == ((12, 16, 3) if size else (40, 24, 3))  # rotated
    for name, row in rows.items():
        path = folder / name
        from_path = prepare_image(pipeline, str(path))
        from_bytes = prepare_image(pipeline, path.read_bytes())
        assert from_path.dtype == row.dtype == from_bytes.dtype == np.float32
        assert from_path.tobytes() == row.tobytes()
        assert from_bytes.tobytes() == row.tobytes()
        if size is None:  # no draft without a size: a PIL image gives the same bytes
            assert prepare_image(pipeline, Image.open(path)).tobytes() == row.tobytes()


def test_a_pil_image_gets_the_exif_rule(tmp_path: Path, rng):
    rotated_jpeg(tmp_path / "photo.jpg", rng)
    opened = Image.open(tmp_path / "photo.jpg")
    stored = np.asarray(Image.open(tmp_path / "photo.jpg"))
    assert stored.shape == (24, 40, 3)  # as stored
    out = prepare_image(Pipeline(PipelineOptions()), opened)
    np.testing.assert_array_equal(out, np.rot90(stored, k=-1))  # 6: rotate 90 clockwise
    ignore = Pipeline(PipelineOptions(decode=DecodeSettings(exif="ignore")))
    np.testing.assert_array_equal(prepare_image(ignore, Image.open(tmp_path / "photo.jpg")), stored)
    with io.BytesIO() as buffer:
        Image.open(tmp_path / "photo.jpg").save(buffer, format="PNG")  # drops the EXIF
        assert prepare_image(Pipeline(PipelineOptions()), buffer.getvalue()).shape == (24, 40, 3)


def test_arrays_of_another_dtype_are_refused_unless_dtype_ok(tmp_path: Path, rng):
    images = [rng.integers(0, 256, (5, 4), dtype=np.uint8) for _ in range(3)]
    for index, image in enumerate(images):
        write_image(tmp_path / f"{index}.png", image)
    stats = compute_stats([str(tmp_path)])
    pipeline = pipeline_from_stats(stats, rescale=1 / 255, standardize=None)
    scaled = images[0][:, :, None] / 255  # float64 on 0-1: what a user's loader may give
    with pytest.raises(InputError) as info:
        prepare_image(pipeline, scaled.astype(np.float32))
    assert str(info.value) == (
        "Pipeline.apply: the array is float32 but this pipeline takes uint8 pixels (the dtype "
        "its statistics were computed on); pass uint8 pixels as decoded, or dtype_ok=True if "
        "the conversion is intended"
    )
    with pytest.raises(InputError, match="the array is float64 but this pipeline takes uint8"):
        prepare_image(pipeline, np.stack([scaled, scaled]))  # a batch: each image is checked
    mean = float(stats.mean[0])
    right = prepare_image(pipeline, images[0])
    np.testing.assert_array_equal(
        right, ((images[0][:, :, None] / 255) - mean / 255).astype(np.float32)
    )
    forced = prepare_image(pipeline, images[0][:, :, None].astype(np.float32), dtype_ok=True)
    np.testing.assert_array_equal(forced, right)
    # Without statistics or a bit depth nothing fixes the input dtype: any numeric array is
    # taken (as before), anything else is refused.
    plain = Pipeline(PipelineOptions(rescale=0.5))
    assert prepare_image(plain, scaled.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(
        prepare_image(plain, images[0].astype(np.int64)),
        (images[0][:, :, None] * 0.5).astype(np.float32),
    )
    with pytest.raises(InputError, match="the array is object but this pipeline takes uint8 or "):
        prepare_image(plain, images[0].astype(object))
    # With --bit-depth, integer arrays are converted exactly as decoding converts files.
    eight = Pipeline(PipelineOptions(decode=DecodeSettings(bit_depth=8)))
    wide = rng.integers(0, 65536, (3, 2, 1), dtype=np.uint16)
    np.testing.assert_array_equal(prepare_image(eight, wide), np.round(wide / 257).astype(np.uint8))
    with pytest.raises(InputError, match=r"takes uint8 pixels \(bit_depth=8\)"):
        prepare_image(eight, wide.astype(np.float32))
