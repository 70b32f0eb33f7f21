"""The free space kept for HDF5's close is sized to the output: a small file fits a small disk."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.cli import main


class _Free:
    """A statvfs result with ``free`` bytes available."""

    def __init__(self, free: int) -> None:
        self.f_frsize = 4096
        self.f_bavail = free // 4096


@pytest.mark.parametrize(("free", "code"), [(3 << 20, 0), (512 << 10, 1)])
def test_a_small_output_fits_a_nearly_full_small_disk(
    runner, dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, code: int
):
    from imgprep.io.formats import hdf5_space

    monkeypatch.setattr(hdf5_space.os, "statvfs", lambda path: _Free(free))
    root, arrays = dataset  # 10 images of 12x10x3: a file of a few tens of KB
    out = tmp_path / "t.h5"
    result = runner.invoke(main, ["transform", str(root), "-q", "-o", str(out)])
    assert result.exit_code == code, result.output
    if code:
        assert result.stderr == f"Error: cannot write {out}: No space left on device\n"
        assert os.listdir(tmp_path) == ["data"]
        return
    with h5py.File(out) as handle:
        np.testing.assert_array_equal(handle["images"][:], np.stack(list(arrays.values())))


@pytest.mark.parametrize("target", ["-", "/dev/stdout"])
def test_stats_to_standard_output(tmp_path: Path, rng, target: str, monkeypatch):
    """-o - and -o /dev/stdout into a pipe write the JSON to standard output (no file '-')."""
    import subprocess
    import sys

    from tests.conftest import make_dataset

    make_dataset(tmp_path / "data", rng, per_class=1, shape=(4, 4, 3))
    monkeypatch.chdir(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "imgprep", "fit-stats", "data", "-q", "-o", target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('{\n  "format": "imgprep-stats"')
    assert sorted(os.listdir(tmp_path)) == ["data"]
