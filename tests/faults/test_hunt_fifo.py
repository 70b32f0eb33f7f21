"""A FIFO among the images (or a link to one) is refused at once, never opened for reading.

Opening a FIFO for reading blocks until some process opens it for writing: before, every
command (inspect, fit-stats, transform) hung on such a file in an input folder, even with
``--on-error skip``. An alarm turns a regression into a failure instead of a hung suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import write_image

GUARD_SECONDS = 10


class Hung(Exception):
    pass


@contextlib.contextmanager
def alarm_guard() -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise Hung(f"still running after {GUARD_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """One good image and a FIFO named like an image in a class folder, and a link to a
    FIFO outside the folder."""
    root = tmp_path / "data"
    write_image(root / "c" / "ok.png", np.full((4, 5, 3), 7, np.uint8))
    os.mkfifo(root / "c" / "pipe.png")
    os.mkfifo(tmp_path / "elsewhere.png")
    os.symlink(tmp_path / "elsewhere.png", root / "c" / "link.png")
    return root


@pytest.mark.parametrize("command", ["inspect", "fit-stats", "transform"])
def test_a_fifo_in_an_input_folder_is_skipped_at_once(folder: Path, tmp_path: Path, command):
    args = [command, str(folder), "--on-error", "skip", "-q"]
    if command == "transform":
        args += ["-o", str(tmp_path / "out.h5")]
    if command == "fit-stats":
        args += ["-o", str(tmp_path / "stats.json")]
    with alarm_guard():
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"skipped: {folder}/c/link.png: not a regular file",
        f"skipped: {folder}/c/pipe.png: not a regular file",
    ]


def test_a_fifo_named_alone_is_one_line(folder: Path):
    with alarm_guard():
        result = CliRunner().invoke(main, ["inspect", str(folder / "c" / "pipe.png")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {folder}/c/pipe.png: not a regular file\n"
