"""A file name with a newline or an escape sequence still gives one line per message.

Before, ``skipped: PATH: REASON`` for ``new\\nline.png`` was two lines on stderr (a script
counting skipped files counted two), and an escape sequence in a name (``\\x1b[31m...``)
went to the terminal as it is, where it is executed (colours, cursor moves, a window title).
Control characters are now written as Python escapes, as ``repr`` shows them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import write_image

NOT_AN_IMAGE = (
    "not an image imgprep reads (it reads PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM/PBM)"
)


def test_skipped_files_are_one_line_each(tmp_path: Path):
    folder = tmp_path / "data" / "c"
    write_image(folder / "ok.png", np.zeros((2, 2, 3), np.uint8))
    (folder / "new\nline.png").write_bytes(b"x")
    (folder / "\x1b[31mred.png").write_bytes(b"x")
    result = CliRunner().invoke(main, ["fit-stats", str(tmp_path / "data"), "--on-error", "skip",
                                       "-q", "-o", str(tmp_path / "s.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"skipped: {folder}/\\x1b[31mred.png: {NOT_AN_IMAGE}",
        f"skipped: {folder}/new\\nline.png: {NOT_AN_IMAGE}",
    ]


def test_an_error_is_one_line(tmp_path: Path):
    bad = tmp_path / "tab\there\rand\x07bell.png"
    bad.write_bytes(b"x")
    result = CliRunner().invoke(main, ["inspect", str(bad)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path}/tab\\there\\rand\\x07bell.png: {NOT_AN_IMAGE}\n"


def test_one_line_leaves_other_text_alone():
    from imgprep.cli.one_line import one_line

    text = "café/δ/\udcff/\\n/日本.png: reason"
    assert one_line(text) == text
    assert one_line("a\u2028b\x9bc\x7f") == "a\\u2028b\\x9bc\\x7f"
