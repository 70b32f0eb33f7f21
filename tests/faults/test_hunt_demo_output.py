"""``demo --output-dir`` that cannot be a folder is one line, before any work.

Before, ``--output-dir /dev/null`` (click's ``file_okay=False`` lets a device by) was a
``FileExistsError`` traceback, and a folder that cannot be created (under a file, or a
read-only parent) a ``NotADirectoryError`` or ``PermissionError`` traceback.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from imgprep.cli import main


def test_a_device_as_output_dir_is_a_usage_error():
    result = CliRunner().invoke(main, ["demo", "--output-dir", "/dev/null"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for --output-dir: /dev/null is not a folder"
    )
    assert result.stdout == ""


def test_an_output_dir_that_cannot_be_created_is_one_line(tmp_path: Path):
    (tmp_path / "a-file").write_text("x")
    target = tmp_path / "a-file" / "demo"
    result = CliRunner().invoke(main, ["demo", "--output-dir", str(target)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot create {target}: Not a directory\n"
    assert result.stdout == ""
