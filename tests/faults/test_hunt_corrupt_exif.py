"""An EXIF block that cannot be parsed states no orientation, in every format alike.

Before, a PNG or WebP whose EXIF block is garbage was refused as a "corrupt or truncated
image" (Pillow's ``SyntaxError: not a TIFF file`` while looking up the orientation), although
its pixels are intact, while a JPEG with the very same block was decoded as stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.cli import main

GARBAGE_EXIF = b"Exif\x00\x00" + b"\xff" * 100


@pytest.mark.parametrize("ext", ["png", "webp"])  # a JPEG was already read so
def test_garbage_exif_is_no_orientation(tmp_path: Path, ext: str):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    path = tmp_path / f"a.{ext}"
    save = {"lossless": True} if ext == "webp" else {}
    Image.fromarray(pixels).save(path, exif=GARBAGE_EXIF, **save)
    runner = CliRunner()
    applied = runner.invoke(main, ["inspect", str(path), "--json"])
    ignored = runner.invoke(main, ["inspect", str(path), "--json", "--exif", "ignore"])
    assert applied.exit_code == 0, applied.output
    assert ignored.exit_code == 0, ignored.output
    assert applied.stdout == ignored.stdout
    assert json.loads(applied.stdout)["image_shape"] == [2, 3, 3]
