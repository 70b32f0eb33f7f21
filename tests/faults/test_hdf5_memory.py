"""inspect of HDF5 is bounded: an implausible declared shape is refused from metadata alone,
and values are read in blocks of bytes (a row larger than the block in parts of image
lines) with the numbers of valid files unchanged."""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.cli import main
from imgprep.summary import summarize_hdf5


def _inspect(runner, path: Path):
    return runner.invoke(main, ["inspect", str(path), "--json", "-q"])


@pytest.mark.parametrize(
    ("shape", "chunks", "message"),
    [
        ((10**12,), (4096,), "dataset 'images' of shape 1000000000000 has 1 of its "
         "244,140,625 chunks written (HDF5 would return the fill value for the others)"),
        ((2, 10**6, 10**6, 3), (1, 64, 64, 3), "dataset 'images' has shape 2x1000000x1000000x3: "
         "images of 1000000x1000000, imgprep reads 1 to 65,535 pixels a side"),
        ((2, 20_000, 20_000), (1, 64, 64), "dataset 'images' has shape 2x20000x20000: "
         "400,000,000 pixels per image is above Pillow's limit of 89,478,485 "
         "(PIL.Image.MAX_IMAGE_PIXELS)"),
        ((4, 5, 2, 2, 1), (4, 5, 2, 2, 1), "dataset 'images' has shape 4x5x2x2x1; imgprep "
         "reads images (N, H, W) or (N, H, W, C), or rows of values (N,) or (N, D)"),
    ],
)  # fmt: skip
def test_an_implausible_declared_shape_is_refused_at_once(runner, tmp_path, shape, chunks, message):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset("images", shape=shape, dtype=np.uint8, chunks=chunks)
        data[(0,) * len(shape)] = 1  # one chunk written
    assert path.stat().st_size < 100_000
    started = time.perf_counter()
    result = _inspect(runner, path)
    assert time.perf_counter() - started < 0.5
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {path}: {message}"


def test_many_one_value_rows_are_counted_as_one_run(runner, tmp_path):
    values = np.random.default_rng(1).integers(0, 256, 2_000_000, dtype=np.uint8)
    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as handle:
        handle["images"] = values
    started = time.perf_counter()
    result = _inspect(runner, path)
    assert time.perf_counter() - started < 1.5  # one Python view per row took ~6 s
    data = json.loads(result.stdout)
    assert data["images"] == 2_000_000 and data["image_shape"] == []
    assert data["mean"] == [float(np.mean(values, dtype=np.float64))]


def _reference(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 two-pass per-channel mean and population std."""
    flat = images.reshape(-1, images.shape[-1] if images.ndim == 4 else 1).astype(np.float64)
    mean = flat.mean(axis=0)
    return mean, np.sqrt(((flat - mean) ** 2).mean(axis=0))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_a_small_block_gives_the_numbers_of_one_block(tmp_path, rng, dtype, monkeypatch):
    """Rows split into parts of lines (block < row) and whole rows per block: integer
    statistics identical to the bit, float ones to Chan's rounding; both equal to NumPy."""
    scale = 60_000 if dtype == np.uint16 else 250
    images = (rng.random((37, 41, 29, 3)) * scale).astype(dtype)
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=images, chunks=(5, 41, 29, 3), compression="gzip")
    whole = summarize_hdf5(str(path)).to_dict()
    monkeypatch.setattr("imgprep.summary.DEFAULT_CHUNK_BYTES", 1000)  # a row is 3.5 KB+
    split = summarize_hdf5(str(path)).to_dict()
    rows = summarize_hdf5(str(path), chunk_bytes=3 * images[0].nbytes + 1).to_dict()
    assert rows == whole  # whole rows: the very same folding, whatever the block
    mean, std = _reference(images)
    if dtype == np.float32:
        np.testing.assert_allclose(split["mean"], whole["mean"], rtol=1e-13)
        np.testing.assert_allclose(split["std"], whole["std"], rtol=1e-13)
        assert split["images"] == whole["images"] and split["min"] == whole["min"]
    else:
        assert split == whole
    np.testing.assert_allclose(split["mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(split["std"], std, rtol=1e-13)
    assert split["images"] == 37 and split["pixels"] == 41 * 29 * 37
    assert split["min"] == images.reshape(-1, 3).min(axis=0).tolist()


def test_feature_rows_and_many_channels_are_read_as_before(runner, tmp_path):
    """Limits refuse hostile shapes, not real data: (N, D) features and 13-channel stacks."""
    rng = np.random.default_rng(0)
    features = rng.random((100, 512)).astype(np.float32)
    stack = rng.integers(0, 256, (10, 16, 16, 13), dtype=np.uint8)
    path = tmp_path / "feat.h5"
    with h5py.File(path, "w") as handle:
        handle["features"], handle["images"] = features, stack
    for name, values, channels in (("features", features, 1), ("images", stack, 13)):
        result = runner.invoke(main, ["inspect", str(path), "--dataset", name, "--json", "-q"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        flat = values.reshape(-1, channels).astype(np.float64)
        np.testing.assert_allclose(data["mean"], flat.mean(axis=0), rtol=1e-12)
        assert data["images"] == len(values)
