"""The HDF5 writer: the augmentation columns it is given, and its atomic finish on a disk
that fills (one line, nothing left under any name), on SIGTERM, and when HDF5 itself fails."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.cli import main
from imgprep.io.atomic import OutputError
from imgprep.io.formats.hdf5 import Hdf5Writer
from tests.test_outputs import FullFile

COLUMNS = [
    ("angle", np.dtype(np.float64)),
    ("mirrored", np.dtype(np.bool_)),
    ("step", np.dtype(np.int16)),
]


def _write_augmented(target: Path) -> np.ndarray:
    """Three rows of one split with the made-up COLUMNS; returns the images written."""
    images = np.arange(3 * 2 * 2 * 1, dtype=np.uint8).reshape(3, 2, 2, 1)
    with Hdf5Writer(str(target)) as writer:
        writer.start_split(None, labelled=True, augmentation=COLUMNS, path_bytes=5)
        rows = [(0, 0, [0.0, 0.0, 0.0]), (0, 1, [12.5, 1.0, -3.0]), (1, 0, [-0.25, 0.0, 7.0])]
        writer.write(images, ["a.png", "a.png", "b.png"], [4, 4, 2], rows)
        writer.end_split(skipped=[])
        writer.finish({"splits": []})
    return images


def test_the_writer_records_the_columns_it_is_given(tmp_path: Path):
    """Names, dtypes and order come from the caller: the writer knows no augmentation."""
    target = tmp_path / "t.h5"
    images = _write_augmented(target)
    with h5py.File(target) as handle:
        np.testing.assert_array_equal(handle["images"][:], images)
        assert handle["labels"][:].tolist() == [4, 4, 2]
        assert handle["source_index"].dtype == np.int64
        assert handle["source_index"][:].tolist() == [0, 0, 1]
        assert handle["copy"].dtype == np.int32
        assert handle["copy"][:].tolist() == [0, 1, 0]
        group = handle["augmentation"]
        assert list(group) == ["angle", "mirrored", "step"]
        assert [group[name].dtype for name, _ in COLUMNS] == [dtype for _, dtype in COLUMNS]
        assert group["angle"][:].tolist() == [0.0, 12.5, -0.25]
        assert group["mirrored"][:].tolist() == [False, True, False]
        assert group["step"][:].tolist() == [0, -3, 7]
        assert handle.attrs["count"] == 3
        assert handle.attrs["format"] == "imgprep-dataset"


def test_rows_of_values_need_the_columns_named_first(tmp_path: Path):
    with Hdf5Writer(str(tmp_path / "t.h5")) as writer:
        writer.start_split(None, labelled=False)
        with pytest.raises(ValueError) as caught:
            writer.write([np.zeros((1, 1, 1), np.uint8)], ["a"], [None], [(0, 0, [1.0])])
    assert str(caught.value) == "augmentation rows for a split started without augmentation columns"
    assert os.listdir(tmp_path) == []  # the block ended with an exception: deleted


def test_an_abandoned_file_keeps_its_handles_without_any_list(tmp_path: Path):
    """After HDF5 failed a write, the file is deleted but its handles are never freed (that
    can crash the process); nothing but an unowned reference keeps them, not the writer."""
    target = tmp_path / "t.h5"
    writer = Hdf5Writer(str(target))
    writer.start_split(None, labelled=False)
    writer.write([np.zeros((2, 2, 1), np.uint8)], ["a"], [None])
    handle = weakref.ref(writer._file)
    writer._broken = True  # as after a failed h5py write (see Hdf5Writer._hdf5)
    with pytest.raises(OutputError) as caught, writer:
        raise OSError(28, "No space left on device")
    assert str(caught.value) == f"cannot write {target}: No space left on device"
    assert caught.value.exit_now is True
    assert os.listdir(tmp_path) == []
    del writer, caught
    gc.collect()
    assert handle() is not None


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
