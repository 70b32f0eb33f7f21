"""Output files: permissions, symbolic links, devices, unwritable places, size limits."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
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


NO_SPACE = "OSError(28, 'Driver write request failed (file write failed: errno = 28)')"


def _with_h5py_failing(
    method: str, args: list[str], error: str = NO_SPACE
) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, with ``h5py.<method>`` raising ``error`` as on a full
    disk: HDF5 cannot close such a file any more, so the command exits at once after its line."""
    script = (
        "import sys, h5py\n"
        "def no_space(*args, **kwargs):\n"
        f"    raise {error}\n"
        f"h5py.{method} = no_space\n"
        "from imgprep.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)


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
    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    target = out / "t.h5"
    args = ["transform", str(root), "-q", "-o", str(target), *options, "-j", workers]
    done = _with_h5py_failing("Dataset.__setitem__", args)
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot write {target}: No space left on device\n"
    assert done.stdout == ""
    assert os.listdir(out) == []


def _only_one_line(result, target: Path) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: cannot write {target}: No space left on device\n"


FEATUREWISE = ["--rescale", "1/255", "--center", "featurewise", "--standardize", "featurewise"]


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


def test_a_full_disk_while_rows_are_held_is_one_line(runner, dataset, tmp_path, monkeypatch):
    """The scratch file of held rows fills the disk (numpy's tofile would lose the errno)."""
    from imgprep.io.formats import hdf5

    monkeypatch.setattr(hdf5, "open", FullFile, raising=False)
    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(
        main, ["transform", str(root), "-q", "-o", str(out / "t.h5"), *FEATUREWISE]
    )
    _only_one_line(result, out / "t.h5")
    assert os.listdir(out) == []


def test_a_full_disk_at_the_final_close_is_one_line(dataset, tmp_path):
    """h5py reports a failed flush at close as a RuntimeError whose message holds the errno."""
    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    target = out / "t.h5"
    error = 'RuntimeError("Can\'t close dataset (file write failed: errno = 28, ...)")'
    args = ["transform", str(root), "-q", "-o", str(target)]
    done = _with_h5py_failing("File.close", args, error)
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot write {target}: No space left on device\n"
    assert os.listdir(out) == []


def test_a_full_disk_between_splits_is_one_line(dataset, tmp_path):
    """The first split's last chunks are written when the second split starts: a failure
    there is raised (h5py would only print it when the handles are dropped)."""
    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    target = out / "t.h5"
    splits = ["--input", f"train={root / 'dog'}", "--input", f"val={root / 'cat'}"]
    done = _with_h5py_failing("File.flush", ["transform", *splits, "-q", "-o", str(target)])
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot write {target}: No space left on device\n"
    assert os.listdir(out) == []


def test_a_disk_full_before_the_hdf5_file_exists_is_one_line(
    runner, dataset, tmp_path, monkeypatch
):
    import h5py

    def cannot_create(*args: object, **kwargs: object) -> None:
        raise OSError(28, "Unable to synchronously create file (errno = 28)")

    monkeypatch.setattr(h5py, "File", cannot_create)
    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(main, ["transform", str(root), "-q", "-o", str(out / "t.h5")])
    _only_one_line(result, out / "t.h5")
    assert os.listdir(out) == []


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

    monkeypatch.setattr("imgprep.stats.zca._stream_sha256", denied)
    out = tmp_path / "t.h5"
    args = ["transform", str(root), "-q", "--size", "4x4", "--zca", "--stats", str(stats)]
    result = runner.invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 2
    sidecar = tmp_path / "s.zca.npz"
    assert result.stderr == f"Error: cannot read the ZCA sidecar {sidecar}: Permission denied\n"
    assert not out.exists()


def test_sigterm_removes_the_output_and_the_scratch_file(dataset, tmp_path):
    """kill (a scheduler's time limit) is handled as Ctrl-C: nothing left, exit 143."""
    import signal
    import time

    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    script = (
        "import sys, time\n"
        "from imgprep.io.formats.hdf5 import Hdf5Writer\n"
        "release = Hdf5Writer.release_images\n"
        "def slow(self, transform):\n"
        "    print('holding', flush=True)\n"
        "    for _ in range(600):\n"
        "        time.sleep(0.05)\n"
        "    release(self, transform)\n"
        "Hdf5Writer.release_images = slow\n"
        "from imgprep.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    command = [sys.executable, "-c", script, "transform", str(root), "-q", "-o", str(out / "t.h5")]
    process = subprocess.Popen(
        [*command, *FEATUREWISE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "holding\n"
    assert any(name.endswith(".rows") for name in os.listdir(out))
    time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert stderr == "Terminated; no output was written.\n"
    assert os.listdir(out) == []


@pytest.mark.parametrize("options", [[], FEATUREWISE])
def test_a_filling_disk_stops_before_hdf5_fails(runner, dataset, tmp_path, monkeypatch, options):
    """Each HDF5 write is checked against the free space (with a reserve for the close), so
    a filling disk ends the run while the file can still be closed and deleted in process."""
    from imgprep.io.formats import hdf5_space

    real = os.statvfs

    class Nearly:
        def __init__(self, info: os.statvfs_result) -> None:
            self.f_frsize = info.f_frsize
            self.f_bavail = (hdf5_space.METADATA_RESERVE + 1000) // info.f_frsize

    monkeypatch.setattr(hdf5_space.os, "statvfs", lambda path: Nearly(real(path)))
    root, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    args = ["transform", str(root), "-q", "-o", str(out / "t.h5"), *options]
    _only_one_line(runner.invoke(main, args), out / "t.h5")
    assert os.listdir(out) == []
