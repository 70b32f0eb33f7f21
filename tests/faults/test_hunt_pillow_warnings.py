"""A damaged file that still decodes leaves stderr clean: no Pillow warning.

Before, a TIFF with a tag pointing past its end (or a PNG/WebP with a corrupt EXIF block)
printed Python's two-line ``UserWarning`` with Pillow's source path, even with ``--quiet``:
noise that looks like a traceback, against the one-line rule for bad input.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.cli import main

ROOT = Path(__file__).resolve().parents[2]


def tiff_with_a_tag_past_its_end() -> bytes:
    """A 3x4 TIFF of 7s whose ImageDescription claims 100,000 bytes (Pillow skips the tag,
    warning "Tag data larger than file", and decodes the pixels)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((3, 4), 7, np.uint8)).save(buffer, "TIFF", description="hello")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for index in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * index
        if struct.unpack_from("<H", data, entry)[0] == 270:
            struct.pack_into("<I", data, entry + 4, 100_000)
    return bytes(data)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data" / "c").mkdir(parents=True)
    (tmp_path / "data" / "c" / "a.tif").write_bytes(tiff_with_a_tag_past_its_end())
    return tmp_path / "data"


@pytest.mark.parametrize("command", ["inspect", "fit-stats", "transform"])
def test_no_pillow_warning_is_emitted(folder: Path, tmp_path: Path, command: str):
    args = [command, str(folder), "-q"]
    if command == "transform":
        args += ["-o", str(tmp_path / "o.h5")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert [str(w.message) for w in caught if w.category is UserWarning] == []


def test_stderr_is_empty(folder: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "imgprep", "inspect", str(folder), "-q", "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stderr == ""
    assert '"mean": [\n    7' in result.stdout
