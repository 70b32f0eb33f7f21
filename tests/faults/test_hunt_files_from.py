"""--files-from reads any bytes as paths, and a list that is no list is one line.

Before, a list file with a name that is not UTF-8 was a ``UnicodeDecodeError`` traceback
(stdin and folders already keep such names as their bytes), and ``--files-from /dev/zero``
read one endless line until a ``MemoryError`` traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import write_image


def test_a_list_with_a_name_that_is_not_utf8(tmp_path: Path):
    folder = os.fsencode(tmp_path / "data")
    os.mkdir(folder)
    name = folder + b"/caf\xe9.png"  # Latin-1, not UTF-8
    write_image(tmp_path / "ok.png", np.full((2, 3, 1), 9, np.uint8))
    os.rename(tmp_path / "ok.png", name)
    listing = tmp_path / "list.txt"
    listing.write_bytes(name + b"\n")
    result = CliRunner().invoke(main, ["inspect", "--files-from", str(listing), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["global"]["count"] == 6 and report["global"]["mean"] == 9


def test_a_list_without_line_ends_is_one_line(tmp_path: Path):
    listing = tmp_path / "zeros.bin"
    listing.write_bytes(b"\0" * ((1 << 16) + 10))
    result = CliRunner().invoke(main, ["fit-stats", "--files-from", str(listing)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {listing}: line 1 is longer than 65,536 characters; a list of paths has one "
        "path per line\n"
    )


@contextlib.contextmanager
def address_space_capped() -> Iterator[None]:
    """A regression fails with a MemoryError instead of taking the machine's memory."""
    with open("/proc/self/statm") as handle:
        used = int(handle.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (used + (2 << 30), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_dev_zero_as_a_list_is_one_line():
    with address_space_capped():
        result = CliRunner().invoke(main, ["fit-stats", "--files-from", "/dev/zero"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: /dev/zero: line 1 is longer than 65,536 characters; a list of paths has one "
        "path per line\n"
    )
