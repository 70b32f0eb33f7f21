"""Fixtures for the loaders: small PNG folders written by ``imgprep transform`` (no shared
data), and a copy of such a file re-chunked by a few rows so blocks cross chunk borders."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import make_dataset


def transform(*args: str) -> None:
    """Run ``imgprep transform`` in this process; fail the test on any other exit code."""
    result = CliRunner().invoke(main, ["transform", *args])
    assert result.exit_code == 0, result.output


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Two classes of 7 random 12x10 RGB PNGs: the folder and {relative path: pixels}."""
    arrays = make_dataset(tmp_path / "data", np.random.default_rng(17), per_class=7)
    return tmp_path / "data", arrays


@pytest.fixture
def plain(folder, tmp_path: Path) -> Path:
    """The folder as uint8 rows at the root of one HDF5 file."""
    transform(str(folder[0]), "-o", str(tmp_path / "plain.h5"))
    return tmp_path / "plain.h5"


def rechunk(source: Path, target: Path, rows: int) -> Path:
    """A copy of ``source`` whose images are chunked by ``rows`` rows (attributes kept)."""
    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value

        def copy(name: str, node: object) -> None:
            if isinstance(node, h5py.Dataset):
                chunks = (rows, *node.shape[1:]) if name.endswith("images") else True
                new.create_dataset(name, data=node[:], chunks=chunks)

        old.visititems(copy)
    return target
