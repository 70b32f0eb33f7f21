"""Only the documented formats are decoded: no Pillow plugin that runs a program is reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imgprep.cli import main
from tests.conftest import write_image

POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n"
REASON = "not an image imgprep reads (it reads PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM/PBM)"


@pytest.fixture
def postscript_dataset(tmp_path: Path) -> Path:
    """A folder with one real PNG and a PostScript file named x.png."""
    root = tmp_path / "data"
    write_image(root / "a.png", np.zeros((4, 4), np.uint8))
    (root / "x.png").write_bytes(POSTSCRIPT)
    return root


@pytest.fixture
def no_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start a program fails the test.

    h5py is imported first: its import asks ``platform.processor()``, which runs ``uname -p``
    once per process (Python's standard library, whatever the data).
    """
    import h5py  # noqa: F401

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"imgprep tried to run a program: {args}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.mark.parametrize(
    "command",
    [
        ["inspect"],
        ["fit-stats"],
        ["transform", "-o", "{out}/out.h5"],
    ],
)
def test_postscript_named_png_is_refused_without_running_ghostscript(
    runner, postscript_dataset: Path, tmp_path: Path, no_programs, command: list[str]
):
    args = [part.format(out=tmp_path) for part in command]
    result = runner.invoke(main, [*args, str(postscript_dataset), "-q"])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {postscript_dataset / 'x.png'}: {REASON}"
    ]
    skipped = runner.invoke(main, [*args, str(postscript_dataset), "-q", "--on-error", "skip"])
    assert skipped.exit_code == 0, skipped.output
    assert f"skipped: {postscript_dataset / 'x.png'}: {REASON}" in skipped.stderr


def test_ghostscript_on_the_path_is_never_started(postscript_dataset: Path, tmp_path: Path):
    """The real process, with a fake `gs` first on PATH that leaves a mark when started."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mark = tmp_path / "gs-ran"
    (bin_dir / "gs").write_text(f"#!/bin/sh\ntouch {mark}\nexit 1\n")
    (bin_dir / "gs").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "imgprep", "inspect", str(postscript_dataset / "x.png")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert not mark.exists()
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: {postscript_dataset / 'x.png'}: {REASON}"
