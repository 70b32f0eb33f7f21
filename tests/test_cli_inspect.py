"""``imgprep inspect``: images, directories, HDF5, JSON keys, CI checks."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.cli import main
from tests.conftest import reference_stats, write_image


def test_single_image_table(runner, tmp_path: Path, rng):
    array = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array)
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"source   {path} (image)"
    assert "shape    6x5x3 (HxWxC)" in lines and "dtype    uint8" in lines
    ref = reference_stats([array])
    red = next(line for line in lines if line.startswith("R "))
    assert red.split()[1:4] == ["30", str(array[:, :, 0].min()), str(array[:, :, 0].max())]
    assert float(red.split()[4]) == pytest.approx(ref["mean"][0], rel=1e-12)
    glob = next(line for line in lines if line.startswith("global"))
    assert float(glob.split()[5]) == pytest.approx(ref["global_std"], rel=1e-12)


def test_directory_json_uses_stats_file_keys(runner, dataset):
    root, arrays = dataset
    result = runner.invoke(main, ["inspect", str(root), "--json", "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ref = reference_stats(list(arrays.values()))
    assert data["kind"] == "directory" and data["images"] == 10
    assert data["image_shape"] == [12, 10, 3] and data["dtype"] == "uint8"
    np.testing.assert_allclose(data["std"], ref["std"], rtol=1e-12)
    assert data["global"]["mean"] == pytest.approx(ref["global_mean"], rel=1e-12)
    assert data["skipped"] == [] and data["ignored"] == 0


def _h5(path: Path, images: np.ndarray, **attrs: str) -> Path:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=images, chunks=(2, *images.shape[1:]))
        handle.create_dataset("labels", data=np.arange(len(images)))
        for key, value in attrs.items():
            handle.attrs[key] = value
    return path


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_hdf5_dataset_in_small_chunks_matches_numpy(
    runner, tmp_path: Path, rng, dtype, monkeypatch
):
    images = (rng.random((9, 4, 5, 3)) * 255).astype(dtype)
    path = _h5(tmp_path / "d.h5", images, pipeline='{"steps": ["rescale"]}')
    monkeypatch.setattr("imgprep.summary.DEFAULT_CHUNK_BYTES", 100)  # several rows per read
    result = runner.invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ref = reference_stats(list(images))
    np.testing.assert_allclose(data["mean"], ref["mean"], rtol=1e-10)
    np.testing.assert_allclose(data["std"], ref["std"], rtol=1e-10)
    assert data["images"] == 9 and data["dataset_shape"] == [9, 4, 5, 3]
    assert data["attributes"]["pipeline"] == {"steps": ["rescale"]}
    table = runner.invoke(main, ["inspect", str(path)])
    assert "pipeline:" in table.stdout and '"rescale"' in table.stdout


def test_hdf5_other_dataset_and_missing_dataset(runner, tmp_path: Path, rng):
    path = _h5(tmp_path / "d.h5", rng.integers(0, 256, (4, 3, 3, 1), dtype=np.uint8))
    labels = runner.invoke(main, ["inspect", str(path), "--dataset", "labels", "--json"])
    assert json.loads(labels.stdout)["mean"] == [1.5]
    missing = runner.invoke(main, ["inspect", str(path), "--dataset", "nope"])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"Error: {path}: no dataset 'nope'; it has: images, labels"


def test_checks_pass_with_exit_0(runner, tmp_path: Path):
    images = np.zeros((4, 3, 3, 1), np.float32)
    images[::2] = 1.0
    path = _h5(tmp_path / "d.h5", images)
    args = ["--expect-mean", "0.5", "--expect-std", "0.5", "--expect-range", "0,1"]
    result = runner.invoke(main, ["inspect", str(path), *args, "--expect-count", "4"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_failed_checks_print_one_line_each_and_exit_1(runner, tmp_path: Path):
    images = np.zeros((4, 3, 3, 1), np.float32)
    images[::2] = 1.0
    path = _h5(tmp_path / "d.h5", images)
    args = ["--expect-mean", "0", "--expect-std", "1", "--tol", "1e-3"]
    result = runner.invoke(
        main, ["inspect", str(path), *args, "--expect-range", "0,0.5", "--expect-count", "5"]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "check failed: global mean is 0.5, expected 0 ± 0.001 (off by 0.5)",
        "check failed: global std is 0.5, expected 1 ± 0.001 (off by 0.5)",
        "check failed: max is 1, above the expected range [0, 0.5] (tolerance 0.001)",
        "check failed: image count is 4, expected 5",
    ]
    assert result.stdout.startswith("source")


def test_per_channel_checks(runner, tmp_path: Path):
    images = np.zeros((2, 2, 2, 3), np.uint8)
    images[..., 1] = 10
    path = _h5(tmp_path / "d.h5", images)
    ok = runner.invoke(main, ["inspect", str(path), "--expect-mean", "0,10,0"])
    assert ok.exit_code == 0
    bad = runner.invoke(main, ["inspect", str(path), "--expect-mean", "0,0,0"])
    assert bad.exit_code == 1
    assert bad.stderr.strip() == (
        "check failed: mean of channel G is 10, expected 0 ± 1e-06 (off by 10)"
    )
    wrong = runner.invoke(main, ["inspect", str(path), "--expect-mean", "0,0"])
    assert wrong.exit_code == 2 and "has 2 values but the data has 3" in wrong.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expect-range", "1"], "expected LO,HI"),
        (["--expect-range", "2,1"], "range low 2.0 is above high 1.0"),
        (["--expect-mean", "abc"], "--expect-mean: expected numbers"),
        (["--tol", "-1"], "tolerance must be >= 0"),
    ],
)
def test_bad_expectations_are_usage_errors(runner, dataset, args, message):
    root, _ = dataset
    result = runner.invoke(main, ["inspect", str(root), *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_inspect_skip_reports(runner, dataset):
    root, _ = dataset
    (root / "cat" / "bad.png").write_bytes(b"")
    result = runner.invoke(main, ["inspect", str(root), "--on-error", "skip", "--json", "-q"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["images"] == 10
    assert data["skipped"] == [
        {"path": str(root / "cat" / "bad.png"), "reason": "empty file (0 bytes)"}
    ]


def test_3d_hdf5_dataset_has_a_shape(runner, tmp_path: Path, rng):
    path = tmp_path / "d3.h5"
    with h5py.File(path, "w") as f:
        f["images"] = rng.integers(0, 256, (10, 5, 6), dtype=np.uint8)
    data = json.loads(runner.invoke(main, ["inspect", str(path), "--json"]).stdout)
    assert data["image_shape"] == [5, 6, 1]


def test_corrupt_hdf5_is_a_data_error(runner, tmp_path: Path):
    path = tmp_path / "bad.h5"
    path.write_text("garbage")
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}: cannot open as HDF5")


def test_wrong_expectation_length_is_refused_before_printing(runner, dataset):
    root, _ = dataset
    result = runner.invoke(main, ["inspect", str(root), "--expect-mean", "0,1", "-q"])
    assert result.exit_code == 2 and result.stdout == ""


def test_decode_options_do_not_apply_to_hdf5(runner, tmp_path: Path, rng):
    path = _h5(tmp_path / "d.h5", rng.integers(0, 256, (2, 3, 3, 1), dtype=np.uint8))
    result = runner.invoke(main, ["inspect", str(path), "--color", "rgb"])
    assert result.exit_code == 2 and "--color cannot be used with an HDF5 file" in result.stderr
