"""Output files: permissions, symbolic links, devices, unwritable places, size limits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgprep.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def fit(runner: CliRunner, root: Path, *args: str):
    return runner.invoke(main, ["fit-stats", str(root), "-q", *args])


def test_output_gets_the_umask_permissions(runner, dataset, tmp_path: Path):
    root, _ = dataset
    old = os.umask(0o022)
    try:
        assert fit(runner, root, "-o", str(tmp_path / "s.json")).exit_code == 0
        h5 = runner.invoke(main, ["transform", str(root), "-q", "-o", str(tmp_path / "t.h5")])
        assert h5.exit_code == 0
        png = runner.invoke(main, ["transform", str(root), "-q", "-o", str(tmp_path / "png")])
        assert png.exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "s.json").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "t.h5").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "png").st_mode) == 0o755


def test_a_symbolic_link_is_written_through(runner, dataset, tmp_path: Path):
    root, _ = dataset
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert fit(runner, root, "-o", str(link)).exit_code == 0
    assert link.is_symlink()
    assert real.read_text().startswith("{")


def test_a_device_is_written_in_place(runner, dataset):
    root, _ = dataset
    result = fit(runner, root, "-o", os.devnull)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    h5 = runner.invoke(main, ["transform", str(root), "-q", "-o", os.devnull, "--format", "hdf5"])
    assert h5.exit_code == 2 and "not a regular file" in h5.stderr


def test_unwritable_places_are_one_line_and_checked_first(runner, dataset, tmp_path: Path):
    root, _ = dataset
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = fit(runner, root, "-o", str(blocker / "s.json"))
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"Error: cannot write {blocker / 's.json'}: directory {blocker} does not exist"
    )
    directory = fit(runner, root, "-o", str(tmp_path))
    assert directory.exit_code == 2 and "is a directory" in directory.stderr


@pytest.mark.parametrize("pad", ["300", "-1", "0.5"])
def test_pad_values_that_do_not_fit_are_usage_errors(runner, dataset, pad):
    root, _ = dataset
    result = fit(runner, root, "--size", "20x5", "--resize-mode", "fit", f"--pad-value={pad}")
    assert result.exit_code == 2, result.output
    assert "does not fit uint8 images (an integer from 0 to 255)" in result.stderr
    assert "Traceback" not in result.output


def test_huge_sizes_and_nan_pad_are_refused(runner, dataset):
    root, _ = dataset
    huge = fit(runner, root, "--size", "100000x100000")
    assert huge.exit_code == 2 and "above the limit" in huge.stderr
    nan = fit(runner, root, "--pad-value", "nan")
    assert nan.exit_code == 2 and "finite" in nan.stderr


def _no_space(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_full_disk_is_one_line_and_leaves_nothing_json_and_png(
    runner, dataset, tmp_path: Path, monkeypatch
):
    """fit-stats' JSON and a PNG tree on a full disk: exit 1, one line, no file at all."""
    import PIL.Image

    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr("imgprep.io.atomic.os.fsync", _no_space)
    result = fit(runner, root, "-o", str(out / "s.json"))
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {out / 's.json'}: No space left on device\n"
    monkeypatch.setattr(PIL.Image.Image, "save", _no_space)
    result = runner.invoke(main, ["transform", str(root), "-q", "-o", str(out / "png")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {out / 'png'}: No space left on device\n"
    assert os.listdir(out) == []


@pytest.mark.parametrize(
    "options",
    [
        [],  # rows written as they come
        ["--rescale", "1/255", "--center", "featurewise", "--standardize", "featurewise"],
    ],  # rows held until the statistics are known, then written
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_under_hdf5_is_one_line_and_leaves_nothing(
    dataset, tmp_path: Path, options, workers
):
    """h5py fails its writes (as on a full disk). HDF5 then cannot close the file either, so
    the command deletes it, prints one line and exits at once: run in its own process."""
    import subprocess
    import sys

    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    script = (
        "import sys, h5py\n"
        "def no_space(*args, **kwargs):\n"
        "    raise OSError(28, 'Driver write request failed (file write failed: errno = 28)')\n"
        "h5py.Dataset.__setitem__ = no_space\n"
        "from imgprep.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    target = out / "t.h5"
    command = [sys.executable, "-c", script, "transform", str(root), "-q", "-o", str(target)]
    done = subprocess.run([*command, *options, "-j", workers], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot write {target}: No space left on device\n"
    assert done.stdout == ""
    assert os.listdir(out) == []
