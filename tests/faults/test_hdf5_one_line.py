"""Bad HDF5 input ends in one line, never a traceback: a tampered ``pipeline`` attribute for
pipeline_from_hdf5; soft-link loops, zero channels, a corrupt gzip chunk, several HDF5
files, a non-HDF5 file named .h5 and a file without ``images`` for inspect."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.api import pipeline_from_hdf5
from imgprep.cli import main
from imgprep.errors import ImgprepError, InputError

IMAGES = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 1)


def _output(path: Path, pipeline: str | None) -> Path:
    with h5py.File(path, "w") as handle:
        handle["images"] = IMAGES
        if pipeline is not None:
            handle.attrs["pipeline"] = pipeline
    return path


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("{not json", "attribute 'pipeline' is not valid JSON (Expecting property name "
         "enclosed in double quotes: line 1 column 2 (char 1))"),
        ("[1, 2]", "attribute 'pipeline' is not an object (it is a list)"),
        ("[" * 100_000 + "]" * 100_000, "attribute 'pipeline' is nested more than 32 levels "
         "deep"),
        ('{"options": {"colour": "rgb"}}', "attribute 'pipeline': unknown option(s) 'colour'"),
        ('{"options": {"rescale": "abc"}}', "attribute 'pipeline': invalid rescale 'abc': "
         "expected a number"),
        ('{"options": {"rescale": 1' + "0" * 400 + "}}", "attribute 'pipeline': invalid "
         "rescale an integer of 401 digits: must be a finite number"),
        ('{"options": {"epsilon": [1]}}', "attribute 'pipeline': invalid epsilon [1]: "
         "expected a number"),
        ('{"options": {"decode": "rgb"}}', "attribute 'pipeline': invalid decode 'rgb': "
         "expected an object"),
        ('{"options": 5}', "attribute 'pipeline': options must be an object, not int"),
        ('{"steps": []}', "attribute 'pipeline' has no 'options'; not an imgprep transform "
         "output"),
        ('{"options": {}, "steps": [3]}', "attribute 'pipeline': 'steps' must be a list of "
         "objects"),
    ],
)  # fmt: skip
def test_a_tampered_pipeline_attribute_is_one_line(tmp_path, pipeline, message):
    path = _output(tmp_path / "out.h5", pipeline)
    with pytest.raises(ImgprepError) as caught:
        pipeline_from_hdf5(str(path))
    assert str(caught.value) == f"{path}: {message}"
    assert caught.value.exit_code == 1


def test_no_pipeline_attribute_and_not_hdf5(tmp_path):
    path = _output(tmp_path / "plain.h5", None)
    with pytest.raises(InputError, match=r"not an imgprep transform output \(no 'pipeline'"):
        pipeline_from_hdf5(str(path))
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5")
    with pytest.raises(ImgprepError, match="cannot open as HDF5"):
        pipeline_from_hdf5(str(fake))


def test_a_valid_pipeline_attribute_round_trips(tmp_path):
    options = {"rescale": 0.5, "epsilon": 1e-6, "dtype": "float32", "decode": {"color": "rgb"}}
    path = _output(tmp_path / "ok.h5", json.dumps({"options": options, "steps": []}))
    pipeline = pipeline_from_hdf5(str(path))
    assert pipeline.options.rescale == 0.5 and pipeline.decode.color == "rgb"


def _inspect(runner, path, *args: str):
    return runner.invoke(main, ["inspect", str(path), "-q", *args])


@pytest.mark.parametrize("target", ["/images", "/a"])
def test_a_soft_link_loop_is_one_line(runner, tmp_path, target):
    path = tmp_path / "loop.h5"
    with h5py.File(path, "w") as handle:
        handle["images"] = h5py.SoftLink(target)
        handle["a"] = h5py.SoftLink("/b")
        handle["b"] = h5py.SoftLink("/a")
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: 'images' is a soft link that loops (more than 16 links deep)"
    )
    with pytest.raises(ImgprepError, match="soft link that loops"):
        pipeline_from_hdf5(str(path))


def test_zero_channels_is_one_line(runner, tmp_path):
    path = tmp_path / "zero.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", shape=(3, 4, 5, 0), dtype=np.uint8)
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: dataset 'images' has shape 3x4x5x0: 0 channels, imgprep reads 1 to 1024"
    )


def test_a_corrupt_gzip_chunk_is_one_line(runner, tmp_path, rng):
    path = tmp_path / "gz.h5"
    with h5py.File(path, "w") as handle:
        images = rng.integers(0, 256, (8, 16, 16, 1), dtype=np.uint8)
        data = handle.create_dataset(
            "images", data=images, chunks=(4, 16, 16, 1), compression="gzip"
        )
        offset = data.id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as raw:
        raw.seek(offset + 10)
        raw.write(b"\xff" * 20)
    result = _inspect(runner, path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: dataset 'images' cannot be read at row 0 (Can't synchronously read "
        "data (filter returned failure during read))"
    )


def test_several_hdf5_files_are_a_usage_error(runner, tmp_path):
    a, b = _output(tmp_path / "a.h5", None), _output(tmp_path / "b.h5", None)
    result = runner.invoke(main, ["inspect", str(a), str(b)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: inspect reads one HDF5 file at a time, alone (2 inputs given, with {a}); "
        "run it once per HDF5 file"
    )


def test_a_file_without_images_lists_what_it_has(runner, tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        for index in range(25):
            handle[f"d{index:02d}"] = np.zeros(2)
    result = _inspect(runner, path)
    assert result.exit_code == 2
    names = ", ".join(f"d{index:02d}" for index in range(20))
    assert result.stderr.strip() == (
        f"Error: {path}: no dataset 'images'; it has: {names} (and 5 more)"
    )


def test_failed_checks_leave_through_click(tmp_path, capsys):
    """ctx.exit: a caller embedding the command (standalone_mode=False) gets the code back
    instead of a SystemExit."""
    path = _output(tmp_path / "d.h5", None)
    args = ["inspect", str(path), "-q", "--expect-count", "3"]
    assert main.main(args, standalone_mode=False) == 1
    assert capsys.readouterr().err.strip() == "check failed: image count is 2, expected 3"


def test_a_deeply_nested_attribute_is_shown_as_text(runner, tmp_path):
    path = _output(tmp_path / "deep.h5", "[" * 5000 + "]" * 5000)
    result = _inspect(runner, path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["attributes"]["pipeline"] == "[" * 5000 + "]" * 5000
