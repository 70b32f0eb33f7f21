"""Output files: permissions, symbolic links, devices, unwritable places, size limits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgprep.cli import main


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


def _only_one_line(result, target: Path) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: cannot write {target}: No space left on device\n"


class FullFile:
    """A file on a full disk: opens, refuses every write."""

    def __init__(self, path: str, mode: str = "r", **kwargs: object) -> None:
        self.handle = open(path, mode, **kwargs)  # noqa: SIM115 (closed by __exit__ or close)
        self.name = path

    def write(self, data: object) -> int:
        raise OSError(28, "No space left on device")

    def __enter__(self) -> FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self.handle, name)


def test_a_device_that_is_full_is_one_line(runner, dataset, tmp_path, monkeypatch):
    """As /dev/full: a special file written in place."""
    root, _ = dataset
    monkeypatch.setattr("imgprep.io.atomic.is_special", lambda path: True)
    target = tmp_path / "full"
    target.write_text("")
    monkeypatch.setattr("imgprep.io.atomic.open", FullFile, raising=False)
    result = fit(runner, root, "-o", str(target))
    _only_one_line(result, target)


def test_an_unreadable_zca_sidecar_is_not_blamed_on_the_output(
    runner, dataset, tmp_path, monkeypatch
):
    root, _ = dataset
    stats = tmp_path / "s.json"
    assert fit(runner, root, "--size", "4x4", "--zca", "-o", str(stats)).exit_code == 0

    def denied(path: str) -> str:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr("imgprep.io.zca_sidecar._stream_sha256", denied)
    out = tmp_path / "t.h5"
    args = ["transform", str(root), "-q", "--size", "4x4", "--zca", "--stats", str(stats)]
    result = runner.invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 2
    sidecar = tmp_path / "s.zca.npz"
    assert result.stderr == f"Error: cannot read the ZCA sidecar {sidecar}: Permission denied\n"
    assert not out.exists()
